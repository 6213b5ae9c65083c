"""Retention on SQLite and PostgreSQL: old raw rows go in batches, the roll-ups of their hours stay exactly as they were."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import func, select

from storage.base import utcnow
from storage.db import make_engine, make_sessionmaker, migrate
from storage.prediction_log import Feedback, Prediction, Rejection, add_feedback, log_predictions, log_rejections
from storage.retention import plan_prune, prune_predictions, prune_rejections, try_prune_lock
from storage.rollups import (
    RollupBucket,
    RollupFeature,
    RollupHour,
    RollupLabel,
    RollupRejection,
    RollupScore,
    refresh_rollups,
)

pytestmark = pytest.mark.slow  # retention runs against SQLite and PostgreSQL with real roll-ups: minutes in all

OLD = datetime(2026, 3, 1, tzinfo=UTC)  # months before any test runs
EDGES = {"size": np.array([-np.inf, 0.0, 1.0, 2.0, 5.0, np.inf]), "colour": None}
ROLLUPS = (RollupHour, RollupBucket, RollupLabel, RollupScore, RollupFeature, RollupRejection)


def binning(model_name: str, version: int):
    return EDGES


@pytest.fixture(params=["sqlite", "postgresql"])
def sessions(request, tmp_path):
    url = f"sqlite:///{tmp_path / 'log.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    engine = make_engine(url)
    migrate(engine)
    yield make_sessionmaker(engine)
    engine.dispose()


def log(
    sessions,
    times: list[datetime],
    *,
    seed: int,
    version: int = 1,
    shadow_of: list[int] | None = None,
    labelled: float = 0.5,
) -> list[int]:
    """Predictions at ``times`` (inputs unless shadows), a true value for a share of them; returns their ids."""
    rng = np.random.default_rng(seed)
    records = [
        {
            "created_at": moment,
            "model_name": "m",
            "model_version": version,
            "alias": "challenger" if shadow_of else "champion",
            "prediction": float(rng.normal(1000, 300)),
            "latency_ms": float(rng.lognormal(1, 0.5)),
            "source": "server",
            "request_id": f"r{seed}-{index}",
            "is_ood": bool(rng.random() < 0.1),
            "is_shadow": shadow_of is not None,
            "shadow_of": None if shadow_of is None else shadow_of[index],
        }
        for index, moment in enumerate(times)
    ]
    features = None
    if shadow_of is None:
        features = [
            {"size": float(rng.lognormal(0.3, 0.8)), "colour": str(rng.choice(["red", "blue", "teal"]))} for _ in times
        ]
    with sessions.begin() as session:
        ids = log_predictions(session, records=records, features=features)
        chosen = [row_id for row_id in ids if rng.random() < labelled]
        add_feedback(session, actuals={row_id: float(rng.normal(1000, 300)) for row_id in chosen})
    return ids


def spread(start: datetime, hours: int, rows: int, seed: int) -> list[datetime]:
    offsets = np.sort(np.random.default_rng(seed).random(rows)) * hours * 3600
    return [start + timedelta(seconds=float(offset)) for offset in offsets]


def reject(sessions, times: list[datetime]) -> None:
    rows = [
        {
            "created_at": moment,
            "model_name": "m",
            "model_version": 1,
            "source": "server",
            "request_id": f"x{index}",
            "row_number": 0,
            "field": "size",
            "rule": "required",
            "message": "size is required",
        }
        for index, moment in enumerate(times)
    ]
    with sessions.begin() as session:
        log_rejections(session, rows=rows)


def refresh(sessions):
    with sessions.begin() as session:
        return refresh_rollups(session, binning=binning)


def prune(sessions, *, before: datetime, batch: int = 150) -> tuple[int, int, int, set]:
    """Prune as the service does: one plan, then one transaction per batch."""
    with sessions.begin() as session:
        plan = plan_prune(session, before=before)
    predictions = feedback = rejections = 0
    for prune_batch in (prune_predictions, prune_rejections):
        after: int | None = 0
        while after is not None:
            with sessions.begin() as session:
                done = prune_batch(session, plan=plan, after_id=after, limit=batch)
            after = done.last_id
            if prune_batch is prune_predictions:
                predictions, feedback = predictions + done.deleted, feedback + done.feedback
            else:
                rejections += done.deleted
    return predictions, feedback, rejections, plan.kept_hours


def rollups(sessions) -> dict[str, pd.DataFrame]:
    out = {}
    with sessions.begin() as session:
        for table in ROLLUPS:
            columns = list(table.__table__.columns)
            frame = pd.DataFrame(list(session.execute(select(*columns))), columns=[c.name for c in columns])
            keys = [c.name for c in table.__table__.primary_key.columns]
            out[table.__tablename__] = frame.sort_values(keys).reset_index(drop=True)
    return out


def assert_same(before: dict[str, pd.DataFrame], after: dict[str, pd.DataFrame]) -> None:
    for name, frame in before.items():
        pd.testing.assert_frame_equal(after[name], frame, check_dtype=False, obj=name)


def count(sessions, table, *conditions) -> int:
    with sessions.begin() as session:
        return int(session.scalar(select(func.count()).select_from(table).where(*conditions)) or 0)


def test_old_rows_go_young_rows_stay_and_the_roll_ups_of_pruned_hours_do_not_change(sessions) -> None:
    young_start = utcnow() - timedelta(days=2)
    old_answers = log(sessions, spread(OLD, 6, 900, seed=1), seed=1)
    log(
        sessions,
        [OLD + timedelta(hours=3, minutes=m) for m in range(30)],
        seed=2,
        version=2,
        shadow_of=old_answers[:30],
        labelled=0,
    )
    young = log(sessions, spread(young_start, 3, 300, seed=3), seed=3)
    reject(sessions, spread(OLD, 6, 120, seed=4) + spread(young_start, 3, 40, seed=5))
    refresh(sessions)
    young_feedback = count(sessions, Feedback, Feedback.prediction_id.in_(young))
    before = rollups(sessions)
    assert before["rollup_features"]["count"].sum() > 0 and before["rollup_hours"]["feedback"].sum() > 0

    predictions, feedback, rejections, kept = prune(sessions, before=utcnow() - timedelta(days=30))

    assert (predictions, rejections, kept) == (930, 120, set())
    assert feedback > 0
    assert count(sessions, Prediction) == 300 and count(sessions, Prediction, Prediction.id.in_(young)) == 300
    assert count(sessions, Feedback) == young_feedback  # the old true values went with their predictions
    assert count(sessions, Rejection) == 40
    assert_same(before, rollups(sessions))
    # Running again finds nothing, and a refresh after pruning leaves the history as it was.
    assert prune(sessions, before=utcnow() - timedelta(days=30))[:3] == (0, 0, 0)
    assert refresh(sessions).rows == 0
    assert_same(before, rollups(sessions))


def test_hours_the_roll_ups_do_not_hold_whole_stay_until_they_do(sessions) -> None:
    first = log(sessions, spread(OLD, 3, 300, seed=6), seed=6)  # hours 0..2
    refresh(sessions)
    log(sessions, spread(OLD + timedelta(hours=1), 1, 20, seed=7), seed=7)  # backfilled, not rolled up yet
    with sessions.begin() as session:
        add_feedback(session, actuals={first[-1]: 123.0})  # hour 2: a true value the roll-ups have not read

    _, _, _, kept = prune(sessions, before=OLD + timedelta(days=1))

    assert kept == {("m", OLD + timedelta(hours=1)), ("m", OLD + timedelta(hours=2))}
    left = count(sessions, Prediction)
    assert left == count(sessions, Prediction, Prediction.created_at >= OLD + timedelta(hours=1))
    assert left > 20
    before = rollups(sessions)
    refresh(sessions)
    with_all = rollups(sessions)
    predictions, _, _, kept = prune(sessions, before=OLD + timedelta(days=1))
    assert kept == set() and predictions == left and count(sessions, Prediction) == 0
    assert_same(with_all, rollups(sessions))
    assert with_all["rollup_hours"]["predictions"].sum() == before["rollup_hours"]["predictions"].sum() + 20


def test_an_answer_and_its_shadow_across_an_hour_boundary_go_together(sessions) -> None:
    boundary = OLD + timedelta(hours=1)
    answers = log(sessions, [boundary - timedelta(seconds=1), boundary - timedelta(minutes=30)], seed=8, labelled=1)
    log(sessions, [boundary + timedelta(milliseconds=500)], seed=9, version=2, shadow_of=answers[:1], labelled=0)
    refresh(sessions)
    before = rollups(sessions)

    # The cut-off between the answer's hour and its shadow's: the answer's hour must stay.
    predictions, _, _, kept = prune(sessions, before=boundary)
    assert predictions == 0 and kept == {("m", OLD)}
    predictions, feedback, _, kept = prune(sessions, before=boundary + timedelta(hours=1))
    assert (predictions, feedback, kept) == (3, 2, set())
    assert_same(before, rollups(sessions))


def test_a_pruned_hour_is_never_recounted_from_what_is_left(sessions) -> None:
    log(sessions, spread(OLD, 1, 200, seed=10), seed=10, labelled=0.6)
    refresh(sessions)
    prune(sessions, before=OLD + timedelta(hours=1))
    pruned = rollups(sessions)["rollup_hours"].set_index("hour")
    # A backfill lands in the pruned hour with a true value, which is then replaced.
    (late,) = log(sessions, [OLD + timedelta(minutes=30)], seed=11, labelled=1)
    refresh(sessions)
    counted = rollups(sessions)["rollup_hours"]
    assert counted["feedback"].sum() == pruned["feedback"].sum() + 1
    with sessions.begin() as session:
        add_feedback(session, actuals={late: 5_000.0})
    assert refresh(sessions).recounted_hours == 0

    after = rollups(sessions)["rollup_hours"]
    # A recount from the one row left would say feedback = 1; the pruned rows' share is kept.
    pd.testing.assert_frame_equal(after, counted, check_dtype=False)


def test_a_true_value_for_a_pruned_prediction_is_reported_unknown(sessions) -> None:
    ids = log(sessions, spread(OLD, 1, 10, seed=12), seed=12, labelled=0)
    refresh(sessions)
    prune(sessions, before=OLD + timedelta(hours=1))
    with sessions.begin() as session:
        unknown = add_feedback(session, actuals={ids[0]: 1.0})
    assert unknown == [ids[0]] and count(sessions, Feedback) == 0


def test_one_process_prunes_at_a_time_and_the_lock_goes_with_its_transaction(sessions) -> None:
    with sessions.begin() as holder:
        assert try_prune_lock(holder)
        with sessions.begin() as other:
            assert not try_prune_lock(other)  # returns at once: another is pruning
    with sessions.begin() as after:
        assert try_prune_lock(after)
