"""Real servers on loopback for end-to-end tests: an MLflow tracking server and the Loupe console.

Each runs as a subprocess on a free 127.0.0.1 port, logs to a file, and is stopped afterwards.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_healthy(url: str, *, process: subprocess.Popen, log: Path, timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url} exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"{url} not healthy after {timeout_s:.0f}s:\n{log.read_text()[-3000:]}")


@contextmanager
def running(
    command: list[str], *, health_url: str, log: Path, env: dict[str, str], timeout_s: float = 90
) -> Iterator[subprocess.Popen]:
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as log_file:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            wait_until_healthy(health_url, process=process, log=log, timeout_s=timeout_s)
            yield process
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait(timeout=5)


@contextmanager
def mlflow_server(*, backend_uri: str, artifacts: Path, log: Path) -> Iterator[str]:
    """``mlflow server`` on loopback with the given backend store; yields its http:// URI."""
    port = free_port()
    command = [
        str(VENV_BIN / "mlflow"),
        "server",
        "--backend-store-uri",
        backend_uri,
        "--artifacts-destination",
        str(artifacts),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    with running(command, health_url=f"http://127.0.0.1:{port}/health", log=log, env=dict(os.environ)):
        yield f"http://127.0.0.1:{port}"


@contextmanager
def loupe_app(*, env: dict[str, str], log: Path) -> Iterator[str]:
    """The console (``streamlit run Home.py``) on loopback; yields its base URL."""
    port = free_port()
    command = [
        str(VENV_BIN / "streamlit"),
        "run",
        "Home.py",
        "--server.port",
        str(port),
        "--server.address",
        "127.0.0.1",
        "--server.headless",
        "true",
    ]
    with running(command, health_url=f"http://127.0.0.1:{port}/_stcore/health", log=log, env=env):
        yield f"http://127.0.0.1:{port}"
