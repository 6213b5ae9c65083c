"""Comparing chosen runs: side by side, only what differs, holdout predictions, and a leaderboard."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from core import mlflow_io
from core.experiments.runs import MISSING, RunSet, lower_is_better
from core.mlflow_io import HOLDOUT_ARTIFACT
from core.registry.metric_names import measure_of
from core.settings import Settings


def selected(runs: RunSet, run_ids: list[str]) -> pd.DataFrame:
    """The rows of the chosen runs, in the order chosen; unknown ids are an error."""
    unknown = [run_id for run_id in run_ids if run_id not in runs.frame.index]
    if unknown:
        raise ValueError(f"run ids not among the shown runs: {', '.join(unknown)}")
    return runs.frame.loc[run_ids]


def comparison_table(runs: RunSet, *, run_ids: list[str], only_differences: bool = False) -> pd.DataFrame:
    """Fields as rows (estimator, status, params, metrics), one column per run; values as display text.

    With ``only_differences`` a row stays only if its values are not all the same (a missing value
    differs from any present one).
    """
    rows = selected(runs, run_ids)
    labels = runs.labels()
    fields: dict[str, pd.Series] = {"estimator": rows["estimator"], "status": rows["status"]}
    fields |= {f"param: {name}": rows[f"params.{name}"] for name in runs.params}
    fields |= {f"metric: {name}": rows[f"metrics.{name}"] for name in runs.metrics}
    if only_differences:
        fields = {name: values for name, values in fields.items() if values_differ(values)}
    table = pd.DataFrame(
        {labels[run_id]: [display_value(fields[name][run_id]) for name in fields] for run_id in run_ids},
        index=pd.Index(list(fields), name="field"),
    )
    return table


def values_differ(values: pd.Series) -> bool:
    """Whether the values are not all equal; missing counts as a value of its own."""
    normalized = {None if is_missing(value) else value for value in values}
    return len(normalized) > 1


def is_missing(value: object) -> bool:
    """No value: None, NaN or pandas' NA."""
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA


def display_value(value: object) -> str:
    """A param or metric as the tables show it (``MISSING`` when absent)."""
    if is_missing(value):
        return MISSING
    if isinstance(value, float | np.floating):
        return f"{value:.6g}"
    return str(value)


@dataclass(frozen=True)
class Holdout:
    """A run's holdout predictions (``holdout_predictions.json``), or why there are none.

    A regressor's holds numbers; a classifier's holds class labels (the demo classifier also writes its
    ``classes`` in the model's order), drawn as a confusion matrix instead of predicted against actual.
    """

    label: str
    actual: list = field(default_factory=list)
    predicted: list = field(default_factory=list)
    missing_reason: str | None = None
    classes: list[str] = field(default_factory=list)

    @property
    def holds_labels(self) -> bool:
        """Whether the holdout holds class labels (the artifact names its classes, or a value is not a number)."""
        if self.missing_reason is not None:
            return False
        return bool(self.classes) or not all(_is_number(value) for value in (*self.actual, *self.predicted))

    @property
    def holds_numbers(self) -> bool:
        return self.missing_reason is None and not self.holds_labels and bool(self.actual)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)


def load_holdouts(settings: Settings, runs: RunSet, *, run_ids: list[str]) -> list[Holdout]:
    """Each chosen run's holdout predictions (one artifact read per chosen run, never for the table)."""
    labels = runs.labels()
    holdouts = []
    for run_id in run_ids:
        data = mlflow_io.load_json_artifact_if_present(settings, run_id=run_id, artifact_path=HOLDOUT_ARTIFACT)
        if data is None or not {"actual", "predicted"} <= data.keys():
            holdouts.append(Holdout(label=labels[run_id], missing_reason=f"no {HOLDOUT_ARTIFACT} artifact"))
        else:
            classes = data.get("classes")
            holdouts.append(
                Holdout(
                    label=labels[run_id],
                    actual=list(data["actual"]),
                    predicted=list(data["predicted"]),
                    classes=[str(name) for name in classes] if isinstance(classes, list) else [],
                )
            )
    return holdouts


def most_logged_metric(runs: RunSet, among: list[str] | None = None) -> str | None:
    """The metric the most runs logged (the first in ``runs.metrics`` order on a tie): a useful default.

    Known holdout figures (RMSE, accuracy, F1, ROC AUC… under their usual names) are preferred when any
    was logged: a classifier's runs are ranked by accuracy, not by autolog's ``training_score`` or by
    ``mlflow.evaluate``'s ``example_count`` that every run logs.
    """
    names = among if among is not None else list(runs.metrics)
    names = [name for name in names if measure_of(name)] or names
    counts = {
        name: int(runs.frame[f"metrics.{name}"].notna().sum()) for name in names if f"metrics.{name}" in runs.frame
    }
    return max(names, key=lambda name: counts.get(name, 0)) if names else None


def leaderboard(runs: RunSet, *, metric: str) -> pd.DataFrame:
    """The best run of each estimator by ``metric`` (min for error metrics, max for scores), best first.

    Runs whose estimator nobody recorded (a team's own runs, often) each stand alone instead of
    collapsing into one "unknown" row.
    """
    column = f"metrics.{metric}"
    if column not in runs.frame.columns:
        raise ValueError(f"metric must be one of {', '.join(runs.metrics) or 'the logged metrics'}, not {metric!r}")
    scored = runs.frame[runs.frame[column].notna()]
    if scored.empty:
        return pd.DataFrame(columns=["estimator", "run", metric, "runs", "registered", "run_id"])
    lower = lower_is_better(metric)
    scored = scored.assign(
        entry=scored["estimator"].where(scored["estimator"] != "unknown", "run " + scored["run_id"].astype(str))
    )
    grouped = scored.groupby("entry")[column]
    best_ids = grouped.idxmin() if lower else grouped.idxmax()
    best = scored.loc[best_ids.to_numpy()]
    table = pd.DataFrame(
        {
            "estimator": best["estimator"],
            "run": best["run_name"],
            metric: best[column],
            **{name: best[f"metrics.{name}"] for name in runs.metrics if name != metric},
            "runs": best["entry"].map(grouped.size()),
            "registered": best["registered"],
            "run_id": best["run_id"],
        }
    )
    table = table.sort_values(metric, ascending=lower, kind="stable").reset_index(drop=True)
    table.index = pd.RangeIndex(1, len(table) + 1, name="rank")
    return table
