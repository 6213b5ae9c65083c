"""Behaviour of the demo classifier itself (tumour triage), apart from the code that trains it.

Its champion is a logistic regression that trains in well under a second, so these run in the fast tier
on ``classifier_home``, whose champion has the demo's own hyperparameters.
"""

from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import train_test_split

from core import mlflow_io
from core.training.classifier import HOLDOUT_SHARE, evaluate_classifier, load_tumours
from tests.conftest import CLASSIFIER_MODEL, use_home


@pytest.fixture
def champion(classifier_home: Path, monkeypatch: pytest.MonkeyPatch):
    settings = use_home(monkeypatch, classifier_home, LOUPE_MODEL_NAME=CLASSIFIER_MODEL)
    mlflow_io.configure(settings)
    assert mlflow_io.version_for_alias(settings, alias="champion").params == {
        "estimator": "logreg",
        "seed": "42",
        "C": "1.0",
        "max_iter": "2000",
    }  # the demo's own, not a lightened one
    return mlflow.sklearn.load_model(f"models:/{CLASSIFIER_MODEL}@champion")


def holdout() -> tuple[pd.DataFrame, pd.Series]:
    features, target = load_tumours()
    _, X_test, _, y_test = train_test_split(features, target, test_size=HOLDOUT_SHARE, random_state=42, stratify=target)
    return X_test, y_test


def test_the_champion_meets_the_quality_bar_on_its_holdout(champion) -> None:
    X_test, y_test = holdout()

    metrics = evaluate_classifier(y_test, champion.predict_proba(X_test), tuple(champion.classes_))

    assert metrics["accuracy"] >= 0.9 and metrics["roc_auc"] >= 0.97
    assert metrics["recall"] >= 0.85  # of malignant tumours: the class a triage must not miss
    assert metrics["log_loss"] < 0.3


def test_answers_are_text_classes_with_probabilities_that_sum_to_one(champion) -> None:
    X_test, _ = holdout()

    probabilities = champion.predict_proba(X_test)
    labels = champion.predict(X_test)

    assert list(champion.classes_) == ["benign", "malignant"]
    assert set(labels) == {"benign", "malignant"}
    assert np.allclose(probabilities.sum(axis=1), 1.0) and ((0 <= probabilities) & (probabilities <= 1)).all()
    assert (labels == champion.classes_[probabilities.argmax(axis=1)]).all()


def test_larger_tumours_look_more_malignant(champion) -> None:
    features, target = load_tumours()
    typical = features[target == "benign"].median().to_frame().T
    grown = pd.concat(
        [
            typical.assign(**{name: typical[name] * factor for name in ("mean_radius", "mean_perimeter", "mean_area")})
            for factor in (1.0, 1.2, 1.4, 1.6, 2.0)
        ],
        ignore_index=True,
    )

    malignant = champion.predict_proba(grown)[:, 1]

    assert list(malignant) == sorted(malignant) and malignant[0] < 0.5 < malignant[-1]
