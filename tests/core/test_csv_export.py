"""CSV downloads cannot run formulas in a spreadsheet; numbers stay numbers."""

from __future__ import annotations

import io

import pandas as pd

from core.csv_export import csv_bytes, csv_text, neutralised, write_csv_chunk


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


def test_numbers_written_as_text_stay_numbers_and_other_text_is_neutralised() -> None:
    frame = pd.DataFrame({"value": ["-3.2", "+1e5", ".5", "-2+3", "-", "@x", "12 apples"]}, dtype=object)

    written = pd.read_csv(io.StringIO(csv_text(frame)), dtype=str)

    assert written["value"].tolist() == ["-3.2", "+1e5", ".5", "'-2+3", "'-", "'@x", "12 apples"]


def test_index_labels_are_neutralised_when_the_index_is_written() -> None:
    frame = pd.DataFrame({"rmse": [-1.0, 2.0]}, index=pd.Index(['=HYPERLINK("http://x")', "run-2"], name="@id"))

    written = pd.read_csv(io.StringIO(csv_text(frame, index=True)), dtype=str)

    assert written.columns.tolist() == ["'@id", "rmse"]
    assert written["'@id"].tolist() == ['\'=HYPERLINK("http://x")', "run-2"]
    assert written["rmse"].tolist() == ["-1.0", "2.0"]


def test_csv_bytes_is_the_same_safe_text_in_utf8() -> None:
    frame = pd.DataFrame({"cut": ["=1", "Idéal"], "price": [-5, 7]})

    assert csv_bytes(frame) == csv_text(frame).encode("utf-8")
    assert csv_bytes(frame).decode("utf-8").splitlines() == ["cut,price", "'=1,-5", "Idéal,7"]


def test_chunks_written_one_after_another_make_one_safe_file(tmp_path) -> None:
    chunks = [
        pd.DataFrame({"=name": ["=cmd()", "ok"], "score": [-0.5, 1.5]}),
        pd.DataFrame({"=name": ["@SUM(A1)", "-7"], "score": [2.5, -3.0]}),
    ]
    path = tmp_path / "out.csv"
    buffer = io.StringIO()

    for position, chunk in enumerate(chunks):
        write_csv_chunk(chunk, path, header=position == 0)
        write_csv_chunk(chunk, buffer, header=position == 0)

    for text in (path.read_text(encoding="utf-8"), buffer.getvalue()):
        written = pd.read_csv(io.StringIO(text), dtype={"'=name": str})
        assert written.columns.tolist() == ["'=name", "score"]
        assert written["'=name"].tolist() == ["'=cmd()", "ok", "'@SUM(A1)", "-7"]
        assert written["score"].tolist() == [-0.5, 1.5, 2.5, -3.0]
    assert chunks[0].iloc[0, 0] == "=cmd()"  # the caller's chunk is left as it was
