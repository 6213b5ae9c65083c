"""Look up one logged prediction by id: its inputs, answer, version, shadow answers and feedback."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from storage.prediction_log import Prediction, features_of, feedback_of, prediction_by_id, shadows_of


@dataclass(frozen=True)
class Answer:
    """One logged answer (the served one or a shadow's)."""

    prediction_id: int
    model_version: int
    alias: str | None
    prediction: float | None
    label: str | None
    probabilities: dict[str, float] | None
    latency_ms: float
    created_at: datetime
    is_ood: bool

    @classmethod
    def of(cls, row: Prediction) -> Answer:
        return cls(
            prediction_id=int(row.id),
            model_version=int(row.model_version),
            alias=row.alias,
            prediction=row.prediction,
            label=row.label,
            probabilities=json.loads(row.probabilities) if row.probabilities else None,
            latency_ms=float(row.latency_ms),
            created_at=row.created_at,
            is_ood=bool(row.is_ood),
        )


@dataclass(frozen=True)
class PredictionLookup:
    """Everything the log holds about one request's answer: asked by its id or by one of its shadows' ids."""

    asked_for: int
    model_name: str
    source: str
    request_id: str
    answer: Answer
    inputs: dict[str, float | str | None]
    shadows: list[Answer]
    actual: float | None = None
    actual_label: str | None = None
    feedback_at: datetime | None = None

    @property
    def has_feedback(self) -> bool:
        return self.actual is not None or self.actual_label is not None


def look_up(session: Session, *, prediction_id: int, model_name: str | None = None) -> PredictionLookup | None:
    """The answered prediction ``prediction_id`` (or the one a shadow row of that id shadowed), with its shadows.

    ``None`` when no row has that id, or (with ``model_name``) when it belongs to another model.
    """
    row = prediction_by_id(session, prediction_id=prediction_id)
    if row is None or (model_name is not None and row.model_name != model_name):
        return None
    if row.is_shadow and row.shadow_of is not None:
        answered = prediction_by_id(session, prediction_id=int(row.shadow_of))
        row = answered if answered is not None else row
    feedback = feedback_of(session, prediction_id=int(row.id))
    return PredictionLookup(
        asked_for=prediction_id,
        model_name=row.model_name,
        source=row.source,
        request_id=row.request_id,
        answer=Answer.of(row),
        inputs=features_of(session, prediction_id=int(row.id)),
        shadows=[Answer.of(shadow) for shadow in shadows_of(session, prediction_id=int(row.id))],
        actual=None if feedback is None else feedback.actual,
        actual_label=None if feedback is None else feedback.actual_label,
        feedback_at=None if feedback is None else feedback.received_at,
    )
