"""The prediction log: every answered prediction, its inputs, rejections and ground truth.

A prediction's inputs are one JSON object in ``predictions.inputs`` (numbers as JSON numbers, categoricals
as strings, missing as ``null``): one row per prediction is what lets the log be written as fast as the
model answers (see :mod:`storage.log_writer`, which writes it). Shadow predictions (``is_shadow``) point
at the answer they shadow (``shadow_of``) and carry no inputs of their own: their inputs are the answer's.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from datetime import datetime

import pandas as pd
from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Text, delete, func, insert, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from storage.base import Base, BigId, UTCDateTime, table_of, utcnow
from storage.log_writer import decode_inputs, encode_input_frame, encode_inputs, write_rows

# Rows per INSERT statement group: keeps memory flat on 200k-row batches and lets callers report progress.
INSERT_CHUNK = 5_000
# SQLite allows ~32k bound variables per statement; lookups by id stay well below it.
LOOKUP_CHUNK = 900


class Prediction(Base):
    """One answered (or shadow) prediction."""

    __tablename__ = "predictions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    model_name: Mapped[str] = mapped_column(String(200))
    model_version: Mapped[int] = mapped_column(Integer)
    alias: Mapped[str | None] = mapped_column(String(64))
    # Regression: the answer. Classification: the score (binary: the positive class's probability;
    # multiclass: the predicted class's), or NULL for a classifier that gives no probabilities.
    prediction: Mapped[float | None] = mapped_column(Float)
    label: Mapped[str | None] = mapped_column(String(256))  # a classifier's predicted class, as text
    probabilities: Mapped[str | None] = mapped_column(Text)  # JSON {class: probability}, classifiers only
    latency_ms: Mapped[float] = mapped_column(Float)
    source: Mapped[str] = mapped_column(String(16))  # form | batch | cli | simulator
    request_id: Mapped[str] = mapped_column(String(64), index=True)
    is_ood: Mapped[bool] = mapped_column(Boolean, default=False)
    ood_fields: Mapped[str | None] = mapped_column(Text)  # comma-separated feature names
    is_shadow: Mapped[bool] = mapped_column(Boolean, default=False)
    shadow_of: Mapped[int | None] = mapped_column(BigId, index=True)  # the answered prediction's id
    # The id a client gave a prediction it made elsewhere (ingest): unique per model, so retries never duplicate.
    client_id: Mapped[str | None] = mapped_column(String(128))
    # {feature: value} as JSON (storage.log_writer.encode_inputs); NULL for shadows, which borrow the answer's.
    inputs: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        Index("ix_predictions_model_time", "model_name", "created_at"),
        Index("uq_predictions_model_client_id", "model_name", "client_id", unique=True),
    )


class Feedback(Base):
    """The true value of a logged prediction, once it is known."""

    __tablename__ = "feedback"

    prediction_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("predictions.id", ondelete="CASCADE"), primary_key=True
    )
    actual: Mapped[float | None] = mapped_column(Float)  # a regressor's true value
    actual_label: Mapped[str | None] = mapped_column(String(256))  # a classifier's true class, as text
    # Indexed (migration 0003): roll-up refreshes read the feedback that arrived since their watermark.
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    # 1 for a prediction's first true value; each replacement adds one, so roll-ups recount its hour.
    revision: Mapped[int] = mapped_column(Integer, default=1, server_default="1")


class Rejection(Base):
    """An input that was refused, with the field and rule that refused it."""

    __tablename__ = "rejections"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    model_name: Mapped[str] = mapped_column(String(200))
    # The version whose input rules refused the row; NULL for rows logged before rejections were attributed.
    model_version: Mapped[int | None] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(16))
    request_id: Mapped[str] = mapped_column(String(64))
    row_number: Mapped[int | None] = mapped_column(Integer)
    field: Mapped[str] = mapped_column(String(128))
    rule: Mapped[str] = mapped_column(String(64))
    message: Mapped[str] = mapped_column(Text)


FeatureValues = Mapping[str, float | str | None]


def _chunks(items: Sequence, size: int) -> Iterable[Sequence]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def log_predictions(
    session: Session,
    *,
    records: Sequence[Mapping[str, object]],
    features: Sequence[FeatureValues] | None = None,
    progress: Callable[[int], None] | None = None,
) -> list[int]:
    """Insert predictions (dicts of :class:`Prediction` columns) and their features; returns the ids in order.

    Written in chunks of :data:`INSERT_CHUNK`; ``progress`` gets the number of rows written so far.
    Nothing is committed: a failure anywhere leaves the caller's transaction to roll back whole.
    """
    if features is not None and len(features) != len(records):
        raise ValueError(f"{len(records)} predictions but {len(features)} feature rows")
    rows = _same_keys(records)
    names = list(rows[0]) if rows else []
    columns: dict[str, object] = {name: [row[name] for row in rows] for name in names}
    if features is not None:
        columns["inputs"] = [encode_inputs(values) for values in features]
    return write_rows(session, table_of(Prediction), columns=columns, rows=len(rows), progress=progress)


def log_prediction_frame(
    session: Session,
    *,
    columns: Mapping[str, object],
    inputs: pd.DataFrame | None,
    rows: int | None = None,
    progress: Callable[[int], None] | None = None,
    ready: Collection[str] = (),
) -> list[int]:
    """The batch path of :func:`log_predictions`: one prediction per row of ``inputs``, its columns given whole.

    ``columns`` maps a :class:`Prediction` column to one value per row (list or array) or to one value
    shared by every row (a batch's model, version, request id). ``inputs`` is encoded column by column;
    ``None`` logs no inputs (shadow rows: theirs are the answer's), then ``rows`` says how many.
    Ids come back in row order; nothing is committed. ``ready``: columns already in the driver's form
    (:func:`storage.log_writer.driver_datetimes`).
    """
    if inputs is None:
        if rows is None:
            raise ValueError("without inputs, say how many rows to log")
        return write_rows(session, table_of(Prediction), columns=columns, rows=rows, progress=progress, ready=ready)
    if rows is not None and rows != len(inputs):
        raise ValueError(f"{rows} rows but {len(inputs)} rows of inputs")
    encoded = encode_input_frame(inputs)
    return write_rows(
        session,
        table_of(Prediction),
        columns={**columns, "inputs": encoded},
        rows=len(encoded),
        progress=progress,
        ready=ready,
    )


def _same_keys(rows: Sequence[Mapping[str, object]]) -> list[Mapping[str, object]]:
    """Rows with one set of keys: an executemany takes its columns from the first row, so a key only
    some rows carry (a classifier's ``label`` among rows that omit it) would be dropped silently."""
    keys = set(rows[0]) if rows else set()
    if all(len(row) == len(keys) and keys.issuperset(row) for row in rows):
        return list(rows)
    every = set().union(*rows)
    return [{key: row.get(key) for key in every} for row in rows]


def log_rejections(session: Session, *, rows: Sequence[Mapping[str, object]]) -> int:
    """Insert rejections (dicts of :class:`Rejection` columns); returns how many."""
    for chunk in _chunks(rows, INSERT_CHUNK):
        session.execute(insert(table_of(Rejection)), list(chunk))
    return len(rows)


def add_feedback(
    session: Session, *, actuals: Mapping[int, float] | None = None, labels: Mapping[int, str] | None = None
) -> list[int]:
    """Attach true values (a regressor's ``actuals``, a classifier's ``labels``) to logged predictions.

    A repeated id replaces its value; returns the ids that name no logged prediction.
    """
    actuals, labels = actuals or {}, labels or {}
    wanted = sorted({int(prediction_id) for prediction_id in (*actuals, *labels)})
    known: set[int] = set()
    for chunk in _chunks(wanted, LOOKUP_CHUNK):
        known.update(session.scalars(select(Prediction.id).where(Prediction.id.in_(chunk))))
    to_store = [prediction_id for prediction_id in wanted if prediction_id in known]
    revisions: dict[int, int] = {}
    for chunk in _chunks(to_store, LOOKUP_CHUNK):
        replaced = select(Feedback.prediction_id, Feedback.revision).where(Feedback.prediction_id.in_(chunk))
        revisions.update((int(key), int(value)) for key, value in session.execute(replaced))
        session.execute(delete(Feedback).where(Feedback.prediction_id.in_(chunk)))
    received_at = utcnow()
    rows = [
        {
            "prediction_id": prediction_id,
            "actual": float(actuals[prediction_id]) if prediction_id in actuals else None,
            "actual_label": str(labels[prediction_id]) if prediction_id in labels else None,
            "received_at": received_at,
            "revision": revisions.get(prediction_id, 0) + 1,
        }
        for prediction_id in to_store
    ]
    for chunk in _chunks(rows, INSERT_CHUNK):
        session.execute(insert(table_of(Feedback)), list(chunk))
    return [prediction_id for prediction_id in wanted if prediction_id not in known]


def add_new_feedback(
    session: Session,
    *,
    prediction_ids: Sequence[int],
    actuals: Sequence[float | None] | None = None,
    labels: Sequence[str | None] | None = None,
) -> int:
    """True values of predictions inserted in this same transaction: none can have feedback yet, so no
    look-up, no replacement; written with the driver like the predictions (:func:`storage.log_writer.write_rows`).

    ``actuals`` / ``labels`` are one per id (``None``: no true value, nothing written for that id);
    returns how many rows were written. An id already holding feedback fails the insert (``IntegrityError``):
    use :func:`add_feedback` for predictions logged before.
    """
    count = len(prediction_ids)
    numbers = list(actuals) if actuals is not None else [None] * count
    texts = list(labels) if labels is not None else [None] * count
    if len(numbers) != count or len(texts) != count:
        raise ValueError(f"{count} ids but {len(numbers)} true values and {len(texts)} true labels")
    kept = [index for index in range(count) if numbers[index] is not None or texts[index] is not None]
    if not kept:
        return 0
    columns = {
        "prediction_id": [int(prediction_ids[index]) for index in kept],
        "actual": [None if numbers[index] is None else float(numbers[index]) for index in kept],  # type: ignore[arg-type]
        "actual_label": [None if texts[index] is None else str(texts[index]) for index in kept],
        "received_at": utcnow(),
        "revision": 1,
    }
    write_rows(session, table_of(Feedback), columns=columns, rows=len(kept), allot_id=False)
    return len(kept)


def answer_classes(session: Session, *, prediction_ids: Sequence[int]) -> dict[int, tuple[str, ...] | None]:
    """For each logged id: ``None`` for a regressor's answer, else the classes its model answers in.

    The classes are the keys of the row's logged probabilities; for a classifier that logs none,
    the labels its version has logged so far (the best the log knows without loading the model).
    """
    found: dict[int, tuple[str, ...] | None] = {}
    seen_labels: dict[tuple[str, int], tuple[str, ...]] = {}
    for chunk in _chunks(sorted({int(value) for value in prediction_ids}), LOOKUP_CHUNK):
        rows = session.execute(
            select(
                Prediction.id,
                Prediction.model_name,
                Prediction.model_version,
                Prediction.label,
                Prediction.probabilities,
            ).where(Prediction.id.in_(chunk))
        )
        for prediction_id, model_name, version, label, probabilities in rows:
            if label is None:
                found[int(prediction_id)] = None
            elif probabilities:
                found[int(prediction_id)] = tuple(json.loads(probabilities))
            else:
                key = (str(model_name), int(version))
                if key not in seen_labels:
                    seen_labels[key] = tuple(
                        sorted(
                            session.scalars(
                                select(Prediction.label)
                                .where(Prediction.model_name == key[0], Prediction.model_version == key[1])
                                .where(Prediction.label.is_not(None))
                                .distinct()
                            )
                        )
                    )
                found[int(prediction_id)] = seen_labels[key]
    return found


def count_predictions(session: Session, *, model_name: str | None = None, is_shadow: bool | None = None) -> int:
    """How many predictions are logged (optionally for one model, answers or shadows only)."""
    query = select(func.count()).select_from(Prediction)
    if model_name is not None:
        query = query.where(Prediction.model_name == model_name)
    if is_shadow is not None:
        query = query.where(Prediction.is_shadow.is_(is_shadow))
    return int(session.scalar(query) or 0)


def features_of(session: Session, *, prediction_id: int) -> dict[str, float | str | None]:
    """The logged inputs of one prediction, by feature name."""
    return decode_inputs(session.scalar(select(Prediction.inputs).where(Prediction.id == prediction_id)))


def first_answer_time(session: Session, *, model_name: str, model_version: int) -> datetime | None:
    """When a version first answered (shadow rows aside), or ``None`` if it never did."""
    return session.scalar(
        select(func.min(Prediction.created_at)).where(
            Prediction.model_name == model_name,
            Prediction.model_version == model_version,
            Prediction.is_shadow.is_(False),
        )
    )


def logged_inputs(
    session: Session, *, model_name: str, model_version: int, start: datetime, end: datetime, limit: int
) -> tuple[list[int], list[tuple[int, str, float | None, str | None]]]:
    """The ids of up to ``limit`` answers a version gave in ``[start, end)`` and their logged inputs.

    Inputs come as ``(prediction_id, feature, num_value, cat_value)`` rows, for the caller to pivot.
    """
    ids = list(
        session.scalars(
            select(Prediction.id)
            .where(
                Prediction.model_name == model_name,
                Prediction.model_version == model_version,
                Prediction.is_shadow.is_(False),
                Prediction.created_at >= start,
                Prediction.created_at < end,
            )
            .order_by(Prediction.id)
            .limit(limit)
        )
    )
    values: list[tuple[int, str, float | None, str | None]] = []
    for chunk in _chunks(ids, LOOKUP_CHUNK):
        query = select(Prediction.id, Prediction.inputs).where(Prediction.id.in_(chunk)).order_by(Prediction.id)
        for prediction_id, text in session.execute(query):
            values += [
                (
                    int(prediction_id),
                    name,
                    None if isinstance(value, str) else value,
                    value if isinstance(value, str) else None,
                )
                for name, value in decode_inputs(text).items()
            ]
    return ids, values


def logged_answers(
    session: Session, *, ids: Sequence[int]
) -> list[tuple[int, float | None, str | None, float | None, str | None]]:
    """``(id, prediction, label, true value, true label)`` of logged answers, in id order (no feedback: ``None``)."""
    found: list[tuple[int, float | None, str | None, float | None, str | None]] = []
    for chunk in _chunks(sorted({int(value) for value in ids}), LOOKUP_CHUNK):
        query = (
            select(Prediction.id, Prediction.prediction, Prediction.label, Feedback.actual, Feedback.actual_label)
            .outerjoin(Feedback, Feedback.prediction_id == Prediction.id)
            .where(Prediction.id.in_(chunk))
            .order_by(Prediction.id)
        )
        found += [(int(row[0]), row[1], row[2], row[3], row[4]) for row in session.execute(query)]
    return found


def prediction_by_id(session: Session, *, prediction_id: int) -> Prediction | None:
    """One logged prediction (answered or shadow), or ``None`` when no row has that id."""
    return session.get(Prediction, prediction_id)


def shadows_of(session: Session, *, prediction_id: int) -> list[Prediction]:
    """The shadow answers logged for one answered prediction, in id order."""
    return list(
        session.scalars(select(Prediction).where(Prediction.shadow_of == prediction_id).order_by(Prediction.id))
    )


def feedback_of(session: Session, *, prediction_id: int) -> Feedback | None:
    """The true value that came back for one answered prediction, or ``None``."""
    return session.get(Feedback, prediction_id)


def shadowed_answers(session: Session, *, prediction_ids: Sequence[int]) -> dict[int, int | None]:
    """For each of the ids that is a shadow prediction: the id of the answer it shadowed."""
    found: dict[int, int | None] = {}
    for chunk in _chunks(sorted({int(value) for value in prediction_ids}), LOOKUP_CHUNK):
        query = select(Prediction.id, Prediction.shadow_of).where(
            Prediction.id.in_(chunk), Prediction.is_shadow.is_(True)
        )
        found.update(
            (int(row_id), None if shadow_of is None else int(shadow_of)) for row_id, shadow_of in session.execute(query)
        )
    return found
