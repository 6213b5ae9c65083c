"""The demo classifier: trained, logged and registered like the regressor, under its own model and experiment."""

import mlflow
import numpy as np
import pytest

from core import mlflow_io
from core.identity import os_user
from core.mlflow_io import HOLDOUT_ARTIFACT
from core.profile import PROFILE_ARTIFACT, CategoricalProfile, NumericProfile
from core.serving.model_cache import clear_memory_caches, serve
from core.task import TASK_TAG
from core.training.bootstrap import bootstrap
from core.training.classifier import load_tumours, resolve_classifier_params, train_classifier
from tests.conftest import CLASSIFIER_MODEL, use_home
from tests.ledger_rows import ledger_rows

LIGHT = {"hgb": {"max_iter": 20, "learning_rate": 0.3}, "rf": {"n_estimators": 2}}
METRICS = {"accuracy", "precision", "recall", "f1", "roc_auc", "log_loss"}


def test_the_classifier_version_carries_metrics_task_tag_profile_and_holdout(classifier_home, monkeypatch) -> None:
    settings = use_home(monkeypatch, classifier_home, LOUPE_MODEL_NAME=CLASSIFIER_MODEL)
    champion = mlflow_io.version_for_alias(settings, alias="champion")
    challenger = mlflow_io.version_for_alias(settings, alias="challenger")

    assert (champion.version, champion.estimator, challenger.version, challenger.estimator) == (1, "logreg", 2, "rf")
    assert set(champion.metrics) >= METRICS and champion.tags[TASK_TAG] == "classification"
    assert mlflow.MlflowClient().get_experiment(mlflow.get_run(champion.run_id).info.experiment_id).name == (
        "loupe-classifier"
    )
    artifacts = {item.path for item in mlflow.MlflowClient().list_artifacts(champion.run_id)}
    assert {PROFILE_ARTIFACT, HOLDOUT_ARTIFACT, "confusion_matrix.html"} <= artifacts

    profile = mlflow_io.load_profile(settings, run_id=champion.run_id)
    assert profile.target == "diagnosis" and profile.classes == ("benign", "malignant")
    assert isinstance(profile.target_profile, CategoricalProfile)
    assert sum(profile.target_profile.counts) == profile.row_count
    # 357 benign and 212 malignant tumours, split 75/25 with the classes' shares kept
    assert profile.target_profile.counts[0] / profile.row_count == pytest.approx(357 / 569, abs=0.01)
    scores = profile.prediction_profile
    assert isinstance(scores, NumericProfile) and 0 <= scores.min < scores.max <= 1
    # the score is P(malignant): its mean on the training rows is close to the malignant share
    assert scores.mean == pytest.approx(profile.target_profile.counts[1] / profile.row_count, abs=0.05)
    assert all(isinstance(feature, NumericProfile) for feature in profile.features.values())

    mlflow_io.configure(settings)
    holdout = mlflow_io.load_json_artifact(settings, run_id=champion.run_id, artifact_path=HOLDOUT_ARTIFACT)
    assert holdout["classes"] == ["benign", "malignant"]
    assert set(holdout["actual"]) == set(holdout["predicted"]) == {"benign", "malignant"}
    assert len(holdout["actual"]) == len(holdout["predicted"]) == len(holdout["score"]) == 143
    agreed = np.mean(np.array(holdout["actual"]) == np.array(holdout["predicted"]))
    assert agreed == pytest.approx(champion.metrics["accuracy"])


def test_the_classifier_is_served_as_a_classifier_with_text_labels(classifier_registry) -> None:
    clear_memory_caches()
    served, _ = serve(classifier_registry)
    features, _ = load_tumours()

    answers = served.answer(served.model_input(features.head(20)))

    assert (served.task, served.classes) == ("classification", ("benign", "malignant"))
    assert set(answers.label_texts) <= {"benign", "malignant"} and len(set(answers.label_texts)) == 2
    assert np.allclose(answers.probabilities.sum(axis=1), 1.0)
    assert np.allclose(answers.values, answers.probabilities[:, 1])  # the score: P(malignant)
    assert served.schema.required_names == list(features.columns)
    clear_memory_caches()


def test_on_an_empty_registry_bootstrap_registers_the_regressor_and_the_classifier(tmp_path, monkeypatch) -> None:
    settings = use_home(monkeypatch, tmp_path / "home")

    result = bootstrap(settings, overrides=LIGHT, classifier_overrides=LIGHT)
    again = bootstrap(settings, overrides=LIGHT, classifier_overrides=LIGHT, demo=True)

    assert [(trained.model_name, trained.estimator, trained.version) for trained in result.trained] == [
        ("diamond-price", "hgb", 1),
        ("diamond-price", "rf", 2),
        (CLASSIFIER_MODEL, "logreg", 1),
        (CLASSIFIER_MODEL, "rf", 2),
    ]
    assert mlflow_io.registered_model_names(settings) == [settings.model_name, CLASSIFIER_MODEL]
    assert mlflow_io.alias_map(settings) == {"champion": 1, "challenger": 2}
    assert mlflow_io.alias_map(settings, name=CLASSIFIER_MODEL) == {"champion": 1, "challenger": 2}
    assert again.did_nothing  # existing versions are never trained over, of either model
    classifier = settings.model_copy(update={"model_name": CLASSIFIER_MODEL})
    assert ledger_rows(classifier) == [
        ("champion", None, 1, os_user(), "bootstrap", False),
        ("challenger", None, 2, os_user(), "bootstrap", False),
    ]


def test_the_same_seed_gives_the_same_classifier_metrics(settings) -> None:
    first = train_classifier(settings, register=False, seed=5)
    second = train_classifier(settings, register=False, seed=5)

    assert first.metrics == second.metrics and first.version is None
    assert mlflow_io.registered_model_names(settings) == []


def test_unknown_classifier_estimator_or_hyperparameter_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="a classifier's estimator must be one of logreg, rf"):
        resolve_classifier_params("ridge")
    with pytest.raises(ValueError, match="alpha is not a hyperparameter of logreg"):
        resolve_classifier_params("logreg", {"alpha": 1.0})
    assert resolve_classifier_params("rf", {"n_estimators": 7, "max_depth": None})["n_estimators"] == 7
