"""Log many param/metric-only runs fast (one ``log_batch`` each), for the Experiments tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from mlflow.entities import Metric, Param, RunTag

from core import mlflow_io
from core.settings import Settings

FIRST_START = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
ESTIMATORS = ("hgb", "rf", "ridge")


@dataclass(frozen=True)
class LoggedRun:
    run_id: str
    name: str
    estimator: str
    start: datetime
    params: dict[str, str]
    metrics: dict[str, float]
    status: str


def run_spec(index: int) -> tuple[str, dict[str, str], dict[str, float], str]:
    """Estimator, params, metrics and status of synthetic run ``index``: distinct, predictable values."""
    estimator = ESTIMATORS[index % 3]
    turn = index // 3  # the how-manieth run of this estimator
    params = {"estimator": estimator, "seed": str(index % 5)}
    if estimator == "hgb":
        params |= {"learning_rate": str(0.01 * (1 + turn % 10)), "max_iter": str(100 * (1 + turn % 4))}
    elif estimator == "rf":
        params |= {"n_estimators": str(10 * (1 + turn % 6)), "max_depth": "None"}
    else:
        params |= {"alpha": str(0.5 * (1 + turn % 3))}
    rmse = 500.0 + index * 3.0 + (0.0 if estimator == "hgb" else 200.0)
    metrics = {"rmse": rmse, "mae": rmse * 0.5, "r2": 1.0 - rmse / 10_000, "mape": rmse / 5_000}
    status = "FAILED" if index % 17 == 16 else "FINISHED"
    return estimator, params, metrics, status


def log_runs(settings: Settings, count: int, *, experiment_id: str | None = None) -> list[LoggedRun]:
    """Log ``count`` finished runs, one hour apart from 2026-01-01 12:00 UTC, each lasting ``index % 60`` s."""
    experiment_id = experiment_id or mlflow_io.ensure_experiment(settings)
    client = mlflow_io.client(settings)
    logged = []
    for index in range(count):
        estimator, params, metrics, status = run_spec(index)
        start = FIRST_START + timedelta(hours=index)
        start_ms = int(start.timestamp() * 1000)
        name = f"{estimator}-{index:04d}"
        run = client.create_run(
            experiment_id, start_time=start_ms, run_name=name, tags={mlflow_io.ESTIMATOR_TAG: estimator}
        )
        client.log_batch(
            run.info.run_id,
            metrics=[Metric(key, value, start_ms, 0) for key, value in metrics.items()],
            params=[Param(key, value) for key, value in params.items()],
            tags=[RunTag("source", "synthetic")],
        )
        client.set_terminated(run.info.run_id, status=status, end_time=start_ms + (index % 60) * 1000)
        logged.append(LoggedRun(run.info.run_id, name, estimator, start, params, metrics, status))
    return logged
