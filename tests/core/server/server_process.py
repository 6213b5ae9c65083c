"""A real ``python -m core serve`` process on a free loopback port, and a small HTTP client for it."""

from __future__ import annotations

import http.client
import json
import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.e2e.servers import free_port, running


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]  # lower-case names
    body: Any  # parsed JSON (or the text when it is not JSON)


@dataclass(frozen=True)
class Server:
    url: str
    port: int
    log: Path

    def request(
        self,
        method: str,
        path: str,
        *,
        body: bytes | str | Mapping | list | None = None,
        content_type: str = "application/json",
        headers: Mapping[str, str] | None = None,
    ) -> Answer:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            payload = body if isinstance(body, bytes | str) or body is None else json.dumps(body)
            sent = {"Content-Type": content_type, **(headers or {})} if payload is not None else dict(headers or {})
            connection.request(method, path, body=payload, headers=sent)
            response = connection.getresponse()
            text = response.read().decode()
            try:
                parsed: Any = json.loads(text)
            except ValueError:
                parsed = text
            return Answer(response.status, {name.lower(): value for name, value in response.getheaders()}, parsed)
        finally:
            connection.close()

    def post(self, path: str, body: Any, **options: Any) -> Answer:
        return self.request("POST", path, body=body, **options)


@contextmanager
def scoring_server(log_dir: Path, *, workers: int = 1, **variables: str) -> Iterator[Server]:
    """``python -m core serve`` with this test's environment (its LOUPE_HOME) plus ``variables``."""
    port = free_port()
    env = {**os.environ, **variables}
    log = log_dir / f"serve-{port}.log"
    command = [sys.executable, "-m", "core", "serve", "--port", str(port), "--workers", str(workers)]
    with running(command, health_url=f"http://127.0.0.1:{port}/ping", log=log, env=env):
        yield Server(url=f"http://127.0.0.1:{port}", port=port, log=log)
