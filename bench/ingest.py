"""Ingest of predictions made elsewhere: 1M rows from a CSV, against a bare bulk insert of the same rows.

The model is a team's: a diamonds regressor (9 inputs, 3 of them categorical) registered with plain MLflow
code and a reference profile, never served by Loupe. Figures:

- ``ingest_rows_per_s``: ``ingest_frames`` over the CSV read in 50k-row chunks — every row checked (ids,
  times, version, inputs against the version's schema, prediction, true value), logged column-wise
  through ``log_prediction_frame`` with its true value as feedback (``add_new_feedback``), one
  transaction per chunk, on SQLite;
- ``bare_rows_per_s``: the same CSV read in the same chunks and inserted as-is into one flat table of the
  same database (one executemany per chunk, no checks); ``ratio_vs_bare`` = ingest / bare throughput;
- ``peak_rss_*_mb``: peak resident memory (``ru_maxrss``) of ``python -m core ingest`` in a child process,
  on a one-row file and on the 1M-row file, each into a fresh log (``peak_rss_growth_mb`` is the
  difference); ``rss_while_reading_*_mb``: its RSS sampled every 0.5 s while it reads the big file's
  chunks (first, last, max sample): memory flat in the file's size does not grow from first to last;
- ``csv_mb``: the size of the 1M-row file.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

ROWS = 1_000_000
MODEL = "team-diamonds"
ROOT = Path(__file__).resolve().parents[1]
PEAK_SCRIPT = (
    "import resource, sys\n"
    "from core.cli import main\n"
    "code = main(sys.argv[1:])\n"
    "print(f'PEAK_KB {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}', file=sys.stderr)\n"
    "sys.exit(code)\n"
)


def _say(message: str) -> None:
    print(f"  · {message}", flush=True)


@contextmanager
def _home(workdir: Path) -> Iterator[dict[str, str]]:
    from core.settings import get_settings

    saved = dict(os.environ)
    variables = {"LOUPE_HOME": str(workdir / "home"), "LOUPE_MODEL_NAME": MODEL}
    os.environ.update(variables)
    for name in ("MLFLOW_TRACKING_URI", "LOUPE_DATABASE_URL"):
        os.environ.pop(name, None)
    get_settings.cache_clear()
    try:
        yield variables
    finally:
        os.environ.clear()
        os.environ.update(saved)
        get_settings.cache_clear()


def _register(settings) -> object:
    """A Ridge on one-hot levels and scaled numbers, logged and registered the plain MLflow way, with a reference."""
    import mlflow
    from mlflow.models import infer_signature
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    from core.dataset import load_diamonds
    from core.profile import PROFILE_ARTIFACT, build_profile

    data = load_diamonds()
    features = data.drop(columns="price").astype({"cut": str, "color": str, "clarity": str})
    levels = ["cut", "color", "clarity"]
    numbers = [name for name in features.columns if name not in levels]
    pipeline = Pipeline(
        [
            (
                "prepare",
                ColumnTransformer(
                    [("levels", OneHotEncoder(handle_unknown="ignore"), levels), ("numbers", StandardScaler(), numbers)]
                ),
            ),
            ("ridge", Ridge()),
        ]
    ).fit(features, data["price"])
    mlflow.set_tracking_uri(settings.tracking_uri)
    mlflow.set_registry_uri(settings.tracking_uri)
    experiment = mlflow.set_experiment("team")
    with mlflow.start_run(experiment_id=experiment.experiment_id):
        mlflow.log_text(build_profile(features, target="price").to_json(), PROFILE_ARTIFACT)
        info = mlflow.sklearn.log_model(
            pipeline,
            name="model",
            signature=infer_signature(features.head(5), pipeline.predict(features.head(5))),
            pip_requirements=["scikit-learn"],
            serialization_format="cloudpickle",
        )
    mlflow.register_model(info.model_uri, MODEL)
    return pipeline, features, data["price"]


def _write_csv(path: Path, pipeline, features: pd.DataFrame, target: pd.Series, rows: int) -> None:
    rng = np.random.default_rng(7)
    start = datetime.now(UTC) - timedelta(days=2)
    written = 0
    for low in range(0, rows, 100_000):
        count = min(100_000, rows - low)
        picked = rng.integers(0, len(features), count)
        chunk = features.iloc[picked].reset_index(drop=True)
        frame = pd.DataFrame(
            {
                "id": [f"order-{number:09d}" for number in range(low, low + count)],
                "timestamp": [
                    (start + timedelta(seconds=int(second))).isoformat()
                    for second in np.sort(rng.integers(0, 2 * 86_400, count))
                ],
                "model_version": 1,
            }
        )
        frame = pd.concat([frame, chunk], axis=1)
        frame["prediction"] = pipeline.predict(chunk).round(2)
        frame["actual"] = target.iloc[picked].to_numpy()
        frame.to_csv(path, mode="a", header=written == 0, index=False)
        written += count


def _bare_insert(url: str, path: Path) -> float:
    """The same file, read in the same chunks, inserted as-is into one flat table: the floor for any log."""
    from sqlalchemy import text

    from core.ingest.readers import read_chunks
    from storage.db import make_engine

    engine = make_engine(url)
    header = pd.read_csv(path, nrows=0).columns.tolist()
    columns = ", ".join(f'"{name}"' for name in header)
    with engine.begin() as connection:
        connection.execute(text(f"CREATE TABLE bare_predictions ({columns})"))
    statement = f"INSERT INTO bare_predictions ({columns}) VALUES ({', '.join('?' for _ in header)})"
    started = time.perf_counter()
    for chunk in read_chunks(path, file_format="csv"):
        with engine.begin() as connection:
            connection.exec_driver_sql(statement, list(chunk.itertuples(index=False, name=None)))
    elapsed = time.perf_counter() - started
    engine.dispose()
    return elapsed


def _rss_mb(pid: int) -> float | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    line = next((line for line in status.splitlines() if line.startswith("VmRSS:")), None)
    return None if line is None else int(line.split()[1]) / 1024


def _peak_rss_mb(path: Path, variables: dict[str, str], database: Path) -> tuple[float, list[float]]:
    """Peak RSS of ``python -m core ingest`` on ``path`` (its own ``ru_maxrss``), and RSS samples taken
    while it processed chunks (after its first progress line): flat samples mean memory does not grow
    with the file, whatever the peak that importing and loading the model reached before."""
    env = {**os.environ, **variables, "LOUPE_DATABASE_URL": f"sqlite:///{database}", "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen(
        [sys.executable, "-c", PEAK_SCRIPT, "ingest", "--input", str(path)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    reading = threading.Event()

    def follow() -> None:
        assert child.stderr is not None
        for line in child.stderr:
            lines.append(line)
            if "rows read" in line:
                reading.set()

    follower = threading.Thread(target=follow, daemon=True)
    follower.start()
    samples: list[float] = []
    while child.poll() is None:
        rss = _rss_mb(child.pid)
        if reading.is_set() and rss is not None:
            samples.append(rss)
        time.sleep(0.5)
    follower.join()
    if child.returncode != 0:
        raise RuntimeError(f"ingest failed: {''.join(lines)[-2000:]}")
    peak = next(line for line in lines if line.startswith("PEAK_KB"))
    return int(peak.split()[1]) / 1024, samples


def run(workdir: Path, *, rows: int = ROWS) -> dict[str, float | int | str]:
    from core.ingest.readers import read_chunks
    from core.ingest.service import ingest_frames
    from core.settings import get_settings
    from storage.db import migrated_sessions

    with _home(workdir) as variables:
        settings = get_settings()
        settings.ensure_home()
        _say("registering a team's diamonds regressor with plain MLflow")
        pipeline, features, target = _register(settings)
        big, small = workdir / "predictions.csv", workdir / "one.csv"
        started = time.perf_counter()
        _write_csv(big, pipeline, features, target, rows)
        pd.read_csv(big, nrows=1).to_csv(small, index=False)
        _say(f"wrote {rows:,} rows ({big.stat().st_size / 1e6:,.0f} MB) in {time.perf_counter() - started:.0f}s")

        with migrated_sessions(settings.database_url) as sessions:
            started = time.perf_counter()
            result = ingest_frames(settings, frames=read_chunks(big, file_format="csv"), sessions=sessions)
            ingest_s = time.perf_counter() - started
        if result.stored != rows:
            raise RuntimeError(f"ingest stored {result.stored:,} of {rows:,} rows: {result.reasons[:3]}")
        _say(f"ingest: {ingest_s:.1f}s")
        bare_s = _bare_insert(settings.database_url, big)
        _say(f"bare insert: {bare_s:.1f}s")

        one_mb, _ = _peak_rss_mb(small, variables, workdir / "rss-one.db")
        big_mb, samples = _peak_rss_mb(big, variables, workdir / "rss-big.db")
        _say(f"peak RSS: {one_mb:.0f} MB on one row, {big_mb:.0f} MB on {rows:,} rows")
        first, last = (samples[0], samples[-1]) if samples else (float("nan"), float("nan"))
        return {
            "rows": rows,
            "csv_mb": round(big.stat().st_size / 1e6, 1),
            "ingest_s": round(ingest_s, 2),
            "bare_insert_s": round(bare_s, 2),
            "ingest_rows_per_s": round(rows / ingest_s),
            "bare_rows_per_s": round(rows / bare_s),
            "ratio_vs_bare": round(bare_s / ingest_s, 3),
            "peak_rss_one_row_mb": round(one_mb, 1),
            "peak_rss_file_mb": round(big_mb, 1),
            "peak_rss_growth_mb": round(big_mb - one_mb, 1),
            "rss_while_reading_first_mb": round(first, 1),
            "rss_while_reading_last_mb": round(last, 1),
            "rss_while_reading_max_mb": round(max(samples, default=float("nan")), 1),
        }
