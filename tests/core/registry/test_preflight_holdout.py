"""The pre-flight compares holdout figures a team logged under its own names, the right way round."""

import mlflow
import numpy as np
import pytest
from mlflow.models import infer_signature
from sklearn.datasets import load_diabetes
from sklearn.linear_model import Ridge

from core.registry.preflight import FAIL, PASS, preflight
from tests.conftest import use_home
from tests.team_store import champion, prediction_log, team_home

MODEL = "team-model"


@pytest.fixture
def team(tmp_path, monkeypatch):
    settings = team_home(tmp_path, monkeypatch, model=MODEL)
    with prediction_log(settings) as sessions:
        yield settings, sessions


def register(metrics: dict[str, float]) -> int:
    data = load_diabetes(as_frame=True)
    model = Ridge().fit(data.data, data.target)
    with mlflow.start_run():
        mlflow.log_metrics(metrics)
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            signature=infer_signature(data.data.head(), np.zeros(5)),
            pip_requirements=["scikit-learn"],
        )
    return int(mlflow.register_model(info.model_uri, MODEL).version)


def holdout_check(checked):
    return next(check for check in checked.checks if check.name.startswith("holdout"))


def test_evaluate_style_names_are_compared(team) -> None:
    settings, sessions = team
    register({"root_mean_squared_error": 50.0, "training_root_mean_squared_error": 10.0})
    champion(MODEL, 1)
    worse = register({"root_mean_squared_error": 60.0, "training_root_mean_squared_error": 1.0})

    check = holdout_check(preflight(settings, sessions=sessions, version=worse, alias="champion"))

    assert (check.name, check.status) == ("holdout rmse", FAIL)
    assert "RMSE (root_mean_squared_error) 60 vs 50 for version 1 (+20.0%; lower is better" in check.detail


def test_a_higher_r2_passes_and_a_lower_one_fails(team) -> None:
    settings, sessions = team
    register({"r2_score": 0.40})
    champion(MODEL, 1)
    better, worse = register({"r2_score": 0.45}), register({"r2_score": 0.30})

    assert holdout_check(preflight(settings, sessions=sessions, version=better, alias="champion")).status == PASS
    lower = holdout_check(preflight(settings, sessions=sessions, version=worse, alias="champion"))
    assert (lower.name, lower.status) == ("holdout r2", FAIL)
    assert "higher is better" in lower.detail


def test_the_chosen_metric_is_the_one_compared(team, monkeypatch) -> None:
    settings, sessions = team
    register({"rmse": 50.0, "pinball_loss": 0.9})
    champion(MODEL, 1)
    candidate = register({"rmse": 80.0, "pinball_loss": 0.5})  # worse RMSE, better on the team's own loss
    settings = use_home(monkeypatch, settings.home_dir, LOUPE_MODEL_NAME=MODEL, LOUPE_HOLDOUT_METRIC="pinball_loss")

    check = holdout_check(preflight(settings, sessions=sessions, version=candidate, alias="champion"))

    assert (check.name, check.status) == ("holdout pinball_loss", PASS)


def test_a_version_without_signature_passes_only_with_reference_data(team) -> None:
    from core.monitoring.reference_data import attach_reference
    from core.registry.preflight import WARN

    settings, sessions = team
    data = load_diabetes(as_frame=True)
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(
            Ridge().fit(data.data, data.target), name="model", pip_requirements=["scikit-learn"]
        )
    unsigned = int(mlflow.register_model(info.model_uri, MODEL).version)

    def signature_check():
        checked = preflight(settings, sessions=sessions, version=unsigned, alias="challenger")
        return next(check for check in checked.checks if check.name == "signature")

    before = signature_check()
    attach_reference(settings, version=unsigned, data=data.data, source="training frame")
    after = signature_check()

    assert before.status == FAIL and "no model signature and no reference data" in before.detail
    assert after.status == WARN and "its inputs come from its reference data" in after.detail
