"""Shadow scoring for the server: the challenger answers the same rows, off the answering path.

Each answered request hands its validated rows and prediction ids over once its response is sent;
one thread per process scores whatever has queued within :data:`LINGER_S` with the challenger in one
call (many one-row requests become one batch) and queues the shadow rows on the log writer without waiting. As in
:mod:`core.serving.shadow`, a failing challenger is logged and never disturbs an answer.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from core.server.log_writer import LogWriter
from core.serving.model_cache import Resolution, ServingError, serve
from core.serving.served_model import RECORD_PATH_MAX_ROWS, ServedModel
from core.serving.shadow import SHADOW_ALIAS
from core.settings import Settings
from storage.base import utcnow

MAX_BATCH_ROWS = 2_000
# How long the thread waits for more answered rows before scoring what it has (shadow rows, not answers, wait).
LINGER_S = 0.1

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ShadowJob:
    """One answered request: its validated rows, their prediction ids and the version that answered."""

    rows: Sequence[Mapping[str, object]]
    ids: Sequence[int]
    answer_version: int
    request_id: str
    created_at: datetime


_STOP = object()


class ShadowScorer:
    """The challenger's thread of one process; :meth:`start` once, :meth:`stop` on shutdown."""

    def __init__(
        self,
        settings: Settings,
        writer: LogWriter,
        *,
        model_for: Callable[[str], tuple[ServedModel, Resolution]] | None = None,
    ) -> None:
        self._settings = settings
        self._writer = writer
        # How an alias becomes a model (the server's token-cached look-up; by default serve() itself).
        self._model_for = model_for or (lambda alias: serve(settings, alias=alias))
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="loupe-shadow", daemon=True)
            self._thread.start()

    def stop(self, *, timeout_s: float = 30.0) -> None:
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join(timeout_s)
            self._thread = None

    def submit(self, job: ShadowJob) -> None:
        if self._thread is not None and job.ids:
            self._queue.put(job)

    def _run(self) -> None:
        stopping = False
        while not stopping:
            item = self._queue.get()
            if item is _STOP:
                break
            batch = [item]
            rows = len(item.ids)  # type: ignore[attr-defined]
            # Linger a moment for more: one-row requests then share one challenger call and one commit
            # (a commit costs about a millisecond of this process's time, as much as the answer itself).
            deadline = time.monotonic() + LINGER_S
            while rows < MAX_BATCH_ROWS:
                try:
                    more = self._queue.get(timeout=max(deadline - time.monotonic(), 0.0))
                except queue.Empty:
                    break
                if more is _STOP:
                    stopping = True
                    break
                batch.append(more)
                rows += len(more.ids)  # type: ignore[attr-defined]
            try:
                self.score(batch)  # type: ignore[arg-type]
            except Exception:  # the answers are logged already; the challenger's failure is only reported
                logger.exception("shadow scoring of %s row(s) failed", rows)

    def score(self, batch: Sequence[ShadowJob]) -> int:
        """Score ``batch`` with the challenger and queue the shadow rows; returns how many were queued."""
        try:
            served, _ = self._model_for(SHADOW_ALIAS)
        except ServingError:
            return 0  # no challenger (or none reachable): nothing to shadow
        jobs = [job for job in batch if job.answer_version != served.version]
        if not jobs:
            return 0
        started = time.perf_counter()
        owners = [(job, position) for job in jobs for position in range(len(job.rows))]
        rows = [row for job in jobs for row in job.rows]
        answered = self._answer(served, rows)
        latency_ms = (time.perf_counter() - started) * 1000 / max(len(rows), 1)
        now = utcnow()
        records = []
        for position, answer, ood in answered:
            job, row = owners[position]
            records.append(
                {
                    "created_at": job.created_at or now,
                    "model_name": self._settings.model_name,
                    "model_version": served.version,
                    "alias": SHADOW_ALIAS,
                    **answer,
                    "latency_ms": latency_ms,
                    "source": "server",
                    "request_id": job.request_id,
                    "is_ood": bool(ood),
                    "ood_fields": ood or None,
                    "is_shadow": True,
                    "shadow_of": job.ids[row],
                }
            )
        if records:
            self._writer.submit(records=records)
        return len(records)

    @staticmethod
    def _answer(served: ServedModel, rows: list[Mapping[str, object]]) -> list[tuple[int, dict[str, object], str]]:
        """``(position, log columns, out-of-range fields)`` of each row the challenger's own schema accepts.

        A few rows go record by record (plain Python, the compiled path): a frame costs milliseconds of
        pandas that would be taken from the answering thread.
        """
        if len(rows) <= RECORD_PATH_MAX_ROWS:
            answered = []
            for position, row in enumerate(rows):
                check = served.schema.validate_record(row)
                if check.accepted:
                    (answer,) = served.answer_record(check.values or {}).log_columns()
                    answered.append((position, answer, ",".join(check.ood_fields)))
            return answered
        frame = pd.DataFrame.from_records(rows, columns=served.schema.names)
        checked = served.schema.validate_frame(frame)
        answers = served.answer_rows(checked.clean)
        return [
            (int(position), answer, ood)
            for position, answer, ood in zip(
                np.flatnonzero(checked.accepted_mask), answers.log_columns(), checked.ood_fields, strict=True
            )
        ]
