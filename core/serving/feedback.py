"""Ground truth: a CSV of ``prediction_id,actual`` attached to logged predictions (page and CLI).

A regressor's prediction takes a number; a classifier's takes one of its model's classes (as text:
``1`` and ``1.0`` name the same class). What each id needs is read from the log, so one file may
carry the truth of several models.
"""

from __future__ import annotations

import contextlib
import io
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd
from sqlalchemy.orm import Session, sessionmaker

from core.profile import TrainingProfile
from core.serving.batch import BatchFileError, decode_text
from core.serving.input_fields import TRUTH_FIELD, FieldSpec, truth_field
from core.serving.input_schema import InputSchema, range_factor_for
from core.settings import Settings
from core.task import class_text
from storage.answer_versions import answer_versions
from storage.prediction_log import add_feedback, answer_classes, shadowed_answers
from storage.rollups import load_reference

FEEDBACK_COLUMNS = ("prediction_id", "actual")
SHOWN_CLASSES = 8  # a rejection lists at most this many of the model's classes
ID_MIN, ID_MAX = -(2**63), 2**63 - 1  # a BIGINT: larger ids overflow SQLite's driver and PostgreSQL alike
PLAIN_TRUTH = truth_field(None, range_factor=None)  # a regressor's truth without a profiled target


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
            problems.append(
                (row, "prediction_id", f"prediction_id: {raw_id[:80]!r} is not a whole number (rule: type)")
            )
            continue
        values.append((row, prediction_id, str(raw_actual).strip()))
    return FeedbackRows(values=values, rejected=pd.DataFrame(problems, columns=["row", "field", "message"]))


def _as_number(raw: str, truth: FieldSpec) -> tuple[float | None, str | None]:
    # The rules of an input (input_schema): finite, within a 64-bit float, and — with a profiled target —
    # of the sign it always had and within its plausible range.
    check = InputSchema(fields=(truth,)).validate_record({TRUTH_FIELD: raw})
    if check.problems:
        return None, check.problems[0].message
    assert check.values is not None
    return float(check.values[TRUTH_FIELD]), None


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


def check_actual(
    raw: str, classes: tuple[str, ...] | None, truth: FieldSpec | None = None
) -> tuple[float | str | None, str | None]:
    """One true value as written, checked against what its prediction needs (``classes``: a classifier's,
    ``None``: a regressor's, whose ``truth`` field holds the target's rules): the value to store, or the
    sentence that refuses it."""
    if not raw:
        return None, "actual: missing (rule: required)"
    if classes is not None:
        return _as_class(raw, classes)
    return _as_number(raw, truth or PLAIN_TRUTH)


def id_problem(prediction_id: int) -> str | None:
    """Why an id cannot be a logged one: outside the 64-bit range every database stores ids in."""
    if ID_MIN <= prediction_id <= ID_MAX:
        return None
    shown = str(prediction_id)
    shown = shown if len(shown) <= 40 else f"{shown[:40]}… ({len(shown):,} digits)"  # a line, not a page
    return f"prediction_id: {shown} is out of range (rule: range; ids are 64-bit, {ID_MIN} … {ID_MAX})"


ProfileLookup = Callable[[Session, str, int], TrainingProfile | None]


def stored_profile(session: Session, model_name: str, version: int) -> TrainingProfile | None:
    """The profile Monitoring keeps for a version (no registry call): the default for :func:`store_truths`."""
    stored = load_reference(session, model_name=model_name, model_version=version)
    return None if stored is None else TrainingProfile.from_json(stored.profile_json)


def registry_profiles(settings: Settings) -> ProfileLookup:
    """Profiles as Monitoring reads them: kept with the roll-ups, else from the registry (then kept)."""
    from core.monitoring.references import reference_profile

    def lookup(session: Session, model_name: str, version: int) -> TrainingProfile | None:
        owner = (
            settings if model_name == settings.model_name else settings.model_copy(update={"model_name": model_name})
        )
        return reference_profile(owner, session=session, model_version=version)

    return lookup


def _truth_fields(
    session: Session, needs: dict[int, tuple[str, ...] | None], profiles: ProfileLookup
) -> dict[int, FieldSpec]:
    """The truth field of each regressor's answer, one profile read per version."""
    versions = answer_versions(session, prediction_ids=[key for key, classes in needs.items() if classes is None])
    fields: dict[tuple[str, int], FieldSpec] = {}
    for key in set(versions.values()):
        profile = profiles(session, *key)
        fields[key] = truth_field(profile, range_factor=range_factor_for(profile))
    return {prediction_id: fields[key] for prediction_id, key in versions.items()}


def attach_feedback(
    data: bytes, *, sessions: sessionmaker[Session], profiles: ProfileLookup | None = None
) -> FeedbackResult:
    """Store the true values of a feedback CSV in one transaction (see :func:`store_truths`)."""
    parsed = parse_feedback(data)
    stored = store_truths(parsed.values, sessions=sessions, profiles=profiles)
    problems = [
        *parsed.rejected.itertuples(index=False, name=None),
        *stored.rejected.itertuples(index=False, name=None),
    ]
    rejected = pd.DataFrame(sorted(problems), columns=["row", "field", "message"])
    return FeedbackResult(stored=stored.stored, unknown_ids=stored.unknown_ids, rejected=rejected)


def store_truths(
    values: list[tuple[int, int, str]], *, sessions: sessionmaker[Session], profiles: ProfileLookup | None = None
) -> FeedbackResult:
    """Check ``(row, prediction id, true value as written)`` items and store the good ones in one transaction.

    The rules every way in shares (a file on the page or the CLI, the server's ``POST /feedback``):
    an id outside the 64-bit range is refused; an id the log does not hold is reported once, whatever
    its value; an id given more than once is refused every time (storing one of them would be a
    guess); a shadow prediction's id is refused (its truth is its answer's); a classifier's value is
    one of its model's classes, a regressor's a finite number — and, when its version's reference
    profiled the target (``profiles``: default, the profile Monitoring keeps), within the target's
    plausible range and of the sign it always had (:func:`core.serving.input_fields.truth_field`).
    """
    problems: list[tuple[int, str, str]] = []
    for row, prediction_id, _ in values:
        beyond = id_problem(prediction_id)
        if beyond is not None:
            problems.append((row, "prediction_id", beyond))
    values = [item for item in values if id_problem(item[1]) is None]
    times = Counter(prediction_id for _, prediction_id, _ in values)
    actuals: dict[int, float] = {}
    labels: dict[int, str] = {}
    with sessions.begin() as session:
        needs = answer_classes(session, prediction_ids=list(times))
        shadowed = shadowed_answers(session, prediction_ids=list(needs))
        truths = _truth_fields(session, needs, profiles or stored_profile)
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
                value, problem = check_actual(raw, needs[prediction_id], truths.get(prediction_id))
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
