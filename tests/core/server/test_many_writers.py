"""Many writers, one log: four server workers, eight clients, an ingest and two refreshers on one PostgreSQL log.

Every id a client got back is a committed row, logged exactly once; the roll-ups count every row once
however many refreshers ran; a worker killed mid-load loses no answered row and the server keeps answering.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import func, select

from core.dataset import load_diamonds
from storage.db import make_engine, make_sessionmaker, migrate
from storage.prediction_log import Prediction
from storage.rollups import RollupHour, refresh_rollups
from tests.core.server.server_process import Server
from tests.e2e.servers import ROOT, free_port, running

pytestmark = pytest.mark.slow

CLIENTS = 8
INGESTED = 2_000
TIMEOUT_S = 300  # guards against a hung test, never measured times
SERVER_START_S = 600


def diamonds(count: int, *, skip: int = 0) -> pd.DataFrame:
    frame = load_diamonds().drop(columns="price").iloc[skip : skip + count]
    return frame.astype({"cut": str, "color": str, "clarity": str}).reset_index(drop=True)


@dataclass
class Client:
    """One keep-alive client: alternates one-row and five-row requests, keeps every id it was answered with."""

    port: int
    rows: pd.DataFrame
    ids: list[int] = field(default_factory=list)
    answered_after_kill: int = 0
    failed: int = 0  # requests cut off by the killed worker: never answered, so nothing was promised
    refused: list[str] = field(default_factory=list)  # answered, but not with 200: a bug

    def run(self, requests: int, killed: threading.Event) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        for number in range(requests):
            chunk = self.rows.iloc[(number * 5) % 400 :][: 1 if number % 2 == 0 else 5]
            if len(chunk) == 1:
                body = {"dataframe_split": json.loads(chunk.to_json(orient="split", index=False))}
            else:
                body = {"dataframe_records": json.loads(chunk.to_json(orient="records"))}
            after_kill = killed.is_set()
            try:
                connection.request(
                    "POST", "/invocations", body=json.dumps(body), headers={"Content-Type": "application/json"}
                )
                response = connection.getresponse()
                payload = response.read()
            except (OSError, http.client.HTTPException):
                self.failed += 1
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
                continue
            if response.status != 200:
                self.refused.append(f"{response.status}: {payload[:300]!r}")
                continue
            answer = json.loads(payload)
            assert len(answer["predictions"]) == len(chunk) == len(answer["prediction_ids"])
            self.ids += answer["prediction_ids"]
            self.answered_after_kill += int(after_kill)
        connection.close()


def worker_pids(server_pid: int) -> list[int]:
    """uvicorn's worker processes: the spawned children of the supervisor (not multiprocessing's tracker)."""
    children = Path(f"/proc/{server_pid}/task/{server_pid}/children").read_text().split()
    workers = []
    for pid in map(int, children):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
        except FileNotFoundError:
            continue
        if b"spawn_main" in command and b"resource_tracker" not in command:
            workers.append(pid)
    return workers


def ingest_file(path: Path) -> Path:
    now = datetime.now(UTC).replace(tzinfo=None)
    frame = diamonds(INGESTED, skip=1_000)
    frame.insert(0, "model_version", 1)
    frame.insert(0, "timestamp", [(now - timedelta(seconds=i)).isoformat() for i in range(INGESTED)])
    frame.insert(0, "id", [f"elsewhere-{i}" for i in range(INGESTED)])
    frame["prediction"] = 1_000.0 + frame.index
    frame.to_csv(path, index=False)
    return path


@contextmanager
def four_workers(log_dir: Path, env: dict[str, str]) -> Iterator[Server]:
    """``python -m core serve --workers 4``; four workers loading a model on two busy cores may take minutes."""
    port = free_port()
    log = log_dir / f"serve-{port}.log"
    argv = [sys.executable, "-m", "core", "serve", "--port", str(port), "--workers", "4"]
    with running(argv, health_url=f"http://127.0.0.1:{port}/ping", log=log, env=env, timeout_s=SERVER_START_S):
        yield Server(url=f"http://127.0.0.1:{port}", port=port, log=log)


def command(*argv: str, env: dict[str, str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "core", *argv], cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT
    )


def test_four_workers_eight_clients_an_ingest_and_two_refreshers_lose_nothing(registry_home, pg_url, tmp_path) -> None:
    env = {**os.environ, "LOUPE_DATABASE_URL": pg_url, "LOUPE_SERVER_WORKERS": "4"}
    engine = make_engine(pg_url)
    migrate(engine)  # before four workers race to do it
    sessions = make_sessionmaker(engine)
    source = ingest_file(tmp_path / "elsewhere.csv")
    rows = diamonds(420)
    try:
        with four_workers(tmp_path, env) as server:
            workers = _all_workers_up(server, 4)
            clients = [Client(port=server.port, rows=rows.sample(frac=1, random_state=n)) for n in range(CLIENTS)]
            killed = threading.Event()
            threads = [threading.Thread(target=client.run, args=(60, killed)) for client in clients]
            for thread in threads:
                thread.start()
            ingest = command("ingest", "--input", str(source), env=env, log=tmp_path / "ingest.log")
            _wait_for(lambda: sum(len(client.ids) for client in clients) >= 150)
            refreshers = [
                command("prune", "--days", "3650", env=env, log=tmp_path / f"refresh-{n}.log") for n in (1, 2)
            ]
            os.kill(workers[0], signal.SIGKILL)  # one worker dies mid-load, requests in flight and all
            killed.set()
            for thread in threads:
                thread.join(TIMEOUT_S)
            assert ingest.wait(TIMEOUT_S) == 0, (tmp_path / "ingest.log").read_text()
            for number, refresher in enumerate(refreshers, start=1):
                assert refresher.wait(TIMEOUT_S) == 0, (tmp_path / f"refresh-{number}.log").read_text()
            still = server.post(
                "/invocations", {"dataframe_records": json.loads(rows.head(2).to_json(orient="records"))}
            )
            assert still.status == 200, still.body

        answered = [row_id for client in clients for row_id in client.ids] + list(still.body["prediction_ids"])
        assert not [refusal for client in clients for refusal in client.refused]
        assert all(client.answered_after_kill > 0 for client in clients)  # the server kept answering everyone
        assert len(answered) == len(set(answered)) > 0
        with sessions.begin() as session:
            logged = Counter(
                session.scalars(
                    select(Prediction.id).where(Prediction.id.in_(answered), Prediction.is_shadow.is_(False))
                )
            )
            by_source = dict(
                session.execute(
                    select(Prediction.source, func.count())
                    .where(Prediction.is_shadow.is_(False))
                    .group_by(Prediction.source)
                ).all()
            )
        assert set(logged) == set(answered) and set(logged.values()) == {1}  # every answered id, exactly once
        assert by_source["ingest"] == INGESTED
        # The killed worker may have committed rows it never answered; none that it answered are missing.
        assert by_source["server"] >= len(answered)

        with sessions.begin() as session:
            refresh_rollups(session, binning=lambda name, version: None)
        with sessions.begin() as session:
            raw = dict(session.execute(select(Prediction.is_shadow, func.count()).group_by(Prediction.is_shadow)).all())
            rolled = dict(
                session.execute(
                    select(RollupHour.is_shadow, func.sum(RollupHour.predictions)).group_by(RollupHour.is_shadow)
                ).all()
            )
        assert {bool(key): int(value) for key, value in rolled.items()} == {bool(k): int(v) for k, v in raw.items()}
    finally:
        engine.dispose()


def _all_workers_up(server: Server, count: int) -> list[int]:
    pid = _server_pid(server)
    _wait_for(lambda: len(worker_pids(pid)) == count)
    return worker_pids(pid)


def _server_pid(server: Server) -> int:
    # The process listening on the server's port is uvicorn's supervisor (its workers share the socket).
    for line in subprocess.run(
        ["ps", "-eo", "pid,args"], capture_output=True, text=True, check=True
    ).stdout.splitlines():
        pid, _, args = line.strip().partition(" ")
        if "core serve" in args and f"--port {server.port}" in args:
            return int(pid)
    raise AssertionError(f"no server process for port {server.port}")


def _wait_for(condition, timeout_s: float = TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.1)
