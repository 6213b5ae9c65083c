"""One input a model takes (:class:`FieldSpec`), how it is built from signature and reference, and the
sentences that refuse a value — each names the field and the rule."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from core.profile import CategoricalProfile, NumericProfile, Rule

NUMERIC_TYPES = {"double": "float", "float": "float", "long": "integer", "integer": "integer"}


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
        if rule in RULE_SYMBOLS:
            return f"{self.name}: must be {RULE_SYMBOLS[rule]} {_number(limit)}, got {_number(value)} (rule: {rule} {_number(limit)})"
        raise ValueError(f"unknown rule {rule!r}")

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


def field_from(name: str, feature: NumericProfile | CategoricalProfile | None, dtype: str, required: bool) -> FieldSpec:
    """One field: its type from the signature (``dtype``), levels, ranges, rules and default from the reference."""
    if isinstance(feature, NumericProfile):
        # A median of an even count is a midpoint: 86.21000000000001 in a form helps nobody.
        default: float | None = float(f"{feature.median:.10g}")
        if dtype == "integer":
            default = float(round(feature.median))
        return FieldSpec(
            name=name,
            kind="numeric",
            dtype="integer" if dtype == "integer" else "float",
            required=required,
            rules=tuple(feature.rules),
            train_min=feature.min,
            train_max=feature.max,
            default=default,
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
        return FieldSpec(name=name, kind="numeric", dtype=dtype, required=required)  # type: ignore[arg-type]
    levels = ("False", "True") if dtype == "boolean" else None
    return FieldSpec(name=name, kind="categorical", dtype=dtype, required=required, levels=levels)  # type: ignore[arg-type]
