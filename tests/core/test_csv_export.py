"""CSV downloads cannot run formulas in a spreadsheet; numbers stay numbers."""

from __future__ import annotations

import io

import pandas as pd

from core.csv_export import csv_text, neutralised


def test_text_that_starts_like_a_formula_is_written_as_text() -> None:
    for text in ('=HYPERLINK("http://x","y")', "+1", "-2+3", "@SUM(A1)", "\tx", "\r=1"):
        assert neutralised(text) == "'" + text
    assert neutralised("Ideal") == "Ideal"
    assert neutralised("") == ""


def test_cells_and_headers_are_neutralised_but_numbers_are_not() -> None:
    frame = pd.DataFrame({"=cmd|' /C calc'!A0": ["=1+1", "Good", None], "depth": [-1.5, 61.0, 2.0]})

    written = pd.read_csv(io.StringIO(csv_text(frame)))

    assert list(written.columns) == ["'=cmd|' /C calc'!A0", "depth"]
    assert written.iloc[0, 0] == "'=1+1"
    assert written.iloc[1, 0] == "Good"
    assert pd.isna(written.iloc[2, 0])
    assert written["depth"].tolist() == [-1.5, 61.0, 2.0]
    assert frame.iloc[0, 0] == "=1+1"  # the caller's frame is left as it was
