"""CSV, Parquet and JSON lines read in chunks, so memory stays flat whatever the file's size.

CSV cells are read as text (ids such as ``007`` stay as written; the checks type every value); Parquet and
JSON lines keep their own types. A file that cannot be read at all raises :class:`IngestFileError` naming
the file and what is wrong with it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from core.errors import first_line
from core.ingest.columns import REQUIRED, IngestFileError, check_header

CHUNK_ROWS = 50_000
FORMATS = ("csv", "parquet", "jsonl")
SUFFIXES = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl"}


def format_of(path: Path, given: str | None = None) -> str:
    """The file's format: ``given``, else from its extension."""
    if given is not None:
        if given not in FORMATS:
            raise IngestFileError(f"--format {given!r} is not one of {', '.join(FORMATS)}")
        return given
    found = SUFFIXES.get(path.suffix.lower())
    if found is None:
        raise IngestFileError(
            f"{path.name}: cannot tell the format from the extension {path.suffix or '(none)'!r}; "
            f"use .csv, .parquet or .jsonl, or say --format {'|'.join(FORMATS)}"
        )
    return found


def read_chunks(path: Path, *, file_format: str, chunk_rows: int = CHUNK_ROWS) -> Iterator[pd.DataFrame]:
    """The file's rows, ``chunk_rows`` at a time; the header is checked before the first chunk is given."""
    if not path.is_file():
        raise IngestFileError(f"{path}: no such file")
    readers = {"csv": _csv, "parquet": _parquet, "jsonl": _jsonl}
    first = True
    try:
        for chunk in readers[file_format](path, chunk_rows):
            chunk.columns = [str(name).strip() for name in chunk.columns]
            if first:
                check_header(list(chunk.columns))
                first = False
            for name in REQUIRED:  # a later JSON line may lack a key: its rows are refused, not the file
                if name not in chunk.columns:
                    chunk[name] = None
            yield chunk
    except IngestFileError:
        raise
    except (ValueError, OSError, UnicodeDecodeError, pd.errors.ParserError) as error:
        raise IngestFileError(f"{path.name} could not be read as {file_format}: {first_line(error)}") from None
    if first:
        raise IngestFileError(f"{path.name} holds no rows (expected a header and rows of predictions)")


def _csv(path: Path, chunk_rows: int) -> Iterator[pd.DataFrame]:
    try:
        yield from pd.read_csv(path, dtype=str, keep_default_na=False, chunksize=chunk_rows, encoding="utf-8-sig")
    except pd.errors.EmptyDataError:
        raise IngestFileError(
            f"{path.name} is empty; expected a header row with at least {', '.join(REQUIRED)}"
        ) from None


def _parquet(path: Path, chunk_rows: int) -> Iterator[pd.DataFrame]:
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(path)
    check_header([str(name) for name in parquet.schema_arrow.names])
    for batch in parquet.iter_batches(batch_size=chunk_rows):
        yield batch.to_pandas()


def _jsonl(path: Path, chunk_rows: int) -> Iterator[pd.DataFrame]:
    # dtype=False, convert_dates=False: values keep their JSON types; the checks decide what each must be.
    with pd.read_json(path, lines=True, chunksize=chunk_rows, dtype=False, convert_dates=False) as reader:
        yield from reader
