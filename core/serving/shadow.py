"""Shadow scoring: the challenger answers the same inputs after the served answer is logged; never raises."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sqlalchemy.orm import Session, sessionmaker

from core.serving.model_cache import ServingError, serve
from core.settings import Settings
from storage.base import utcnow
from storage.prediction_log import log_predictions

SHADOW_ALIAS = "challenger"


@dataclass(frozen=True)
class ShadowResult:
    """What the challenger did with a request: how many rows it scored, or why it did not."""

    version: int | None = None
    scored: int = 0
    skipped: int = 0
    seconds: float = 0.0
    error: str | None = None


def score_shadow(
    settings: Settings,
    inputs: pd.DataFrame,
    *,
    sessions: sessionmaker[Session],
    source: str,
    request_id: str,
    shadow_of: list[int],
    answer_version: int,
    created_at: list | None = None,
) -> ShadowResult | None:
    """Score answered rows with the challenger and log them as shadow; ``None`` when there is no challenger.

    Never raises: a failing challenger must not disturb the answer, so its error is returned instead.
    """
    started = time.perf_counter()
    try:
        try:
            served, _ = serve(settings, alias=SHADOW_ALIAS)
        except ServingError:
            return None
        if served.version == answer_version:
            return None
        answering = time.perf_counter()  # a cold challenger's load is its own figure, not the rows' latency
        check = served.schema.validate_frame(inputs)
        positions = np.flatnonzero(check.accepted_mask)
        answers = served.answer_rows(check.clean)
        latency_ms = (time.perf_counter() - answering) * 1000 / max(len(inputs), 1)
        now = utcnow()
        records = [
            {
                "created_at": created_at[position] if created_at is not None else now,
                "model_name": settings.model_name,
                "model_version": served.version,
                "alias": SHADOW_ALIAS,
                **answer,
                "latency_ms": latency_ms,
                "source": source,
                "request_id": request_id,
                "is_ood": bool(ood),
                "ood_fields": ood or None,
                "is_shadow": True,
                "shadow_of": shadow_of[position],
            }
            for position, answer, ood in zip(positions, answers.log_columns(), check.ood_fields, strict=True)
        ]
        with sessions.begin() as session:
            log_predictions(session, records=records)
        return ShadowResult(
            version=served.version,
            scored=len(records),
            skipped=len(inputs) - len(records),
            seconds=time.perf_counter() - started,
        )
    except Exception as error:  # the answer is already logged; report the challenger's failure, don't raise
        return ShadowResult(error=f"{type(error).__name__}: {error}", seconds=time.perf_counter() - started)
