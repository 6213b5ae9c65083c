"""One loaded model version: its inputs in the signature's types, and its answers one record or a frame at a time."""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from threadpoolctl import ThreadpoolController

from core.errors import ModelFailed, first_line
from core.profile import TrainingProfile
from core.serving.answers import Answers, classification_answers, regression_answers
from core.serving.compiled_classifier import CompiledClassifier
from core.serving.compiled_pipeline import CompiledPipeline
from core.serving.input_schema import InputSchema
from core.task import Task

# Up to this many rows, scoring record by record through the compiled form beats one predict() call
# (demo champion: ~0.7 ms per record against ~13 ms per call).
RECORD_PATH_MAX_ROWS = 16


@dataclass(frozen=True)
class ServedModel:
    """One loaded model version and the schema its inputs are checked against."""

    name: str
    version: int
    run_id: str | None
    flavor: str
    model: Any
    schema: InputSchema
    path: Path
    compiled: CompiledPipeline | None = None  # the one-record fast path, when the pipeline compiles
    compiled_classifier: CompiledClassifier | None = None  # a classifier's one-record fast path
    scoring_path: str = "predict()"  # how one record is scored, and why (shown on the Predict page)
    predict_method: str = "predict"  # the model's method that answers (what MLflow's pyfunc would call)
    reference_run: str | None = None  # the run of an attached reference profile (else the version's own run's)
    profile: TrainingProfile | None = None  # the reference the schema's ranges and levels come from
    output_name: str | None = None  # what the answer is called (the signature's output, else the profile's target)
    task: Task = "regression"  # read from the model at load (core.serving.answers.detect_task)
    classes: tuple[Any, ...] = ()  # a classifier's classes in its own type and probability order
    task_tag: str | None = None  # the version's ``loupe.task`` tag when it was loaded (a change reloads)
    artifact_digest: str | None = None  # SHA-256 of the local copy's model files (a re-promotion reloads)

    @property
    def answer_label(self) -> str:
        """What the answer is called on pages and in files: its name, else "prediction"."""
        return self.output_name or "prediction"

    def model_input(self, clean: pd.DataFrame) -> pd.DataFrame:
        """Validated values in the signature's column order and types."""
        columns: dict[str, Any] = {}
        for spec in self.schema.fields:
            values = clean[spec.name] if spec.name in clean.columns else pd.Series(np.nan, index=clean.index)
            if spec.dtype == "boolean":
                values = values.map({"True": True, "False": False, True: True, False: False})
            elif spec.dtype == "datetime":
                # Naive UTC, as MLflow signatures type datetimes: an offset given is converted, not dropped.
                values = pd.to_datetime(values, format="ISO8601", utc=True).dt.tz_localize(None)
            elif spec.dtype == "integer" and values.notna().all():
                values = values.astype("int64")
            elif spec.kind == "numeric":
                values = values.astype("float64")
            columns[spec.name] = values.to_numpy()
        return pd.DataFrame(columns, index=clean.index)

    def answer(self, frame: pd.DataFrame) -> Answers:
        """The model's answers for rows already in its input types (see :meth:`model_input`).

        A classifier is asked for probabilities when it can give them (``predict_proba``; its label is
        then the most probable class, as scikit-learn's ``predict`` decides). A model that raises, or
        answers with something that is not an answer of its task, is reported as :class:`ModelFailed`
        naming the version and what came back.
        """
        method = self.predict_method
        if (
            self.task == "classification"
            and self.flavor == "sklearn"
            and method == "predict"
            and self.classes
            and callable(getattr(self.model, "predict_proba", None))
        ):
            method = "predict_proba"
        try:
            raw = getattr(self.model, method)(frame)
        except Exception as error:  # the model's own code: any exception it raises is its failure, not ours
            raise ModelFailed(
                f"version {self.version} of {self.name} failed while predicting: {type(error).__name__}: "
                f"{first_line(error)}"
            ) from error
        who = f"version {self.version} of {self.name}"
        if self.task == "classification":
            answers = classification_answers(raw, rows=len(frame), who=who, classes=self.classes)
        else:
            answers = regression_answers(raw, rows=len(frame), who=who)
        if method != self.predict_method:  # not what MLflow's server would have called: no reply of its to keep
            return answers
        return replace(answers, raw_output=raw)

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """One float per row: a regressor's answer, a classifier's score (see :class:`Answers`)."""
        return self.answer(frame).values

    def answer_rows(self, clean: pd.DataFrame) -> Answers:
        """Answers for validated rows; a few rows go record by record through the compiled form."""
        if self.compiled is not None and len(clean) <= RECORD_PATH_MAX_ROWS:
            values = [self.predict_record(record) for record in clean.to_dict("records")]
            return Answers(values=np.array(values, dtype=float))
        if self.compiled_classifier is not None and 0 < len(clean) <= RECORD_PATH_MAX_ROWS:
            records = clean.to_dict("records")
            return Answers.concat([self.answer_record(record) for record in records], task=self.task)
        if not len(clean):
            return Answers.concat([], task=self.task, classes=self.classes)
        return self.answer(self.model_input(clean))

    def predict_rows(self, clean: pd.DataFrame) -> np.ndarray:
        """One float per validated row (see :meth:`answer_rows`)."""
        return self.answer_rows(clean).values

    def answer_record(self, values: Mapping[str, object]) -> Answers:
        """One validated record → its answer: compiled when possible, else the model on one thread."""
        row = self._typed_record(values)
        if self.compiled is not None:
            compiled = self.compiled.predict(row)
            if compiled is not None:
                return Answers(values=np.array([compiled], dtype=float))
        if self.compiled_classifier is not None:
            probabilities = self.compiled_classifier.probabilities(row)
            if probabilities is not None:
                who = f"version {self.version} of {self.name}"
                return classification_answers(probabilities[np.newaxis, :], rows=1, who=who, classes=self.classes)
        frame = pd.DataFrame({name: [value] for name, value in row.items()})
        # One row gains nothing from an OpenMP team; on a busy machine waiting for one costs 10-100 ms.
        with _thread_pools().limit(limits=1, user_api="openmp"):
            return self.answer(frame)

    def predict_record(self, values: Mapping[str, object]) -> float:
        """One validated record → one float (a regressor's answer; a classifier's score)."""
        return float(self.answer_record(values).values[0])

    def _typed_record(self, values: Mapping[str, object]) -> dict[str, object]:
        row: dict[str, object] = {}
        for spec in self.schema.fields:
            value = values.get(spec.name)
            if value is None or (isinstance(value, float) and math.isnan(value)):
                value = np.nan if spec.kind == "numeric" else None
            elif spec.dtype == "boolean":
                value = value in (True, "True")
            elif spec.dtype == "datetime":
                value = pd.to_datetime(str(value), format="ISO8601", utc=True).tz_localize(None)
            elif spec.dtype == "integer":
                value = int(value)  # type: ignore[call-overload]
            row[spec.name] = value
        return row


def regression_output(answers: Any, *, rows: int, who: str) -> np.ndarray:
    """A regressor's answers as one float per row, or :class:`ModelFailed` (see :func:`regression_answers`)."""
    return regression_answers(answers, rows=rows, who=who).values


@functools.cache
def _thread_pools() -> ThreadpoolController:
    return ThreadpoolController()
