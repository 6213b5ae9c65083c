"""Scoring-server benchmark: Loupe's server vs ``mlflow models serve --env-manager local``, same model, same load.

Both are real processes on free loopback ports with the same worker count, serving the bootstrapped demo's
``diamond-price`` champion (``models:/diamond-price@champion`` for MLflow). Eight keep-alive clients (one
``http.client`` connection per thread) send one-row ``dataframe_split`` requests as fast as answers come
back, 20 s per server, in alternating 10 s halves so machine noise hits both alike. Loupe runs with its
defaults (shadow scoring of the challenger after each answer included). Every Loupe answer must be
logged: the rows with source ``server`` are counted afterwards against the answers given.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

CLIENTS = 8
WORKERS = 2
HALF_S = 10.0  # two halves per server: 20 s of load each
START_TIMEOUT_S = 300
REQUEST_TIMEOUT_S = 30
PAYLOADS = 500


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def _process(command: list[str], *, env: dict[str, str], port: int, log: Path) -> Iterator[subprocess.Popen]:
    with log.open("w") as sink:
        process = subprocess.Popen(command, env=env, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{command[:4]} exited with {process.returncode}: {log.read_text()[-800:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{command[:4]} did not answer /ping: {log.read_text()[-800:]}") from None
                time.sleep(0.5)
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


@dataclass
class Load:
    """What the clients saw: per-request latencies (ms) of 200 answers, failures, and ids Loupe returned."""

    latencies_ms: list[float] = field(default_factory=list)
    failed: int = 0
    ids: list[int] = field(default_factory=list)
    seconds: float = 0.0


def _drive(port: int, payloads: list[bytes], seconds: float, load: Load) -> None:
    """Eight keep-alive clients sending one-row requests back to back for ``seconds``."""
    lock = threading.Lock()
    start = threading.Barrier(CLIENTS + 1)
    stop_at: list[float] = []

    def client(number: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT_S)
        latencies: list[float] = []
        ids: list[int] = []
        failed = 0
        index = number
        start.wait()
        while time.perf_counter() < stop_at[0]:
            body = payloads[index % len(payloads)]
            index += CLIENTS
            began = time.perf_counter()
            try:
                connection.request("POST", "/invocations", body=body, headers={"Content-Type": "application/json"})
                response = connection.getresponse()
                text = response.read()
            except (OSError, http.client.HTTPException):
                failed += 1
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT_S)
                continue
            elapsed = (time.perf_counter() - began) * 1000
            if response.status != 200:
                failed += 1
                continue
            answer = json.loads(text)
            if len(answer.get("predictions", ())) != 1:
                failed += 1
                continue
            latencies.append(elapsed)
            ids += answer.get("prediction_ids", [])
        connection.close()
        with lock:
            load.latencies_ms += latencies
            load.ids += ids
            load.failed += failed

    threads = [threading.Thread(target=client, args=(number,)) for number in range(CLIENTS)]
    for thread in threads:
        thread.start()
    stop_at.append(time.perf_counter() + seconds)
    began = time.perf_counter()
    start.wait()
    for thread in threads:
        thread.join()
    load.seconds += time.perf_counter() - began


def _warm(port: int, payloads: list[bytes]) -> None:
    # The first requests load the model (MLflow) or compile paths; not part of the measure.
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=START_TIMEOUT_S)
    for body in payloads[:20]:
        connection.request("POST", "/invocations", body=body, headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"warm-up request answered {response.status}")
    connection.close()


def _figures(load: Load) -> dict[str, float]:
    latencies = np.asarray(load.latencies_ms)
    return {
        "requests": float(len(latencies)),
        "throughput_rps": len(latencies) / load.seconds,
        "p50_ms": float(np.percentile(latencies, 50)),
        "p99_ms": float(np.percentile(latencies, 99)),
        "failed": float(load.failed),
    }


def run(workdir: Path) -> dict[str, float | int | str]:
    # A script, not core code: point Loupe at a private runtime folder for this run.
    os.environ["LOUPE_HOME"] = str(workdir / "home")
    for name in ("MLFLOW_TRACKING_URI", "LOUPE_DATABASE_URL", "LOUPE_MODEL_NAME", "LOUPE_SHADOW"):
        os.environ.pop(name, None)
    from sqlalchemy import func, select

    from core.dataset import load_diamonds
    from core.settings import get_settings
    from core.training.bootstrap import bootstrap
    from storage.db import make_engine, make_sessionmaker, migrate
    from storage.prediction_log import Prediction

    get_settings.cache_clear()
    settings = get_settings()
    print("  bootstrapping the demo registry (trains champion and challenger)…", flush=True)
    bootstrap(settings)
    sample = load_diamonds().drop(columns="price").sample(PAYLOADS, random_state=11)
    sample = sample.astype({name: str for name in ("cut", "color", "clarity")})
    payloads = [
        json.dumps({"dataframe_split": json.loads(sample.iloc[[row]].to_json(orient="split", index=False))}).encode()
        for row in range(PAYLOADS)
    ]
    bin_dir = Path(sys.executable).parent
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": settings.tracking_uri,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",  # mlflow execs uvicorn by name
    }
    loupe_port, mlflow_port = _free_port(), _free_port()
    loupe_command = [sys.executable, "-m", "core", "serve", "--port", str(loupe_port), "--workers", str(WORKERS)]
    mlflow_command = [str(bin_dir / "mlflow"), "models", "serve", "-m", f"models:/{settings.model_name}@champion"]
    mlflow_command += ["--env-manager", "local", "-h", "127.0.0.1", "-p", str(mlflow_port), "--workers", str(WORKERS)]
    loupe, mlflow = Load(), Load()
    print(f"  starting both servers ({WORKERS} workers each)…", flush=True)
    with (
        _process(loupe_command, env=env, port=loupe_port, log=workdir / "loupe-serve.log"),
        _process(mlflow_command, env=env, port=mlflow_port, log=workdir / "mlflow-serve.log"),
    ):
        _warm(loupe_port, payloads)
        _warm(mlflow_port, payloads)
        for half in (1, 2):
            print(f"  half {half}: Loupe {HALF_S:.0f}s, then MLflow {HALF_S:.0f}s…", flush=True)
            _drive(loupe_port, payloads, HALF_S, loupe)
            _drive(mlflow_port, payloads, HALF_S, mlflow)
        time.sleep(1.0)  # shadow rows still being written are not what is counted below

    engine = make_engine(settings.database_url)
    migrate(engine)
    with make_sessionmaker(engine).begin() as session:
        answered = set(loupe.ids)
        logged = 0
        ordered = sorted(answered)
        for start in range(0, len(ordered), 900):
            chunk = ordered[start : start + 900]
            logged += int(
                session.scalar(
                    select(func.count())
                    .select_from(Prediction)
                    .where(Prediction.id.in_(chunk), Prediction.source == "server", Prediction.is_shadow.is_(False))
                )
                or 0
            )
        server_rows = int(
            session.scalar(
                select(func.count())
                .select_from(Prediction)
                .where(Prediction.source == "server", Prediction.is_shadow.is_(False))
            )
            or 0
        )
    engine.dispose()

    ours, theirs = _figures(loupe), _figures(mlflow)
    figures: dict[str, float | int | str] = {"clients": CLIENTS, "workers": WORKERS, "seconds_each": 2 * HALF_S}
    figures |= {f"loupe_{key}": value for key, value in ours.items()}
    figures |= {f"mlflow_{key}": value for key, value in theirs.items()}
    figures["throughput_loupe_over_mlflow"] = ours["throughput_rps"] / theirs["throughput_rps"]
    figures["p99_loupe_over_mlflow"] = ours["p99_ms"] / theirs["p99_ms"]
    figures["loupe_answers_logged"] = logged
    figures["loupe_server_rows_logged"] = server_rows  # includes the 20 warm-up answers
    figures["every_loupe_answer_logged"] = "yes" if logged == len(answered) == len(loupe.ids) else "no"
    return figures
