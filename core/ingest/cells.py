"""The cells of an ingested chunk: what counts as missing, numbers and times read leniently, refusals kept by row."""

from __future__ import annotations

import numpy as np
import pandas as pd


class Refusals:
    """Problems of one chunk, keyed by position; a row refused once is not checked further on canonical columns."""

    def __init__(self, count: int, ids: pd.Series) -> None:
        self.bad = np.zeros(count, dtype=bool)
        self.ids = ids
        self.items: list[tuple[int, str, str, str]] = []

    def add(self, mask: np.ndarray, field_name: str, rule: str, message, values: pd.Series | None = None) -> None:
        """Refuse the rows in ``mask`` not yet refused; ``message`` is text or a function of the row's value."""
        positions = np.flatnonzero(mask & ~self.bad)
        self.bad[positions] = True
        for position in positions:
            text = message(values.iloc[position]) if callable(message) and values is not None else message
            self.items.append((int(position), field_name, rule, str(text)))

    def add_at(self, position: int, field_name: str, rule: str, message: str) -> None:
        self.bad[position] = True
        self.items.append((position, field_name, rule, message))


def blank(values: pd.Series) -> np.ndarray:
    """Missing cells: nulls and text that is empty once stripped."""
    missing = values.isna().to_numpy(dtype=bool)
    if values.dtype == object or pd.api.types.is_string_dtype(values.dtype):
        return missing | values.astype("string").str.strip().eq("").fillna(True).to_numpy(dtype=bool)
    return missing


def id_text(value: object) -> str | None:
    if value is None or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def id_texts(values: pd.Series) -> pd.Series:
    """:func:`id_text` of every cell; a column of text only (every CSV) is stripped in one vectorised call."""
    text_only = pd.api.types.is_string_dtype(values.dtype) and not values.isna().any()
    if text_only and pd.api.types.infer_dtype(values, skipna=False) == "string":
        return values.str.strip()
    return values.map(id_text)


def as_numbers(values: pd.Series) -> pd.Series:
    if pd.api.types.is_bool_dtype(values.dtype):
        return pd.Series(np.nan, index=values.index)
    return pd.to_numeric(values.astype(object).where(~pd.Series(blank(values), index=values.index)), errors="coerce")


def as_stamps(values: pd.Series) -> pd.Series:
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_datetime64_any_dtype(values.dtype):
        return pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns, UTC]")  # epoch numbers are ambiguous
    return pd.to_datetime(values, utc=True, format="ISO8601", errors="coerce")
