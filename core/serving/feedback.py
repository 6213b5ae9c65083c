"""Ground truth: a CSV of ``prediction_id,actual`` attached to logged predictions (page and CLI).

A regressor's prediction takes a number; a classifier's takes one of its model's classes (as text:
``1`` and ``1.0`` name the same class). What each id needs is read from the log, so one file may
carry the truth of several models.
"""

from __future__ import annotations

import contextlib
import io
import math
from collections import Counter
from dataclasses import dataclass, field

import pandas as pd
from sqlalchemy.orm import Session, sessionmaker

from core.serving.batch import BatchFileError, decode_text
from core.task import class_text
from storage.prediction_log import add_feedback, answer_classes, shadowed_answers

FEEDBACK_COLUMNS = ("prediction_id", "actual")
SHOWN_CLASSES = 8  # a rejection lists at most this many of the model's classes


@dataclass(frozen=True)
class FeedbackResult:
    """What a feedback file did: values stored, ids the log does not know, rows refused."""

    stored: int
    unknown_ids: list[int]
    rejected: pd.DataFrame  # row, field, message
    notices: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class FeedbackRows:
    """A feedback file read: the raw true value of each id (with its row number), and refused rows."""

    values: list[tuple[int, int, str]]  # (row, prediction_id, the value as written), in file order
    rejected: pd.DataFrame  # row, field, message


def parse_feedback(data: bytes) -> FeedbackRows:
    """The rows of a feedback CSV: well-formed ids with their values as text; malformed ids refused."""
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
    values: list[tuple[int, int, str]] = []
    problems = []
    for row, (raw_id, raw_actual) in enumerate(
        frame[list(FEEDBACK_COLUMNS)].itertuples(index=False, name=None), start=1
    ):
        try:
            prediction_id = int(str(raw_id).strip())
        except ValueError:
            problems.append((row, "prediction_id", f"prediction_id: {raw_id!r} is not a whole number (rule: type)"))
            continue
        values.append((row, prediction_id, str(raw_actual).strip()))
    return FeedbackRows(values=values, rejected=pd.DataFrame(problems, columns=["row", "field", "message"]))


def _as_number(raw: str) -> tuple[float | None, str | None]:
    try:
        actual = float(raw)
    except ValueError:
        return None, f"actual: {raw!r} is not a number (rule: type)"
    if not math.isfinite(actual):
        return None, f"actual: {raw!r} is not a finite number (rule: finite)"
    return actual, None


def _as_class(raw: str, classes: tuple[str, ...]) -> tuple[str | None, str | None]:
    label = raw
    if raw not in classes:
        with contextlib.suppress(ValueError):
            label = class_text(float(raw))  # "1.0" names class "1"
    if label in classes or not classes:
        return label, None
    shown = ", ".join(repr(name) for name in classes[:SHOWN_CLASSES])
    more = f" and {len(classes) - SHOWN_CLASSES} more" if len(classes) > SHOWN_CLASSES else ""
    return None, f"actual: {raw!r} is not one of the model's classes ({shown}{more}) (rule: class)"


def check_actual(raw: str, classes: tuple[str, ...] | None) -> tuple[float | str | None, str | None]:
    """One true value as written, checked against what its prediction needs (``classes``: a classifier's,
    ``None``: a regressor's): the value to store, or the sentence that refuses it."""
    if not raw:
        return None, "actual: missing (rule: required)"
    if classes is not None:
        return _as_class(raw, classes)
    return _as_number(raw)


def attach_feedback(data: bytes, *, sessions: sessionmaker[Session]) -> FeedbackResult:
    """Store the true values of a feedback CSV in one transaction (see :func:`store_truths`)."""
    parsed = parse_feedback(data)
    stored = store_truths(parsed.values, sessions=sessions)
    problems = [
        *parsed.rejected.itertuples(index=False, name=None),
        *stored.rejected.itertuples(index=False, name=None),
    ]
    rejected = pd.DataFrame(sorted(problems), columns=["row", "field", "message"])
    return FeedbackResult(stored=stored.stored, unknown_ids=stored.unknown_ids, rejected=rejected)


def store_truths(values: list[tuple[int, int, str]], *, sessions: sessionmaker[Session]) -> FeedbackResult:
    """Check ``(row, prediction id, true value as written)`` items and store the good ones in one transaction.

    The rules every way in shares (a file on the page or the CLI, the server's ``POST /feedback``):
    an id the log does not hold is reported once, whatever its value; an id given more than once is
    refused every time (storing one of them would be a guess); a shadow prediction's id is refused
    (its truth is its answer's); a regressor's value is a finite number, a classifier's one of its
    model's classes.
    """
    times = Counter(prediction_id for _, prediction_id, _ in values)
    problems: list[tuple[int, str, str]] = []
    actuals: dict[int, float] = {}
    labels: dict[int, str] = {}
    with sessions.begin() as session:
        needs = answer_classes(session, prediction_ids=list(times))
        shadowed = shadowed_answers(session, prediction_ids=list(needs))
        for row, prediction_id, raw in values:
            if prediction_id not in needs:
                continue
            problem: str | None
            if times[prediction_id] > 1:
                problem = (
                    f"prediction_id: {prediction_id} is given {times[prediction_id]} times; give it once (rule: unique)"
                )
            elif prediction_id in shadowed:
                problem = (
                    f"prediction_id: {prediction_id} is a shadow answer; give the truth to the answer it shadowed "
                    f"({shadowed[prediction_id]}) (rule: not shadow)"
                )
            else:
                value, problem = check_actual(raw, needs[prediction_id])
                if isinstance(value, str):
                    labels[prediction_id] = value
                elif value is not None:
                    actuals[prediction_id] = value
            if problem is not None:
                problems.append((row, problem.split(":", 1)[0], problem))
        add_feedback(session, actuals=actuals, labels=labels)
    unknown = sorted(prediction_id for prediction_id in times if prediction_id not in needs)
    rejected = pd.DataFrame(sorted(problems), columns=["row", "field", "message"])
    return FeedbackResult(stored=len(actuals) + len(labels), unknown_ids=unknown, rejected=rejected)
