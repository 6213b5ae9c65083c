"""One loaded model version: its inputs in the signature's types, and predictions one record or a frame at a time."""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from threadpoolctl import ThreadpoolController

from core.errors import ModelFailed, first_line
from core.profile import TrainingProfile
from core.serving.compiled_pipeline import CompiledPipeline
from core.serving.input_schema import InputSchema

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
    scoring_path: str = "predict()"  # how one record is scored, and why (shown on the Predict page)
    predict_method: str = "predict"  # the model's method that answers (what MLflow's pyfunc would call)
    reference_run: str | None = None  # the run of an attached reference profile (else the version's own run's)
    profile: TrainingProfile | None = None  # the reference the schema's ranges and levels come from
    output_name: str | None = None  # what the answer is called (the signature's output, else the profile's target)

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

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """One finite number per row, from the model's own method.

        A model that raises, or answers with anything but one finite number per row, is reported as
        :class:`ModelFailed` naming the version and what came back.
        """
        try:
            answers = getattr(self.model, self.predict_method)(frame)
        except Exception as error:  # the model's own code: any exception it raises is its failure, not ours
            raise ModelFailed(
                f"version {self.version} of {self.name} failed while predicting: {type(error).__name__}: "
                f"{first_line(error)}"
            ) from error
        return regression_output(answers, rows=len(frame), who=f"version {self.version} of {self.name}")

    def predict_rows(self, clean: pd.DataFrame) -> np.ndarray:
        """Predictions for validated rows; a few rows go record by record through the compiled form."""
        if self.compiled is not None and len(clean) <= RECORD_PATH_MAX_ROWS:
            return np.array([self.predict_record(record) for record in clean.to_dict("records")], dtype=float)
        return self.predict(self.model_input(clean)) if len(clean) else np.empty(0)

    def predict_record(self, values: Mapping[str, object]) -> float:
        """One validated record → one prediction: compiled when possible, else ``predict`` on one thread."""
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
        if self.compiled is not None:
            answer = self.compiled.predict(row)
            if answer is not None:
                return answer
        frame = pd.DataFrame({name: [value] for name, value in row.items()})
        # One row gains nothing from an OpenMP team; on a busy machine waiting for one costs 10-100 ms.
        with _thread_pools().limit(limits=1, user_api="openmp"):
            return float(self.predict(frame)[0])


def regression_output(answers: Any, *, rows: int, who: str) -> np.ndarray:
    """A model's answers as one float per row, or :class:`ModelFailed` saying what came back instead."""
    if isinstance(answers, pd.DataFrame):
        if answers.shape[1] != 1:
            shown = ", ".join(str(column) for column in list(answers.columns)[:6])
            raise ModelFailed(
                f"{who} returned {answers.shape[1]} columns per row ({shown}); a regression model must return "
                "one number per row"
            )
        answers = answers.iloc[:, 0]
    array = np.asarray(answers)
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
    return numbers


def _is_number(value: object) -> bool:
    try:
        float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False
    return True


@functools.cache
def _thread_pools() -> ThreadpoolController:
    return ThreadpoolController()
