"""Metric names as teams log them, what each measures, and which way it points.

One table serves the Registry (holdout figures, the pre-flight) and Experiments (leaderboard, charts):
a regressor's RMSE, MAE, MSE, R², MAPE and a classifier's ROC AUC, F1, accuracy, log loss, precision,
recall, PR AUC, under their short names, scikit-learn's names (``accuracy_score``, ``roc_auc_score``…)
and what ``mlflow.evaluate`` logs (``root_mean_squared_error``, ``accuracy_score``, ``f1_score``,
``roc_auc``, ``precision_recall_auc``, ``log_loss``…), with the usual holdout prefixes (``test_``…).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from core.task import Task

REGRESSION_PREFERENCE = ("rmse", "mae", "mse", "r2", "mape")
# What a classifier is judged by, in order: ranking quality, then the balance of errors, then plain accuracy.
CLASSIFICATION_PREFERENCE = ("roc_auc", "f1", "accuracy", "log_loss", "precision", "recall", "pr_auc")
PREFERENCE = (*REGRESSION_PREFERENCE, *CLASSIFICATION_PREFERENCE)
LONG_NAMES: dict[str, tuple[str, ...]] = {
    "rmse": ("root_mean_squared_error",),
    "mae": ("mean_absolute_error",),
    "mse": ("mean_squared_error",),
    "r2": ("r2_score",),
    "mape": ("mean_absolute_percentage_error",),
    "roc_auc": ("roc_auc_score", "auc"),
    "f1": ("f1_score",),
    "accuracy": ("accuracy_score", "acc"),
    "log_loss": ("logloss", "cross_entropy"),
    "precision": ("precision_score",),
    "recall": ("recall_score",),
    "pr_auc": ("precision_recall_auc", "average_precision", "average_precision_score"),
}
HOLDOUT_PREFIXES = ("", "test_", "val_", "valid_", "validation_", "holdout_", "eval_")
HIGHER_IS_BETTER = frozenset({"r2", "roc_auc", "f1", "accuracy", "precision", "recall", "pr_auc"})
LABELS = {
    "rmse": "RMSE",
    "mae": "MAE",
    "mse": "MSE",
    "r2": "R²",
    "mape": "MAPE",
    "roc_auc": "ROC AUC",
    "f1": "F1",
    "accuracy": "accuracy",
    "log_loss": "log loss",
    "precision": "precision",
    "recall": "recall",
    "pr_auc": "PR AUC",
}
TASK_OF: dict[str, Task] = {
    **{measure: "regression" for measure in REGRESSION_PREFERENCE},
    **{measure: "classification" for measure in CLASSIFICATION_PREFERENCE},
}
# Every logged name read as a holdout figure, mapped to its short name. ``training_*`` (autolog's scores on
# the fitted data) is deliberately absent: those are not holdout figures.
KNOWN_NAMES = {
    f"{prefix}{name}": short
    for short in PREFERENCE
    for name in (short, *LONG_NAMES[short])
    for prefix in HOLDOUT_PREFIXES
}
# For names outside the table (a team's own metrics), words that say which way a metric points.
_LOWER_WORDS = frozenset({"loss", "error", "rmse", "mae", "mse", "mape", "rmsle", "logloss", "brier", "deviance"})
_HIGHER_WORDS = frozenset(
    {"r2", "accuracy", "acc", "precision", "recall", "f1", "auc", "score", "kappa", "mcc", "explained", "ndcg", "iou"}
)


def measure_of(name: str) -> str | None:
    """The short name of what a logged metric measures (``accuracy_score`` → ``accuracy``), if known."""
    return KNOWN_NAMES.get(name.lower())


def label_of(measure: str) -> str:
    """How a measure is written for people: ``RMSE``, ``ROC AUC``, ``log loss``; unknown names as logged."""
    return LABELS.get(measure, measure)


def lower_is_better(name: str) -> bool:
    """Whether smaller values of the metric ``name`` are better.

    Known measures under any usual name first (``training_accuracy_score`` too); then the words of the
    name: a loss or error word means lower (``brier_score_loss``), a score word means higher
    (``balanced_accuracy``, ``accuracy_score_X_test``); scikit-learn's ``neg_`` scorers point up.
    Anything else is read as an error, lower is better.
    """
    lowered = name.lower()
    known = measure_of(lowered.removeprefix("training_"))
    if known is not None:
        return known not in HIGHER_IS_BETTER
    words = set(re.split(r"[^a-z0-9]+", lowered))
    if words & _LOWER_WORDS:
        return not lowered.startswith("neg_")
    return not words & _HIGHER_WORDS


def direction(name: str) -> str:
    """``lower is better`` or ``higher is better``, for chart titles and captions."""
    return "lower is better" if lower_is_better(name) else "higher is better"


def task_of_metrics(names: Iterable[str]) -> Task | None:
    """What the known holdout names say the model does: only regression figures, only classification ones,
    or ``None`` when they say nothing (or both)."""
    tasks = {TASK_OF[measure] for name in names if (measure := measure_of(name)) is not None}
    return tasks.pop() if len(tasks) == 1 else None
