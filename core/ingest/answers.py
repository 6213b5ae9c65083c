"""The answer columns of ingested rows, read as the version's task wants them.

A regressor's ``prediction`` is a finite number within ±1e250 (the roll-ups' clip: beyond it no sum or
RMSE of the log stays finite). A classifier's is one of its classes (``1.0`` names class
``1``), with optional ``proba_<class>`` columns that must be numbers in [0, 1] summing to 1 and cover every
class the model knows; the log then keeps the probabilities and one score, as serving does (binary: the
second class's probability; multiclass: the predicted class's). ``actual`` is a number as ``prediction``, or a class.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np
import pandas as pd

from core.ingest.cells import Refusals, as_numbers, blank
from core.ingest.columns import ACTUAL, PREDICTION, class_of
from core.ingest.version_spec import VersionSpec
from core.serving.answers import PROBABILITY_TOLERANCE, classification_score
from core.task import Task, class_text
from storage.rollups.buckets import SUM_LIMIT


def regression(rows: pd.DataFrame, where: np.ndarray, refusals: Refusals) -> dict:
    raw = rows[PREDICTION]
    numbers = as_numbers(raw)
    missing = blank(raw)
    _refuse_local(
        refusals,
        where,
        missing,
        PREDICTION,
        "required",
        lambda _v: "prediction: value is missing (rule: required)",
        raw,
    )
    not_number = numbers.isna().to_numpy(dtype=bool) & ~missing
    _refuse_local(
        refusals,
        where,
        not_number,
        PREDICTION,
        "type",
        lambda v: f"prediction: {str(v)!r} is not a number (rule: type)",
        raw,
    )
    infinite = np.isinf(numbers.fillna(0).to_numpy(dtype=float))
    _refuse_local(
        refusals,
        where,
        infinite,
        PREDICTION,
        "finite",
        lambda v: f"prediction: {str(v)!r} is not a finite number (rule: finite)",
        raw,
    )
    absurd = np.abs(numbers.fillna(0).to_numpy(dtype=float)) > SUM_LIMIT
    _refuse_local(
        refusals,
        where,
        absurd & ~infinite,
        PREDICTION,
        "range",
        lambda v: f"prediction: {str(v)!r} is beyond ±{SUM_LIMIT:g}, no model's answer (rule: range)",
        raw,
    )
    values = numbers.fillna(0).to_numpy(dtype=float).tolist()
    return {"prediction": values, "label": [None] * len(rows), "probabilities": [None] * len(rows)}


def _refuse_local(
    refusals: Refusals, where: np.ndarray, local_mask: np.ndarray, name: str, rule: str, message, values
) -> None:
    mask = np.zeros(len(refusals.bad), dtype=bool)
    mask[where[local_mask]] = True
    full = pd.Series(index=range(len(refusals.bad)), dtype=object)
    full.iloc[where] = values.to_numpy(dtype=object)
    refusals.add(mask, name, rule, message, full)


def _label(value: object, classes: Sequence[str]) -> str | None:
    """A class as the log writes it (``1.0`` names class ``1``), or ``None`` for a missing value."""
    if value is None or (isinstance(value, float) and value != value):
        return None
    text = class_text(value).strip() if not isinstance(value, str) else value.strip()
    if not text:
        return None
    if classes and text not in classes:
        try:
            number = float(text)
        except ValueError:
            return text
        return class_text(number)
    return text


def classification(
    rows: pd.DataFrame, where: np.ndarray, spec: VersionSpec, columns: list[str], refusals: Refusals
) -> dict:
    given = [name for name in columns if (~blank(rows[name])).any()]
    named = [class_of(name) for name in given]
    classes = list(spec.classes) or named
    order = [name for name in classes if name in named] + [name for name in named if name not in classes]
    count = len(rows)
    labels = [_label(value, classes) for value in rows[PREDICTION].tolist()]
    probabilities: list[str | None] = [None] * count
    scores: list[float | None] = [None] * count
    matrix = None
    if given:
        frame = pd.DataFrame({name: as_numbers(rows[f"proba_{name}"]).to_numpy(dtype=float) for name in order})
        missing = np.column_stack([blank(rows[f"proba_{name}"]) for name in order])
        matrix = frame.to_numpy(dtype=float)
        for local in range(count):
            if missing[local].all():
                continue
            position = int(where[local])
            problem = _probability_problem(rows, local, order, missing[local], matrix[local], spec.classes)
            if problem is not None:
                refusals.add_at(position, *problem)
        if spec.classes:
            absent = [name for name in spec.classes if name not in named]
            for given_row in np.flatnonzero(~missing.all(axis=1)) if absent else []:
                local = int(given_row)
                column = f"proba_{absent[0]}"
                refusals.add_at(
                    int(where[local]), column, "required", f"{column}: missing for class {absent[0]!r} (rule: required)"
                )
    for local, label in enumerate(labels):
        position = int(where[local])
        if label is None:
            refusals.add_at(position, PREDICTION, "required", "prediction: value is missing (rule: required)")
        elif classes and label not in classes:
            shown = ", ".join(repr(name) for name in classes[:8])
            refusals.add_at(
                position,
                PREDICTION,
                "class",
                f"prediction: {label!r} is not one of the classes ({shown}) (rule: class)",
            )
        elif matrix is not None and not np.isnan(matrix[local]).all():
            row = np.nan_to_num(matrix[local])
            index = order.index(label) if label in order else int(row.argmax())
            scores[local] = float(classification_score(row[np.newaxis, :], np.array([index]))[0])
            probabilities[local] = json.dumps(
                {name: round(float(value), 6) for name, value in zip(order, row, strict=True)}, separators=(",", ":")
            )
    return {"prediction": scores, "label": labels, "probabilities": probabilities, "classes": tuple(classes)}


def _probability_problem(
    rows: pd.DataFrame, local: int, order: list[str], missing: np.ndarray, values: np.ndarray, known: tuple[str, ...]
) -> tuple[str, str, str] | None:
    for name, absent, value in zip(order, missing, values, strict=True):
        column = f"proba_{name}"
        if known and name not in known:
            return column, "class", f"{column}: {name!r} is not one of the model's classes (rule: class)"
        if absent:
            return column, "required", f"{column}: value is missing while other classes have one (rule: required)"
        if np.isnan(value):
            return column, "type", f"{column}: {str(rows[column].iloc[local])!r} is not a number (rule: type)"
        if not (-PROBABILITY_TOLERANCE <= value <= 1 + PROBABILITY_TOLERANCE):
            return column, "range", f"{column}: {value:g} is not a probability between 0 and 1 (rule: range)"
    total = float(values.sum())
    if abs(total - 1.0) > PROBABILITY_TOLERANCE:
        return f"proba_{order[0]}", "sum", f"probabilities sum to {total:.4g}, not 1 (rule: sum)"
    return None


def actual_values(
    rows: pd.DataFrame, where: np.ndarray, task: Task, classes: Sequence[str], refusals: Refusals
) -> tuple[list[float | None], list[str | None]]:
    """The true values of ``rows`` as two columns (a regressor's numbers, a classifier's classes; ``None``
    where none came), each unusable one refused with every other problem of its row."""
    count = len(rows)
    if ACTUAL not in rows.columns:
        return [None] * count, [None] * count
    raw = rows[ACTUAL]
    missing = blank(raw)
    if task == "regression":
        numbers = as_numbers(raw).to_numpy(dtype=float)
        usable = np.isfinite(numbers)
        absurd = usable & (np.abs(np.where(usable, numbers, 0.0)) > SUM_LIMIT)
        # Only the refused rows are visited one by one: a clean file pays no per-row Python here.
        for local in np.flatnonzero(~usable & ~missing).tolist():
            rule = "type" if np.isnan(numbers[local]) else "finite"
            what = "a number" if rule == "type" else "a finite number"
            refusals.add_at(
                int(where[local]), ACTUAL, rule, f"actual: {str(raw.iloc[local])!r} is not {what} (rule: {rule})"
            )
        for local in np.flatnonzero(absurd).tolist():
            text = str(raw.iloc[local])
            refusals.add_at(
                int(where[local]), ACTUAL, "range", f"actual: {text!r} is beyond ±{SUM_LIMIT:g} (rule: range)"
            )
        usable &= ~absurd
        found = numbers.astype(object)
        found[~usable | missing] = None
        return found.tolist(), [None] * count
    labels: list[str | None] = []
    for local, value in enumerate(raw.tolist()):
        label = None if missing[local] else _label(value, classes)
        if label is not None and classes and label not in classes:
            shown = ", ".join(repr(name) for name in list(classes)[:8])
            refusals.add_at(
                int(where[local]),
                ACTUAL,
                "class",
                f"actual: {label!r} is not one of the classes ({shown}) (rule: class)",
            )
            label = None
        labels.append(label)
    return [None] * count, labels
