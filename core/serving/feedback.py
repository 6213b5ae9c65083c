"""Ground truth: a CSV of ``prediction_id,actual`` attached to logged predictions (page and CLI)."""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field

import pandas as pd
from sqlalchemy.orm import Session, sessionmaker

from core.serving.batch import BatchFileError, decode_text
from storage.prediction_log import add_feedback

FEEDBACK_COLUMNS = ("prediction_id", "actual")


@dataclass(frozen=True)
class FeedbackResult:
    """What a feedback file did: values stored, ids the log does not know, rows refused."""

    stored: int
    unknown_ids: list[int]
    rejected: pd.DataFrame  # row, field, message
    notices: list[str] = field(default_factory=list)


def parse_feedback(data: bytes) -> tuple[dict[int, float], pd.DataFrame]:
    """``{prediction_id: actual}`` from CSV bytes, plus the refused rows (row, field, message)."""
    text = decode_text(data)
    if not text.strip():
        raise BatchFileError("the file is empty; expected a header row: prediction_id,actual")
    try:
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, skipinitialspace=True)
    except pd.errors.ParserError as error:
        raise BatchFileError(f"the file is not a well-formed CSV: {str(error).strip()}") from None
    frame.columns = [str(name).strip() for name in frame.columns]
    missing = [name for name in FEEDBACK_COLUMNS if name not in frame.columns]
    if missing:
        raise BatchFileError(f"missing column(s): {', '.join(missing)}; expected a header row: prediction_id,actual")
    if frame.empty:
        raise BatchFileError("the file has a header but no rows of prediction_id,actual")
    actuals: dict[int, float] = {}
    problems = []
    for row, (raw_id, raw_actual) in enumerate(
        frame[list(FEEDBACK_COLUMNS)].itertuples(index=False, name=None), start=1
    ):
        try:
            prediction_id = int(str(raw_id).strip())
        except ValueError:
            problems.append((row, "prediction_id", f"prediction_id: {raw_id!r} is not a whole number (rule: type)"))
            continue
        try:
            actual = float(str(raw_actual).strip())
        except ValueError:
            problems.append((row, "actual", f"actual: {raw_actual!r} is not a number (rule: type)"))
            continue
        if not math.isfinite(actual):
            problems.append((row, "actual", f"actual: {raw_actual!r} is not a finite number (rule: finite)"))
            continue
        actuals[prediction_id] = actual
    return actuals, pd.DataFrame(problems, columns=["row", "field", "message"])


def attach_feedback(data: bytes, *, sessions: sessionmaker[Session]) -> FeedbackResult:
    """Store the actuals of a feedback CSV in one transaction; unknown ids are reported, not stored."""
    actuals, rejected = parse_feedback(data)
    with sessions.begin() as session:
        unknown = add_feedback(session, actuals=actuals)
    return FeedbackResult(stored=len(actuals) - len(unknown), unknown_ids=unknown, rejected=rejected)
