"""``python -m core train --task classification``: the demo classifier, registered under its own model name."""

import mlflow

from core import mlflow_io
from core.identity import os_user
from core.task import TASK_TAG
from tests.conftest import CLASSIFIER_MODEL
from tests.ledger_rows import ledger_rows


def test_train_a_classifier_registers_it_beside_the_regressor(cli, settings) -> None:
    ran = cli("train", "--task", "classification", "--C", "0.5", "--seed", "3")

    assert ran.code == 0, ran.err
    assert "fitting logreg on 426 rows" in ran.out and "holdout accuracy=" in ran.out
    assert f"version 1 of {CLASSIFIER_MODEL}, accuracy " in ran.out and ", roc_auc " in ran.out
    classifier = settings.model_copy(update={"model_name": CLASSIFIER_MODEL})
    version = mlflow_io.get_version(classifier, version=1)
    assert version.tags[TASK_TAG] == "classification" and version.estimator == "logreg"
    assert (version.params["C"], version.params["seed"]) == ("0.5", "3")
    assert mlflow_io.registered_model_names(settings) == [CLASSIFIER_MODEL]  # the regressor's name untouched
    assert mlflow_io.alias_map(classifier) == {}


def test_train_a_classifier_under_another_name_and_move_a_new_alias(cli, classifier_registry) -> None:
    ran = cli(
        "train", "--task", "classification", "--estimator", "rf", "--n-estimators", "5", "--model", "triage-b",
        "--alias", "canary", "--no-register",
    )  # fmt: skip
    moved = cli("train", "--task", "classification", "--estimator", "rf", "--n-estimators", "5", "--alias", "canary")

    assert ran.code == 1 and "--alias needs a registered version" in ran.err
    assert moved.code == 0, moved.err
    assert "canary → version 3 (was nothing); ledger entry" in moved.out
    assert mlflow_io.alias_map(classifier_registry) == {"champion": 1, "challenger": 2, "canary": 3}
    assert ledger_rows(classifier_registry)[-1] == ("canary", None, 3, os_user(), "cli", False)
    run = mlflow.MlflowClient().get_run(mlflow_io.get_version(classifier_registry, version=3).run_id)
    assert run.data.params["n_estimators"] == "5" and set(run.data.metrics) >= {"accuracy", "roc_auc", "log_loss"}


def test_a_regression_estimator_or_hyperparameter_is_refused_for_a_classifier(cli, settings) -> None:
    wrong_estimator = cli("train", "--task", "classification", "--estimator", "ridge")
    wrong_parameter = cli("train", "--task", "classification", "--alpha", "2")

    assert wrong_estimator.code == 1
    assert wrong_estimator.err == "error: a classifier's estimator must be one of logreg, rf, not 'ridge'\n"
    assert wrong_parameter.code == 1
    assert wrong_parameter.err == "error: alpha is not a hyperparameter of logreg (it has C, max_iter)\n"
    assert mlflow_io.registered_model_names(settings) == []


def test_operating_the_classifier_train_trains_a_classifier_without_being_told(cli, classifier_registry) -> None:
    ran = cli("train", "--estimator", "rf", "--n-estimators", "3", "--no-register")

    assert ran.code == 0, ran.err
    assert "fitting rf on 426 rows" in ran.out and "holdout accuracy=" in ran.out and "not registered" in ran.out
    assert len(mlflow_io.list_versions(classifier_registry)) == 2
