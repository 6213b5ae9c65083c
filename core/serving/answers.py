"""A model's answers for a set of rows, read the same way whatever kind of model gave them.

A regressor answers one finite number per row. A classifier answers a class per row and, when it can,
the probability of each class (``predict_proba``, or a pyfunc returning one column per class). The
task is read from the model (:func:`detect_task`), never from its name.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from core.errors import ModelFailed
from core.task import PROBABILITY_PREFIX, Task, class_text, parse_task

# Probabilities a model returns may be off by rounding; beyond this a row does not sum to one.
PROBABILITY_TOLERANCE = 1e-3


@dataclass(frozen=True)
class Answers:
    """What a model said for some rows, in row order."""

    values: np.ndarray  # float per row: a regressor's answer, a classifier's score (NaN without probabilities)
    labels: np.ndarray | None = None  # a classifier's class per row, in the model's own type (object array)
    probabilities: np.ndarray | None = None  # rows × classes, in the order of ``classes``
    classes: tuple[Any, ...] = ()  # the model's classes in their own type
    # The output of the method MLflow's pyfunc calls, as the model returned it; ``None`` when Loupe
    # answered another way (compiled form, predict_proba in place of predict). Kept raw, turned into
    # MLflow's answer only when asked (:attr:`replies`): batch scoring never pays for it.
    raw_output: Any = field(default=None, repr=False, compare=False)

    @functools.cached_property
    def replies(self) -> list[Any] | None:
        """Each row's answer as MLflow's scoring server writes it (see :func:`mlflow_rows`), or ``None``."""
        return None if self.raw_output is None else mlflow_rows(self.raw_output, rows=len(self.values))

    @property
    def task(self) -> Task:
        return "regression" if self.labels is None else "classification"

    def __len__(self) -> int:
        return len(self.values)

    @property
    def class_texts(self) -> list[str]:
        return [class_text(value) for value in self.classes]

    @property
    def label_texts(self) -> list[str | None]:
        """Each row's class as text (what the log stores), or ``None`` for a regressor."""
        if self.labels is None:
            return [None] * len(self.values)
        return [class_text(label) for label in self.labels]

    def probability_json(self) -> list[str | None]:
        """Each row's ``{class: probability}`` as JSON (what the log stores), or ``None`` without probabilities."""
        if self.probabilities is None:
            return [None] * len(self.values)
        names = self.class_texts
        return [
            json.dumps(dict(zip(names, (round(float(p), 6) for p in row), strict=True)), separators=(",", ":"))
            for row in self.probabilities
        ]

    def log_columns(self) -> list[dict[str, object]]:
        """Per row, the prediction log's answer columns: ``prediction`` (a number, or ``None`` for a
        classifier without probabilities), ``label`` and ``probabilities`` (``None`` for a regressor)."""
        values = [None if math.isnan(value) else float(value) for value in self.values.tolist()]
        return [
            {"prediction": value, "label": label, "probabilities": probabilities}
            for value, label, probabilities in zip(values, self.label_texts, self.probability_json(), strict=True)
        ]

    def probability_columns(self) -> dict[str, np.ndarray]:
        """``proba_<class>`` → the column of that class's probabilities (empty without probabilities)."""
        if self.probabilities is None:
            return {}
        return {
            f"{PROBABILITY_PREFIX}{name}": self.probabilities[:, index] for index, name in enumerate(self.class_texts)
        }

    def shown(self) -> np.ndarray:
        """What a person reads as the answer: the class for a classifier, the number for a regressor."""
        return self.values if self.labels is None else self.labels

    def take(self, positions: np.ndarray | Sequence[int]) -> Answers:
        positions = np.asarray(positions, dtype=int)
        return Answers(
            values=self.values[positions],
            labels=None if self.labels is None else self.labels[positions],
            probabilities=None if self.probabilities is None else self.probabilities[positions],
            classes=self.classes,
            raw_output=_take_raw(self.raw_output, positions),
        )

    @staticmethod
    def concat(parts: Sequence[Answers], *, task: Task, classes: tuple[Any, ...] = ()) -> Answers:
        """Answers of consecutive chunks as one (an empty list gives no rows)."""
        if not parts:
            empty_labels = np.empty(0, dtype=object) if task == "classification" else None
            return Answers(values=np.empty(0), labels=empty_labels, classes=classes)
        first = parts[0]
        return Answers(
            values=np.concatenate([part.values for part in parts]),
            labels=None if first.labels is None else np.concatenate([part.labels for part in parts]),
            probabilities=(
                None if first.probabilities is None else np.concatenate([part.probabilities for part in parts])
            ),
            classes=first.classes,
            raw_output=_concat_raw([part.raw_output for part in parts]),
        )


def mlflow_rows(raw: Any, *, rows: int) -> list[Any] | None:
    """A model's raw output as the per-row list MLflow's server puts in ``"predictions"`` (its
    ``predictions_to_json``: an array's ``tolist()``, a frame's or series' records), or ``None`` when
    the output is not one entry per row."""
    if isinstance(raw, pd.Series):
        raw = raw.to_frame()
    if isinstance(raw, pd.DataFrame):
        # Column names as plain Python values: numpy ones are not JSON object keys.
        raw = raw.rename(columns=_native)
        replies: Any = raw.to_dict(orient="records")
    elif isinstance(raw, np.ndarray):
        replies = raw.tolist()
    else:
        replies = raw
    if not isinstance(replies, list) or len(replies) != rows:
        return None
    return replies


def _take_raw(raw: Any, positions: np.ndarray) -> Any:
    """Some rows of a raw output, in its own form (converted to MLflow's only when a reply is asked for)."""
    if raw is None:
        return None
    if isinstance(raw, pd.DataFrame | pd.Series):
        return raw.iloc[positions]
    if isinstance(raw, np.ndarray):
        return raw[positions]
    return [raw[position] for position in positions.tolist()] if isinstance(raw, list) else None


def _concat_raw(parts: Sequence[Any]) -> Any:
    """Consecutive chunks' raw outputs as one, when they are all of one form (else ``None``: no reply kept)."""
    if any(part is None for part in parts):
        return None
    if all(isinstance(part, pd.DataFrame) for part in parts) or all(isinstance(part, pd.Series) for part in parts):
        return pd.concat(parts, ignore_index=True)
    if all(isinstance(part, np.ndarray) for part in parts) and len({part.ndim for part in parts}) == 1:
        return np.concatenate(parts)
    if all(isinstance(part, list) for part in parts):
        return [item for part in parts for item in part]
    return None


def classification_score(probabilities: np.ndarray, labels_index: np.ndarray | None = None) -> np.ndarray:
    """The one number a classifier's answer is summarised by: the positive class's probability when
    there are two classes (the second, as scikit-learn orders them), else the predicted class's."""
    if probabilities.shape[1] == 2:
        return probabilities[:, 1].astype(float)
    if labels_index is None:
        return probabilities.max(axis=1).astype(float)
    return probabilities[np.arange(len(probabilities)), labels_index].astype(float)


def regression_answers(raw: Any, *, rows: int, who: str) -> Answers:
    """A regressor's output as one finite float per row, or :class:`ModelFailed` saying what came back."""
    if isinstance(raw, pd.DataFrame):
        if raw.shape[1] != 1:
            shown = ", ".join(str(column) for column in list(raw.columns)[:6])
            raise ModelFailed(
                f"{who} returned {raw.shape[1]} columns per row ({shown}); a regression model must return "
                "one number per row"
            )
        raw = raw.iloc[:, 0]
    array = np.asarray(raw)
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 1 or len(array) != rows:
        raise ModelFailed(
            f"{who} returned an answer of shape {array.shape} for {rows} rows; a regression model must return "
            "one number per row"
        )
    try:
        numbers = array.astype(float)
    except (TypeError, ValueError):
        example = next((value for value in array if not _is_number(value)), array[0] if len(array) else None)
        raise ModelFailed(
            f"{who} returned text such as {str(example)[:40]!r} where a regression model returns numbers"
        ) from None
    bad = ~np.isfinite(numbers)
    if bad.any():
        raise ModelFailed(f"{who} returned {int(bad.sum()):,} non-finite answers (NaN or infinity) of {rows:,}")
    return Answers(values=numbers)


def classification_answers(raw: Any, *, rows: int, who: str, classes: Sequence[Any] = ()) -> Answers:
    """A classifier's output: labels, or a probability matrix/frame (labels are then its argmax).

    ``classes`` names the probability columns (scikit-learn's ``classes_``); a frame's own column
    names are used when none are given.
    """
    if isinstance(raw, pd.DataFrame) and raw.shape[1] == 1:
        raw = raw.iloc[:, 0]
    if isinstance(raw, pd.DataFrame):
        if not classes:
            classes = tuple(_native(column) for column in raw.columns)
        raw = raw.to_numpy()
    array = np.asarray(raw)
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim == 1:
        if len(array) != rows:
            raise ModelFailed(f"{who} returned {len(array)} labels for {rows} rows")
        labels = array.astype(object)
        missing = pd.isna(labels)
        if missing.any():
            raise ModelFailed(f"{who} returned {int(missing.sum()):,} empty labels of {rows:,}")
        return Answers(values=np.full(rows, np.nan), labels=labels, classes=tuple(classes))
    if array.ndim != 2 or len(array) != rows:
        raise ModelFailed(f"{who} returned an answer of shape {array.shape} for {rows} rows")
    try:
        probabilities = array.astype(float)
    except (TypeError, ValueError):
        raise ModelFailed(f"{who} returned {array.shape[1]} columns per row that are not probabilities") from None
    if not classes:
        classes = tuple(range(probabilities.shape[1]))
    if len(classes) != probabilities.shape[1]:
        raise ModelFailed(f"{who} returned {probabilities.shape[1]} probabilities per row for {len(classes)} classes")
    _check_probabilities(probabilities, who=who)
    index = probabilities.argmax(axis=1)
    labels = np.empty(rows, dtype=object)
    labels[:] = [classes[position] for position in index]
    return Answers(
        values=classification_score(probabilities, index),
        labels=labels,
        probabilities=probabilities,
        classes=tuple(classes),
    )


def _check_probabilities(probabilities: np.ndarray, *, who: str) -> None:
    if not np.isfinite(probabilities).all():
        raise ModelFailed(f"{who} returned non-finite probabilities")
    if (probabilities < -PROBABILITY_TOLERANCE).any() or (probabilities > 1 + PROBABILITY_TOLERANCE).any():
        raise ModelFailed(f"{who} returned probabilities outside 0–1")
    sums = probabilities.sum(axis=1)
    off = np.abs(sums - 1.0) > PROBABILITY_TOLERANCE
    if off.any():
        raise ModelFailed(
            f"{who} returned class probabilities that do not sum to 1 (e.g. {float(sums[off][0]):.4g} in "
            f"row {int(np.flatnonzero(off)[0]) + 1})"
        )


def detect_task(
    model: Any,
    *,
    flavor: str,
    predict_method: str,
    tag: str | None,
    probe_output: Any,
    signature_outputs: list[dict] | None = None,
) -> Task:
    """Regression or classification, from the model: a ``loupe.task`` tag first, then what it is and says.

    In order: the tag; ``predict_proba`` named as the method (``pyfunc_predict_fn``); classes the model
    knows (``classes_``, or its underlying model's); the signature's output (text, booleans or several
    columns: classification; one floating-point number: regression); the model's output on a probe row.
    """
    tagged = parse_task(tag)
    if tagged is not None:
        return tagged
    if predict_method == "predict_proba":
        return "classification"
    if model_classes(model, flavor=flavor):
        return "classification"
    declared = _declared_output(signature_outputs)
    if declared is not None:
        return declared
    if probe_output is None:  # nothing more to go on: a number per row is the default
        return "regression"
    if isinstance(probe_output, pd.DataFrame):
        if probe_output.shape[1] > 1:
            return "classification"
        probe_output = probe_output.iloc[:, 0]
    array = np.asarray(probe_output)
    if array.ndim == 2 and array.shape[1] > 1:
        return "classification"
    if array.dtype.kind in ("O", "U", "S", "b"):
        return "classification"
    return "regression"


def _declared_output(outputs: list[dict] | None) -> Task | None:
    """What the signature's output says, when it says it plainly (an integer per row could be either)."""
    if not outputs:
        return None
    if len(outputs) > 1:
        return "classification"  # one column per class
    spec = outputs[0]
    if spec.get("type") == "tensor":
        tensor = spec.get("tensor-spec") or {}
        dtype, shape = str(tensor.get("dtype", "")), list(tensor.get("shape") or [])
        if len(shape) > 1 and shape[-1] not in (1, -1):
            return "classification"
    else:
        dtype = str(spec.get("type", ""))
    if dtype in ("str", "string", "object", "bool", "boolean"):
        return "classification"
    if dtype in ("float64", "float32", "double", "float"):
        return "regression"
    return None


def model_classes(model: Any, *, flavor: str) -> tuple[Any, ...]:
    """The classes a model knows (``classes_`` of the estimator, or of a pyfunc's underlying model)."""
    candidates = [model]
    if flavor == "pyfunc":
        for unwrap in ("get_raw_model", "unwrap_python_model"):
            try:
                candidates.append(getattr(model, unwrap)())
            except Exception:  # not every pyfunc has one; a failing unwrap tells nothing
                continue
    for candidate in candidates:
        classes = getattr(candidate, "classes_", None)
        if classes is not None:
            try:
                return tuple(_native(value) for value in classes)
            except TypeError:
                continue
    return ()


def _native(value: Any) -> Any:
    """A numpy scalar as the Python value it holds (so ``1`` and ``np.int64(1)`` are one class)."""
    return value.item() if isinstance(value, np.generic) else value


def _is_number(value: object) -> bool:
    try:
        float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False
    return True
