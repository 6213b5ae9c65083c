"""Log maintenance: roll up what is new, then prune raw rows older than the retention period.

Run by ``python -m core prune`` and hourly by the scoring server. The roll-ups are refreshed first,
without waiting (another process refreshing covers the same rows), so the rows about to age out are
already counted; pruning then deletes only what the roll-ups hold (:mod:`storage.retention`), one
short transaction per batch of ids, so the log's writers never wait long behind it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from core.monitoring.references import refresh
from core.settings import Settings
from storage import retention
from storage.base import utcnow
from storage.db import Sessions
from storage.rollups import RefreshResult


@dataclass(frozen=True)
class PruneResult:
    """What one prune removed: rows made before ``before`` (a whole UTC hour)."""

    before: datetime
    predictions: int = 0  # with their inputs
    feedback: int = 0  # true values that went with their predictions
    rejections: int = 0
    kept_hours: int = 0  # (model, hour)s old enough but kept for now: not all rolled up yet
    skipped: bool = False  # another process was pruning: nothing was done here

    @property
    def rows(self) -> int:
        return self.predictions + self.feedback + self.rejections


@dataclass(frozen=True)
class MaintenanceResult:
    refresh: RefreshResult
    pruned: PruneResult | None  # None: no retention period set, nothing deleted


def prune(
    *,
    sessions: Sessions,
    days: int,
    now: datetime | None = None,
    batch: int = retention.PRUNE_BATCH,
    progress: Callable[[str], None] | None = None,
) -> PruneResult:
    """Delete raw rows made more than ``days`` days before ``now`` that the roll-ups already hold."""
    if days < 1:
        raise ValueError(f"retention days must be at least 1, got {days}")
    before = retention.whole_hour((now or utcnow()) - timedelta(days=days))
    with sessions.begin() as holder:  # one process prunes at a time; the others return at once
        if not retention.try_prune_lock(holder):
            return PruneResult(before=before, skipped=True)
        return _prune(sessions=sessions, before=before, batch=batch, progress=progress)


def _prune(*, sessions: Sessions, before: datetime, batch: int, progress: Callable[[str], None] | None) -> PruneResult:
    with sessions.begin() as session:
        plan = retention.plan_prune(session, before=before)
    predictions = feedback = rejections = 0
    after: int | None = 0
    while after is not None:
        with sessions.begin() as session:
            done = retention.prune_predictions(session, plan=plan, after_id=after, limit=batch)
        predictions, feedback, after = predictions + done.deleted, feedback + done.feedback, done.last_id
        if progress and done.deleted:
            progress(f"pruned {predictions:,} predictions so far (up to id {after:,})")
    after = 0
    while after is not None:
        with sessions.begin() as session:
            done = retention.prune_rejections(session, plan=plan, after_id=after, limit=batch)
        rejections, after = rejections + done.deleted, done.last_id
    return PruneResult(
        before=plan.before,
        predictions=predictions,
        feedback=feedback,
        rejections=rejections,
        kept_hours=len(plan.kept_hours),
    )


def maintain(
    settings: Settings,
    *,
    sessions: Sessions,
    days: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> MaintenanceResult:
    """Refresh the roll-ups (skipped if another process is refreshing), then prune per ``days`` or the settings."""
    refreshed = refresh(settings, sessions=sessions, progress=progress, wait=False)
    days = days if days is not None else settings.retention_days
    if days is None:
        return MaintenanceResult(refresh=refreshed, pruned=None)
    # Pruning is safe even when the refresh was skipped: it only deletes what the roll-ups already hold.
    return MaintenanceResult(refresh=refreshed, pruned=prune(sessions=sessions, days=days, progress=progress))
