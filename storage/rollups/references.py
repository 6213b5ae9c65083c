"""The training profile each version's features are binned with, kept so drift works without the registry."""

from __future__ import annotations

from sqlalchemy.orm import Session

from storage.rollups.tables import RollupReference


def save_reference(
    session: Session,
    *,
    model_name: str,
    model_version: int,
    run_id: str | None,
    profile_json: str,
    holdout_mae: float | None = None,
    holdout_json: str | None = None,
) -> None:
    """Keep the profile a version is binned with (first one wins: the bins must not change)."""
    if session.get(RollupReference, (model_name, model_version)) is None:
        session.add(
            RollupReference(
                model_name=model_name,
                model_version=model_version,
                run_id=run_id,
                profile_json=profile_json,
                holdout_mae=holdout_mae,
                holdout_json=holdout_json,
            )
        )
        session.flush()


def load_reference(session: Session, *, model_name: str, model_version: int) -> RollupReference | None:
    """The stored reference of a version (profile JSON, holdout MAE and classification metrics), if any."""
    return session.get(RollupReference, (model_name, model_version))
