"""Retention: raw log rows older than a cut-off are deleted in small batches once the roll-ups hold them.

The hourly roll-ups keep Monitoring's history; the raw rows (a prediction with its inputs and true
value, a rejection) are what grows without bound. A row may go only when nothing will need it again:

- the roll-ups have read it: its id is at or below the refresh watermark (``rollup_state``) and not in
  a run of ids a refresh read past without finding (``rollup_gaps``: it may still be rolled up);
- its true value, if any, has been rolled up (received at or before the feedback watermark);
- a prediction goes with its whole (model, UTC hour): realised error is *recounted* from the raw rows
  of an hour whose true values are replaced (:mod:`storage.rollups.realised_error`), so an hour is
  either intact or gone (a row that later lands in a pruned hour, e.g. an ingested backfill, makes
  that recount refuse: see ``hour_lost_rows`` there);
- an answer and its shadow rows go together: a shadow row is scored against its answer's true value,
  so an hour is kept while an hour linked to it by an answer/shadow pair is kept (or not old enough).

Deleting a prediction deletes its inputs and true value with it (``ON DELETE CASCADE``). A true value
sent later for a pruned prediction finds no row and is reported as unknown, like any unknown id.

Functions take a :class:`~sqlalchemy.orm.Session`, keyword-only, and never commit: the caller runs
each batch in its own short transaction so writers never wait long, while another session holds
:func:`try_prune_lock` so that one process at a time prunes (each server worker runs maintenance).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, and_, delete, false, func, or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from storage.base import table_of
from storage.prediction_log import Feedback, Prediction, Rejection
from storage.rollups.tables import RollupGap, RollupState
from storage.transaction_lock import lock_for_transaction

PRUNE_BATCH = 5_000  # ids per transaction: a batch deletes in milliseconds, so writers barely wait
PG_PRUNE_LOCK = 4_242_007

Hour = tuple[str, datetime]  # (model name, UTC hour)


def whole_hour(moment: datetime) -> datetime:
    """The UTC hour ``moment`` falls in."""
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


@dataclass
class PrunePlan:
    """What may go: rows made before ``before`` (a whole UTC hour) that the roll-ups hold, hour by hour.

    ``kept_hours`` (model, hour) older than the cut-off stay this time; batches add to it when they find
    a true value that arrived after the plan was made.
    """

    before: datetime
    predictions_upto: int
    rejections_upto: int
    feedback_upto: datetime | None
    gaps: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    kept_hours: set[Hour] = field(default_factory=set)


@dataclass(frozen=True)
class PruneBatch:
    """One batch: rows deleted (predictions or rejections, and the true values that went with them)."""

    deleted: int
    feedback: int
    last_id: int | None  # the highest id looked at; None once nothing older than the cut-off is left


def try_prune_lock(session: Session) -> bool:
    """Hold the prune lock until ``session``'s transaction ends; ``False`` at once if another process holds it.

    Hold it in a session of its own, around the plan and the batches: on SQLite the lock is a file
    (:mod:`storage.transaction_lock`), so the holding session never takes the write lock the batches need.
    """
    return lock_for_transaction(session, name="prune", pg_key=PG_PRUNE_LOCK, wait=False)


def plan_prune(session: Session, *, before: datetime) -> PrunePlan:
    """Read the watermarks and find the old hours that must stay for now."""
    before = whole_hour(before)
    states = {state.name: state for state in session.scalars(select(RollupState))}
    gaps: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for source, first, last in session.execute(select(RollupGap.source, RollupGap.first_id, RollupGap.last_id)):
        gaps[source].append((int(first), int(last)))
    feedback_state = states.get("feedback")
    plan = PrunePlan(
        before=before,
        predictions_upto=int(states["predictions"].last_id) if "predictions" in states else 0,
        rejections_upto=int(states["rejections"].last_id) if "rejections" in states else 0,
        feedback_upto=feedback_state.last_time if feedback_state is not None else None,
        gaps=dict(gaps),
    )
    old = Prediction.created_at < before
    # Rows the roll-ups have not read (beyond the watermark, or in a gap that has since filled).
    unread = or_(Prediction.id > plan.predictions_upto, _in_ranges(Prediction.id, plan.gaps.get("predictions", [])))
    kept = {_hour(name, made) for name, made in session.execute(_made(old, unread))}
    # Rows whose true value arrived after the last refresh.
    late = select(Feedback.prediction_id).where(_unread_feedback(plan))
    kept |= {_hour(name, made) for name, made in session.execute(_made(old, Prediction.id.in_(late)))}
    plan.kept_hours = _close_over_shadow_links(session, before, kept)
    return plan


def prune_predictions(session: Session, *, plan: PrunePlan, after_id: int, limit: int = PRUNE_BATCH) -> PruneBatch:
    """Delete up to ``limit`` prunable predictions with ids above ``after_id`` (inputs and true values with them).

    The batch is an id range with conditions, never a list of ids: a 5,000-value ``IN`` costs PostgreSQL
    more to plan than the delete itself.
    """
    rows = session.execute(
        select(Prediction.id, Prediction.model_name, Prediction.created_at)
        .where(Prediction.created_at < plan.before, Prediction.id > after_id, Prediction.id <= plan.predictions_upto)
        .order_by(Prediction.id)
        .limit(limit)
    ).all()
    if not rows:
        return PruneBatch(deleted=0, feedback=0, last_id=None)
    last_id = int(rows[-1][0])
    hours = {_hour(name, made) for _, name, made in rows}
    if hours <= plan.kept_hours:
        return PruneBatch(deleted=0, feedback=0, last_id=last_id)
    if session.get_bind().dialect.name == "postgresql":
        # Lock the rows first: a true value being written for one of them now either committed before
        # (and is seen by the check below) or waits for this batch and then finds its prediction gone.
        session.execute(select(Prediction.id).where(_batch(plan, after_id, last_id, hours)).with_for_update())
    late = session.execute(
        select(Prediction.model_name, Prediction.created_at)
        .join(Feedback, Feedback.prediction_id == Prediction.id)
        .where(_batch(plan, after_id, last_id, hours), _unread_feedback(plan))
    )
    plan.kept_hours |= {_hour(name, made) for name, made in late}
    if hours <= plan.kept_hours:
        return PruneBatch(deleted=0, feedback=0, last_id=last_id)
    chosen = _batch(plan, after_id, last_id, hours)
    feedback = session.scalar(
        select(func.count())
        .select_from(Feedback)
        .join(Prediction, Feedback.prediction_id == Prediction.id)
        .where(chosen)
    )
    deleted = session.execute(delete(Prediction).where(chosen)).rowcount  # type: ignore[attr-defined]
    return PruneBatch(deleted=int(deleted), feedback=int(feedback or 0), last_id=last_id)


def prune_rejections(session: Session, *, plan: PrunePlan, after_id: int, limit: int = PRUNE_BATCH) -> PruneBatch:
    """Delete up to ``limit`` rolled-up rejections made before the cut-off with ids above ``after_id``."""
    ids = (
        select(Rejection.id)
        .where(Rejection.created_at < plan.before, Rejection.id > after_id, Rejection.id <= plan.rejections_upto)
        .order_by(Rejection.id)
        .limit(limit)
        .subquery()
    )
    last_id = session.scalar(select(func.max(ids.c.id)))
    if last_id is None:
        return PruneBatch(deleted=0, feedback=0, last_id=None)
    chosen = and_(
        Rejection.id > after_id,
        Rejection.id <= last_id,
        Rejection.created_at < plan.before,
        ~_in_ranges(Rejection.id, _overlapping(plan.gaps.get("rejections", []), after_id, int(last_id))),
    )
    deleted = session.execute(delete(Rejection).where(chosen)).rowcount  # type: ignore[attr-defined]
    return PruneBatch(deleted=int(deleted), feedback=0, last_id=int(last_id))


def _batch(plan: PrunePlan, after_id: int, last_id: int, hours: set[Hour]) -> ColumnElement[bool]:
    """Predictions with ids in (``after_id``, ``last_id``] made before the cut-off, outside kept hours and gaps."""
    kept = [
        and_(
            Prediction.model_name == name,
            Prediction.created_at >= hour,
            Prediction.created_at < hour + timedelta(hours=1),
        )
        for name, hour in sorted(hours & plan.kept_hours)
    ]
    return and_(
        Prediction.id > after_id,
        Prediction.id <= last_id,
        Prediction.created_at < plan.before,
        ~or_(false(), *kept),
        ~_in_ranges(Prediction.id, _overlapping(plan.gaps.get("predictions", []), after_id, last_id)),
    )


def _overlapping(ranges: list[tuple[int, int]], after_id: int, last_id: int) -> list[tuple[int, int]]:
    return [(first, last) for first, last in ranges if last > after_id and first <= last_id]


def _hour(model_name: str, made: datetime) -> Hour:
    return str(model_name), whole_hour(made)


def _made(*conditions: ColumnElement[bool]):
    return select(Prediction.model_name, Prediction.created_at).where(*conditions)


def _unread_feedback(plan: PrunePlan) -> ColumnElement[bool]:
    if plan.feedback_upto is None:
        return Feedback.prediction_id.is_not(None)  # no true value has been rolled up yet: every one is unread
    return Feedback.received_at > plan.feedback_upto


def _in_ranges(column: InstrumentedAttribute[int], ranges: list[tuple[int, int]]) -> ColumnElement[bool]:
    if not ranges:
        return false()
    return or_(*(and_(column >= first, column <= last) for first, last in ranges))


def _close_over_shadow_links(session: Session, before: datetime, kept: set[Hour]) -> set[Hour]:
    """Keep every old hour tied to a kept hour, or to one not old enough, by an answer and its shadow.

    Shadow rows follow their answer within moments, so only the pairs that straddle an hour boundary link
    two hours; there are few, and the closure is computed here rather than in SQL.
    """
    answer, shadow = table_of(Prediction).alias("answer"), table_of(Prediction).alias("shadow")
    pairs = session.execute(
        select(answer.c.model_name, answer.c.created_at, shadow.c.model_name, shadow.c.created_at)
        .select_from(shadow)
        .join(answer, answer.c.id == shadow.c.shadow_of)
        .where(shadow.c.shadow_of.is_not(None), or_(answer.c.created_at < before, shadow.c.created_at < before))
    )
    links: dict[Hour, set[Hour]] = defaultdict(set)
    for answer_model, answer_made, shadow_model, shadow_made in pairs:
        first, second = _hour(answer_model, answer_made), _hour(shadow_model, shadow_made)
        if first != second:
            links[first].add(second)
            links[second].add(first)
    kept = set(kept)
    pending = [hour for hour in links if hour in kept or hour[1] >= before]
    while pending:
        for linked in links[pending.pop()]:
            if linked not in kept and linked[1] < before:
                kept.add(linked)
                pending.append(linked)
    return kept
