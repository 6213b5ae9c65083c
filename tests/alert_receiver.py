"""A real webhook receiver on a loopback port that records what Loupe's alert delivery sends.

``receiver()`` yields a :class:`Receiver`; set ``failures`` to answer that many requests with 503 first,
``delay_s`` to answer slowly. Each request is kept as (path, headers, body). ``slow_traffic`` logs
answers that make the p95 latency rule fire.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pandas as pd

from core.dataset import load_diamonds
from core.monitoring.simulator import bulk_log
from storage.db import make_engine, make_sessionmaker, migrate


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict:
        return json.loads(self.body)


@dataclass
class Receiver:
    url: str = ""
    requests: list[Received] = field(default_factory=list)
    failures: int = 0  # answer this many requests with 503 before accepting
    status: int = 200  # the answer when not failing
    delay_s: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def bodies(self, path: str | None = None) -> list[dict]:
        with self.lock:
            return [item.json() for item in self.requests if path is None or item.path == path]


@contextmanager
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            time.sleep(state.delay_s)
            with state.lock:
                state.requests.append(Received(self.path, dict(self.headers.items()), body))
                failing = state.failures > 0
                state.failures -= 1 if failing else 0
            self.send_response(503 if failing else state.status)
            answer = b"busy" if failing else b"ok"
            if state.status in (301, 302, 307, 308):
                self.send_header("Location", f"{state.url}/elsewhere")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def slow_traffic(settings, rows: int = 500) -> None:
    """Answers of version 1 over the last two hours, every one 900 ms (the p95 rule fires at 250 ms)."""
    data = load_diamonds().sample(rows, random_state=0).reset_index(drop=True)
    now = datetime.now(UTC)
    engine = make_engine(settings.database_url)
    migrate(engine)
    with make_sessionmaker(engine).begin() as session:
        bulk_log(
            session,
            features=data.drop(columns=["price"]).astype({"cut": str, "color": str, "clarity": str}),
            predictions=data["price"].to_numpy(float),
            timestamps=pd.Series([now - timedelta(minutes=i % 120) for i in range(rows)]),
            model_name=settings.model_name,
            model_version=1,
            latency_ms=np.full(rows, 900.0),
        )
    engine.dispose()
