"""A team's version gets its performance estimator when a reference with true values is attached, and only then.

Models are registered with plain MLflow code into a temporary store (real MLflow, real SQLite log): slow tier.
"""

from __future__ import annotations

import json

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.models import infer_signature
from sklearn.linear_model import Ridge

from core.monitoring.estimated_view import classification_estimates
from core.monitoring.estimators import NO_ESTIMATOR, estimator_of
from core.monitoring.reference_data import attach_reference
from tests.team_classifiers import PIP, register_multiclass_int_labels
from tests.team_store import prediction_log, team_home

pytestmark = pytest.mark.slow


def test_a_multiclass_team_classifier_gets_cbpe_from_its_labelled_reference(tmp_path, monkeypatch) -> None:
    settings = team_home(tmp_path, monkeypatch, model="iris-species")
    team = register_multiclass_int_labels()
    reference = team.features.assign(species=team.labels)

    result = attach_reference(settings, version=team.version, data=reference, source="iris.csv", target="species")

    assert any("confidence-based estimation" in note and "150 reference rows" in note for note in result.notes)
    with prediction_log(settings) as sessions, sessions() as session:
        estimator = estimator_of(session, model_name="iris-species", model_version=team.version)
    assert estimator is not None and estimator.method == "cbpe" and estimator.classes == ["0", "1", "2"]
    from core.monitoring.estimation import per_row_estimates

    probabilities = team.estimator.predict_proba(team.features)
    rows = pd.DataFrame(
        {
            "label": [str(value) for value in probabilities.argmax(axis=1)],
            "probabilities": [json.dumps({str(i): float(p) for i, p in enumerate(row)}) for row in probabilities],
        }
    )
    found = per_row_estimates(estimator, rows)
    assert found.calibrated is not None and found.predicted is not None
    np.testing.assert_allclose(found.calibrated.sum(axis=1), 1.0)
    correct = found.calibrated[np.arange(len(rows)), found.predicted]
    classes = pd.DataFrame(
        {
            "class_name": estimator.classes,
            "tp": [found.calibrated[found.predicted == i, i].sum() for i in range(3)],
            "fp": [(1 - found.calibrated[found.predicted == i, i]).sum() for i in range(3)],
            "fn": [found.calibrated[found.predicted != i, i].sum() for i in range(3)],
        }
    )
    sums = pd.Series(
        {"count": len(rows), "correct_sum": correct.sum(), "correct_var_sum": (correct * (1 - correct)).sum()}
    )
    estimated = classification_estimates(sums, classes, pd.DataFrame(columns=["class_name", "bucket"]), estimator)
    realised = float((probabilities.argmax(axis=1) == team.labels.to_numpy()).mean())
    accuracy, f1 = estimated["accuracy"], estimated["f1"]
    # Calibrated on these very rows: the expected accuracy is the realised one, up to isotonic ties.
    assert accuracy is not None and accuracy[0] == pytest.approx(realised, abs=0.02)
    assert f1 is not None and 0.9 < f1[0] <= 1.0 and estimated["roc_auc"] is None  # no bins given


def test_a_team_regressor_gets_dle_and_a_reference_without_target_gets_none(tmp_path, monkeypatch) -> None:
    settings = team_home(tmp_path, monkeypatch, model="load-forecast")
    rng = np.random.default_rng(0)
    features = pd.DataFrame({"temperature": rng.normal(15, 8, 600), "hour": rng.integers(0, 24, 600).astype(float)})
    target = 3 * features["temperature"] + rng.normal(0, 1 + features["hour"] / 4, 600)
    model = Ridge().fit(features, target)
    with mlflow.start_run() as run:
        mlflow.sklearn.log_model(
            model,
            name="model",
            signature=infer_signature(features, model.predict(features)),
            pip_requirements=PIP,
            skops_trusted_types=["sklearn.linear_model._ridge.Ridge"],
        )
    version = int(mlflow.register_model(f"runs:/{run.info.run_id}/model", "load-forecast").version)

    bare = attach_reference(settings, version=version, data=features, source="inputs.csv")
    assert bare.notes[-1] == f"no target column given: {NO_ESTIMATOR}"
    with prediction_log(settings) as sessions, sessions() as session:
        assert estimator_of(session, model_name="load-forecast", model_version=version) is None

    labelled = attach_reference(
        settings, version=version, data=features.assign(load=target), source="holdout.csv", target="load"
    )
    assert "direct loss estimation" in labelled.notes[-1]
    with prediction_log(settings) as sessions, sessions() as session:
        estimator = estimator_of(session, model_name="load-forecast", model_version=version)
    assert estimator is not None and estimator.method == "dle"
    assert [spec["name"] for spec in estimator.payload["features"]] == ["temperature", "hour"]
    assert estimator.payload["reference_mae"] == pytest.approx(
        float(np.mean(np.abs(target - model.predict(features)))), rel=1e-9
    )


def test_versions_loupe_trains_carry_their_estimator(classifier_registry) -> None:
    # The classifier's home holds the bootstrapped diamond-price versions and the tumour classifier, all trained by Loupe.
    with prediction_log(classifier_registry) as sessions, sessions() as session:
        classifier = estimator_of(session, model_name=classifier_registry.model_name, model_version=1)
        regressor = estimator_of(session, model_name="diamond-price", model_version=1)
    assert classifier is not None and classifier.method == "cbpe" and classifier.classes == ["benign", "malignant"]
    assert regressor is not None and regressor.method == "dle"
    assert regressor.payload["rows"] == 10_788  # the whole holdout of the diamonds split
