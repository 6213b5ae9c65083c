"""Predictions made elsewhere, stored once per client id (``predictions.client_id``, unique per model).

A retried upload, or two uploads racing with overlapping ids, must store each id once. The insert runs
inside a SAVEPOINT and optimistically (a first upload, the usual case, pays no lookup): when the unique
index refuses an id — already stored, or committed meanwhile by a concurrent writer — only the savepoint
is rolled back, the ids the log holds are read (the other writer's rows are visible by then) and the rest
is inserted again. Nothing is committed here: the caller owns the transaction (one per chunk of a file).

A chunk travels as columns (:class:`IngestChunk`), not as row objects: predictions go through the frame
path :func:`storage.prediction_log.log_prediction_frame` (inputs encoded column by column) and true values
through :func:`storage.prediction_log.add_new_feedback` (the predictions are new in this very transaction,
so they cannot hold feedback yet: no look-up, no replacement).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from storage.base import table_of
from storage.log_writer import driver_datetimes
from storage.prediction_log import FeatureValues, Prediction, add_new_feedback, log_prediction_frame

# Ids per lookup: well below SQLite's bound-variable limit, few round trips for a 50k-row chunk.
LOOKUP_CHUNK = 5_000
# A retry happens only when another writer committed one of our ids meanwhile; each retry stores fewer rows.
MAX_ATTEMPTS = 5


@dataclass(frozen=True)
class IngestRow:
    """One prediction to store, read one at a time (tests, small bodies): see :meth:`IngestChunk.from_rows`."""

    record: Mapping[str, object]  # Prediction columns; ``client_id`` and ``model_name`` are required
    features: FeatureValues
    actual: float | None = None  # a regressor's true value
    actual_label: str | None = None  # a classifier's true class


@dataclass(frozen=True)
class IngestChunk:
    """Predictions to store, as columns: one version's rows of a chunk (its inputs share one schema).

    ``columns`` maps a :class:`~storage.prediction_log.Prediction` column to one value per row (list or
    array) or to one value every row shares; ``client_id`` is required, per row.
    """

    columns: Mapping[str, Any]
    inputs: pd.DataFrame  # one row per prediction, the version's typed inputs
    actuals: Sequence[float | None]  # a regressor's true values (``None``: none came)
    actual_labels: Sequence[str | None]  # a classifier's true classes

    def __len__(self) -> int:
        return len(self.inputs)

    @property
    def client_ids(self) -> list[str]:
        return [str(value) for value in self.columns["client_id"]]

    def take(self, mask: np.ndarray) -> IngestChunk:
        """The rows where ``mask`` is true (the whole chunk when all are)."""
        if bool(mask.all()):
            return self
        return IngestChunk(
            columns={name: _taken(values, mask) for name, values in self.columns.items()},
            inputs=self.inputs.iloc[np.flatnonzero(mask)].reset_index(drop=True),
            actuals=_taken(list(self.actuals), mask),
            actual_labels=_taken(list(self.actual_labels), mask),
        )

    def rows(self) -> list[IngestRow]:
        """The chunk one row at a time (for reading, not for storing: that goes column-wise)."""
        count = len(self)
        per_row = {name: _per_row(values, count) for name, values in self.columns.items()}
        inputs = self.inputs.astype(object).where(self.inputs.notna(), None).to_dict(orient="records")
        return [
            IngestRow(
                record={name: values[index] for name, values in per_row.items()},
                features={str(name): value for name, value in inputs[index].items()},
                actual=self.actuals[index],
                actual_label=self.actual_labels[index],
            )
            for index in range(count)
        ]

    @staticmethod
    def from_rows(rows: Sequence[IngestRow]) -> IngestChunk:
        """Rows (one record and one feature dict each, same keys) as one chunk."""
        names = list(rows[0].record) if rows else ["client_id"]
        return IngestChunk(
            columns={name: [row.record.get(name) for row in rows] for name in names},
            inputs=pd.DataFrame([dict(row.features) for row in rows], index=range(len(rows))),
            actuals=[row.actual for row in rows],
            actual_labels=[row.actual_label for row in rows],
        )


def _is_per_row(values: object) -> bool:
    return isinstance(values, list | tuple | np.ndarray | pd.Series)


def _per_row(values: Any, count: int) -> list[Any]:
    if not _is_per_row(values):
        return [values] * count
    if isinstance(values, pd.Series) and isinstance(values.dtype, pd.DatetimeTZDtype):
        return list(values.dt.to_pydatetime())
    return values.tolist() if isinstance(values, np.ndarray | pd.Series) else list(values)


def _taken(values: Any, mask: np.ndarray) -> Any:
    if not _is_per_row(values):
        return values
    if isinstance(values, pd.Series):
        return values[mask].reset_index(drop=True)
    return [value for value, keep in zip(_per_row(values, len(mask)), mask.tolist(), strict=True) if keep]


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


def store_ingested(session: Session, *, model_name: str, parts: Sequence[IngestChunk]) -> StoredChunk:
    """Insert the rows whose client id the log does not hold yet (an id repeated in ``parts``: the first wins).

    Predictions go through :func:`storage.prediction_log.log_prediction_frame`, true values through
    :func:`storage.prediction_log.add_new_feedback` (so roll-ups and Monitoring read them like any other).
    """
    ids = [part.client_ids for part in parts]
    flat = pd.Series([client_id for part in ids for client_id in part], dtype=object)
    firsts = ~flat.duplicated().to_numpy(dtype=bool)
    unique = flat[firsts].tolist()
    duplicates_in_rows = len(flat) - len(unique)
    present: set[str] = set()
    for attempt in range(1, MAX_ATTEMPTS + 1):
        fresh = firsts & ~flat.isin(present).to_numpy(dtype=bool) if present else firsts
        try:
            with session.begin_nested():
                feedback = _insert(session, parts, fresh)
        except IntegrityError:
            # Some ids are in the log already (a re-run), or another writer committed them after we began.
            if attempt == MAX_ATTEMPTS:
                raise
            present = existing_client_ids(session, model_name=model_name, client_ids=unique)
            continue
        return StoredChunk(
            stored=int(fresh.sum()),
            already_stored=len(present) + duplicates_in_rows,
            feedback=feedback,
            already_stored_ids=tuple(sorted(present)),
        )
    raise AssertionError("unreachable")  # the loop returns or raises


def _insert(session: Session, parts: Sequence[IngestChunk], keep: np.ndarray) -> int:
    feedback = 0
    start = 0
    for part in parts:
        rows = part.take(keep[start : start + len(part)])
        start += len(part)
        if len(rows) == 0:
            continue
        columns, ready = _driver_times(session, rows.columns)
        prediction_ids = log_prediction_frame(session, columns=columns, inputs=rows.inputs, ready=ready)
        feedback += add_new_feedback(
            session, prediction_ids=prediction_ids, actuals=rows.actuals, labels=rows.actual_labels
        )
    return feedback


def _driver_times(session: Session, columns: Mapping[str, Any]) -> tuple[dict[str, Any], tuple[str, ...]]:
    """``created_at`` given whole (a Series of aware times) goes to the driver in its final form when the
    backend has a column-wise one (SQLite), else as datetimes for the column's bind processor."""
    found = dict(columns)
    stamps = found.get("created_at")
    if not isinstance(stamps, pd.Series):
        return found, ()
    texts = driver_datetimes(session, table_of(Prediction), "created_at", stamps)
    if texts is not None:
        found["created_at"] = texts
        return found, ("created_at",)
    found["created_at"] = _per_row(stamps, len(stamps))
    return found, ()
