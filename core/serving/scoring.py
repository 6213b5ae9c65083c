"""Scoring: validate → predict → log, for one record (the form) or a frame (batch, CLI, simulator).

Rejected rows are logged with their reasons in the same transaction as the accepted answers. Shadow
scoring (:mod:`core.serving.shadow`) never sits on the answering path: :func:`score_frame` runs it
after the answer is committed; the page calls :func:`core.serving.shadow.score_shadow_for` after
rendering the answer.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from sqlalchemy.orm import Session, sessionmaker

from core.serving.answers import Answers
from core.serving.input_fields import Problem
from core.serving.model_cache import serve
from core.serving.shadow import ShadowResult, score_shadow
from core.settings import Settings
from core.task import Task
from storage.base import utcnow
from storage.prediction_log import log_prediction_frame, log_predictions, log_rejections

# Rows per predict call. Large on purpose: a tree ensemble opens a thread-pool region per tree and call,
# so five 20k-row calls cost up to 3x one 100k-row call on a busy machine (measured); the page's
# progress bar moves per chunk, so the chunk still bounds how long it stands still.
PREDICT_CHUNK = 100_000


REJECTED_COLUMNS = ["row", "field", "rule", "message"]


@dataclass(frozen=True)
class ScoringResult:
    """A scored frame: accepted rows with predictions, rejected rows with reasons, and who answered."""

    # inputs + prediction (a classifier's label) + proba_<class> (classifiers) + prediction_id + model_version + ood_fields
    accepted: pd.DataFrame
    rejected: pd.DataFrame  # row (1-based), field, rule, message
    model_version: int
    served_from_cache: bool
    notice: str | None
    request_id: str
    rows_in: int
    shadow: ShadowResult | None = None
    task: Task = "regression"
    classes: tuple[str, ...] = ()  # a classifier's classes as text, in its probability order

    @property
    def rejected_row_count(self) -> int:
        return int(self.rejected["row"].nunique()) if len(self.rejected) else 0


@dataclass(frozen=True)
class PredictionOutcome:
    """One answered (or refused) form request."""

    prediction: float | None  # a regressor's answer; a classifier's score (None without probabilities)
    version: int | None
    latency_ms: float
    prediction_id: int | None
    request_id: str
    warnings: list[str] = field(default_factory=list)  # out-of-distribution values
    errors: list[Problem] = field(default_factory=list)  # why the input was refused
    notice: str | None = None  # e.g. "registry unreachable — serving cached v1"
    served_from_cache: bool = False
    inputs: dict[str, object] = field(default_factory=dict)
    task: Task = "regression"
    label: object | None = None  # a classifier's predicted class, in the model's own type
    probabilities: dict[str, float] = field(default_factory=dict)  # class (as text) → probability

    @property
    def accepted(self) -> bool:
        return self.prediction_id is not None


def _utc_datetimes(timestamps: pd.Series) -> list:
    stamps = pd.to_datetime(timestamps)
    stamps = stamps.dt.tz_localize("UTC") if stamps.dt.tz is None else stamps.dt.tz_convert("UTC")
    return list(stamps.dt.to_pydatetime())


def _rejection_rows(
    problems: pd.DataFrame,
    *,
    settings: Settings,
    model_version: int,
    source: str,
    request_id: str,
    created_at,
    stamps=None,
) -> list[dict]:
    """Rejection rows; with ``stamps`` (one time per input row) a rejection carries its row's time, so
    traffic replayed over past days puts its rejections beside its answers, not at the wall clock."""
    return [
        {
            "created_at": created_at if stamps is None else stamps[int(row) - 1],
            "model_name": settings.model_name,
            "model_version": model_version,
            "source": source,
            "request_id": request_id,
            "row_number": int(row),
            "field": field_name,
            "rule": rule,
            "message": message,
        }
        for row, field_name, rule, message in problems[REJECTED_COLUMNS].itertuples(index=False)
    ]


def _numbers_or_none(values: np.ndarray) -> list[float | None]:
    """A classifier without probabilities has no score: NaN is logged as "no number" (checked once, not per row)."""
    numbers: list[float | None] = values.tolist()
    if np.isnan(values).any():
        numbers = [None if math.isnan(value) else value for value in values.tolist()]
    return numbers


def score_frame(
    settings: Settings,
    frame: pd.DataFrame,
    *,
    sessions: sessionmaker[Session],
    source: str,
    alias: str = "champion",
    request_id: str | None = None,
    timestamps: pd.Series | None = None,
    progress: Callable[[float], None] | None = None,
    shadow: bool | None = None,
) -> ScoringResult:
    """Validate every row, score the valid ones with ``alias``'s version and log them in one transaction.

    Rejected rows go to the ``rejections`` table in the same transaction. Afterwards (never before the
    answer is committed) the challenger scores the accepted rows as shadow when ``shadow`` (default:
    ``settings.shadow``) is on and ``challenger`` points at another version.
    """
    report = progress or (lambda fraction: None)
    request_id = request_id or uuid.uuid4().hex
    if timestamps is not None and len(timestamps) != len(frame):
        raise ValueError(f"{len(timestamps)} timestamps for {len(frame)} rows")
    served, resolution = serve(settings, alias=alias)
    started = time.perf_counter()
    check = served.schema.validate_frame(frame)
    accepted_positions = np.flatnonzero(check.accepted_mask)
    parts = []
    for start in range(0, len(check.clean), PREDICT_CHUNK):
        stop = start + PREDICT_CHUNK
        parts.append(served.answer_rows(check.clean.iloc[start:stop]))
        report(0.5 * min(stop, len(check.clean)) / max(len(check.clean), 1))
    answers = Answers.concat(parts, task=served.task, classes=served.classes)
    # Each row of a batch carries its share of the batch's time (and the rows are marked by ``source``).
    latency_ms = (time.perf_counter() - started) * 1000 / max(len(frame), 1)

    now = utcnow()
    stamps = _utc_datetimes(timestamps) if timestamps is not None else None
    if stamps is not None:
        created: list | object = [stamps[position] for position in accepted_positions]
    else:
        created = now
    # Columns, not a dict per row: the log writer takes a batch's shared values once (storage.log_writer).
    columns = {
        "created_at": created,
        "model_name": settings.model_name,
        "model_version": served.version,
        "alias": alias,
        "prediction": _numbers_or_none(answers.values),
        "label": answers.label_texts if answers.labels is not None else None,
        "probabilities": answers.probability_json() if answers.probabilities is not None else None,
        "latency_ms": latency_ms,
        "source": source,
        "request_id": request_id,
        "is_ood": [bool(ood) for ood in check.ood_fields],
        "ood_fields": [ood or None for ood in check.ood_fields],
        "is_shadow": False,
        "shadow_of": None,
    }
    total = max(len(accepted_positions), 1)
    with sessions.begin() as session:
        ids = log_prediction_frame(
            session,
            columns=columns,
            inputs=check.clean,
            progress=lambda written: report(0.5 + 0.5 * written / total),
        )
        log_rejections(
            session,
            rows=_rejection_rows(
                check.problems,
                settings=settings,
                model_version=served.version,
                source=source,
                request_id=request_id,
                created_at=now,
                stamps=stamps,
            ),
        )
    report(1.0)

    accepted = frame.iloc[accepted_positions].copy()
    accepted["prediction"] = answers.shown()
    for column, probabilities in answers.probability_columns().items():
        accepted[column] = probabilities
    accepted["prediction_id"] = ids
    accepted["model_version"] = served.version
    accepted["ood_fields"] = check.ood_fields
    result = ScoringResult(
        accepted=accepted,
        rejected=check.problems[REJECTED_COLUMNS],
        model_version=served.version,
        served_from_cache=resolution.from_cache,
        notice=resolution.notice,
        request_id=request_id,
        rows_in=len(frame),
        task=served.task,
        classes=tuple(answers.class_texts),
    )
    if (settings.shadow if shadow is None else shadow) and len(ids):
        shadow_result = score_shadow(
            settings,
            check.clean,
            sessions=sessions,
            source=source,
            request_id=request_id,
            shadow_of=ids,
            answer_version=served.version,
            created_at=created if isinstance(created, list) else [now] * len(ids),
        )
        result = replace(result, shadow=shadow_result)
    return result


def predict_one(
    settings: Settings,
    features: Mapping[str, object],
    *,
    sessions: sessionmaker[Session],
    source: str = "form",
    alias: str = "champion",
    run_shadow: bool = True,
) -> PredictionOutcome:
    """The answering path for one record: resolve → validate → predict → log (then shadow, unless told not to).

    The page passes ``run_shadow=False`` and calls :func:`score_shadow_for` once the answer is on screen.
    """
    request_id = uuid.uuid4().hex
    served, resolution = serve(settings, alias=alias)
    started = time.perf_counter()  # a cold load is recorded as its own figure (model_cache), not as latency
    check = served.schema.validate_record(features)
    if not check.accepted:
        latency_ms = (time.perf_counter() - started) * 1000
        with sessions.begin() as session:
            log_rejections(
                session,
                rows=[
                    {
                        "created_at": utcnow(),
                        "model_name": settings.model_name,
                        "model_version": served.version,
                        "source": source,
                        "request_id": request_id,
                        "row_number": None,
                        "field": problem.field,
                        "rule": problem.rule,
                        "message": problem.message,
                    }
                    for problem in check.problems
                ],
            )
        return PredictionOutcome(
            prediction=None,
            version=served.version,
            latency_ms=latency_ms,
            prediction_id=None,
            request_id=request_id,
            errors=check.problems,
            notice=resolution.notice,
            served_from_cache=resolution.from_cache,
        )
    values = check.values or {}
    answers = served.answer_record(values)
    (answer,) = answers.log_columns()
    latency_ms = (time.perf_counter() - started) * 1000
    with sessions.begin() as session:
        (prediction_id,) = log_predictions(
            session,
            records=[
                {
                    "created_at": utcnow(),
                    "model_name": settings.model_name,
                    "model_version": served.version,
                    "alias": alias,
                    **answer,
                    "latency_ms": latency_ms,
                    "source": source,
                    "request_id": request_id,
                    "is_ood": bool(check.ood_fields),
                    "ood_fields": ",".join(check.ood_fields) or None,
                    "is_shadow": False,
                    "shadow_of": None,
                }
            ],
            features=[values],
        )
    outcome = PredictionOutcome(
        prediction=answer["prediction"],  # type: ignore[arg-type]
        version=served.version,
        latency_ms=latency_ms,
        prediction_id=prediction_id,
        request_id=request_id,
        warnings=check.warnings,
        notice=resolution.notice,
        served_from_cache=resolution.from_cache,
        inputs=dict(values),
        task=served.task,
        label=None if answers.labels is None else answers.labels[0],
        probabilities={
            name: float(probability)
            for name, probability in zip(answers.class_texts, answers.probabilities[0], strict=True)
        }
        if answers.probabilities is not None
        else {},
    )
    if run_shadow:
        score_shadow_for(settings, outcome, sessions=sessions, source=source)
    return outcome


def score_shadow_for(
    settings: Settings, outcome: PredictionOutcome, *, sessions: sessionmaker[Session], source: str = "form"
) -> ShadowResult | None:
    """Shadow-score one answered form request (call it after the answer is shown)."""
    if not settings.shadow or outcome.prediction_id is None or outcome.version is None:
        return None
    return score_shadow(
        settings,
        pd.DataFrame([outcome.inputs]),
        sessions=sessions,
        source=source,
        request_id=outcome.request_id,
        shadow_of=[outcome.prediction_id],
        answer_version=outcome.version,
    )
