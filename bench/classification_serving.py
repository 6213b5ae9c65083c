"""Classifier serving benchmark: one record validated → answered → logged vs bare ``predict_proba`` on one row.

Two classifiers a team might register with plain MLflow code (breast-cancer data that ships with
scikit-learn): a scaled logistic regression (a bare call costs ~1 ms, so every bit Loupe adds shows)
and a 200-tree gradient-boosting classifier. Loupe's answer (label + class probabilities, written to
the prediction log) and the bare ``predict_proba`` on a one-row DataFrame are interleaved request by
request so machine noise hits both alike. Target: Loupe's p50 ≤ 1.15 × bare p50.
"""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path

import numpy as np
import pandas as pd

REQUESTS = 300
WARMUP = 20


def _register(settings, name: str, estimator, features: pd.DataFrame, labels: pd.Series) -> None:
    import mlflow
    from mlflow.models import infer_signature

    estimator.fit(features, labels)
    mlflow.set_tracking_uri(settings.tracking_uri)
    mlflow.set_registry_uri(settings.tracking_uri)
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(
            estimator,
            name="model",
            signature=infer_signature(features, estimator.predict(features)),
            pip_requirements=["scikit-learn"],
            serialization_format="cloudpickle",
        )
    version = mlflow.register_model(info.model_uri, name)
    mlflow.MlflowClient().set_registered_model_alias(name, "champion", version.version)


def _breast_cancer() -> tuple[pd.DataFrame, pd.Series]:
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer(as_frame=True)
    features = data.frame.iloc[:, :30].copy()
    features.columns = [column.replace(" ", "_") for column in features.columns]
    return features, pd.Series(np.where(data.target == 0, "malignant", "benign"), name="diagnosis")


def _measure(settings, sessions, features: pd.DataFrame) -> dict[str, float | str]:
    from core.serving.model_cache import serve
    from core.serving.scoring import predict_one

    served, _ = serve(settings, alias="champion")
    rows = features.sample(REQUESTS, random_state=7, replace=True).to_dict("records")
    frames = [pd.DataFrame([row]) for row in rows]
    for row, frame in zip(rows[:WARMUP], frames, strict=False):
        served.model.predict_proba(frame)
        predict_one(settings, row, sessions=sessions, run_shadow=False)
    bare_ms: list[float] = []
    answer_ms: list[float] = []
    outcomes = []
    for row, frame in zip(rows, frames, strict=True):
        started = time.perf_counter()
        served.model.predict_proba(frame)
        bare_ms.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        outcomes.append(predict_one(settings, row, sessions=sessions, run_shadow=False))
        answer_ms.append((time.perf_counter() - started) * 1000)
    expected = served.model.predict_proba(pd.concat(frames))
    got = np.array([list(outcome.probabilities.values()) for outcome in outcomes])
    assert np.allclose(got, expected, rtol=1e-9), "Loupe's probabilities differ from predict_proba"
    bare_p50, answer_p50 = statistics.median(bare_ms), statistics.median(answer_ms)
    return {
        "scoring_path": served.scoring_path,
        "bare_predict_proba_p50_ms": bare_p50,
        "loupe_answer_p50_ms": answer_p50,
        "loupe_answer_p95_ms": float(np.percentile(answer_ms, 95)),
        "loupe_answer_p50_over_bare_p50": answer_p50 / bare_p50,
    }


def run(workdir: Path) -> dict[str, float | int | str]:
    # A script, not core code: point Loupe at a private runtime folder for this run.
    os.environ["LOUPE_HOME"] = str(workdir / "home")
    os.environ["LOUPE_SHADOW"] = "false"
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    os.environ.pop("LOUPE_DATABASE_URL", None)
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from core.settings import get_settings
    from storage.db import migrated_sessions

    features, labels = _breast_cancer()
    figures: dict[str, float | int | str] = {"requests": REQUESTS}
    models = {
        "logistic": make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)),
        "hgb": HistGradientBoostingClassifier(max_iter=200, random_state=0),
    }
    for key, estimator in models.items():
        os.environ["LOUPE_MODEL_NAME"] = f"bench-{key}"
        get_settings.cache_clear()
        settings = get_settings()
        settings.ensure_home()
        print(f"  {key}: registering with plain MLflow code, then {REQUESTS} one-row requests…", flush=True)
        _register(settings, settings.model_name, estimator, features, labels)
        with migrated_sessions(settings.database_url) as sessions:
            figures |= {f"{key}_{name}": value for name, value in _measure(settings, sessions, features).items()}
    os.environ.pop("LOUPE_MODEL_NAME", None)
    get_settings.cache_clear()
    return figures
