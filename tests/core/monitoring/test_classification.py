"""A classifier's realised metrics from the roll-ups equal scikit-learn's on the same logged rows."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as sk

from core.monitoring.classification import (
    auc_tie_bound,
    binned_auc,
    calibration,
    class_histograms,
    classifier_metrics,
    confusion_matrix,
    sorted_classes,
)
from storage import rollups
from storage.db import make_engine, make_sessionmaker, migrate
from storage.prediction_log import add_feedback
from tests.core.monitoring.classification_log import START, log_classifier

END = START + timedelta(days=3)


@pytest.fixture(params=["sqlite", "postgresql"])
def sessions(request, tmp_path):
    url = f"sqlite:///{tmp_path / 'log.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    engine = make_engine(url)
    migrate(engine)
    yield make_sessionmaker(engine)
    engine.dispose()


def refresh(sessions) -> None:
    with sessions.begin() as session:
        rollups.refresh_rollups(session, binning=lambda name, version: None)


def rolled_up(sessions, *, shadow: bool = False, classes: list[str]):
    with sessions.begin() as session:
        totals = rollups.hour_totals(session, model_name="clf", start=START, end=END)
        confusion = rollups.label_counts(session, model_name="clf", kind="confusion", start=START, end=END)
        scores = rollups.score_counts(session, model_name="clf", start=START, end=END)
    totals = totals[totals["is_shadow"].astype(bool) == shadow]
    confusion = confusion[confusion["is_shadow"].astype(bool) == shadow]
    scores = scores[scores["is_shadow"].astype(bool) == shadow]
    figures = classifier_metrics(
        predictions=int(totals["predictions"].sum()),
        confusion=confusion,
        scores=scores,
        log_loss_sum=float(totals["log_loss_sum"].sum()),
        log_loss_count=int(totals["log_loss_count"].sum()),
        classes=classes,
    )
    return figures, confusion, scores


def labelled_rows(logged):
    position = {prediction_id: index for index, prediction_id in enumerate(logged.ids)}
    rows = [position[prediction_id] for prediction_id in logged.truths]
    truths = [logged.truths[prediction_id] for prediction_id in logged.truths]
    predicted = [logged.labels[index] for index in rows]
    return np.asarray(truths), np.asarray(predicted), logged.probabilities[rows]


def test_binary_text_labels_equal_scikit_learn(sessions) -> None:
    """ROC AUC is computed on 1,000 fixed score bins with ties in a bin counted half, so it may differ from
    the exact value by at most half the share of (positive, negative) pairs sharing a bin
    (:func:`auc_tie_bound`, computed here from the same bins; about 1e-3 on these 500 rows). Every other
    figure is exact arithmetic on counts: equal to 1e-12."""
    classes = ["benign", "malignant"]
    with sessions.begin() as session:
        logged = log_classifier(session, classes=classes, rows=500, seed=3)
    refresh(sessions)
    # A true label replaced after the roll-up: counted once, with its new value.
    changed = next(iter(logged.truths))
    logged.truths[changed] = "malignant" if logged.truths[changed] == "benign" else "benign"
    with sessions.begin() as session:
        add_feedback(session, labels={changed: logged.truths[changed]})
    refresh(sessions)
    refresh(sessions)  # idempotent

    figures, _, scores = rolled_up(sessions, classes=classes)
    truths, predicted, probabilities = labelled_rows(logged)
    assert figures.positive == "malignant"
    assert figures.predictions == 500 and figures.labelled == len(truths)
    assert figures.accuracy == pytest.approx(sk.accuracy_score(truths, predicted), abs=1e-12)
    for name, function in (("precision", sk.precision_score), ("recall", sk.recall_score), ("f1", sk.f1_score)):
        assert figures.value(name) == pytest.approx(function(truths, predicted, pos_label="malignant"), abs=1e-12)
    assert figures.log_loss == pytest.approx(sk.log_loss(truths, probabilities, labels=classes), abs=1e-12)
    exact = sk.roc_auc_score(truths == "malignant", probabilities[:, 1])
    bound = auc_tie_bound(*class_histograms(scores, "malignant"))
    assert abs(figures.roc_auc - exact) <= bound + 1e-12
    assert bound < 0.005


def test_multiclass_integer_labels_equal_scikit_learn(sessions) -> None:
    """Macro precision/recall/F1 over the classes seen, log loss over all three: exact (1e-12). ROC AUC is
    the macro one-vs-rest mean of binned AUCs, each within its own :func:`auc_tie_bound`; the mean is within
    the mean of the bounds."""
    classes = ["0", "1", "2"]
    with sessions.begin() as session:
        logged = log_classifier(session, classes=classes, rows=600, seed=5, skill=0.4)
    refresh(sessions)

    figures, _, scores = rolled_up(sessions, classes=classes)
    truths, predicted, probabilities = labelled_rows(logged)
    truths, predicted = truths.astype(int), predicted.astype(int)
    assert figures.positive is None
    assert figures.accuracy == pytest.approx(sk.accuracy_score(truths, predicted), abs=1e-12)
    for name, function in (("precision", sk.precision_score), ("recall", sk.recall_score), ("f1", sk.f1_score)):
        expected = function(truths, predicted, average="macro", zero_division=0)
        assert figures.value(name) == pytest.approx(expected, abs=1e-12)
    assert figures.log_loss == pytest.approx(sk.log_loss(truths, probabilities, labels=[0, 1, 2]), abs=1e-12)
    exact = sk.roc_auc_score(truths, probabilities, multi_class="ovr", average="macro")
    bound = np.mean([auc_tie_bound(*class_histograms(scores, name)) for name in classes])
    assert abs(figures.roc_auc - exact) <= bound + 1e-12


def test_a_class_never_predicted_counts_zero_in_the_macro_average(sessions) -> None:
    classes = ["a", "b", "c"]
    with sessions.begin() as session:
        # Every true label is "c" but the model leans to it only weakly: some rows are predicted "a"/"b".
        logged = log_classifier(session, classes=classes, rows=60, seed=8, skill=0.2, true_labels=["c"] * 60)
    refresh(sessions)
    figures, confusion, _ = rolled_up(sessions, classes=classes)
    truths, predicted, _ = labelled_rows(logged)
    expected = sk.precision_score(truths, predicted, average="macro", zero_division=0)
    assert figures.precision == pytest.approx(expected, abs=1e-12)
    assert figures.roc_auc is None or 0 <= figures.roc_auc <= 1  # one-vs-rest needs both sides for some class
    matrix = confusion_matrix(confusion, classes)
    assert matrix.loc["c"].sum() == len(truths) and matrix.loc[["a", "b"]].to_numpy().sum() == 0


def test_binned_auc_counts_ties_half_as_scikit_learn_does() -> None:
    truth = np.array([1, 0, 1, 0, 1, 0])
    score = np.array([0.9, 0.9, 0.2, 0.1, 0.5, 0.5])  # two ties across classes
    bucket = rollups.score_bucket(score)
    positives = np.bincount(bucket[truth == 1], minlength=rollups.SCORE_BINS)
    negatives = np.bincount(bucket[truth == 0], minlength=rollups.SCORE_BINS)
    assert binned_auc(positives, negatives) == pytest.approx(sk.roc_auc_score(truth, score), abs=1e-12)
    assert binned_auc(positives, np.zeros(rollups.SCORE_BINS)) is None


def test_calibration_bins_mean_score_against_observed_share() -> None:
    rng = np.random.default_rng(0)
    score = rng.random(4_000)
    truth = rng.random(4_000) < score  # calibrated by construction
    bucket = rollups.score_bucket(score)
    scores = pd.DataFrame({"class_name": "yes", "is_true": truth, "bucket": bucket, "count": 1})
    curve = calibration(scores, "yes")
    assert curve["count"].sum() == 4_000 and len(curve) == 10
    expected = pd.DataFrame({"bin": np.minimum((score * 10).astype(int), 9), "score": score, "truth": truth})
    expected = expected.groupby("bin").mean()
    assert np.allclose(curve["mean_score"], expected["score"], atol=1e-3)  # fine bins: midpoints within 0.0005
    assert np.allclose(curve["observed"], expected["truth"], atol=1e-12)


def test_classes_sort_as_scikit_learn_sorts_them() -> None:
    assert sorted_classes(["10", "2", "1"]) == ["1", "2", "10"]
    assert sorted_classes(["malignant", "benign"]) == ["benign", "malignant"]
    assert sorted_classes(["b", "10", "a"]) == ["10", "a", "b"]
