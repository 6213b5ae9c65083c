"""CSV batches, shared by the Predict page and ``python -m core score``: read, check the file, score, write.

File-level problems (empty, not UTF-8, wrong delimiter, missing or duplicated columns, too large)
raise :class:`BatchFileError` with a message for a person; row-level problems are rejected rows.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from sqlalchemy.orm import Session, sessionmaker

from core.errors import LoupeError
from core.serving.input_schema import InputSchema
from core.serving.model_cache import serve
from core.serving.scoring import ScoringResult, score_frame
from core.settings import Settings
from core.task import PROBABILITY_PREFIX

OTHER_DELIMITERS = {";": "semicolons", "\t": "tabs", "|": "pipes"}
MEGABYTE = 1024 * 1024


class BatchFileError(LoupeError, ValueError):
    """The file as a whole cannot be scored; the message says why and what to do."""


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
        raise BatchFileError(
            f"the file is not UTF-8 text (byte 0x{data[error.start]:02x} on line {line}); "
            "save it as “CSV UTF-8” and upload it again"
        ) from None


def read_csv(data: bytes, *, schema: InputSchema, max_bytes: int | None = None) -> BatchInput:
    """Parse an uploaded CSV against ``schema``: every cell as text, the header checked, extras kept."""
    if max_bytes is not None and len(data) > max_bytes:
        raise BatchFileError(
            f"the file is {len(data) / MEGABYTE:,.1f} MB, over the {max_bytes / MEGABYTE:,.0f} MB upload limit; "
            "split it, or score it from the command line: python -m core score --input IN.csv --output OUT.csv"
        )
    text = decode_text(data)
    expected = ", ".join(schema.names)
    if not text.strip():
        raise BatchFileError(f"the file is empty; expected a header row with the columns: {expected}")
    header_line = text.lstrip("\r\n").splitlines()[0]
    header = [name.strip() for name in next(csv.reader([header_line]))]
    if len(header) == 1 and len(schema.names) > 1:
        for delimiter, label in OTHER_DELIMITERS.items():
            if delimiter in header_line:
                raise BatchFileError(
                    f"the columns seem to be separated by {label}; Loupe reads comma-separated files "
                    f"(expected header: {','.join(schema.names)})"
                )
    duplicated = sorted({name for name in header if header.count(name) > 1})
    if duplicated:
        raise BatchFileError(f"duplicated column(s) in the header: {', '.join(duplicated)}; keep one of each")
    missing = [name for name in schema.required_names if name not in header]
    if missing:
        raise BatchFileError(f"missing column(s): {', '.join(missing)}; the model needs: {expected}")
    try:
        # header=None: the parser takes the field count from the header line and refuses longer rows
        # (with a header it would silently turn the extra leading cells into an index).
        frame = pd.read_csv(
            io.StringIO(text),
            header=None,
            dtype=str,
            keep_default_na=False,
            na_filter=False,
            skipinitialspace=True,
            skip_blank_lines=True,
        )
    except pd.errors.ParserError as error:
        raise BatchFileError(f"the file is not a well-formed CSV: {str(error).strip()}") from None
    frame = frame.iloc[1:].reset_index(drop=True)
    frame.columns = header
    frame = frame.fillna("")  # short rows leave missing cells: report them as missing values
    if frame.empty:
        raise BatchFileError(f"the file has a header but no data rows; add rows under: {expected}")
    notices = []
    extra = [name for name in frame.columns if name not in schema.names]
    if extra:
        notices.append(f"column(s) not used by the model, passed through to the results: {', '.join(extra)}")
    return BatchInput(frame=frame, notices=notices)


def score_csv(
    settings: Settings,
    data: bytes,
    *,
    sessions: sessionmaker[Session],
    source: str,
    alias: str = "champion",
    max_bytes: int | None = None,
    progress: Callable[[float], None] | None = None,
) -> tuple[BatchInput, ScoringResult]:
    """Read and score a CSV with the version ``alias`` points to; raises :class:`BatchFileError` for bad files."""
    served, _ = serve(settings, alias=alias)
    batch = read_csv(data, schema=served.schema, max_bytes=max_bytes)
    result = score_frame(settings, batch.frame, sessions=sessions, source=source, alias=alias, progress=progress)
    return batch, result


def rejected_with_inputs(result: ScoringResult, frame: pd.DataFrame) -> pd.DataFrame:
    """The rejected rows' reasons next to the values that were sent (one line per problem)."""
    if result.rejected.empty:
        return result.rejected.copy()
    inputs = frame.reset_index(drop=True).iloc[result.rejected["row"].to_numpy() - 1].reset_index(drop=True)
    inputs = inputs.rename(columns={name: f"input_{name}" for name in inputs.columns if name in result.rejected})
    return pd.concat([result.rejected.reset_index(drop=True), inputs], axis=1)


def template_csv(schema: InputSchema) -> bytes:
    """The CSV template to download: the header and one example row of defaults."""
    return schema.template_csv().encode("utf-8")


def answers_first(accepted: pd.DataFrame) -> pd.DataFrame:
    """Scored rows with the answer (``prediction``, then ``proba_<class>``) before the inputs, for reading
    on screen where a wide table would push the answer out of view (files keep inputs first)."""
    answer = ["prediction", *[column for column in accepted.columns if str(column).startswith(PROBABILITY_PREFIX)]]
    present = [column for column in answer if column in accepted.columns]
    return accepted[present + [column for column in accepted.columns if column not in present]]


def to_csv_bytes(frame: pd.DataFrame) -> bytes:
    """A frame as UTF-8 CSV bytes, for downloads."""
    return frame.to_csv(index=False).encode("utf-8")


def write_outputs(result: ScoringResult, frame: pd.DataFrame, *, output: Path) -> Path | None:
    """Write accepted rows to ``output`` and rejected rows beside it (``NAME.rejected.csv``); returns that path."""
    output.parent.mkdir(parents=True, exist_ok=True)
    result.accepted.to_csv(output, index=False)
    if result.rejected.empty:
        return None
    rejected_path = output.with_name(f"{output.stem}.rejected.csv")
    rejected_with_inputs(result, frame).to_csv(rejected_path, index=False)
    return rejected_path
