"""Bootstrap never writes the demo models into a registry that already holds a team's models, unless asked."""

import mlflow
import numpy as np
from mlflow.models import infer_signature
from sklearn.datasets import load_diabetes
from sklearn.linear_model import Ridge

from core import mlflow_io
from core.training.bootstrap import bootstrap
from tests.conftest import use_home

LIGHT = {"hgb": {"max_iter": 20, "learning_rate": 0.3}, "rf": {"n_estimators": 2}}


def register_team_model(settings) -> None:
    mlflow.set_tracking_uri(settings.tracking_uri)
    mlflow.set_registry_uri(settings.tracking_uri)
    data = load_diabetes(as_frame=True)
    model = Ridge().fit(data.data, data.target)
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            signature=infer_signature(data.data.head(), np.zeros(5)),
            pip_requirements=["scikit-learn"],
        )
    mlflow.register_model(info.model_uri, "team-model")


def test_a_registry_with_other_models_is_reported_not_written_to(tmp_path, monkeypatch) -> None:
    settings = use_home(monkeypatch, tmp_path / "home")
    settings.ensure_home()
    register_team_model(settings)

    result = bootstrap(settings, overrides=LIGHT)

    assert result.did_nothing and result.found == ["team-model"]
    assert mlflow_io.registered_model_names(settings) == ["team-model"]


def test_demo_adds_the_demo_models_beside_the_teams_when_asked(tmp_path, monkeypatch) -> None:
    settings = use_home(monkeypatch, tmp_path / "home")
    settings.ensure_home()
    register_team_model(settings)

    result = bootstrap(settings, overrides=LIGHT, classifier_overrides=LIGHT, demo=True)
    again = bootstrap(settings, overrides=LIGHT, classifier_overrides=LIGHT, demo=True)

    assert [(trained.model_name, trained.version) for trained in result.trained] == [
        (settings.model_name, 1),
        (settings.model_name, 2),
        ("tumour-triage", 1),
        ("tumour-triage", 2),
    ]
    assert mlflow_io.registered_model_names(settings) == sorted(["team-model", settings.model_name, "tumour-triage"])
    assert mlflow_io.alias_map(settings) == {"champion": 1, "challenger": 2}
    assert mlflow_io.alias_map(settings, name="tumour-triage") == {"champion": 1, "challenger": 2}
    assert again.did_nothing  # existing versions are never trained over
