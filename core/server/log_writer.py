"""Group commit: one writer thread per server process turns many requests' log rows into few transactions.

A commit per request would cap the server at the database's commit rate (an fsync each on SQLite,
a round trip each on PostgreSQL). Requests hand their rows to :meth:`LogWriter.submit` and wait on
the returned future; the thread takes whatever is queued (up to :data:`MAX_BATCH_ROWS`), writes it
in one transaction and hands each request its prediction ids. So an answered request is a logged
one and its ids are real rows; the cost of a commit is shared by every request queued behind it.

If a batch fails, each of its requests is retried in a transaction of its own, so one bad request
never takes the others down with it.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field

from sqlalchemy.orm import Session, sessionmaker

from storage.prediction_log import log_predictions, log_rejections

MAX_BATCH_ROWS = 5_000

logger = logging.getLogger(__name__)


@dataclass
class _Job:
    records: Sequence[Mapping[str, object]]
    features: Sequence[Mapping[str, object]] | None
    rejections: Sequence[Mapping[str, object]]
    done: Future[list[int]] = field(default_factory=Future)

    @property
    def size(self) -> int:
        return len(self.records) + len(self.rejections)


_STOP = object()


class LogWriter:
    """The group-commit writer of one process; :meth:`start` it once, :meth:`stop` it on shutdown."""

    def __init__(self, sessions: sessionmaker[Session], *, max_batch_rows: int = MAX_BATCH_ROWS) -> None:
        self._sessions = sessions
        self._max_batch_rows = max_batch_rows
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._stopped = False

    def start(self) -> None:
        """Start the thread; jobs submitted before it starts wait in the queue."""
        if self._thread is None and not self._stopped:
            self._thread = threading.Thread(target=self._run, name="loupe-log-writer", daemon=True)
            self._thread.start()

    def stop(self, *, timeout_s: float = 30.0) -> None:
        """Write what is queued, then end the thread; later submissions are refused."""
        self._stopped = True
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join(timeout_s)
            self._thread = None

    def submit(
        self,
        *,
        records: Sequence[Mapping[str, object]] = (),
        features: Sequence[Mapping[str, object]] | None = None,
        rejections: Sequence[Mapping[str, object]] = (),
    ) -> Future[list[int]]:
        """Queue predictions (with their features, or none for shadow rows) and rejections; the future
        gives the predictions' ids, in order, once they are committed (or the error that stopped them)."""
        if features is not None and len(features) != len(records):
            raise ValueError(f"{len(records)} predictions but {len(features)} feature rows")
        job = _Job(records=records, features=features, rejections=rejections)
        if self._stopped:
            job.done.set_exception(RuntimeError("the log writer has stopped"))
            return job.done
        self._queue.put(job)
        return job.done

    def _run(self) -> None:
        stopping = False
        while not stopping:
            item = self._queue.get()
            if item is _STOP:
                break
            batch = [item]
            rows = item.size  # type: ignore[attr-defined]
            while rows < self._max_batch_rows:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is _STOP:
                    stopping = True
                    break
                batch.append(more)
                rows += more.size  # type: ignore[attr-defined]
            self._write(batch)  # type: ignore[arg-type]

    def _write(self, batch: list[_Job]) -> None:
        try:
            results = self._commit(batch)
        except Exception:
            if len(batch) == 1:
                logger.exception("writing %s log rows failed", batch[0].size)
                batch[0].done.set_exception(_failure())
                return
            for job in batch:  # one bad request must not fail the others queued with it
                self._write([job])
            return
        for job, ids in zip(batch, results, strict=True):
            job.done.set_result(ids)

    def _commit(self, batch: list[_Job]) -> list[list[int]]:
        # Answers (with features) and shadows (without) go in one call each: one executemany per kind.
        answered = [job for job in batch if job.features is not None and job.records]
        shadows = [job for job in batch if job.features is None and job.records]
        with self._sessions.begin() as session:
            ids: dict[int, list[int]] = {}
            for jobs, with_features in ((answered, True), (shadows, False)):
                if not jobs:
                    continue
                records = [record for job in jobs for record in job.records]
                features = [row for job in jobs for row in job.features or ()] if with_features else None
                written = log_predictions(session, records=records, features=features)  # type: ignore[arg-type]
                start = 0
                for job in jobs:
                    ids[id(job)] = written[start : start + len(job.records)]
                    start += len(job.records)
            rejections = [row for job in batch for row in job.rejections]
            if rejections:
                log_rejections(session, rows=rejections)
        return [ids.get(id(job), []) for job in batch]


def _failure() -> RuntimeError:
    return RuntimeError("the prediction log could not be written (see the server log)")
