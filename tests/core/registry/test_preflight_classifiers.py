"""The pre-flight of a team's classifiers (plain MLflow): holdout figures the right way round, live classes."""

import mlflow
import numpy as np
import pytest
from sklearn.dummy import DummyRegressor

from core.registry.preflight import FAIL, PASS, UNKNOWN, WARN, preflight
from storage.prediction_log import Feedback, Prediction
from tests.conftest import use_home
from tests.experiment_runs import log_classifier_run
from tests.team_store import champion, prediction_log, team_home

MODEL = "team-classifier"


@pytest.fixture
def team(tmp_path, monkeypatch):
    settings = team_home(tmp_path, monkeypatch, model=MODEL)
    with prediction_log(settings) as sessions:
        yield settings, sessions


def check(checked, prefix: str):
    return next(found for found in checked.checks if found.name.startswith(prefix))


def test_a_classifier_that_learned_nothing_fails_on_roc_auc_and_log_loss(team, monkeypatch) -> None:
    settings, sessions = team
    good = log_classifier_run(experiment_id="0", register_as=MODEL)
    champion(MODEL, good.version)
    blind = log_classifier_run(experiment_id="0", shuffled=True, register_as=MODEL)
    mlflow.MlflowClient().set_registered_model_alias(MODEL, "challenger", str(blind.version))

    worse = check(preflight(settings, sessions=sessions, version=blind.version, alias="champion"), "holdout")
    better = check(preflight(settings, sessions=sessions, version=good.version, alias="challenger"), "holdout")

    assert (worse.name, worse.status) == ("holdout roc_auc", FAIL)
    assert f"ROC AUC {blind.metrics['roc_auc']:,.4g} vs {good.metrics['roc_auc']:,.4g}" in worse.detail
    assert "higher is better" in worse.detail
    assert (better.name, better.status) == ("holdout roc_auc", PASS)

    settings = use_home(monkeypatch, settings.home_dir, LOUPE_MODEL_NAME=MODEL, LOUPE_HOLDOUT_METRIC="log_loss")
    worse = check(preflight(settings, sessions=sessions, version=blind.version, alias="champion"), "holdout")
    better = check(preflight(settings, sessions=sessions, version=good.version, alias="challenger"), "holdout")

    assert blind.metrics["log_loss"] > good.metrics["log_loss"]
    assert (worse.name, worse.status) == ("holdout log_loss", FAIL) and "lower is better" in worse.detail
    assert (better.name, better.status) == ("holdout log_loss", PASS)


def test_live_evidence_of_a_classifier_is_label_agreement_and_realised_accuracy(team) -> None:
    settings, sessions = team
    served_version = log_classifier_run(experiment_id="0", register_as=MODEL).version
    champion(MODEL, served_version)
    candidate = log_classifier_run(experiment_id="0", c=0.5, register_as=MODEL).version
    rng = np.random.default_rng(3)
    truth = rng.choice(["benign", "malignant"], size=30)
    other = {"benign": "malignant", "malignant": "benign"}
    served = np.array([other[label] if index < 3 else label for index, label in enumerate(truth)])  # 90 % right
    shadow = np.array([other[label] if index % 3 == 0 else label for index, label in enumerate(truth)])  # 2/3 right
    with sessions.begin() as session:
        for index in range(30):
            common = {"model_name": MODEL, "latency_ms": 2.0, "source": "api", "request_id": f"r{index}"}
            answer = Prediction(model_version=served_version, alias="champion", label=served[index], **common)
            session.add(answer)
            session.flush()
            session.add(
                Prediction(
                    model_version=candidate,
                    alias="challenger",
                    label=shadow[index],
                    is_shadow=True,
                    shadow_of=answer.id,
                    **common,
                )
            )
            session.add(Feedback(prediction_id=answer.id, actual_label=truth[index]))

    checked = preflight(settings, sessions=sessions, version=candidate, alias="champion")

    agreed, realised = check(checked, "shadow agreement"), check(checked, "realised")
    same = np.mean(shadow == served)
    assert agreed.status == (PASS if same >= 0.8 else WARN)
    assert f"{same:.0%} of 30 shared requests got the same class from both versions" in agreed.detail
    assert (realised.name, realised.status) == ("realised accuracy", FAIL)
    assert f"version {candidate}: accuracy {np.mean(shadow == truth):.1%} on 30 answers" in realised.detail
    assert f"version {served_version}: accuracy {np.mean(served == truth):.1%} on 30 answers" in realised.detail
    assert "realised error" not in {found.name for found in checked.checks}


def test_a_classifier_without_traffic_says_what_evidence_it_needs(team) -> None:
    settings, sessions = team
    champion(MODEL, log_classifier_run(experiment_id="0", register_as=MODEL).version)
    candidate = log_classifier_run(experiment_id="0", c=0.5, register_as=MODEL).version

    checked = preflight(settings, sessions=sessions, version=candidate, alias="champion")

    realised = check(checked, "realised")
    assert (realised.name, realised.status) == ("realised accuracy", UNKNOWN)
    assert "true classes for 0 answers" in realised.detail
    assert check(checked, "holdout").name == "holdout roc_auc"


def test_a_classifier_cannot_quietly_replace_a_regressor(team) -> None:
    settings, sessions = team
    with mlflow.start_run():
        mlflow.log_metric("rmse", 4.0)
        info = mlflow.sklearn.log_model(
            DummyRegressor().fit([[0]], [0]), name="model", pip_requirements=["scikit-learn"]
        )
    champion(MODEL, int(mlflow.register_model(info.model_uri, MODEL).version))
    classifier = log_classifier_run(experiment_id="0", register_as=MODEL).version

    checked = preflight(settings, sessions=sessions, version=classifier, alias="champion")

    task = check(checked, "task")
    assert task.status == FAIL
    assert f"version {classifier} is a classifier" in task.detail and "version 1 is a regressor" in task.detail
