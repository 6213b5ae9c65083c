"""Every command on a team's own model, registered with plain MLflow code (no Loupe profile, its own metric names)."""

from __future__ import annotations

import json

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.models import infer_signature
from sklearn.datasets import load_diabetes
from sklearn.linear_model import Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from core.serving.model_cache import clear_memory_caches
from tests.team_store import champion, team_home

MODEL = "diabetes-team"


def diabetes() -> tuple[pd.DataFrame, pd.Series]:
    data = load_diabetes(as_frame=True, scaled=False)
    return data.data, data.target


@pytest.fixture
def team(tmp_path, monkeypatch):
    """Version 1 (champion) and a clearly worse version 2, metrics as mlflow.evaluate names them."""
    settings = team_home(tmp_path, monkeypatch, model=MODEL)
    features, target = diabetes()
    pipelines = []
    for alpha, rmse in ((1.0, 54.0), (500.0, 75.0)):
        pipeline = make_pipeline(StandardScaler(), Ridge(alpha=alpha)).fit(features, target)
        with mlflow.start_run():
            mlflow.log_metrics({"root_mean_squared_error": rmse, "r2_score": 0.5, "training_mean_absolute_error": 1.0})
            info = mlflow.sklearn.log_model(
                pipeline,
                name="model",
                signature=infer_signature(features, pd.Series(pipeline.predict(features), name="progression")),
                pip_requirements=["scikit-learn"],
            )
        mlflow.register_model(info.model_uri, MODEL)
        pipelines.append(pipeline)
    champion(MODEL, 1)
    yield settings, pipelines
    clear_memory_caches()


def test_score_reference_simulate_drift_and_promote_on_a_team_model(cli, team, tmp_path) -> None:
    _, (champion, _) = team
    features, target = diabetes()
    source, output = tmp_path / "in.csv", tmp_path / "out.csv"
    features.head(150).to_csv(source, index=False)

    scored = cli("score", "--input", str(source), "--output", str(output))
    assert scored.code == 0, scored.err
    answers = pd.read_csv(output)
    np.testing.assert_allclose(answers["prediction"], champion.predict(features.head(150)), rtol=1e-9)

    thin_drift = cli("drift", "--window", "1d")
    assert thin_drift.code == 1 and "has no reference data to compare with" in thin_drift.err

    from_traffic = cli("reference", "--version", "1", "--from-traffic", "1")
    assert from_traffic.code == 0, from_traffic.err
    assert "reference from its own first 1 day(s) of traffic" in from_traffic.out and "150 rows" in from_traffic.out

    data = tmp_path / "train.csv"
    features.assign(progression=target).to_csv(data, index=False)
    attached = cli("reference", "--version", "1", "--input", str(data), "--target", "progression")
    assert attached.code == 0, attached.err
    assert "reference from train.csv, 442 rows, 10 inputs" in attached.out
    clear_memory_caches()

    simulated = cli("simulate", "--rows", "300", "--days", "1", "--shift", "bmi=1.6", "--label-share", "0.3")
    assert simulated.code == 0, simulated.err
    report = cli("drift", "--window", "1d", "--version", "1")
    assert report.code == 0, report.err
    drifted = {item["feature"] for item in json.loads(report.out)["features"] if item["drifted"]}
    assert "bmi" in drifted and "sex" not in drifted

    blocked = cli("promote", "--version", "2", "--alias", "champion", "--reason", "try the ridge with alpha 500")
    assert blocked.code == 1
    assert "holdout rmse: RMSE (root_mean_squared_error) 75 vs 54 for version 1" in blocked.out + blocked.err
    moved = cli("promote", "--version", "2", "--alias", "challenger", "--reason", "shadow it first")
    assert moved.code == 0, moved.err
    assert "challenger → version 2 (was nothing)" in moved.out
