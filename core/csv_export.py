"""CSV for people who open it in a spreadsheet: text that would run as a formula is written as text.

A feature name, a tag or a value from someone else's data that starts with ``=``, ``+``, ``-`` or ``@``
(or a tab or carriage return, which some spreadsheets skip before reading one) becomes a formula
when the file is opened — ``=HYPERLINK(…)`` then calls a stranger's server. OWASP's advice is to
prefix such cells with a single quote; numbers stay numbers (``-3.2`` in a float column is a number,
not a formula, and is left alone; so is the text ``-3.2`` in a column read as text).

Every CSV Loupe hands out goes through here: the page downloads (:func:`csv_text`, :func:`csv_bytes`),
``python -m core ledger --csv``, and files written a chunk at a time (:func:`write_csv_chunk`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TextIO

import pandas as pd

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# A signed decimal number: a spreadsheet reads it as that number, never as a formula, so it is left as it is.
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def neutralised(text: str) -> str:
    """``text`` as a spreadsheet shows it, never evaluates it."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def safe_cell(value: object) -> object:
    """A cell as it is written: text that could run as a formula is neutralised; numbers, text numbers included, stay."""
    if not isinstance(value, str) or _PLAIN_NUMBER.fullmatch(value):
        return value
    return neutralised(value)


def _safe_values(values: pd.Series | pd.Index) -> pd.Series | pd.Index:
    if not (values.dtype == object or pd.api.types.is_string_dtype(values.dtype)):
        return values
    try:  # only cells that start like a formula are looked at one by one: batch outputs are millions of cells
        risky = values.str.startswith(FORMULA_STARTS, na=False)
    except AttributeError:  # an object column holding no text at all
        return values
    if not risky.any():
        return values
    if isinstance(values, pd.Index):
        return values.map(safe_cell).astype(object)
    safe = values.astype(object)  # a copy: the caller's frame is left as it was
    safe[risky] = safe[risky].map(safe_cell)
    return safe


def safe_frame(frame: pd.DataFrame, *, index: bool = False) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells and column names (and index labels, with ``index``) cannot run as formulas."""
    safe = frame.copy()
    safe.columns = [neutralised(str(name)) for name in frame.columns]
    for position in range(safe.shape[1]):
        column = safe.iloc[:, position]
        if column.dtype == object or pd.api.types.is_string_dtype(column.dtype):
            safe.isetitem(position, _safe_values(column))
    if index:
        safe.index = _safe_values(safe.index)
        if safe.index.name is not None:
            safe.index.name = neutralised(str(safe.index.name))
    return safe


def csv_text(frame: pd.DataFrame, *, index: bool = False) -> str:
    """``frame`` as CSV text, safe to open in a spreadsheet."""
    return safe_frame(frame, index=index).to_csv(index=index)


def csv_bytes(frame: pd.DataFrame, *, index: bool = False) -> bytes:
    """``frame`` as UTF-8 CSV for a download button, safe to open in a spreadsheet."""
    return csv_text(frame, index=index).encode("utf-8")


def write_csv_chunk(frame: pd.DataFrame, target: TextIO | str | Path, *, header: bool) -> None:
    """Append one chunk of rows to ``target`` (an open text file, or a path appended to), safe to open in a spreadsheet.

    For files written a chunk at a time (batch results, rejected rows): the first chunk with ``header=True``,
    the rest without, so a file of any size is neutralised without holding it in memory.
    """
    safe = safe_frame(frame)
    if isinstance(target, str | Path):
        safe.to_csv(target, mode="a", index=False, header=header)
    else:
        safe.to_csv(target, index=False, header=header)
