"""Serving benchmark: the console's answering path vs bare ``pipeline.predict`` vs MLflow's REST server.

Same run, same model (the bootstrapped HGB champion), same 1-row requests, interleaved request by
request so machine noise hits all alike. Loupe answers one record from the pipeline's compiled form
(``core/compiled_pipeline``), so besides the end-to-end answer the compiled predict is timed on its own
(``loupe_answer_p50_over_compiled_p50`` is what validation and logging add). A second pass answers with
``LOUPE_COMPILE_MODELS=false`` (``predict`` on one OpenMP thread) against bare predict on one thread:
the like-for-like overhead of the console around scikit-learn. Shadow scoring is measured on its own
(it runs after the answer). Batch: 100k rows validate → score → log, end to end, vs bare predict timed
just before it, on SQLite and on PostgreSQL (issue #14: at least half of bare predict's throughput on both).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
from threadpoolctl import ThreadpoolController

from core.serving.model_cache import clear_memory_caches, serve
from core.serving.scoring import predict_one, score_frame, score_shadow_for

REQUESTS = 300
UNCOMPILED_REQUESTS = 150
WARMUP = 20
BATCH_ROWS = 100_000
REST_START_TIMEOUT_S = 180
REST_REQUEST_TIMEOUT_S = 5
REST_WARMUP_TIMEOUT_S = 60  # the server loads the model on its first request
# The batch is logged to SQLite (the run's own home) and to PostgreSQL, in a fresh schema of this database
# (LOUPE_BENCH_POSTGRES_URL overrides it); each against bare predict timed just before it.
POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _percentiles(samples_ms: list[float]) -> tuple[float, float]:
    return float(np.percentile(samples_ms, 50)), float(np.percentile(samples_ms, 95))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _start_rest_server(settings, workdir: Path) -> tuple[subprocess.Popen, int, str | None]:
    """``mlflow models serve`` on loopback; returns the process, its port and an error if it did not come up."""
    port = _free_port()
    mlflow_cli = Path(sys.executable).with_name("mlflow")
    # The server execs ``uvicorn`` by name: it must find the venv's scripts on PATH.
    path = f"{mlflow_cli.parent}{os.pathsep}{os.environ.get('PATH', '')}"
    environment = {**os.environ, "MLFLOW_TRACKING_URI": settings.tracking_uri, "PATH": path}
    log_path = workdir / "mlflow-serve.log"
    model_uri = f"models:/{settings.model_name}/1"
    command = [str(mlflow_cli), "models", "serve", "-m", model_uri, "--env-manager", "local"]
    command += ["-h", "127.0.0.1", "-p", str(port)]
    with log_path.open("w") as log:
        server = subprocess.Popen(
            command,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + REST_START_TIMEOUT_S
    while time.monotonic() < deadline and server.poll() is None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2) as answer:
                if answer.status == 200:
                    return server, port, None
        except OSError:
            time.sleep(0.5)
    tail = log_path.read_text()[-500:]
    return server, port, f"mlflow models serve did not start: {tail}"


def _rest_call(port: int, row: dict, columns: list[str], *, timeout: float = REST_REQUEST_TIMEOUT_S) -> None:
    body = json.dumps({"dataframe_split": {"columns": columns, "data": [[row[name] for name in columns]]}})
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/invocations", data=body.encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=timeout) as answer:
        answer.read()


def _stop(server: subprocess.Popen) -> None:
    """End the server and its workers (its own process group, started by us)."""
    for sent in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(server.pid, sent)
            server.wait(timeout=10)
            return
        except ProcessLookupError:
            return
        except subprocess.TimeoutExpired:
            continue


def _batch_pair(settings, sessions, pipeline, batch: pd.DataFrame, columns: list[str]) -> tuple[float, float]:
    """Seconds for bare ``predict`` and for Loupe's validate → score → log of ``batch``.

    Each side gets a small warm-up call first (connections, caches), so both are timed warm. Bare predict
    is timed just before and just after Loupe's run and the mean taken, so a change in the machine's load
    during the run does not favour either side.
    """
    pipeline.predict(batch[columns].head(1_000))
    score_frame(settings, batch.head(1_000), sessions=sessions, source="batch", shadow=False)
    bare_s: list[float] = []
    started = time.perf_counter()
    pipeline.predict(batch[columns])
    bare_s.append(time.perf_counter() - started)
    started = time.perf_counter()
    result = score_frame(settings, batch, sessions=sessions, source="batch", shadow=False)
    loupe_s = time.perf_counter() - started
    started = time.perf_counter()
    pipeline.predict(batch[columns])
    bare_s.append(time.perf_counter() - started)
    assert len(result.accepted) == len(batch)
    return statistics.fmean(bare_s), loupe_s


def _postgres_batch(settings, pipeline, batch: pd.DataFrame, columns: list[str]) -> dict[str, float | int | str]:
    """The same batch logged to PostgreSQL, in a schema of its own (created here, dropped afterwards)."""
    import uuid

    import sqlalchemy as sa

    from storage.db import make_engine, make_sessionmaker, migrate

    admin_url = os.environ.get("LOUPE_BENCH_POSTGRES_URL", POSTGRES_URL)
    schema = f"loupe_bench_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    except sa.exc.OperationalError as error:
        admin.dispose()
        return {"batch_postgres_error": f"PostgreSQL unreachable at {admin_url}: {str(error).splitlines()[0]}"}
    separator = "&" if "?" in admin_url else "?"
    engine = make_engine(f"{admin_url}{separator}options=-csearch_path%3D{schema}")
    try:
        migrate(engine)
        bare_s, loupe_s = _batch_pair(settings, make_sessionmaker(engine), pipeline, batch, columns)
    finally:
        engine.dispose()
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()
    return {
        "batch_postgres_loupe_rows_per_s": len(batch) / loupe_s,
        "batch_postgres_bare_predict_rows_per_s": len(batch) / bare_s,
        "batch_postgres_loupe_over_bare_throughput": bare_s / loupe_s,
    }


def run(workdir: Path) -> dict[str, float | int | str]:
    # A script, not core code: point Loupe at a private runtime folder for this run.
    os.environ["LOUPE_HOME"] = str(workdir / "home")
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    os.environ.pop("LOUPE_DATABASE_URL", None)
    os.environ.pop("LOUPE_MODEL_NAME", None)
    from core.dataset import load_diamonds
    from core.settings import get_settings
    from core.training.bootstrap import bootstrap
    from storage.db import make_engine, make_sessionmaker, migrate

    get_settings.cache_clear()
    settings = get_settings()
    print("  bootstrapping a registry (trains champion and challenger)…", flush=True)
    bootstrap(settings)
    engine = make_engine(settings.database_url)
    migrate(engine)
    sessions = make_sessionmaker(engine)

    served, _ = serve(settings, alias="champion")
    pipeline = served.model
    compiled = served.compiled
    assert compiled is not None, served.scoring_path
    columns = served.schema.names
    sample = load_diamonds().drop(columns="price").sample(REQUESTS, random_state=7)
    sample = sample.astype({name: str for name in ("cut", "color", "clarity")})
    rows = [
        {name: (value.item() if hasattr(value, "item") else value) for name, value in row.items()}
        for row in sample.to_dict("records")
    ]
    frames = [pd.DataFrame([row], columns=columns) for row in rows]

    pools = ThreadpoolController()
    print("  starting MLflow REST serving (mlflow models serve)…", flush=True)
    server, port, rest_error = _start_rest_server(settings, workdir)
    try:
        print("  1-row requests, interleaved: Loupe answering path, bare predict, MLflow REST…", flush=True)
        for index in range(WARMUP):
            pipeline.predict(frames[index])
            predict_one(settings, rows[index], sessions=sessions, run_shadow=False)
            if rest_error is None:
                _rest_call(port, rows[index], columns, timeout=REST_WARMUP_TIMEOUT_S)
        bare_ms: list[float] = []
        bare_single_ms: list[float] = []
        compiled_ms: list[float] = []
        answer_ms: list[float] = []
        rest_ms: list[float] = []
        rest_failures = 0
        outcomes = []
        for row, frame in zip(rows, frames, strict=True):
            started = time.perf_counter()
            pipeline.predict(frame)
            bare_ms.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            with pools.limit(limits=1, user_api="openmp"):
                pipeline.predict(frame)
            bare_single_ms.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            compiled.predict(row)
            compiled_ms.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            outcomes.append(predict_one(settings, row, sessions=sessions, run_shadow=False))
            answer_ms.append((time.perf_counter() - started) * 1000)
            if rest_error is None:
                started = time.perf_counter()
                try:
                    _rest_call(port, row, columns)
                    rest_ms.append((time.perf_counter() - started) * 1000)
                except OSError:  # counted, and left out of the percentiles (in REST's favour)
                    rest_failures += 1
    finally:
        _stop(server)
    assert all(outcome.accepted for outcome in outcomes)
    answers = np.array([outcome.prediction for outcome in outcomes])
    assert np.allclose(answers, pipeline.predict(pd.concat(frames)), rtol=1e-9, atol=0)

    print("  1-row requests with LOUPE_COMPILE_MODELS=false, against bare predict on one thread…", flush=True)
    os.environ["LOUPE_COMPILE_MODELS"] = "false"
    get_settings.cache_clear()
    uncompiled_settings = get_settings()
    clear_memory_caches()
    assert serve(uncompiled_settings, alias="champion")[0].compiled is None
    uncompiled_ms: list[float] = []
    uncompiled_bare_ms: list[float] = []
    for row, frame in zip(rows[:UNCOMPILED_REQUESTS], frames, strict=False):
        started = time.perf_counter()
        with pools.limit(limits=1, user_api="openmp"):
            pipeline.predict(frame)
        uncompiled_bare_ms.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        predict_one(uncompiled_settings, row, sessions=sessions, run_shadow=False)
        uncompiled_ms.append((time.perf_counter() - started) * 1000)
    os.environ.pop("LOUPE_COMPILE_MODELS")
    get_settings.cache_clear()
    clear_memory_caches()

    print("  shadow scoring (after the answer)…", flush=True)
    shadow_ms: list[float] = []
    for outcome in outcomes[:100]:
        started = time.perf_counter()
        result = score_shadow_for(settings, outcome, sessions=sessions)
        shadow_ms.append((time.perf_counter() - started) * 1000)
        assert result is not None and result.scored == 1, result

    full = load_diamonds().drop(columns="price").astype({name: str for name in ("cut", "color", "clarity")})
    batch = pd.concat([full] * (BATCH_ROWS // len(full) + 1), ignore_index=True).head(BATCH_ROWS)
    print(f"  batch of {BATCH_ROWS:,} rows on SQLite…", flush=True)
    bare_batch_s, loupe_batch_s = _batch_pair(settings, sessions, pipeline, batch, columns)
    engine.dispose()
    print(f"  batch of {BATCH_ROWS:,} rows on PostgreSQL…", flush=True)
    postgres = _postgres_batch(settings, pipeline, batch, columns)

    bare_p50, bare_p95 = _percentiles(bare_ms)
    single_p50, single_p95 = _percentiles(bare_single_ms)
    answer_p50, answer_p95 = _percentiles(answer_ms)
    compiled_p50, compiled_p95 = _percentiles(compiled_ms)
    uncompiled_p50, _ = _percentiles(uncompiled_ms)
    uncompiled_bare_p50, _ = _percentiles(uncompiled_bare_ms)
    shadow_p50, shadow_p95 = _percentiles(shadow_ms)
    figures: dict[str, float | int | str] = {
        "requests": len(answer_ms),
        "bare_predict_p50_ms": bare_p50,
        "bare_predict_p95_ms": bare_p95,
        "loupe_answer_p50_ms": answer_p50,
        "loupe_answer_p95_ms": answer_p95,
        "bare_predict_one_thread_p50_ms": single_p50,
        "bare_predict_one_thread_p95_ms": single_p95,
        "loupe_answer_p50_over_bare_p50": answer_p50 / bare_p50,
        "loupe_answer_p50_over_bare_one_thread_p50": answer_p50 / single_p50,
        "loupe_answer_mean_over_bare_mean": statistics.fmean(answer_ms) / statistics.fmean(bare_ms),
        "compiled_predict_p50_ms": compiled_p50,
        "compiled_predict_p95_ms": compiled_p95,
        "loupe_answer_p50_over_compiled_p50": answer_p50 / compiled_p50,
        "uncompiled_answer_p50_ms": uncompiled_p50,
        "uncompiled_bare_one_thread_p50_ms": uncompiled_bare_p50,
        "uncompiled_answer_p50_over_bare_one_thread_p50": uncompiled_p50 / uncompiled_bare_p50,
        "shadow_p50_ms": shadow_p50,
        "shadow_p95_ms": shadow_p95,
        "batch_rows": BATCH_ROWS,
        "batch_loupe_rows_per_s": BATCH_ROWS / loupe_batch_s,
        "batch_bare_predict_rows_per_s": BATCH_ROWS / bare_batch_s,
        "batch_loupe_over_bare_throughput": (BATCH_ROWS / loupe_batch_s) / (BATCH_ROWS / bare_batch_s),
    }
    figures |= postgres
    if rest_error is None:
        rest_p50, rest_p95 = _percentiles(rest_ms)
        figures |= {
            "mlflow_rest_p50_ms": rest_p50,
            "mlflow_rest_p95_ms": rest_p95,
            "mlflow_rest_p50_over_loupe_answer_p50": rest_p50 / answer_p50,
            "mlflow_rest_failed_requests": rest_failures,
        }
    else:
        figures["mlflow_rest_error"] = rest_error
    return figures
