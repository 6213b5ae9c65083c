"""Several refreshers at once: one at a time under the lock; those told not to wait skip, the totals stay exact."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pandas as pd
import pytest

from storage.db import make_engine, make_sessionmaker, migrate
from storage.rollups import RefreshResult, refresh_rollups
from tests.storage.test_rollups import binning, expected_totals, raw, seed, stored_totals

pytestmark = pytest.mark.slow  # concurrent refreshers on SQLite and PostgreSQL

HOLD_TIMEOUT_S = 60  # a guard against a hung test, never a measured time


@pytest.fixture(params=["sqlite", "postgresql"])
def sessions(request, tmp_path):
    url = f"sqlite:///{tmp_path / 'log.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    engine = make_engine(url)
    migrate(engine)
    yield make_sessionmaker(engine)
    engine.dispose()


def _refresh(sessions, *, wait: bool, binning_source=binning) -> RefreshResult:
    with sessions.begin() as session:
        return refresh_rollups(session, binning=binning_source, wait=wait)


def test_a_refresher_that_finds_another_running_skips_at_once_and_the_holder_finishes(sessions) -> None:
    seed(sessions, rows=1_200, version=1, seed=11)
    inside, release = threading.Event(), threading.Event()

    def held_binning(model_name: str, version: int):
        # The holder pauses mid-refresh, lock held, until the others have tried: a real refresher, slowed down.
        inside.set()
        assert release.wait(HOLD_TIMEOUT_S)
        return binning(model_name, version)

    with ThreadPoolExecutor(max_workers=1) as pool:
        holder = pool.submit(_refresh, sessions, wait=True, binning_source=held_binning)
        assert inside.wait(HOLD_TIMEOUT_S)
        skipped = [_refresh(sessions, wait=False) for _ in range(3)]
        release.set()
        held = holder.result(timeout=HOLD_TIMEOUT_S)

    assert all(result.skipped and result.rows == 0 for result in skipped)
    assert not held.skipped and held.predictions == 1_200
    after = _refresh(sessions, wait=False)  # the lock went with the holder's transaction
    assert not after.skipped and after.rows == 0
    with sessions.begin() as session:
        expected, stored = expected_totals(raw(session)), stored_totals(session)
    pd.testing.assert_frame_equal(stored[expected.columns], expected, check_dtype=False, rtol=1e-9)


def test_many_concurrent_refreshers_while_rows_arrive_leave_exact_roll_ups(sessions) -> None:
    seed(sessions, rows=800, version=1, seed=12)
    start = threading.Barrier(8)

    def refresher(number: int) -> list[RefreshResult]:
        start.wait(HOLD_TIMEOUT_S)
        return [_refresh(sessions, wait=number % 2 == 0) for _ in range(4)]

    def writer() -> None:
        start.wait(HOLD_TIMEOUT_S)
        for batch in range(3):
            seed(sessions, rows=300, version=2, seed=100 + batch, shadow=False)

    with ThreadPoolExecutor(max_workers=8) as pool:
        futures = [pool.submit(refresher, number) for number in range(7)]
        written = pool.submit(writer)
        results = [result for future in futures for result in future.result(timeout=HOLD_TIMEOUT_S * 2)]
        written.result(timeout=HOLD_TIMEOUT_S * 2)
    final = _refresh(sessions, wait=True)

    waited = [result for number, future in enumerate(futures) if number % 2 == 0 for result in future.result()]
    assert not any(result.skipped for result in waited)  # a waiting refresher never skips
    assert all(result.rows == 0 for result in results if result.skipped)
    read = sum(result.predictions for result in [*results, final])
    assert read == 800 + 900  # every row rolled up exactly once, whoever read it
    with sessions.begin() as session:
        expected, stored = expected_totals(raw(session)), stored_totals(session)
    pd.testing.assert_frame_equal(stored[expected.columns], expected, check_dtype=False, rtol=1e-9)
