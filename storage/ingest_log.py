"""Predictions made elsewhere, stored once per client id (``predictions.client_id``, unique per model).

A retried upload, or two uploads racing with overlapping ids, must store each id once. The insert runs
inside a SAVEPOINT and optimistically (a first upload, the usual case, pays no lookup): when the unique
index refuses an id — already stored, or committed meanwhile by a concurrent writer — only the savepoint
is rolled back, the ids the log holds are read (the other writer's rows are visible by then) and the rest
is inserted again. Nothing is committed here: the caller owns the transaction (one per chunk of a file).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from storage.prediction_log import FeatureValues, Prediction, add_feedback, log_predictions

# Ids per lookup: well below SQLite's bound-variable limit, few round trips for a 50k-row chunk.
LOOKUP_CHUNK = 5_000
# A retry happens only when another writer committed one of our ids meanwhile; each retry stores fewer rows.
MAX_ATTEMPTS = 5


@dataclass(frozen=True)
class IngestRow:
    """One prediction to store: its log columns, its inputs, and its true value if it came with one."""

    record: Mapping[str, object]  # Prediction columns; ``client_id`` and ``model_name`` are required
    features: FeatureValues
    actual: float | None = None  # a regressor's true value
    actual_label: str | None = None  # a classifier's true class


@dataclass(frozen=True)
class StoredChunk:
    """What storing one chunk did: rows inserted, rows whose id was already in the log, true values attached."""

    stored: int
    already_stored: int
    feedback: int
    already_stored_ids: tuple[str, ...] = ()


def existing_client_ids(session: Session, *, model_name: str, client_ids: Sequence[str]) -> set[str]:
    """The ids among ``client_ids`` that the log already holds for ``model_name``."""
    found: set[str] = set()
    wanted = sorted(set(client_ids))
    for start in range(0, len(wanted), LOOKUP_CHUNK):
        chunk = wanted[start : start + LOOKUP_CHUNK]
        query = select(Prediction.client_id).where(Prediction.model_name == model_name, Prediction.client_id.in_(chunk))
        found.update(str(value) for value in session.scalars(query))
    return found


def store_ingested(session: Session, *, model_name: str, rows: Sequence[IngestRow]) -> StoredChunk:
    """Insert the rows whose client id the log does not hold yet (a repeated id in ``rows``: the first wins).

    Predictions go through :func:`storage.prediction_log.log_predictions`, true values through
    :func:`storage.prediction_log.add_feedback` (so roll-ups and Monitoring read them like any other).
    """
    firsts: dict[str, IngestRow] = {}
    for row in rows:
        firsts.setdefault(str(row.record["client_id"]), row)
    duplicates_in_rows = len(rows) - len(firsts)
    present: set[str] = set()
    for attempt in range(1, MAX_ATTEMPTS + 1):
        fresh = [row for client_id, row in firsts.items() if client_id not in present]
        try:
            with session.begin_nested():
                feedback = _insert(session, fresh)
        except IntegrityError:
            # Some ids are in the log already (a re-run), or another writer committed them after we began.
            if attempt == MAX_ATTEMPTS:
                raise
            present = existing_client_ids(session, model_name=model_name, client_ids=list(firsts))
            continue
        return StoredChunk(
            stored=len(fresh),
            already_stored=len(present) + duplicates_in_rows,
            feedback=feedback,
            already_stored_ids=tuple(sorted(present)),
        )
    raise AssertionError("unreachable")  # the loop returns or raises


def _insert(session: Session, rows: Sequence[IngestRow]) -> int:
    if not rows:
        return 0
    ids = log_predictions(session, records=[row.record for row in rows], features=[row.features for row in rows])
    actuals = {pid: row.actual for pid, row in zip(ids, rows, strict=True) if row.actual is not None}
    labels = {pid: row.actual_label for pid, row in zip(ids, rows, strict=True) if row.actual_label is not None}
    if actuals or labels:
        add_feedback(session, actuals=actuals, labels=labels)
    return len(actuals) + len(labels)
