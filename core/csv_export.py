"""CSV for people who open it in a spreadsheet: text that would run as a formula is written as text.

A feature name, a tag or a value from someone else's data that starts with ``=``, ``+``, ``-`` or ``@``
(or a tab or carriage return, which some spreadsheets skip before reading one) becomes a formula
when the file is opened — ``=HYPERLINK(…)`` then calls a stranger's server. OWASP's advice is to
prefix such cells with a single quote; numbers stay numbers (``-3.2`` in a float column is a number,
not a formula, and is left alone).
"""

from __future__ import annotations

import pandas as pd

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralised(text: str) -> str:
    """``text`` as a spreadsheet shows it, never evaluates it."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _safe_cell(value: object) -> object:
    return neutralised(value) if isinstance(value, str) else value


def safe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells and column names cannot run as formulas."""
    safe = frame.copy()
    safe.columns = [neutralised(str(name)) for name in frame.columns]
    for position in range(safe.shape[1]):
        column = safe.iloc[:, position]
        if column.dtype == object or pd.api.types.is_string_dtype(column.dtype):
            safe.isetitem(position, column.map(_safe_cell).astype(object))
    return safe


def csv_text(frame: pd.DataFrame, *, index: bool = False) -> str:
    """``frame`` as CSV text, safe to open in a spreadsheet."""
    return safe_frame(frame).to_csv(index=index)
