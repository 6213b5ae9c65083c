"""Monitoring at scale: 1M logged predictions over 7 days (carat +10 %), then 10M; Loupe vs Evidently.

Figures (seconds unless named otherwise):

- ``generate_1m_s`` / ``rollup_build_1m_s``: writing the log (bulk path, the champion's real predictions)
  and rolling it up once — one-off costs, spread over the day in normal use.
- ``drift_latency_1m_s``: refresh (nothing new) + drift of every feature + latency p50/p95/p99 over the
  7-day window (median of 5). ``page_render_1m_s``: the Monitoring page in AppTest, warm (median of 3).
- ``evidently_1m_s`` / ``evidently_peak_rss_mb``: ``DataDriftPreset`` on the same data (reference = the
  training split, current = the 1M logged inputs), in ``bench/.venv-evidently`` (created here with pip
  if missing). ``speedup_vs_evidently`` = Evidently time / Loupe's drift + latency time.
- ``verdicts_agree``: every feature gets the same drifted / not-drifted verdict from both.
- ``*_10m*``: the same after growing the log to 10M rows by copying the 1M rows 9 times in SQL (fresh
  ids, same timestamps and values) and rolling the copies up; ``scaling_10m_vs_1m`` is the ratio.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

from core.monitoring.export import drift_and_latency
from core.monitoring.references import refresh
from core.monitoring.windows import Window

ROWS = 1_000_000
SCALE_ROWS = 10_000_000
DAYS = 7
SHIFT = "carat=1.1"
EVIDENTLY_VENV = Path(__file__).parent / ".venv-evidently"
EVIDENTLY_REQUIREMENTS = ["evidently==0.7.23", "pandas==2.3.3"]  # Evidently 0.7 does not run on pandas 3
ROOT = Path(__file__).resolve().parents[1]


def _say(message: str) -> None:
    print(f"  · {message}", flush=True)


@contextmanager
def _home(workdir: Path) -> Iterator[None]:
    from core.settings import get_settings

    saved = dict(os.environ)
    os.environ["LOUPE_HOME"] = str(workdir / "home")
    for name in ("MLFLOW_TRACKING_URI", "LOUPE_DATABASE_URL"):
        os.environ.pop(name, None)
    get_settings.cache_clear()
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)
        get_settings.cache_clear()


def _timed(function: Callable[[], object], *, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _page_render_s(*, repeat: int) -> tuple[float, float]:
    from streamlit.testing.v1 import AppTest

    def render() -> None:
        app = AppTest.from_file(str(ROOT / "pages/4_Monitoring.py"), default_timeout=120).run()
        if app.exception:
            raise RuntimeError(f"the Monitoring page failed: {app.exception[0].message}")

    started = time.perf_counter()
    render()
    cold = time.perf_counter() - started
    return cold, _timed(render, repeat=repeat)


def _ensure_evidently() -> Path:
    python = EVIDENTLY_VENV / "bin" / "python"
    probe = [str(python), "-c", "import evidently, pandas; assert evidently.__version__ == '0.7.23'"]
    if python.exists() and subprocess.run(probe, capture_output=True).returncode == 0:
        return python
    _say(f"creating {EVIDENTLY_VENV.relative_to(ROOT)} with {' '.join(EVIDENTLY_REQUIREMENTS)}")
    subprocess.run([sys.executable, "-m", "venv", str(EVIDENTLY_VENV)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", *EVIDENTLY_REQUIREMENTS], check=True)
    return python


def _logged_inputs(sessions) -> object:
    """The logged inputs of the answered predictions, one column per feature (what Evidently gets)."""
    import pandas as pd
    from sqlalchemy import select

    from storage.log_writer import decode_inputs
    from storage.prediction_log import Prediction

    with sessions.begin() as session:
        logged = session.execute(select(Prediction.id, Prediction.inputs).where(Prediction.inputs.is_not(None))).all()
    return pd.DataFrame.from_records(
        [decode_inputs(inputs) for _, inputs in logged], index=[prediction_id for prediction_id, _ in logged]
    )


def _grow_log(sessions, *, copies: int) -> None:
    """Copy every logged prediction, its inputs and feedback ``copies`` times under fresh ids (SQL only)."""
    from sqlalchemy import func, select, text

    from storage.prediction_log import Prediction

    with sessions.begin() as session:
        newest = session.scalar(select(func.max(Prediction.id)))
    for copy in range(1, copies + 1):
        offset = copy * newest
        with sessions.begin() as session:
            session.execute(
                text(
                    "INSERT INTO predictions (id, created_at, model_name, model_version, alias, prediction, "
                    "latency_ms, source, request_id, is_ood, ood_fields, is_shadow, shadow_of, inputs) "
                    "SELECT id + :offset, created_at, model_name, model_version, alias, prediction, latency_ms, "
                    "source, request_id || :suffix, is_ood, ood_fields, is_shadow, shadow_of, inputs "
                    "FROM predictions WHERE id <= :newest"
                ),
                {"offset": offset, "suffix": f"-copy{copy}", "newest": newest},
            )
            session.execute(
                text(
                    "INSERT INTO feedback (prediction_id, actual, received_at) "
                    "SELECT prediction_id + :offset, actual, received_at FROM feedback WHERE prediction_id <= :newest"
                ),
                {"offset": offset, "newest": newest},
            )
        _say(f"log grown to {(copy + 1) * newest:,} predictions")


def champion_log(settings, figures: dict[str, float | int | str]) -> tuple:
    """A ridge champion and 1M of its answers over :data:`DAYS` days (carat shifted, 30 % labelled), rolled up.

    Adds ``generate_1m_s``, ``rows_1m`` and ``rollup_build_1m_s`` to ``figures``; returns the log's engine and sessions.
    """
    from core import mlflow_io
    from core.monitoring.simulator import simulate_bulk
    from core.monitoring.traffic import Shift
    from core.training.train import train
    from storage.db import make_engine, make_sessionmaker, migrate

    _say("training a champion (ridge: quick to fit; any real model will do for monitoring)")
    trained = train(settings, estimator="ridge")
    mlflow_io.set_alias(settings, alias="champion", version=trained.version)  # train() no longer moves aliases
    engine = make_engine(settings.database_url)
    migrate(engine)
    sessions = make_sessionmaker(engine)
    started = time.perf_counter()
    result = simulate_bulk(
        settings,
        sessions=sessions,
        rows=ROWS,
        days=DAYS,
        shifts=(Shift.parse(SHIFT),),
        label_share=0.3,
        progress=lambda fraction, message: _say(message) if "000,000" in message or fraction < 0.3 else None,
    )
    figures["generate_1m_s"] = round(time.perf_counter() - started, 1)
    figures["rows_1m"] = result.accepted
    started = time.perf_counter()
    refresh(settings, sessions=sessions)
    figures["rollup_build_1m_s"] = round(time.perf_counter() - started, 1)
    _say(f"1M rows logged in {figures['generate_1m_s']} s, rolled up in {figures['rollup_build_1m_s']} s")
    return engine, sessions


def run(workdir: Path) -> dict[str, float | int | str]:
    from core.dataset import CATEGORICAL_FEATURES, NUMERIC_FEATURES, load_diamonds, split_diamonds
    from core.settings import get_settings

    figures: dict[str, float | int | str] = {}
    with _home(workdir):
        settings = get_settings()
        settings.ensure_home()
        engine, sessions = champion_log(settings, figures)

        window = Window.last(timedelta(days=DAYS))

        def loupe() -> tuple:
            return drift_and_latency(settings, sessions=sessions, window=window)

        report, latency = loupe()
        figures["drift_latency_1m_s"] = round(_timed(loupe, repeat=5), 4)
        tracemalloc.start()
        loupe()
        figures["drift_latency_1m_peak_mb"] = round(tracemalloc.get_traced_memory()[1] / 2**20, 1)
        tracemalloc.stop()
        figures["latency_p95_1m_ms"] = round(latency[95], 2)
        cold, warm = _page_render_s(repeat=3)
        figures["page_render_1m_s"] = round(warm, 3)
        figures["page_render_1m_cold_s"] = round(cold, 3)
        _say(f"Loupe drift + latency {figures['drift_latency_1m_s']} s; page {warm:.2f} s warm, {cold:.2f} s cold")

        _say("Evidently DataDriftPreset on the same data")
        python = _ensure_evidently()
        reference = split_diamonds(load_diamonds()).X_train
        reference = reference.astype({name: str for name in CATEGORICAL_FEATURES})
        current = _logged_inputs(sessions)[reference.columns]
        reference.to_parquet(workdir / "reference.parquet")
        current.to_parquet(workdir / "current.parquet")
        completed = subprocess.run(
            [
                str(python),
                str(Path(__file__).parent / "_evidently_drift.py"),
                str(workdir / "reference.parquet"),
                str(workdir / "current.parquet"),
                ",".join(NUMERIC_FEATURES),
                ",".join(CATEGORICAL_FEATURES),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        evidently = json.loads(completed.stdout.strip().splitlines()[-1])
        figures["evidently_1m_s"] = round(evidently["seconds"], 2)
        figures["evidently_peak_rss_mb"] = round(evidently["peak_rss_mb"], 0)
        figures["evidently_rss_after_loading_mb"] = round(evidently["rss_after_loading_mb"], 0)
        figures["speedup_vs_evidently"] = round(evidently["seconds"] / figures["drift_latency_1m_s"], 1)
        ours = {item.feature: item for item in report.features}
        disagreements = []
        for name, theirs in evidently["columns"].items():
            mine = ours[name]
            figures[f"{name}_statistic_loupe"] = round(mine.statistic, 4)
            figures[f"{name}_statistic_evidently"] = round(theirs["statistic"], 4)
            if mine.drifted != theirs["drifted"]:
                disagreements.append(name)
        figures["verdicts_agree"] = "yes" if not disagreements else "no: " + ", ".join(disagreements)
        figures["drifted_features"] = ", ".join(item.feature for item in report.features if item.drifted) or "none"
        figures["rows_current_evidently"] = len(current)
        del current, reference
        _say(
            f"Evidently {figures['evidently_1m_s']} s → {figures['speedup_vs_evidently']}× ; {figures['verdicts_agree']}"
        )

        _say("growing the log to 10M rows")
        started = time.perf_counter()
        _grow_log(sessions, copies=SCALE_ROWS // ROWS - 1)
        figures["grow_to_10m_s"] = round(time.perf_counter() - started, 1)
        started = time.perf_counter()
        refresh(settings, sessions=sessions)
        figures["rollup_add_9m_s"] = round(time.perf_counter() - started, 1)
        report_10m, _ = loupe()
        figures["drift_latency_10m_s"] = round(_timed(loupe, repeat=5), 4)
        cold, warm = _page_render_s(repeat=3)
        figures["page_render_10m_s"] = round(warm, 3)
        figures["scaling_10m_vs_1m"] = round(figures["drift_latency_10m_s"] / figures["drift_latency_1m_s"], 2)
        figures["page_scaling_10m_vs_1m"] = round(warm / figures["page_render_1m_s"], 2)
        figures["rows_10m"] = report_10m.current_rows if report_10m else 0
        figures["verdicts_10m_same"] = (
            "yes" if [f.drifted for f in report_10m.features] == [f.drifted for f in report.features] else "no"
        )
        engine.dispose()
    return figures
