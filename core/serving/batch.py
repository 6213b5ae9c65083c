"""CSV batches, shared by the Predict page, ``python -m core score`` and the scoring server's CSV bodies.

Files are read and scored in bounded chunks (:mod:`core.serving.batch_reader`,
:mod:`core.serving.batch_scoring`); :func:`read_csv` reads a small body (an HTTP request) whole.
File-level problems (empty, not UTF-8, wrong delimiter, missing or duplicated columns, too large)
raise :class:`BatchFileError` with a message for a person; row-level problems are rejected rows.
"""

from __future__ import annotations

import io
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import BinaryIO

import pandas as pd
from sqlalchemy.orm import Session, sessionmaker

from core.serving.batch_reader import MEGABYTE, BatchFileError, BatchReader, not_utf8_message
from core.serving.batch_scoring import BatchOutcome, score_file, too_large
from core.serving.input_schema import InputSchema
from core.settings import Settings
from core.task import PROBABILITY_PREFIX

__all__ = ["MEGABYTE", "BatchFileError", "BatchInput", "BatchOutcome", "read_csv", "score_csv"]


@dataclass(frozen=True)
class BatchInput:
    """A CSV read as text, every column kept as written; ``notices`` are things worth telling the user."""

    frame: pd.DataFrame
    notices: list[str] = field(default_factory=list)


def decode_text(data: bytes) -> str:
    """UTF-8 text (a BOM is dropped); anything else is a :class:`BatchFileError` naming the byte and line."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise BatchFileError(not_utf8_message(data[error.start], line)) from None


def read_csv(data: bytes, *, schema: InputSchema, max_bytes: int | None = None) -> BatchInput:
    """A small CSV (a request body) read whole against ``schema``: cells as text, the header checked, extras kept.

    A malformed line refuses the body (its sender corrects and resends it); files go through :func:`score_csv`.
    """
    if max_bytes is not None and len(data) > max_bytes:
        raise BatchFileError(too_large(len(data), max_bytes))
    decode_text(data)
    reader = BatchReader(io.BytesIO(data), schema=schema)
    parts = []
    for chunk in reader.chunks():
        if chunk.malformed:
            raise BatchFileError(f"the file is not a well-formed CSV: {chunk.malformed[0].message}")
        parts.append(chunk.frame)
    problem = reader.file_level_problem(schema, None)
    if problem is not None:
        raise BatchFileError(problem)
    frame = pd.concat(parts).reset_index(drop=True)
    return BatchInput(frame=frame, notices=reader.notices)


def score_csv(
    settings: Settings,
    data: bytes | BinaryIO,
    *,
    sessions: sessionmaker[Session],
    source: str,
    alias: str = "champion",
    max_bytes: int | None = None,
    progress: Callable[[float], None] | None = None,
    key: str | None = None,
    shadow: bool | None = None,
) -> tuple[list[str], BatchOutcome]:
    """Score an upload with ``alias``'s version (the page's path): the file's notices and the outcome, which
    carries the results and the kept refusals as CSV bytes for download (the upload limit bounds them).
    Raises :class:`BatchFileError` for a file that cannot be scored."""
    with tempfile.TemporaryDirectory(prefix="loupe-batch-") as folder:
        output = Path(folder) / "scored.csv"
        outcome = score_file(
            settings,
            data,
            sessions=sessions,
            output=output,
            source_name=source,
            alias=alias,
            key=key,
            max_bytes=max_bytes,
            progress=progress,
            shadow=shadow,
        )
        results = output.read_bytes()
        rejected = outcome.rejected_path.read_bytes() if outcome.rejected_path is not None else b""
    return outcome.notices, replace(
        outcome, output=None, rejected_path=None, results_csv=results, rejected_csv=rejected
    )


def template_csv(schema: InputSchema) -> bytes:
    """The CSV template to download: the header and one example row of defaults."""
    return schema.template_csv().encode("utf-8")


def answers_first(accepted: pd.DataFrame) -> pd.DataFrame:
    """Scored rows with the answer (``prediction``, then ``proba_<class>``) before the inputs, for reading
    on screen where a wide table would push the answer out of view (files keep inputs first)."""
    answer = ["prediction", *[column for column in accepted.columns if str(column).startswith(PROBABILITY_PREFIX)]]
    present = [column for column in answer if column in accepted.columns]
    return accepted[present + [column for column in accepted.columns if column not in present]]
