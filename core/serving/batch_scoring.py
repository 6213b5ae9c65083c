"""Scoring a CSV file in bounded chunks, once: the CLI's ``score`` and the Predict page's upload both end here.

Per chunk (:mod:`core.serving.batch_reader`): validate, answer the rows the log already holds from the
log, predict the others, log them (one transaction per chunk), append the answers to the output file.
Memory stays flat whatever the file's size; a crash loses at most the chunk in flight.

A batch is logged under a key (the file's digest and the alias, or the caller's ``key``): row ``n`` is
``predictions.client_id = batch:<key>:<n>``, unique per model. So a re-run of a killed ``score`` logs
nothing twice: it answers the rows that landed with their original prediction ids and logs the rest.

Refusals (invalid values, malformed lines) are kept up to ``settings.rejections_per_batch`` per batch
and counted beyond; they are logged once, when the batch first finishes, with its summary row
(:mod:`storage.batch_log`). The output file is written under a temporary name and renamed when complete,
before the challenger shadow-scores the answers (a second pass over the file, idempotent too).
"""

from __future__ import annotations

import functools
import io
import os
import re
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import BinaryIO, TextIO

import numpy as np
import pandas as pd
from sqlalchemy.exc import IntegrityError

from core.csv_export import write_csv_chunk
from core.serving.answers import Answers
from core.serving.batch_reader import MEGABYTE, BatchFileError, BatchReader, RawChunk, file_facts
from core.serving.batch_rejections import Rejections
from core.serving.batch_shadow import shadow_batch
from core.serving.input_schema import FrameCheck
from core.serving.model_cache import serve
from core.serving.scoring import _numbers_or_none
from core.serving.served_model import ServedModel
from core.serving.shadow import ShadowResult
from core.settings import Settings
from core.task import PROBABILITY_PREFIX, Task, class_text
from storage.base import utcnow
from storage.batch_log import LoggedAnswer, batch_run, finish_batch, logged_answers, row_key
from storage.db import Sessions, reading
from storage.prediction_log import log_prediction_frame

PREVIEW_ROWS = 200  # scored rows kept in memory for the page's table; the rest are only in the output file
KEY_PATTERN = re.compile(r"[A-Za-z0-9._-]{1,64}")
MAX_ATTEMPTS = 3  # a retry happens only when a concurrent run of the same batch logged some of our rows

Source = Path | bytes | BinaryIO


@dataclass(frozen=True)
class BatchOutcome:
    """What scoring a file did. ``accepted``: the first :data:`PREVIEW_ROWS` scored rows; ``rejected``: the kept refusals."""

    accepted: pd.DataFrame  # inputs + prediction (+ proba_<class>) + prediction_id + model_version + ood_fields
    rejected: pd.DataFrame  # row, field, rule, message (the first settings.rejections_per_batch)
    rows_in: int
    scored: int
    already_logged: int  # rows an earlier run of this batch had logged: answered from the log
    rejected_rows: int
    rejections_not_kept: int  # refusals beyond the cap: counted, not logged
    ood_rows: int
    model_version: int
    served_from_cache: bool
    notice: str | None
    request_id: str
    batch_key: str
    notices: list[str] = field(default_factory=list)
    task: Task = "regression"
    output: Path | None = None
    rejected_path: Path | None = None
    shadow: ShadowResult | None = None
    results_csv: bytes | None = None  # the page's download (score_csv); the CLI reads ``output``
    rejected_csv: bytes | None = None

    @property
    def rejected_row_count(self) -> int:
        return self.rejected_rows


@contextmanager
def opened(source: Source) -> Iterator[BinaryIO]:
    """The source's bytes from the start: a path is opened, bytes are wrapped, a stream is rewound (not closed)."""
    if isinstance(source, Path):
        with source.open("rb") as stream:
            yield stream
    elif isinstance(source, bytes | bytearray | memoryview):
        yield io.BytesIO(source)
    else:
        source.seek(0)
        yield source


def batch_key_for(*, digest: str, alias: str, key: str | None) -> str:
    """The caller's key, checked, or the file's digest with the alias (scoring with another alias is another batch)."""
    if key is None:
        return f"{digest[:32]}.{alias}"
    if not KEY_PATTERN.fullmatch(key):
        raise BatchFileError(f"--key {key[:80]!r} must be 1–64 characters of letters, digits, '.', '_' or '-'")
    return key


def too_large(size: int, max_bytes: int) -> str:
    return (
        f"the file is {size / MEGABYTE:,.1f} MB, over the {max_bytes / MEGABYTE:,.0f} MB upload limit; "
        "split it, or score it from the command line: python -m core score --input IN.csv --output OUT.csv"
    )


def score_file(
    settings: Settings,
    source: Source,
    *,
    sessions: Sessions,
    output: Path,
    source_name: str,
    alias: str = "champion",
    key: str | None = None,
    max_bytes: int | None = None,
    progress: Callable[[float], None] | None = None,
    on_written: Callable[[BatchOutcome], None] | None = None,
    shadow: bool | None = None,
) -> BatchOutcome:
    """Score ``source`` with ``alias``'s version: answers to ``output``, refusals beside it (``NAME.rejected.csv``).

    Raises :class:`BatchFileError` for a file that cannot be scored at all (then nothing is logged and no
    output is left). ``on_written`` is told once the output is in place, before shadow scoring starts.
    """
    served, resolution = serve(settings, alias=alias)
    with opened(source) as stream:
        facts = file_facts(stream)
    if max_bytes is not None and facts.size > max_bytes:
        raise BatchFileError(too_large(facts.size, max_bytes))
    batch_key = batch_key_for(digest=facts.digest, alias=alias, key=key)
    with reading(sessions) as session:
        earlier = batch_run(session, model_name=settings.model_name, batch_key=batch_key)
        if earlier is not None and earlier.digest != facts.digest:
            raise BatchFileError(
                f"the key {batch_key!r} named another file, scored {earlier.finished_at:%Y-%m-%d %H:%M} UTC; "
                "a key names one file's content: choose another key"
            )
        request_id = earlier.request_id if earlier is not None else uuid.uuid4().hex
    chunks = _ChunkScorer(settings, served, sessions=sessions, alias=alias, source_name=source_name)
    chunks.batch_key, chunks.request_id = batch_key, request_id
    rejections = Rejections(cap=settings.rejections_per_batch)
    partial = output.with_name(f".{output.name}.partial")
    output.parent.mkdir(parents=True, exist_ok=True)
    try:
        with opened(source) as stream, partial.open("w", encoding="utf-8", newline="") as handle:
            reader = BatchReader(stream, schema=served.schema, first_bad=facts.first_bad)
            done = 0.0
            for chunk in reader.chunks():
                share = min(chunk.bytes_read / max(facts.size, 1), 1.0)
                chunks.report = _between(progress, done, share)
                chunks.score(chunk, rejections=rejections, handle=handle)
                chunks.report(1.0)
                done = share
            problem = reader.file_level_problem(served.schema, facts.first_bad)
            if problem is not None:
                raise BatchFileError(problem)
            if chunks.columns is None:  # no row scored: still a file with the header, so it reads as "no rows"
                write_csv_chunk(pd.DataFrame(columns=chunks.output_columns(reader.header)), handle, header=True)
        os.replace(partial, output)
    finally:
        partial.unlink(missing_ok=True)
    rejected_path = rejections.write_beside(output)
    with sessions.begin() as session:
        finish_batch(
            session,
            run={
                "model_name": settings.model_name,
                "batch_key": batch_key,
                "digest": facts.digest,
                "source": source_name,
                "request_id": request_id,
                "model_version": served.version,
                "rows_in": reader.rows_read,
                "scored": chunks.scored,
                "answered_from_log": chunks.already_logged,
                "rejected_rows": rejections.rows,
                "rejections_logged": len(rejections.kept),
                "rejections_not_logged": rejections.not_kept,
            },
            rejections=rejections.log_rows(
                model_name=settings.model_name, version=served.version, source=source_name, request_id=request_id
            ),
        )
    outcome = BatchOutcome(
        accepted=chunks.preview_frame(),
        rejected=rejections.frame(),
        rows_in=reader.rows_read,
        scored=chunks.scored,
        already_logged=chunks.already_logged,
        rejected_rows=rejections.rows,
        rejections_not_kept=rejections.not_kept,
        ood_rows=chunks.ood_rows,
        model_version=served.version,
        served_from_cache=resolution.from_cache,
        notice=resolution.notice,
        request_id=request_id,
        batch_key=batch_key,
        notices=reader.notices,
        task=served.task,
        output=output,
        rejected_path=rejected_path,
    )
    if on_written is not None:
        on_written(outcome)
    if (settings.shadow if shadow is None else shadow) and chunks.scored:
        with opened(source) as stream:
            reader = BatchReader(stream, schema=served.schema, first_bad=facts.first_bad)
            shadows = shadow_batch(
                settings,
                served,
                reader,
                sessions=sessions,
                batch_key=batch_key,
                request_id=request_id,
                source_name=source_name,
            )
            outcome = replace(outcome, shadow=shadows)
    return outcome


def _between(progress: Callable[[float], None] | None, start: float, end: float) -> Callable[[float], None]:
    """A chunk's own progress (0 → 1) as the file's (``start`` → ``end``): the page's bar moves while a chunk is logged."""
    if progress is None:
        return lambda fraction: None
    return lambda fraction: progress(start + (end - start) * fraction)


class _ChunkScorer:
    """Scores chunks of one batch and appends their answers to the output (columns fixed by the first chunk)."""

    def __init__(self, settings: Settings, served: ServedModel, *, sessions: Sessions, alias: str, source_name: str):
        self.settings, self.served, self.sessions = settings, served, sessions
        self.alias, self.source_name = alias, source_name
        self.batch_key = ""
        self.request_id = ""
        self.classes = [class_text(value) for value in served.classes]
        self.columns: list[str] | None = None
        self.preview: list[pd.DataFrame] = []
        self.previewed = 0
        self.scored = self.already_logged = self.ood_rows = 0
        self.report: Callable[[float], None] = lambda fraction: None  # this chunk's progress, 0 → 1

    def output_columns(self, header: list[str]) -> list[str]:
        probabilities = [f"{PROBABILITY_PREFIX}{name}" for name in self.classes]
        return [*header, "prediction", *probabilities, "prediction_id", "model_version", "ood_fields"]

    def score(self, chunk: RawChunk, *, rejections: Rejections, handle: TextIO) -> None:
        frame = chunk.frame
        rejections.add_malformed(chunk.malformed)
        check = self.served.schema.validate_frame(frame)
        rejections.add_problems(check.problems, frame)
        if check.clean.empty:
            return
        rows = check.clean.index.to_numpy()
        keys = [row_key(self.batch_key, int(row)) for row in rows]
        with reading(self.sessions) as session:
            logged = logged_answers(session, model_name=self.settings.model_name, client_ids=keys)
        fresh = np.array([key not in logged for key in keys], dtype=bool)
        answers: Answers | None = None
        ids: dict[int, int] = {}
        # row number → its place in ``answers`` (the rows not logged yet, in order)
        answer_position = {int(row): index for index, row in enumerate(rows[np.flatnonzero(fresh)])}
        if fresh.any():
            started = time.perf_counter()
            answers = self.served.answer_rows(check.clean.iloc[np.flatnonzero(fresh)])
            self.report(0.5)
            latency_ms = (time.perf_counter() - started) * 1000 / int(fresh.sum())
            ids = self._log(check, keys, fresh, answers, answer_position, latency_ms, logged)
        out = frame.loc[rows].copy()
        out["prediction"] = pd.Series([None] * len(rows), index=out.index, dtype=object)
        for name in self.classes:
            out[f"{PROBABILITY_PREFIX}{name}"] = np.nan
        out["prediction_id"] = 0
        out["model_version"] = 0
        out["ood_fields"] = check.ood_fields
        if answers is not None and ids:
            positions = [position for position in range(len(rows)) if int(rows[position]) in ids]
            taken = answers.take([answer_position[int(rows[position])] for position in positions])
            out.iloc[positions, out.columns.get_loc("prediction")] = list(taken.shown())
            for column, values in taken.probability_columns().items():
                out.iloc[positions, out.columns.get_loc(column)] = values
            out.iloc[positions, out.columns.get_loc("prediction_id")] = [ids[int(rows[p])] for p in positions]
            out.iloc[positions, out.columns.get_loc("model_version")] = self.served.version
        for position, key in enumerate(keys):
            answer = logged.get(key)
            if answer is not None:
                self._fill_from_log(out, position, answer)
        if self.served.task == "regression":
            out["prediction"] = out["prediction"].astype(float)
        self.scored += len(out)
        self.already_logged += sum(1 for key in keys if key in logged)
        self.ood_rows += int((out["ood_fields"] != "").sum())
        columns = self.output_columns(list(frame.columns))
        first = self.columns is None
        self.columns = self.columns or columns
        out = out.reindex(columns=self.columns)
        write_csv_chunk(out, handle, header=first)  # text from the file cannot run as a spreadsheet formula
        if self.previewed < PREVIEW_ROWS:
            self.preview.append(out.head(PREVIEW_ROWS - self.previewed))
            self.previewed += len(self.preview[-1])

    def _log(
        self,
        check: FrameCheck,
        keys: list[str],
        fresh: np.ndarray,
        answers: Answers,
        answer_position: dict[int, int],
        latency_ms: float,
        logged: dict[str, LoggedAnswer],
    ) -> dict[int, int]:
        """Log the fresh rows (row number → new id); rows a concurrent run of the batch logged meanwhile are
        added to ``logged`` instead, so they are answered from the log."""
        rows = check.clean.index.to_numpy()
        for attempt in range(1, MAX_ATTEMPTS + 1):
            positions = np.flatnonzero(fresh)
            if len(positions) == 0:
                return {}
            taken = answers.take([answer_position[int(rows[p])] for p in positions])
            columns = {
                "created_at": utcnow(),
                "model_name": self.settings.model_name,
                "model_version": self.served.version,
                "alias": self.alias,
                "prediction": _numbers_or_none(taken.values),
                "label": taken.label_texts if taken.labels is not None else None,
                "probabilities": taken.probability_json() if taken.probabilities is not None else None,
                "latency_ms": latency_ms,
                "source": self.source_name,
                "request_id": self.request_id,
                "is_ood": [bool(check.ood_fields[p]) for p in positions],
                "ood_fields": [check.ood_fields[p] or None for p in positions],
                "is_shadow": False,
                "shadow_of": None,
                "client_id": [keys[p] for p in positions],
            }
            try:
                with self.sessions.begin() as session:
                    new_ids = log_prediction_frame(
                        session,
                        columns=columns,
                        inputs=check.clean.iloc[positions],
                        progress=functools.partial(self._logged_share, total=len(positions)),
                    )
            except IntegrityError:
                if attempt == MAX_ATTEMPTS:
                    raise
                with reading(self.sessions) as session:
                    found = logged_answers(
                        session, model_name=self.settings.model_name, client_ids=[keys[p] for p in positions]
                    )
                logged.update(found)
                fresh = fresh & np.array([key not in logged for key in keys], dtype=bool)
                continue
            return {int(rows[p]): prediction_id for p, prediction_id in zip(positions, new_ids, strict=True)}
        raise AssertionError("unreachable")  # the loop returns or raises

    def _logged_share(self, written: int, *, total: int) -> None:
        self.report(0.5 + 0.5 * written / max(total, 1))

    def _fill_from_log(self, out: pd.DataFrame, position: int, answer: LoggedAnswer) -> None:
        shown = answer.label if answer.label is not None else answer.prediction
        out.iat[position, out.columns.get_loc("prediction")] = shown
        for name, probability in answer.probabilities.items():
            column = f"{PROBABILITY_PREFIX}{name}"
            if column in out.columns:
                out.iat[position, out.columns.get_loc(column)] = probability
        out.iat[position, out.columns.get_loc("prediction_id")] = answer.prediction_id
        out.iat[position, out.columns.get_loc("model_version")] = answer.model_version
        out.iat[position, out.columns.get_loc("ood_fields")] = answer.ood_fields

    def preview_frame(self) -> pd.DataFrame:
        if not self.preview:
            return pd.DataFrame(columns=self.columns or [])
        return pd.concat(self.preview).reset_index(drop=True)
