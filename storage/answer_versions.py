"""Which model version gave each logged answer: feedback checks a true value against that version's target."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.prediction_log import LOOKUP_CHUNK, Prediction


def answer_versions(session: Session, *, prediction_ids: Sequence[int]) -> dict[int, tuple[str, int]]:
    """``(model name, version)`` of each logged id among ``prediction_ids`` (ids the log lacks are left out)."""
    found: dict[int, tuple[str, int]] = {}
    ids = sorted({int(value) for value in prediction_ids})
    for low in range(0, len(ids), LOOKUP_CHUNK):
        rows = session.execute(
            select(Prediction.id, Prediction.model_name, Prediction.model_version).where(
                Prediction.id.in_(ids[low : low + LOOKUP_CHUNK])
            )
        )
        found.update({int(key): (str(name), int(version)) for key, name, version in rows})
    return found
