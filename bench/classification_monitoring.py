"""Monitoring a classifier at scale: 1M logged classifications over 7 days, then 10M.

A binary classifier with text labels is trained and registered with plain MLflow code (as a team would),
with holdout metrics on its run and reference data holding its label counts and scores. The log is filled
through :func:`core.monitoring.simulator.simulate_bulk` (the champion's real answers and probabilities,
30 % of them with a true label), then grown to 10M rows by copying in SQL.

Figures (seconds unless named otherwise):

- ``generate_1m_s`` / ``rollup_build_1m_s``: writing the log and rolling it up once (one-off costs);
- ``window_read_1m_s``: what the Monitoring page reads for the 7-day window of a classifier — refresh
  (nothing new), KPIs, latency, input drift, predicted-label and score drift, realised accuracy, precision,
  recall, F1, ROC AUC, log loss per version and per day, confusion matrix, score bins (median of 5;
  target ≤ 0.4 s);
- ``*_10m*``: the same after copying the 1M rows 9 times (fresh ids, same timestamps, values and labels)
  and rolling the copies up; ``scaling_10m_vs_1m`` is the ratio (target ≤ 2×);
- ``accuracy_1m`` / ``accuracy_10m``, ``roc_auc_*``: the realised figures, the same on both (copies).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from bench.monitoring import _timed  # one median-of-N timer for every benchmark

ROWS = 1_000_000
SCALE_ROWS = 10_000_000
DAYS = 7
MODEL = "churn-risk"
CLASSES = ("leave", "stay")


def _say(message: str) -> None:
    print(f"  · {message}", flush=True)


@contextmanager
def _home(workdir: Path) -> Iterator[None]:
    from core.settings import get_settings

    saved = dict(os.environ)
    os.environ["LOUPE_HOME"] = str(workdir / "home")
    os.environ["LOUPE_MODEL_NAME"] = MODEL
    for name in ("MLFLOW_TRACKING_URI", "LOUPE_DATABASE_URL"):
        os.environ.pop(name, None)
    get_settings.cache_clear()
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)
        get_settings.cache_clear()


def _register_classifier(settings) -> None:
    """A team's binary classifier: plain MLflow, holdout metrics on the run, reference data attached."""
    import mlflow
    import numpy as np
    import pandas as pd
    from mlflow.models import infer_signature
    from sklearn import metrics
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split

    from core.mlflow_io import attach_reference_profile
    from core.profile import build_profile, profile_predictions

    x, y = make_classification(n_samples=6_000, n_features=5, n_informative=3, random_state=0)
    features = pd.DataFrame(x, columns=[f"signal_{index}" for index in range(5)])
    labels = pd.Series(np.asarray(CLASSES)[y], name="outcome")
    x_train, x_test, y_train, y_test = train_test_split(features, labels, test_size=0.25, random_state=0)
    estimator = LogisticRegression(max_iter=500).fit(x_train, y_train)
    mlflow.set_tracking_uri(settings.tracking_uri)
    mlflow.set_registry_uri(settings.tracking_uri)
    with mlflow.start_run() as run:
        mlflow.sklearn.log_model(
            estimator,
            name="model",
            signature=infer_signature(x_train, estimator.predict(x_train)),
            pip_requirements=["scikit-learn", "pandas"],
            skops_trusted_types=["sklearn.linear_model._logistic.LogisticRegression"],
        )
        probabilities = estimator.predict_proba(x_test)
        mlflow.log_metrics(
            {
                "test_accuracy": metrics.accuracy_score(y_test, estimator.predict(x_test)),
                "test_roc_auc": metrics.roc_auc_score(y_test == CLASSES[1], probabilities[:, 1]),
                "test_log_loss": metrics.log_loss(y_test, probabilities, labels=list(CLASSES)),
            }
        )
    version = int(mlflow.register_model(f"runs:/{run.info.run_id}/model", MODEL).version)
    mlflow.MlflowClient().set_registered_model_alias(MODEL, "champion", str(version))
    profile = build_profile(x_train, target_values=y_train, categorical_target=True)
    profile = replace(profile, prediction_profile=profile_predictions(estimator.predict_proba(x_train)[:, 1]))
    attach_reference_profile(settings, version=version, profile=profile, note="the training split")


def _grow_log(sessions, *, copies: int) -> None:
    """Copy every logged prediction, its inputs and its true label ``copies`` times under fresh ids (SQL only)."""
    from sqlalchemy import func, select, text

    from storage.prediction_log import Prediction

    with sessions.begin() as session:
        newest = session.scalar(select(func.max(Prediction.id)))
    for copy in range(1, copies + 1):
        offset = copy * newest
        with sessions.begin() as session:
            session.execute(
                text(
                    "INSERT INTO predictions (id, created_at, model_name, model_version, alias, prediction, label, "
                    "probabilities, latency_ms, source, request_id, is_ood, ood_fields, is_shadow, shadow_of, inputs) "
                    "SELECT id + :offset, created_at, model_name, model_version, alias, prediction, label, "
                    "probabilities, latency_ms, source, request_id || :suffix, is_ood, ood_fields, is_shadow, "
                    "shadow_of, inputs FROM predictions WHERE id <= :newest"
                ),
                {"offset": offset, "suffix": f"-copy{copy}", "newest": newest},
            )
            session.execute(
                text(
                    "INSERT INTO feedback (prediction_id, actual, actual_label, received_at, revision) "
                    "SELECT prediction_id + :offset, actual, actual_label, received_at, revision "
                    "FROM feedback WHERE prediction_id <= :newest"
                ),
                {"offset": offset, "newest": newest},
            )
        _say(f"log grown to {(copy + 1) * newest:,} predictions")


def run(workdir: Path, *, rows: int = ROWS, scale_rows: int = SCALE_ROWS) -> dict[str, float | int | str]:
    from core.monitoring.references import refresh
    from core.monitoring.simulator import simulate_bulk
    from core.monitoring.snapshot import snapshot
    from core.monitoring.windows import Window
    from core.settings import get_settings
    from storage.db import make_engine, make_sessionmaker, migrate

    figures: dict[str, float | int | str] = {}
    with _home(workdir):
        settings = get_settings()
        settings.ensure_home()
        _say(f"registering {MODEL}, a binary classifier, with plain MLflow code")
        _register_classifier(settings)
        engine = make_engine(settings.database_url)
        migrate(engine)
        sessions = make_sessionmaker(engine)

        started = time.perf_counter()
        result = simulate_bulk(settings, sessions=sessions, rows=rows, days=DAYS, label_share=0.3)
        figures["generate_1m_s"] = round(time.perf_counter() - started, 1)
        figures["rows_1m"] = result.accepted
        figures["labelled_1m"] = result.feedback
        started = time.perf_counter()
        refresh(settings, sessions=sessions)
        figures["rollup_build_1m_s"] = round(time.perf_counter() - started, 1)
        _say(
            f"{result.accepted:,} rows logged in {figures['generate_1m_s']} s, rolled up in {figures['rollup_build_1m_s']} s"
        )

        window = Window.last(timedelta(days=DAYS))

        def read() -> object:
            return snapshot(settings, sessions=sessions, window=window)

        view = read()
        classified = view.classification
        if classified is None:
            raise RuntimeError("the log holds no classifier rows: nothing was measured")
        figures["window_read_1m_s"] = round(_timed(read, repeat=5), 4)
        figures["accuracy_1m"] = round(classified.current.accuracy or 0.0, 6)
        figures["roc_auc_1m"] = round(classified.current.roc_auc or 0.0, 6)
        figures["coverage_1m"] = round(classified.current.coverage or 0.0, 4)
        _say(
            f"window read {figures['window_read_1m_s']} s (accuracy {figures['accuracy_1m']}, ROC AUC {figures['roc_auc_1m']})"
        )

        _say(f"growing the log to {scale_rows:,} rows")
        started = time.perf_counter()
        _grow_log(sessions, copies=scale_rows // rows - 1)
        figures["grow_to_10m_s"] = round(time.perf_counter() - started, 1)
        started = time.perf_counter()
        refresh(settings, sessions=sessions)
        figures["rollup_add_9m_s"] = round(time.perf_counter() - started, 1)
        view = read()
        assert view.classification is not None
        figures["window_read_10m_s"] = round(_timed(read, repeat=5), 4)
        figures["accuracy_10m"] = round(view.classification.current.accuracy or 0.0, 6)
        figures["roc_auc_10m"] = round(view.classification.current.roc_auc or 0.0, 6)
        figures["rows_10m"] = view.classification.current.predictions
        figures["scaling_10m_vs_1m"] = round(figures["window_read_10m_s"] / figures["window_read_1m_s"], 2)
        _say(f"window read {figures['window_read_10m_s']} s at 10M ({figures['scaling_10m_vs_1m']}×)")
        engine.dispose()
    return figures


if __name__ == "__main__":
    import json
    import sys
    import tempfile

    # python -m bench.classification_monitoring [ROWS [SCALE_ROWS]]
    size = int(sys.argv[1]) if len(sys.argv) > 1 else ROWS
    scale = int(sys.argv[2]) if len(sys.argv) > 2 else size * (SCALE_ROWS // ROWS)
    with tempfile.TemporaryDirectory() as folder:
        print(json.dumps(run(Path(folder), rows=size, scale_rows=scale), indent=2))
