"""What a model accepts: fields from its MLflow signature, levels, ranges and rules from its reference data.

Nothing here knows about diamonds. :meth:`InputSchema.validate_frame` checks a whole batch with
vectorised pandas; :meth:`InputSchema.validate_record` checks one form entry in plain Python (fast
enough for the answering path). Both produce the same messages (:mod:`core.serving.input_fields`),
each naming the field and the rule.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from core.csv_export import csv_text
from core.profile import NumericProfile, TrainingProfile
from core.serving.input_fields import NUMERIC_TYPES, FieldSpec, Problem, field_from, parse_datetime, truth_field
from core.settings import get_settings

NAN_WORDS = frozenset({"nan", "+nan", "-nan"})
# What files and forms send for a boolean input, case-insensitively, and what the model gets.
BOOLEAN_WORDS = {"true": "True", "false": "False", "yes": "True", "no": "False", "1": "True", "0": "False"}
BOOLEAN_WORDS |= {"1.0": "True", "0.0": "False", "t": "True", "f": "False"}
RANGE_MIN_ROWS = 20  # a reference with fewer rows sets no plausible range


def _violates(rule: str, value: float, limit: float) -> bool:
    return {
        "gt": not value > limit,
        "ge": not value >= limit,
        "lt": not value < limit,
        "le": not value <= limit,
    }[rule]


@dataclass(frozen=True)
class RecordCheck:
    """One record checked: the clean values (when accepted), problems and out-of-range fields."""

    values: dict[str, float | str | bool] | None
    problems: list[Problem]
    ood_fields: list[str]
    warnings: list[str]

    @property
    def accepted(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class FrameCheck:
    """A frame checked: typed model inputs of the accepted rows, problems, and OOD flags per accepted row."""

    accepted_mask: np.ndarray
    clean: pd.DataFrame  # accepted rows only, model columns, model dtypes, original index
    problems: pd.DataFrame  # row, field, rule, message (row = 1-based position in the frame)
    ood_fields: list[str]  # per accepted row: comma-separated names or ""


@dataclass(frozen=True)
class InputSchema:
    """The fields a model version accepts, in the signature's order."""

    fields: tuple[FieldSpec, ...]
    has_profile: bool = True
    target: str | None = None  # what the model predicts, when its profile says
    # What a regressor's true value must be (core.serving.input_fields.truth_field): ingest checks it.
    truth: FieldSpec | None = None

    @property
    def names(self) -> list[str]:
        return [spec.name for spec in self.fields]

    @property
    def required_names(self) -> list[str]:
        return [spec.name for spec in self.fields if spec.required]

    def get(self, name: str) -> FieldSpec:
        return next(spec for spec in self.fields if spec.name == name)

    def defaults(self) -> dict[str, float | str | None]:
        """Form defaults: training medians and most frequent levels."""
        return {spec.name: spec.default for spec in self.fields}

    def template_csv(self) -> str:
        """A CSV with the header and one row of defaults, to fill in and upload."""
        row = {spec.name: "" if spec.default is None else spec.default for spec in self.fields}
        return csv_text(pd.DataFrame([row], columns=self.names))

    def probe_frame(self, *, rows: int = 128, seed: int = 0) -> pd.DataFrame:
        """Rows spread uniformly over the training ranges and levels (defaults and ±1 without a profile).

        Used to check that a compiled model answers like the original across the input space.
        """
        rng = np.random.default_rng(seed)
        columns: dict[str, Any] = {}
        for spec in self.fields:
            if spec.kind == "numeric":
                low, high = spec.train_min, spec.train_max
                if low is None or high is None:
                    centre = float(spec.default) if isinstance(spec.default, int | float) else 0.0
                    low, high = centre - 1.0, centre + 1.0
                values = rng.uniform(low, high, rows)
                columns[spec.name] = np.round(values) if spec.dtype == "integer" else values
            else:
                levels = spec.levels or ((str(spec.default),) if spec.default is not None else ("",))
                columns[spec.name] = rng.choice(np.asarray(levels, dtype=object), rows)
        return pd.DataFrame(columns, columns=self.names)

    # --- one record (form) ------------------------------------------------------------------

    def validate_record(self, record: Mapping[str, object]) -> RecordCheck:
        """Check one record in plain Python; unknown keys are ignored."""
        values: dict[str, float | str | bool] = {}
        problems: list[Problem] = []
        ood: list[str] = []
        warnings: list[str] = []
        for spec in self.fields:
            raw = record.get(spec.name)
            if spec.kind == "numeric":
                number, problem = self._check_number(spec, raw)
                if problem is not None:
                    if problem != "skip":
                        problems.append(Problem(1, spec.name, problem[0], problem[1]))
                    continue
                values[spec.name] = number
                if (
                    spec.train_min is not None
                    and spec.train_max is not None
                    and not (spec.train_min <= number <= spec.train_max)
                ):
                    ood.append(spec.name)
                    warnings.append(spec.ood_message(number))
            else:
                text = None if raw is None or (isinstance(raw, float) and math.isnan(raw)) else str(raw).strip()
                if not text:
                    if spec.required:
                        problems.append(Problem(1, spec.name, "required", spec.message("required")))
                    continue
                if spec.dtype == "boolean":
                    flag = BOOLEAN_WORDS.get(text.casefold())
                    if flag is None:
                        problems.append(Problem(1, spec.name, "boolean", spec.message("boolean", text)))
                        continue
                    text = flag
                elif spec.levels is not None and text not in spec.levels:
                    problems.append(Problem(1, spec.name, "category", spec.message("category", text)))
                    continue
                if spec.dtype == "datetime":
                    stamp = parse_datetime(text)
                    if stamp is None:
                        problems.append(Problem(1, spec.name, "datetime", spec.message("datetime", text)))
                        continue
                    text = stamp.isoformat()
                values[spec.name] = text
        return RecordCheck(values=None if problems else values, problems=problems, ood_fields=ood, warnings=warnings)

    def _check_number(self, spec: FieldSpec, raw: object) -> tuple[float, tuple[str, str] | str | None]:
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            return 0.0, (("required", spec.message("required")) if spec.required else "skip")
        if isinstance(raw, bool):
            return 0.0, ("type", spec.message("type", raw))
        if isinstance(raw, str):
            text = raw.strip()
            try:
                number = float(text)
            except ValueError:
                return 0.0, ("type", spec.message("type", text))
            if text.casefold() in NAN_WORDS or math.isinf(number):
                return 0.0, ("finite", spec.message("finite", text))
        else:
            try:
                number = float(raw)  # type: ignore[arg-type]
            except (TypeError, ValueError):
                return 0.0, ("type", spec.message("type", str(raw)))
            if math.isnan(number):
                if spec.required:
                    return 0.0, ("required", spec.message("required"))
                return 0.0, "skip"
            if math.isinf(number):
                return 0.0, ("finite", spec.message("finite", number))
        if abs(number) >= spec.largest:
            return 0.0, ("magnitude", spec.message("magnitude", number))
        if 0 < abs(number) < spec.smallest:
            return 0.0, ("subnormal", spec.message("subnormal", number))
        if spec.dtype == "integer" and number != int(number):
            return 0.0, ("integer", spec.message("integer", number))
        for rule in spec.rules:
            if _violates(rule["rule"], number, float(rule["value"])):
                return 0.0, (rule["rule"], spec.rule_message(rule, number))
        low, high = spec.plausible_min, spec.plausible_max
        if low is not None and high is not None and not low <= number <= high:
            return 0.0, ("range", spec.message("range", number))
        return number, None

    # --- a whole frame (batch) -----------------------------------------------------------------

    def validate_frame(self, frame: pd.DataFrame) -> FrameCheck:
        """Check every row of ``frame`` (which must hold every required column) with vectorised rules."""
        count = len(frame)
        rejected = np.zeros(count, dtype=bool)
        problem_parts: list[pd.DataFrame] = []
        ood_masks: dict[str, np.ndarray] = {}
        clean_columns: dict[str, pd.Series] = {}

        def refuse(spec: FieldSpec, rule: str, mask: np.ndarray, shown: pd.Series | None, limit=None) -> None:
            positions = np.flatnonzero(mask & ~already[spec.name])
            if len(positions) == 0:
                return
            already[spec.name][positions] = True
            rejected[positions] = True
            if shown is None:
                messages = [spec.message(rule)] * len(positions)
            elif isinstance(limit, dict):  # a declared or inferred rule
                messages = [spec.rule_message(limit, value) for value in shown.iloc[positions]]
            else:
                messages = [spec.message(rule, value, limit=limit) for value in shown.iloc[positions]]
            problem_parts.append(
                pd.DataFrame({"row": positions + 1, "field": spec.name, "rule": rule, "message": messages})
            )

        already = {spec.name: np.zeros(count, dtype=bool) for spec in self.fields}
        for spec in self.fields:
            if spec.name not in frame.columns:
                if spec.required:
                    refuse(spec, "required", np.ones(count, dtype=bool), None)
                continue
            column = frame[spec.name].reset_index(drop=True)
            if spec.kind == "numeric":
                numbers = self._frame_numbers(spec, column, refuse)
                clean_columns[spec.name] = numbers
                if spec.train_min is not None:
                    finite = np.isfinite(numbers.to_numpy())
                    ood_masks[spec.name] = finite & (
                        (numbers.to_numpy() < spec.train_min) | (numbers.to_numpy() > spec.train_max)
                    )
            else:
                text = column.astype("string").str.strip()
                missing = (text.isna() | (text == "")).to_numpy(dtype=bool)
                if spec.required:
                    refuse(spec, "required", missing, None)
                if spec.dtype == "boolean":
                    flags = text.str.casefold().map(BOOLEAN_WORDS)
                    refuse(spec, "boolean", flags.isna().to_numpy(dtype=bool) & ~missing, text)
                    text = flags.astype("string")
                elif spec.levels is not None:
                    unknown = ~text.isin(list(spec.levels)).fillna(False).to_numpy(dtype=bool) & ~missing
                    refuse(spec, "category", unknown, text)
                if spec.dtype == "datetime":
                    stamps = pd.to_datetime(
                        text.where(~pd.Series(missing, index=text.index)), errors="coerce", format="ISO8601"
                    )
                    refuse(spec, "datetime", stamps.isna().to_numpy(dtype=bool) & ~missing, text)
                    text = pd.Series(
                        [None if pd.isna(stamp) else stamp.isoformat() for stamp in stamps],
                        index=text.index,
                        dtype=object,
                    )
                clean_columns[spec.name] = text.astype(object)

        accepted = ~rejected
        clean = pd.DataFrame(clean_columns, columns=[name for name in self.names if name in clean_columns])
        clean = clean.loc[accepted]
        clean.index = frame.index[accepted]
        ood_fields = self._ood_strings(ood_masks, accepted)
        problems = (
            pd.concat(problem_parts, ignore_index=True).sort_values(["row"], kind="stable", ignore_index=True)
            if problem_parts
            else pd.DataFrame({"row": pd.Series(dtype=int), "field": [], "rule": [], "message": []})
        )
        return FrameCheck(accepted_mask=accepted, clean=clean, problems=problems, ood_fields=ood_fields)

    @staticmethod
    def _frame_numbers(spec: FieldSpec, column: pd.Series, refuse) -> pd.Series:
        if pd.api.types.is_bool_dtype(column.dtype):
            refuse(spec, "type", np.ones(len(column), dtype=bool), column.astype(str))
            return pd.Series(np.nan, index=column.index)
        if pd.api.types.is_numeric_dtype(column.dtype):
            numbers = column.astype(float)
            shown = numbers
            missing = numbers.isna().to_numpy()
            not_a_number = np.zeros(len(column), dtype=bool)
            nan_word = np.zeros(len(column), dtype=bool)
        else:
            text = column.astype("string").str.strip()
            missing = (text.isna() | (text == "")).to_numpy(dtype=bool)
            numbers = pd.to_numeric(text.where(~missing), errors="coerce").astype(float)
            nan_word = text.str.casefold().isin(NAN_WORDS).fillna(False).to_numpy(dtype=bool)
            not_a_number = numbers.isna().to_numpy() & ~missing & ~nan_word
            shown = text
        if spec.required:
            refuse(spec, "required", missing, None)
        refuse(spec, "type", not_a_number, shown)
        refuse(spec, "finite", nan_word | np.isinf(numbers.to_numpy()), shown)
        values = numbers.to_numpy()
        finite = np.isfinite(values)
        size = np.abs(np.where(finite, values, 0.0))
        refuse(spec, "magnitude", size >= spec.largest, numbers)
        refuse(spec, "subnormal", (size > 0) & (size < spec.smallest), numbers)
        if spec.dtype == "integer":
            refuse(spec, "integer", finite & (values != np.round(values)), numbers)
        for rule in spec.rules:
            limit = float(rule["value"])
            with np.errstate(invalid="ignore"):
                broken = (
                    finite
                    & ~{"gt": values > limit, "ge": values >= limit, "lt": values < limit, "le": values <= limit}[
                        rule["rule"]
                    ]
                )
            refuse(spec, rule["rule"], broken, numbers, rule)
        if spec.plausible_min is not None and spec.plausible_max is not None:
            refuse(spec, "range", finite & ((values < spec.plausible_min) | (values > spec.plausible_max)), numbers)
        return numbers

    def _ood_strings(self, masks: dict[str, np.ndarray], accepted: np.ndarray) -> list[str]:
        if not masks:
            return [""] * int(accepted.sum())
        names = list(masks)
        flags = np.column_stack([masks[name][accepted] for name in names])
        result = [""] * len(flags)
        for position in np.flatnonzero(flags.any(axis=1)):
            result[position] = ",".join(name for name, flag in zip(names, flags[position], strict=True) if flag)
        return result


def range_factor_for(profile: TrainingProfile | None, range_factor: float | None = None) -> float | None:
    """The factor plausible ranges are widened by (default: the setting), or ``None`` without a profile or
    with one of fewer than :data:`RANGE_MIN_ROWS` rows (an input example, say: too little to tell)."""
    if profile is None or profile.row_count < RANGE_MIN_ROWS:
        return None
    return get_settings().input_range_factor if range_factor is None else range_factor


def build_schema(
    signature_inputs: Sequence[Mapping[str, Any]] | None,
    profile: TrainingProfile | None,
    *,
    range_factor: float | None = None,
) -> InputSchema:
    """The schema from signature inputs (``[{"name", "type", "required"}]``) and the training profile.

    The signature decides which fields exist and their types; the profile adds levels, ranges, rules
    and defaults. Without a signature the profile's features are used; with neither, it is an error.
    A number beyond its training range widened by ``range_factor`` spans (default: the setting
    ``input_range_factor``) is refused; a reference of fewer than :data:`RANGE_MIN_ROWS` rows (an input
    example, say) sets no range nor inferred sign rule: it says too little about what is plausible.
    """
    features = profile.features if profile is not None else {}
    factor = range_factor_for(profile, range_factor)
    specs: list[FieldSpec] = []
    if signature_inputs:
        for column in signature_inputs:
            if "name" not in column:
                raise ValueError("the model signature has unnamed (tensor) inputs; Loupe serves tabular models")
            kind = str(column.get("type", "string"))
            dtype = NUMERIC_TYPES.get(kind, kind if kind in ("boolean", "datetime") else "string")
            specs.append(
                field_from(
                    column["name"],
                    features.get(column["name"]),
                    dtype,
                    column.get("required", True),
                    number_type=kind,
                    range_factor=factor,
                )
            )
    elif features:
        for name, feature in features.items():
            dtype = feature.dtype if isinstance(feature, NumericProfile) else "string"
            specs.append(field_from(name, feature, dtype, True, number_type="", range_factor=factor))
    else:
        raise ValueError("the model has neither a signature nor reference data, so Loupe cannot tell its inputs")
    return InputSchema(
        fields=tuple(specs),
        has_profile=profile is not None,
        target=profile.target if profile is not None else None,
        truth=truth_field(profile, range_factor=factor),
    )
