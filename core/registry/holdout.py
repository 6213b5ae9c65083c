"""Holdout metrics under the names people log them: Loupe's own, MLflow's ``evaluate`` names, test/val prefixes.

A team's runs rarely log a metric named exactly ``rmse``. This module finds the holdout figure a
version was judged by — the one ``LOUPE_HOLDOUT_METRIC`` names, or the first of RMSE, MAE, MSE, R²,
MAPE under any of their usual names — and says which way it points. Autolog's ``training_*`` metrics
are fitted-data scores, not holdout, and are never used.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

PREFERENCE = ("rmse", "mae", "mse", "r2", "mape")
LONG_NAMES = {
    "rmse": ("root_mean_squared_error",),
    "mae": ("mean_absolute_error",),
    "mse": ("mean_squared_error",),
    "r2": ("r2_score",),
    "mape": ("mean_absolute_percentage_error",),
}
HOLDOUT_PREFIXES = ("", "test_", "val_", "valid_", "validation_", "holdout_", "eval_")
HIGHER_IS_BETTER = frozenset({"r2"})
LABELS = {"rmse": "RMSE", "mae": "MAE", "mse": "MSE", "r2": "R²", "mape": "MAPE"}
# Every logged name Loupe reads as a holdout figure, mapped to its short name.
KNOWN_NAMES = {
    f"{prefix}{name}": short
    for short in PREFERENCE
    for name in (short, *LONG_NAMES[short])
    for prefix in HOLDOUT_PREFIXES
}


@dataclass(frozen=True)
class HoldoutMetric:
    """One holdout figure of a version: the name it was logged under, what it measures, its value."""

    logged_as: str
    measures: str  # rmse, mae, mse, r2, mape — or the logged name for a metric Loupe does not know
    value: float

    @property
    def lower_is_better(self) -> bool:
        return self.measures not in HIGHER_IS_BETTER

    @property
    def label(self) -> str:
        """``RMSE``, or ``RMSE (root_mean_squared_error)`` when logged under another name."""
        short = LABELS.get(self.measures, self.measures)
        return short if self.logged_as in (self.measures, short) else f"{short} ({self.logged_as})"


def holdout_metrics(metrics: Mapping[str, float]) -> dict[str, HoldoutMetric]:
    """The known holdout figures among a run's metrics, by what they measure (the first name found wins)."""
    found: dict[str, HoldoutMetric] = {}
    for logged_as in sorted(metrics, key=lambda name: (len(name), name)):  # plain names before prefixed ones
        measures = KNOWN_NAMES.get(logged_as.lower())
        if measures is not None and measures not in found:
            found[measures] = HoldoutMetric(logged_as=logged_as, measures=measures, value=float(metrics[logged_as]))
    return {measures: found[measures] for measures in PREFERENCE if measures in found}


def primary_holdout(metrics: Mapping[str, float], *, chosen: str | None = None) -> HoldoutMetric | None:
    """The figure a version is judged by: ``chosen`` (a logged name) when set, else the first known one."""
    if chosen:
        if chosen not in metrics:
            return None
        return HoldoutMetric(logged_as=chosen, measures=KNOWN_NAMES.get(chosen.lower(), chosen), value=metrics[chosen])
    return next(iter(holdout_metrics(metrics).values()), None)


def same_measure(metrics: Mapping[str, float], like: HoldoutMetric) -> HoldoutMetric | None:
    """The figure in ``metrics`` that measures what ``like`` measures (same logged name first)."""
    if like.logged_as in metrics:
        return HoldoutMetric(logged_as=like.logged_as, measures=like.measures, value=float(metrics[like.logged_as]))
    return holdout_metrics(metrics).get(like.measures)
