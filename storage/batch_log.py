"""Batches scored from a file: one summary row per batch, and the answers a batch already logged.

A batch is known by its key (``batch_runs.batch_key``: the file's content digest, or a caller's key) and
each of its rows by ``predictions.client_id`` = ``batch:<key>:<row>`` (unique per model, migration 0009).
So a re-run of a crashed batch finds the rows that landed and answers them from the log. The summary
row is written once, when a batch first finishes, in the same transaction as its (capped) rejections:
a re-run never logs them twice, and the rejections the cap left out are counted there.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Index, Integer, String, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from storage.base import Base, BigId, UTCDateTime, utcnow
from storage.prediction_log import Prediction, log_rejections

# Keys per lookup: well below SQLite's bound-variable limit.
LOOKUP_CHUNK = 5_000
KEY_PREFIX = "batch:"


class BatchRun(Base):
    """A batch that finished: what it read, scored, refused, and how many refusals the cap left out."""

    __tablename__ = "batch_runs"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    model_name: Mapped[str] = mapped_column(String(200))
    batch_key: Mapped[str] = mapped_column(String(128))
    digest: Mapped[str] = mapped_column(String(64))  # sha256 of the file, so a key reused for another file shows
    source: Mapped[str] = mapped_column(String(16))
    request_id: Mapped[str] = mapped_column(String(64))
    model_version: Mapped[int] = mapped_column(Integer)
    finished_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    rows_in: Mapped[int] = mapped_column(Integer)
    scored: Mapped[int] = mapped_column(Integer)
    answered_from_log: Mapped[int] = mapped_column(Integer)  # rows an earlier run of the batch had logged
    rejected_rows: Mapped[int] = mapped_column(Integer)
    rejections_logged: Mapped[int] = mapped_column(Integer)
    rejections_not_logged: Mapped[int] = mapped_column(Integer)  # beyond settings.rejections_per_batch

    __table_args__ = (Index("uq_batch_runs_model_key", "model_name", "batch_key", unique=True),)


@dataclass(frozen=True)
class LoggedAnswer:
    """An answer a batch row already has in the log."""

    prediction_id: int
    model_version: int
    prediction: float | None
    label: str | None
    probabilities: dict[str, float]
    ood_fields: str


def row_key(batch_key: str, row: int) -> str:
    """The ``client_id`` of a batch's row."""
    return f"{KEY_PREFIX}{batch_key}:{row}"


def logged_answers(session: Session, *, model_name: str, client_ids: Sequence[str]) -> dict[str, LoggedAnswer]:
    """The answers (not shadows) the log holds for ``client_ids``, by client id."""
    found: dict[str, LoggedAnswer] = {}
    for start in range(0, len(client_ids), LOOKUP_CHUNK):
        chunk = list(client_ids[start : start + LOOKUP_CHUNK])
        query = select(
            Prediction.client_id,
            Prediction.id,
            Prediction.model_version,
            Prediction.prediction,
            Prediction.label,
            Prediction.probabilities,
            Prediction.ood_fields,
        ).where(Prediction.model_name == model_name, Prediction.client_id.in_(chunk))
        for client_id, prediction_id, version, prediction, label, probabilities, ood in session.execute(query):
            found[str(client_id)] = LoggedAnswer(
                prediction_id=int(prediction_id),
                model_version=int(version),
                prediction=prediction,
                label=label,
                probabilities=json.loads(probabilities) if probabilities else {},
                ood_fields=ood or "",
            )
    return found


def shadowed(session: Session, *, prediction_ids: Sequence[int], version: int) -> set[int]:
    """The answers among ``prediction_ids`` that ``version`` has already shadow-scored."""
    found: set[int] = set()
    for start in range(0, len(prediction_ids), LOOKUP_CHUNK):
        chunk = [int(value) for value in prediction_ids[start : start + LOOKUP_CHUNK]]
        query = select(Prediction.shadow_of).where(
            Prediction.shadow_of.in_(chunk), Prediction.is_shadow.is_(True), Prediction.model_version == version
        )
        found.update(int(value) for value in session.scalars(query) if value is not None)
    return found


def batch_run(session: Session, *, model_name: str, batch_key: str) -> BatchRun | None:
    """The finished batch with that key, or ``None``."""
    return session.scalar(select(BatchRun).where(BatchRun.model_name == model_name, BatchRun.batch_key == batch_key))


def finish_batch(session: Session, *, run: dict[str, object], rejections: Sequence[dict[str, object]]) -> bool:
    """Record a finished batch (``run``: :class:`BatchRun` columns) with its kept rejections, once.

    Returns ``False`` (and writes nothing) when a run with that key finished before: its rejections are
    in the log already. Runs in a SAVEPOINT, so a concurrent finisher's row makes this one a no-op.
    """
    if batch_run(session, model_name=str(run["model_name"]), batch_key=str(run["batch_key"])) is not None:
        return False
    try:
        with session.begin_nested():
            session.add(BatchRun(**run))
            session.flush()
            log_rejections(session, rows=rejections)
    except IntegrityError:
        return False
    return True
