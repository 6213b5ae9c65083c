"""Experiments page at scale: 1,000 runs in a SQLite MLflow store, table build and page render.

Baseline: the plain ``mlflow.search_runs`` DataFrame of the same experiment, timed in the same run.
Budget (issue 4): the page with 1,000 runs renders in ≤ 2 s.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from core.experiments.runs import display_table, load_runs, runs_page, sort_table

if TYPE_CHECKING:
    from core.settings import Settings

RUN_COUNT = 1_000
ESTIMATORS = ("hgb", "rf", "ridge")
REPEATS = 3
PAGE = Path(__file__).resolve().parents[1] / "pages" / "2_Experiments.py"
BUDGET_S = 2.0


def _log_runs(settings: Settings, count: int) -> str:
    from mlflow.entities import Metric, Param, RunTag

    from core import mlflow_io

    experiment_id = mlflow_io.ensure_experiment(settings)
    client = mlflow_io.client(settings)
    start_ms = 1_767_268_800_000  # 2026-01-01 12:00 UTC
    for index in range(count):
        estimator = ESTIMATORS[index % 3]
        params = {"estimator": estimator, "seed": str(index % 5), "learning_rate": str(0.01 * (1 + index % 10))}
        params |= {"max_iter": str(100 * (1 + index % 8)), "min_samples_leaf": str(5 * (1 + index % 4))}
        rmse = 500.0 + (index * 37) % 400
        metrics = {"rmse": rmse, "mae": rmse / 2, "r2": 1 - rmse / 10_000, "mape": rmse / 5_000}
        started = start_ms + index * 60_000
        run = client.create_run(
            experiment_id, start_time=started, run_name=f"{estimator}-{index:04d}", tags={"loupe.estimator": estimator}
        )
        client.log_batch(
            run.info.run_id,
            metrics=[Metric(key, value, started, 0) for key, value in metrics.items()],
            params=[Param(key, value) for key, value in params.items()],
            tags=[RunTag("source", "bench")],
        )
        client.set_terminated(run.info.run_id, status="FINISHED", end_time=started + 30_000)
    return experiment_id


def _best(action: Callable[[], object]) -> float:
    timings = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        action()
        timings.append(time.perf_counter() - started)
    return min(timings)


def run(workdir: Path) -> dict[str, float | int | str]:
    saved = dict(os.environ)
    os.environ["LOUPE_HOME"] = str(workdir / "home")
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    try:
        return _measure()
    finally:
        os.environ.clear()
        os.environ.update(saved)
        from core.settings import get_settings

        get_settings.cache_clear()


def _measure() -> dict[str, float | int | str]:
    import mlflow
    from streamlit.testing.v1 import AppTest

    from core.settings import get_settings

    get_settings.cache_clear()
    settings = get_settings()
    started = time.perf_counter()
    experiment_id = _log_runs(settings, RUN_COUNT)
    log_s = time.perf_counter() - started

    baseline_s = _best(lambda: mlflow.search_runs([experiment_id], max_results=RUN_COUNT * 2))

    def build_table() -> None:
        runs = load_runs(settings, experiment_id=experiment_id)
        assert len(runs.frame) == RUN_COUNT
        table = display_table(runs, settings=settings)
        runs_page(sort_table(table, sort_by="rmse", descending=False), page=1, page_size=50)

    table_s = _best(build_table)

    app = AppTest.from_file(str(PAGE), default_timeout=120)
    started = time.perf_counter()
    app.run()
    cold_s = time.perf_counter() - started
    if app.exception:
        raise RuntimeError(f"the page failed: {app.exception[0].message}")
    shown = [caption.value for caption in app.caption if "runs · page" in caption.value]
    if not shown or not shown[0].startswith(f"{RUN_COUNT:,} runs"):
        raise RuntimeError(f"the page did not show {RUN_COUNT} runs: {shown}")

    rerun_timings = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        app.run()
        rerun_timings.append(time.perf_counter() - started)
    render_s = statistics.median(rerun_timings)

    fresh_timings = []
    for _ in range(REPEATS):
        fresh = AppTest.from_file(str(PAGE), default_timeout=120)
        started = time.perf_counter()
        fresh.run()
        fresh_timings.append(time.perf_counter() - started)
    fresh_s = statistics.median(fresh_timings)

    compared = list(load_runs(settings, experiment_id=experiment_id).frame.index[:3])
    app.multiselect(key=f"compare_{experiment_id}").set_value(compared)
    compare_timings = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        app.run()
        compare_timings.append(time.perf_counter() - started)
    if app.exception:
        raise RuntimeError(f"the compare view failed: {app.exception[0].message}")
    compare_s = statistics.median(compare_timings)

    return {
        "runs": RUN_COUNT,
        "log_runs_s": round(log_s, 2),
        "search_runs_baseline_s": round(baseline_s, 3),
        "core_table_s": round(table_s, 3),
        "core_table_vs_search_runs": round(table_s / baseline_s, 2),
        "page_cold_render_s": round(cold_s, 3),
        "page_render_s": round(render_s, 3),
        "page_fresh_apptest_render_s": round(fresh_s, 3),
        "page_compare_3_runs_s": round(compare_s, 3),
        "page_render_vs_search_runs": round(render_s / baseline_s, 2),
        "page_render_within_2s": "yes" if max(render_s, fresh_s, compare_s) <= BUDGET_S else "no",
    }
