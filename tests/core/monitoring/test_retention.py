"""Log maintenance: refresh without waiting, then prune; Monitoring's history of pruned days is unchanged."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from core.monitoring.export import drift_export
from core.monitoring.references import binning_of, reference_profile
from core.monitoring.retention import maintain
from storage.db import make_engine, make_sessionmaker, migrate
from storage.prediction_log import Prediction
from storage.rollups import hour_totals, refresh_rollups
from tests.monitoring_traffic import seed_traffic

pytestmark = pytest.mark.slow  # a registry, a log and a refresh per test


def _sessions(settings):
    engine = make_engine(settings.database_url)
    migrate(engine)
    return engine, make_sessionmaker(engine)


def _raw_rows(sessions) -> int:
    with sessions.begin() as session:
        return int(session.scalar(select(func.count()).select_from(Prediction)) or 0)


def _history(settings, sessions):
    with sessions.begin() as session:
        totals = hour_totals(
            session,
            model_name=settings.model_name,
            start=datetime.now(UTC) - timedelta(days=60),
            end=datetime.now(UTC) + timedelta(hours=1),
        )
    drift = json.loads(
        drift_export(settings, sessions=sessions, window="60d", version=1, include_shadow=False, fmt="json")
    )
    return totals.sort_values(["hour", "model_version", "is_shadow"]).reset_index(drop=True), drift


def test_maintain_rolls_up_then_prunes_what_is_older_than_the_retention_period(registry_home) -> None:
    settings = registry_home.model_copy(update={"retention_days": 30})
    old = seed_traffic(settings, rows=600, start=datetime.now(UTC) - timedelta(days=40), hours=5, shift=1.3, seed=1)
    young = seed_traffic(settings, rows=400, start=datetime.now(UTC) - timedelta(days=2), hours=5, shift=1.0, seed=2)
    engine, sessions = _sessions(settings)
    try:
        first = maintain(settings, sessions=sessions, days=None)  # rolls up first, so nothing waits another run
        after_first = _history(settings, sessions)
        second = maintain(settings, sessions=sessions)
        after_second = _history(settings, sessions)
        left = _raw_rows(sessions)
    finally:
        engine.dispose()

    assert not first.refresh.skipped and first.refresh.predictions == 1_000
    assert first.pruned is not None and first.pruned.predictions == len(old) == 600
    assert first.pruned.feedback == int(old["labelled"].sum())
    assert left == len(young) == 400
    assert second.refresh.rows == 0 and second.pruned is not None and second.pruned.rows == 0
    assert after_first[0]["predictions"].sum() == 1_000  # the old days' hours are all still there
    assert after_first[0].equals(after_second[0]) and after_first[1] == after_second[1]
    carat = next(item for item in after_first[1]["features"] if item["feature"] == "carat")
    assert carat["drifted"]  # the 40-day-old shifted traffic still counts in a 60-day window


def test_without_a_retention_period_nothing_is_deleted(registry_home) -> None:
    seed_traffic(registry_home, rows=200, start=datetime.now(UTC) - timedelta(days=400), hours=2, shift=1.0)
    engine, sessions = _sessions(registry_home)
    try:
        result = maintain(registry_home, sessions=sessions)
        assert result.pruned is None and result.refresh.predictions == 200 and _raw_rows(sessions) == 200
    finally:
        engine.dispose()


def test_maintain_skips_the_refresh_while_another_process_refreshes_and_still_prunes(registry_home, pg_url) -> None:
    settings = registry_home.model_copy(update={"database_url_override": pg_url, "retention_days": 30})
    seed_traffic(settings, rows=300, start=datetime.now(UTC) - timedelta(days=40), hours=3, shift=1.0, seed=3)
    engine, sessions = _sessions(settings)
    try:
        with sessions.begin() as session:
            profile = reference_profile(settings, session=session, model_version=1)
            assert profile is not None
            refresh_rollups(session, binning=lambda name, version: binning_of(profile))
        seed_traffic(settings, rows=100, start=datetime.now(UTC) - timedelta(days=35), hours=1, shift=1.0, seed=4)
        with sessions.begin() as holder:  # another refresher, still in its transaction
            refresh_rollups(holder, binning=lambda name, version: None)
            result = maintain(settings, sessions=sessions)
        assert result.refresh.skipped and result.refresh.rows == 0
        # Only what the roll-ups held before the holder's uncommitted refresh went: the 100 newer rows stay.
        assert result.pruned is not None and result.pruned.predictions == 300 and _raw_rows(sessions) == 100
        again = maintain(settings, sessions=sessions)
        assert not again.refresh.skipped and again.pruned is not None and again.pruned.predictions == 100
    finally:
        engine.dispose()


def test_a_second_pruner_returns_at_once_while_one_prunes(registry_home) -> None:
    from core.monitoring.retention import prune
    from storage.retention import try_prune_lock

    seed_traffic(registry_home, rows=100, start=datetime.now(UTC) - timedelta(days=40), hours=1, shift=1.0)
    engine, sessions = _sessions(registry_home)
    try:
        maintain(registry_home, sessions=sessions)  # rolled up, nothing pruned (no retention period)
        with sessions.begin() as holder:
            assert try_prune_lock(holder)
            skipped = prune(sessions=sessions, days=30)
        done = prune(sessions=sessions, days=30)
    finally:
        engine.dispose()
    assert skipped.skipped and skipped.rows == 0
    assert not done.skipped and done.predictions == 100
