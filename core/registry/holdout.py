"""Holdout metrics under the names people log them: Loupe's own, MLflow's ``evaluate`` names, test/val prefixes.

A team's runs rarely log a metric named exactly ``rmse``. This module finds the holdout figure a
version was judged by — the one ``LOUPE_HOLDOUT_METRIC`` names, else the first known one: a
regressor's RMSE, MAE, MSE, R², MAPE, and when the run logged none of those, a classifier's ROC AUC,
F1, accuracy, log loss, precision, recall, PR AUC — and says which way it points (the names are in
:mod:`core.registry.metric_names`). Autolog's ``training_*`` metrics are fitted-data scores, not
holdout, and are never used.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from core.registry.metric_names import (
    HIGHER_IS_BETTER,
    HOLDOUT_PREFIXES,
    KNOWN_NAMES,
    LABELS,
    LONG_NAMES,
    PREFERENCE,
    TASK_OF,
    label_of,
    measure_of,
)
from core.registry.metric_names import lower_is_better as _lower_is_better
from core.task import Task

__all__ = [
    "HIGHER_IS_BETTER",
    "HOLDOUT_PREFIXES",
    "KNOWN_NAMES",
    "LABELS",
    "LONG_NAMES",
    "PREFERENCE",
    "HoldoutMetric",
    "holdout_metrics",
    "primary_holdout",
    "same_measure",
]


@dataclass(frozen=True)
class HoldoutMetric:
    """One holdout figure of a version: the name it was logged under, what it measures, its value."""

    logged_as: str
    measures: str  # rmse, mae, …, accuracy, log_loss — or the logged name for a metric Loupe does not know
    value: float

    @property
    def lower_is_better(self) -> bool:
        if self.measures in LABELS:
            return self.measures not in HIGHER_IS_BETTER
        return _lower_is_better(self.logged_as)  # a team's own metric: its words say which way it points

    @property
    def label(self) -> str:
        """``RMSE``, or ``RMSE (root_mean_squared_error)`` when logged under another name."""
        short = label_of(self.measures)
        return short if self.logged_as in (self.measures, short) else f"{short} ({self.logged_as})"


def holdout_metrics(metrics: Mapping[str, float]) -> dict[str, HoldoutMetric]:
    """The known holdout figures among a run's metrics, by what they measure (the first name found wins).

    Ordered by preference: regression figures first, then classification ones.
    """
    found: dict[str, HoldoutMetric] = {}
    for logged_as in sorted(metrics, key=lambda name: (len(name), name)):  # plain names before prefixed ones
        measures = measure_of(logged_as)
        if measures is not None and measures not in found:
            found[measures] = HoldoutMetric(logged_as=logged_as, measures=measures, value=float(metrics[logged_as]))
    return {measures: found[measures] for measures in PREFERENCE if measures in found}


def primary_holdout(
    metrics: Mapping[str, float], *, chosen: str | None = None, task: Task | None = None
) -> HoldoutMetric | None:
    """The figure a version is judged by: ``chosen`` (a logged name) when set, else the first known one.

    A regressor's runs log regression figures and a classifier's classification ones, so the first
    known figure follows what the version logged; when the ``task`` is known, its own figures come
    first (a classifier that also logged a Brier-style ``mse`` is still judged as a classifier).
    """
    if chosen:
        if chosen not in metrics:
            return None
        return HoldoutMetric(logged_as=chosen, measures=measure_of(chosen) or chosen, value=float(metrics[chosen]))
    found = list(holdout_metrics(metrics).values())
    own = [metric for metric in found if task is not None and TASK_OF[metric.measures] == task]
    return next(iter(own or found), None)


def same_measure(metrics: Mapping[str, float], like: HoldoutMetric) -> HoldoutMetric | None:
    """The figure in ``metrics`` that measures what ``like`` measures (same logged name first)."""
    if like.logged_as in metrics:
        return HoldoutMetric(logged_as=like.logged_as, measures=like.measures, value=float(metrics[like.logged_as]))
    return holdout_metrics(metrics).get(like.measures)
