"""A classifier's realised metrics from roll-up counts: accuracy, precision, recall, F1, ROC AUC, log loss.

Everything is computed from counts that add up hour by hour (:mod:`storage.rollups.classification`), so
a window costs the same at any log size, and equals scikit-learn on the same rows:

- accuracy, precision, recall, F1 from the confusion counts. A binary model is judged on its positive
  class, the second of its two classes in scikit-learn's order (:func:`sorted_classes`); a multiclass
  model by the macro average over the classes seen among true and predicted labels (scikit-learn's
  default ``labels``), a class never predicted scoring 0 (``zero_division=0``);
- log loss: the mean of ``−log p(true class)``, clipped as scikit-learn does;
- ROC AUC from each class's probability on 1,000 fixed bins of [0, 1], split by true class: pairs in the
  same bin count as ties (half), so the value is within :func:`auc_tie_bound` of the exact one (in
  practice ~1e-4). Binary: the positive class's probability; multiclass: the macro one-vs-rest mean
  over the classes with both positive and negative rows.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from storage.rollups import SCORE_BINS, score_bounds

CALIBRATION_BINS = 10
METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc", "log_loss")
HIGHER_IS_BETTER = frozenset({"accuracy", "precision", "recall", "f1", "roc_auc"})
LABELS = {
    "accuracy": "Accuracy",
    "precision": "Precision",
    "recall": "Recall",
    "f1": "F1",
    "roc_auc": "ROC AUC",
    "log_loss": "Log loss",
}


# How a classifier's figures are written everywhere (Monitoring, alerts, Home): shares of rows as percentages
# with one decimal, ROC AUC and log loss to four places (as the Registry shows holdout figures). ``ui.formats`` uses the same two functions.
SHARE_METRICS = frozenset({"accuracy", "precision", "recall", "f1", "coverage"})
MISSING = "—"


def share_text(value: float | None) -> str:
    """A share as a percentage with one decimal: ``81.9%`` (``—`` when there is none)."""
    if value is None or not np.isfinite(value):
        return MISSING
    return f"{value:.1%}"


def metric_text(metric: str, value: float | None) -> str:
    """A classifier metric as shown: accuracy, precision, recall, F1, label coverage ``81.9%``; others ``0.9868``."""
    if metric in SHARE_METRICS:
        return share_text(value)
    if value is None or not np.isfinite(value):
        return MISSING
    return f"{value:.4f}"


def difference_text(metric: str, difference: float) -> str:
    """A gap between two values of ``metric``: percentage points for shares (``9.6 pp``), else ``0.2161``."""
    return f"{difference * 100:.1f} pp" if metric in SHARE_METRICS else f"{difference:.4f}"


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def sorted_classes(names: Iterable[str]) -> list[str]:
    """Class texts in scikit-learn's order: numerically when every class is a number, else as text."""
    unique = sorted({str(name) for name in names})
    numbers = [_number(name) for name in unique]
    if unique and all(number is not None for number in numbers):
        return [name for _, name in sorted(zip(numbers, unique, strict=True))]
    return unique


@dataclass(frozen=True)
class ClassifierMetrics:
    """Realised metrics of some predictions (``None`` where nothing can be measured)."""

    predictions: int
    labelled: int
    accuracy: float | None = None
    precision: float | None = None
    recall: float | None = None
    f1: float | None = None
    roc_auc: float | None = None
    log_loss: float | None = None
    positive: str | None = None  # binary: the class precision, recall, F1 and ROC AUC are about

    @property
    def coverage(self) -> float | None:
        """Labelled over all predictions: how much of the traffic the metrics speak for."""
        return self.labelled / self.predictions if self.predictions else None

    def value(self, metric: str) -> float | None:
        return getattr(self, metric)


def confusion_matrix(confusion: pd.DataFrame, classes: list[str] | None = None) -> pd.DataFrame:
    """Counts of true (rows) × predicted (columns) labels, from rows of (predicted, actual, count)."""
    if classes is None:
        seen = [] if confusion.empty else [*confusion["predicted"], *confusion["actual"]]
        classes = sorted_classes(seen)
    counts = np.zeros((len(classes), len(classes)), dtype=np.int64)
    if not confusion.empty:
        # Plain array indexing: this runs once per version and day, where pandas' pivot costs milliseconds.
        position = {name: index for index, name in enumerate(classes)}
        rows = np.array([position.get(name, -1) for name in confusion["actual"]], dtype=np.int64)
        columns = np.array([position.get(name, -1) for name in confusion["predicted"]], dtype=np.int64)
        known = (rows >= 0) & (columns >= 0)
        np.add.at(counts, (rows[known], columns[known]), confusion["count"].to_numpy(dtype=np.int64)[known])
    return pd.DataFrame(counts, index=pd.Index(classes, name="true"), columns=pd.Index(classes, name="predicted"))


def _ratio(numerator: float, denominator: float) -> float:
    return float(numerator / denominator) if denominator else 0.0


def label_metrics(confusion: pd.DataFrame, *, positive: str | None) -> dict[str, float | None]:
    """Accuracy, precision, recall and F1 from confusion rows; binary on ``positive``, else macro."""
    matrix = confusion_matrix(confusion)
    total = float(matrix.to_numpy().sum())
    if total == 0:
        return {"accuracy": None, "precision": None, "recall": None, "f1": None}
    counts = matrix.to_numpy(dtype=float)
    true_positive = np.diag(counts)
    predicted = counts.sum(axis=0)
    actual = counts.sum(axis=1)
    per_class = {
        "precision": [_ratio(tp, p) for tp, p in zip(true_positive, predicted, strict=True)],
        "recall": [_ratio(tp, a) for tp, a in zip(true_positive, actual, strict=True)],
        "f1": [_ratio(2 * tp, p + a) for tp, p, a in zip(true_positive, predicted, actual, strict=True)],
    }
    classes = list(matrix.index)
    figures: dict[str, float | None] = {"accuracy": float(true_positive.sum() / total)}
    for name, values in per_class.items():
        if positive is not None:
            figures[name] = values[classes.index(positive)] if positive in classes else 0.0
        else:
            figures[name] = float(np.mean(values))
    return figures


def binned_auc(positives: np.ndarray, negatives: np.ndarray) -> float | None:
    """ROC AUC from counts per score bin (ascending): ties within a bin count half, as ``roc_auc_score`` does."""
    positives, negatives = np.asarray(positives, float), np.asarray(negatives, float)
    pos_total, neg_total = positives.sum(), negatives.sum()
    if pos_total == 0 or neg_total == 0:
        return None
    below = np.concatenate([[0.0], np.cumsum(negatives)[:-1]])
    return float(np.sum(positives * (below + 0.5 * negatives)) / (pos_total * neg_total))


def auc_tie_bound(positives: np.ndarray, negatives: np.ndarray) -> float:
    """How far :func:`binned_auc` can be from the exact AUC: half the share of (positive, negative) pairs sharing a bin."""
    positives, negatives = np.asarray(positives, float), np.asarray(negatives, float)
    pairs = positives.sum() * negatives.sum()
    return float(np.sum(positives * negatives) / (2 * pairs)) if pairs else 0.0


def class_histograms(scores: pd.DataFrame, class_name: str) -> tuple[np.ndarray, np.ndarray]:
    """One class's probability counts per bin: (rows whose true label is it, rows whose is not)."""
    positives, negatives = np.zeros(SCORE_BINS), np.zeros(SCORE_BINS)
    if scores.empty:
        return positives, negatives
    rows = scores[scores["class_name"] == class_name]
    truth = rows["is_true"].astype(bool).to_numpy()
    bucket = rows["bucket"].to_numpy(dtype=np.int64)
    count = rows["count"].to_numpy(dtype=float)
    np.add.at(positives, bucket[truth], count[truth])
    np.add.at(negatives, bucket[~truth], count[~truth])
    return positives, negatives


def roc_auc(scores: pd.DataFrame, *, positive: str | None) -> float | None:
    """ROC AUC from per-class score bins: the positive class's (binary), else the macro one-vs-rest mean."""
    if scores.empty:
        return None
    if positive is not None:
        # Binary models keep one class's bins (the model's second class). AUC(P(a), y = a) equals
        # AUC(P(b), y = b) when P(b) = 1 − P(a), so either class's bins give the same figure.
        kept = positive if (scores["class_name"] == positive).any() else str(scores["class_name"].iloc[0])
        return binned_auc(*class_histograms(scores, kept))
    values = [binned_auc(*class_histograms(scores, name)) for name in sorted_classes(scores["class_name"])]
    known = [value for value in values if value is not None]
    return float(np.mean(known)) if known else None


def classifier_metrics(
    *,
    predictions: int,
    confusion: pd.DataFrame,
    scores: pd.DataFrame,
    log_loss_sum: float,
    log_loss_count: int,
    classes: list[str],
) -> ClassifierMetrics:
    """All realised metrics of one selection of rows; ``classes`` are the model's (two: binary)."""
    positive = sorted_classes(classes)[1] if len(set(classes)) == 2 else None
    labelled = int(confusion["count"].sum()) if not confusion.empty else 0
    figures = label_metrics(confusion, positive=positive)
    return ClassifierMetrics(
        predictions=predictions,
        labelled=labelled,
        roc_auc=roc_auc(scores, positive=positive),
        log_loss=float(log_loss_sum / log_loss_count) if log_loss_count else None,
        positive=positive,
        **figures,
    )


def calibration(scores: pd.DataFrame, class_name: str, *, bins: int = CALIBRATION_BINS) -> pd.DataFrame:
    """Reliability curve of one class: per score bin, the mean predicted probability and the observed share.

    Columns: low, high, count, mean_score, observed (the share of rows whose true label is the class).
    """
    positives, negatives = class_histograms(scores, class_name)
    low, high = score_bounds(np.arange(SCORE_BINS))
    middle = (low + high) / 2
    coarse = np.minimum((middle * bins).astype(int), bins - 1)
    total = positives + negatives
    counts = np.bincount(coarse, weights=total, minlength=bins)
    score_sums = np.bincount(coarse, weights=total * middle, minlength=bins)
    observed = np.bincount(coarse, weights=positives, minlength=bins)
    frame = pd.DataFrame(
        {
            "low": np.arange(bins) / bins,
            "high": (np.arange(bins) + 1) / bins,
            "count": counts.astype(np.int64),
            "mean_score": np.divide(score_sums, counts, out=np.full(bins, np.nan), where=counts > 0),
            "observed": np.divide(observed, counts, out=np.full(bins, np.nan), where=counts > 0),
        }
    )
    return frame[frame["count"] > 0].reset_index(drop=True)
