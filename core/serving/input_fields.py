"""One input a model takes (:class:`FieldSpec`), how it is built from signature and reference, and the
sentences that refuse a value — each names the field and the rule."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from core.profile import CategoricalProfile, NumericProfile, Rule, TrainingProfile

NUMERIC_TYPES = {"double": "float", "float": "float", "long": "integer", "integer": "integer"}
# What a model's numeric input can hold, by MLflow signature type: the largest magnitude, and the smallest
# non-zero one (below it a float is subnormal: it loses precision and slows arithmetic; integers have none).
# A value past either is refused before the model casts it to ``inf`` or ``0`` without a word.
NUMBER_LIMITS: dict[str, tuple[float, float, str]] = {
    "double": (float(np.finfo(np.float64).max), float(np.finfo(np.float64).tiny), "64-bit float"),
    "float": (float(np.finfo(np.float32).max), float(np.finfo(np.float32).tiny), "32-bit float"),
    "long": (2.0**63, 0.0, "64-bit integer"),
    "integer": (2.0**31, 0.0, "32-bit integer"),
}


RULE_SYMBOLS = {"gt": ">", "ge": "≥", "lt": "<", "le": "≤"}


LEVELS_SHOWN = 12


@dataclass(frozen=True)
class Problem:
    """Why one value of one row was refused."""

    row: int
    field: str
    rule: str
    message: str


@dataclass(frozen=True)
class FieldSpec:
    """One input the model takes: its kind, the profile's reference values and the rules it must obey."""

    name: str
    kind: Literal["numeric", "categorical"]
    dtype: Literal["float", "integer", "string", "boolean", "datetime"]
    required: bool = True
    levels: tuple[str, ...] | None = None
    rules: tuple[Rule, ...] = ()
    train_min: float | None = None
    train_max: float | None = None
    default: float | str | None = None
    # The plausible range (``None``: the rule is off, e.g. without a reference): the training range widened
    # by ``range_factor`` spans on each side, never crossing 0 for a feature that never did in training.
    plausible_min: float | None = None
    plausible_max: float | None = None
    range_factor: float = 0.0
    # The model's number type: magnitudes at or past ``largest`` overflow it, non-zero ones below ``smallest``
    # underflow it (``number_type`` names it in messages).
    largest: float = NUMBER_LIMITS["double"][0]
    smallest: float = NUMBER_LIMITS["double"][1]
    number_type: str = NUMBER_LIMITS["double"][2]

    def _describe(self, value: object) -> str:
        return repr(value) if isinstance(value, str) else _number(value)

    def message(self, rule: str, value: object = None, *, limit: float | None = None) -> str:
        """The text shown for a refused value: it always names the field and the rule."""
        if rule == "required":
            return f"{self.name}: value is missing (rule: required)"
        if rule == "type":
            expected = "a whole number" if self.dtype == "integer" else "a number"
            return f"{self.name}: {self._describe(value)} is not {expected} (rule: type)"
        if rule == "finite":
            return f"{self.name}: {self._describe(value)} is not a finite number (rule: finite)"
        if rule == "integer":
            return f"{self.name}: {self._describe(value)} is not a whole number (rule: integer)"
        if rule == "boolean":
            return f"{self.name}: {value!r} is not true or false (rule: boolean; true/false, yes/no or 1/0)"
        if rule == "datetime":
            return (
                f"{self.name}: {value!r} is not a date and time (rule: datetime; ISO 8601 such as "
                "2026-11-30 or 2026-11-30T14:05:00)"
            )
        if rule == "category":
            levels = list(self.levels or ())
            shown = ", ".join(levels[:LEVELS_SHOWN]) + (" …" if len(levels) > LEVELS_SHOWN else "")
            hint = _case_hint(str(value), levels)
            return f"{self.name}: {value!r} is not a known level{hint} (rule: category; one of {shown})"
        if rule == "magnitude":
            return (
                f"{self.name}: {_number(value)} is too large for the model's {self.number_type} input "
                f"(rule: magnitude; below {_number(self.largest)} in size)"
            )
        if rule == "subnormal":
            tiny = float(value) if isinstance(value, int | float | np.floating) else value
            return (
                # repr: the shortest text that is this float (":g" shows 1e-320 as 9.99989e-321).
                f"{self.name}: {tiny!r} is too close to 0 for the model's {self.number_type} input "
                f"(rule: subnormal; 0, or at least {_number(self.smallest)} in size)"
            )
        if rule == "range":
            return (
                f"{self.name}: {_number(value)} is beyond the plausible range {_number(self.plausible_min)} … "
                f"{_number(self.plausible_max)} (rule: range; training range {_number(self.train_min)} … "
                f"{_number(self.train_max)} widened by {self.range_factor:g}× its span)"
            )
        if rule in RULE_SYMBOLS:
            return f"{self.name}: must be {RULE_SYMBOLS[rule]} {_number(limit)}, got {_number(value)} (rule: {rule} {_number(limit)})"
        raise ValueError(f"unknown rule {rule!r}")

    def rule_message(self, rule: Rule, value: object) -> str:
        """A declared or inferred rule's refusal; an inferred one says what it was inferred from."""
        text = self.message(rule["rule"], value, limit=float(rule["value"]))
        return text[:-1] + f"; {rule['why']})" if rule.get("why") else text

    def ood_message(self, value: float) -> str:
        """The warning for an accepted value outside the training range."""
        return (
            f"{self.name}: {_number(value)} is outside the training range "
            f"{_number(self.train_min)} – {_number(self.train_max)}"
        )


def _number(value: object) -> str:
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        number = float(value)
        if math.isfinite(number) and number == int(number) and abs(number) < 1e15:
            return str(int(number))
        return f"{number:g}"
    return str(value)


def parse_datetime(text: str) -> pd.Timestamp | None:
    """An ISO 8601 date or date and time, or ``None`` when ``text`` is not one."""
    try:
        stamp = pd.to_datetime(text, format="ISO8601")
    except (ValueError, TypeError, OverflowError):
        return None
    return None if pd.isna(stamp) else stamp


def _case_hint(value: str, levels: Sequence[str]) -> str:
    matches = [level for level in levels if level.casefold() == value.strip().casefold()]
    return f" (did you mean {matches[0]!r}?)" if matches else ""


def sign_rules(feature: NumericProfile) -> list[Rule]:
    """The declared rules plus the sign the reference always kept (never ≤ 0: > 0; never < 0: ≥ 0).

    Nothing is added when a declared rule already bounds the feature below at 0 or more.
    """
    rules = list(feature.rules)
    if any(rule["rule"] in ("gt", "ge") and float(rule["value"]) >= 0 for rule in rules) or feature.min < 0:
        return rules
    if feature.min > 0:
        return [*rules, {"rule": "gt", "value": 0.0, "why": f"{feature.name} is never ≤ 0 in the reference data"}]
    return [*rules, {"rule": "ge", "value": 0.0, "why": f"{feature.name} is never negative in the reference data"}]


def plausible_range(low: float, high: float, factor: float) -> tuple[float, float]:
    """``[low, high]`` widened by ``factor`` spans each side (a constant's span counts as its size, at least 1),
    kept at or above 0 when ``low`` is."""
    span = (high - low) or max(abs(low), 1.0)
    widened_low = low - factor * span
    return (max(widened_low, 0.0) if low >= 0 else widened_low), high + factor * span


def field_from(
    name: str,
    feature: NumericProfile | CategoricalProfile | None,
    dtype: str,
    required: bool,
    *,
    number_type: str = "double",
    range_factor: float | None = None,
) -> FieldSpec:
    """One field: its type from the signature (``dtype``; ``number_type``, the signature's own, sets the limits
    of a number), levels, ranges, rules and default from the reference. ``range_factor`` ``None``: no range rule
    nor inferred sign rule (the reference is missing or too thin to tell)."""
    limits = NUMBER_LIMITS.get(number_type, NUMBER_LIMITS["long" if dtype == "integer" else "double"])
    if isinstance(feature, NumericProfile):
        # A median of an even count is a midpoint: 86.21000000000001 in a form helps nobody.
        default: float | None = float(f"{feature.median:.10g}")
        if dtype == "integer":
            default = float(round(feature.median))
        low, high = (None, None) if range_factor is None else plausible_range(feature.min, feature.max, range_factor)
        return FieldSpec(
            name=name,
            kind="numeric",
            dtype="integer" if dtype == "integer" else "float",
            required=required,
            rules=tuple(feature.rules if range_factor is None else sign_rules(feature)),
            train_min=feature.min,
            train_max=feature.max,
            default=default,
            plausible_min=low,
            plausible_max=high,
            range_factor=range_factor or 0.0,
            largest=limits[0],
            smallest=limits[1],
            number_type=limits[2],
        )
    if isinstance(feature, CategoricalProfile) and dtype != "datetime":
        return FieldSpec(
            name=name,
            kind="categorical",
            dtype="boolean" if dtype == "boolean" else "string",
            required=required,
            levels=tuple(feature.levels),
            default=feature.most_frequent,
        )
    if dtype == "datetime":
        return FieldSpec(name=name, kind="categorical", dtype="datetime", required=required)
    if dtype in ("float", "integer"):
        return FieldSpec(
            name=name,
            kind="numeric",
            dtype=dtype,  # type: ignore[arg-type]
            required=required,
            largest=limits[0],
            smallest=limits[1],
            number_type=limits[2],
        )
    levels = ("False", "True") if dtype == "boolean" else None
    return FieldSpec(name=name, kind="categorical", dtype=dtype, required=required, levels=levels)  # type: ignore[arg-type]


TRUTH_FIELD = "actual"  # what a regressor's true value is called in feedback files, requests and ingest


def truth_field(profile: TrainingProfile | None, *, range_factor: float | None) -> FieldSpec:
    """The field a regressor's true value fills: a finite 64-bit number; when the reference profiled a numeric
    target (and ``range_factor`` is not ``None``), also within its plausible range and of the sign it always had."""
    target = profile.target_profile if profile is not None else None
    if not isinstance(target, NumericProfile):
        return field_from(TRUTH_FIELD, None, "float", True)
    return field_from(TRUTH_FIELD, target, "float", True, range_factor=range_factor)
