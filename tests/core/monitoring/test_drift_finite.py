"""Drift statistics, histograms and Monitoring's figures stay finite whatever the log already holds (1e308, inf)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import func, select, update

from core.dataset import load_diamonds
from core.monitoring.drift import current_counts, drift_report
from core.monitoring.drift_statistics import Histogram, bin_values, numeric_edges, wasserstein_binned
from core.monitoring.export import drift_export
from core.monitoring.percentiles import signed_log_quantiles
from core.monitoring.references import reference_profile
from core.monitoring.simulator import bulk_log
from core.monitoring.snapshot import snapshot
from core.monitoring.windows import Window
from core.profile import build_profile
from storage.db import make_engine, make_sessionmaker, migrate
from storage.prediction_log import Prediction
from storage.rollups import signed_log_bucket
from storage.rollups.buckets import signed_log_bounds
from storage.rollups.tables import RollupFeature

NOW = datetime(2026, 3, 8, 10, 30, tzinfo=UTC)
# Absurd values as an old log or another system may hold them, per numeric input of the diamonds model.
ABSURD = {"carat": 1e308, "depth": math.inf, "x": -1e308, "y": -math.inf, "table": 4.9e-324}


def poisoned_rows(rows: int, *, seed: int) -> pd.DataFrame:
    data = load_diamonds().sample(rows, replace=True, random_state=seed).reset_index(drop=True)
    features = data.drop(columns=["price"]).astype({"cut": str, "color": str, "clarity": str})
    for position, (name, value) in enumerate(ABSURD.items()):
        features.loc[features.index % 10 == position, name] = value  # a tenth of the rows per input
    return features


def log_rows(settings, features: pd.DataFrame, *, start: datetime, seed: int) -> None:
    rng = np.random.default_rng(seed)
    rows = len(features)
    engine = make_engine(settings.database_url)
    migrate(engine)
    with make_sessionmaker(engine).begin() as session:
        bulk_log(
            session,
            features=features,
            predictions=rng.normal(4_000, 500, rows),
            timestamps=[start + timedelta(seconds=30 * row) for row in range(rows)],
            model_name=settings.model_name,
            model_version=1,
            latency_ms=np.full(rows, 5.0),
            seed=seed,
        )
        # Loupe's writers log an infinity as null; an older log or another writer may hold JSON's Infinity.
        for name, value in ABSURD.items():
            if math.isinf(value):
                word = "Infinity" if value > 0 else "-Infinity"
                session.execute(
                    update(Prediction).values(
                        inputs=func.replace(Prediction.inputs, f'"{name}":null', f'"{name}":{word}')
                    )
                )
    engine.dispose()


def all_finite(values) -> bool:
    return all(value is None or math.isfinite(float(value)) for value in values)


def check_snapshot_is_finite(settings, sessions, features: pd.DataFrame) -> None:
    day = Window.last(timedelta(days=1), now=NOW)
    view = snapshot(settings, sessions=sessions, window=day)
    drift = view.current.drift
    assert {item.feature for item in drift.features} >= set(ABSURD)
    assert all_finite(item.statistic for item in drift.features)
    assert all_finite(getattr(item, "psi", None) for item in drift.features)
    assert all_finite(kpi.value for kpi in view.kpis() if isinstance(kpi.value, int | float))
    # The 1e308s, infinities and near-zeros moved every one far out: drifted, and said with a finite number.
    assert set(ABSURD) <= {item.feature for item in drift.features if item.drifted}
    exported = pd.read_csv(pd.io.common.StringIO(drift_export(settings, sessions=sessions, window=day, fmt="csv")))
    numbers = exported.select_dtypes("number").to_numpy(float)
    assert np.isfinite(numbers[~np.isnan(numbers)]).all()

    # The roll-ups agree with the same statistics on the raw values.
    with sessions.begin() as session:
        profile = reference_profile(settings, session=session, model_version=1)
    raw = drift_report(profile, current_counts(profile, features))
    for merged, direct in zip(drift.features, raw.features, strict=True):
        assert merged.feature == direct.feature and math.isfinite(direct.statistic)
        assert merged.statistic == pytest.approx(direct.statistic, rel=1e-9, abs=1e-12)
    with sessions.begin() as session:
        sums = session.scalars(select(RollupFeature.value_sum)).all()
    assert sums and all_finite(sums)  # summed clipped: no 1e308 + 1e308 = inf in the roll-ups


@pytest.fixture
def sessions(registry_home):
    engine = make_engine(registry_home.database_url)
    migrate(engine)
    yield make_sessionmaker(engine)
    engine.dispose()


@pytest.mark.slow
def test_absurd_logged_inputs_leave_every_drift_figure_finite(registry_home, sessions) -> None:
    features = poisoned_rows(600, seed=3)
    log_rows(registry_home, features, start=NOW - timedelta(hours=10), seed=3)
    check_snapshot_is_finite(registry_home, sessions, features)


@pytest.mark.slow
def test_absurd_logged_inputs_leave_every_drift_figure_finite_on_postgresql(registry_home, pg_url, monkeypatch) -> None:
    from tests.conftest import use_home

    settings = use_home(monkeypatch, registry_home.home_dir, LOUPE_DATABASE_URL=pg_url)
    features = poisoned_rows(400, seed=4)
    engine = make_engine(settings.database_url)
    try:
        # Two refreshes add 1e308s to the same hours' bins: PostgreSQL's upsert would overflow an unclipped sum.
        log_rows(settings, features.iloc[:200], start=NOW - timedelta(hours=10), seed=4)
        snapshot(settings, sessions=make_sessionmaker(engine), window=Window.last(timedelta(days=1), now=NOW))
        log_rows(settings, features.iloc[200:], start=NOW - timedelta(hours=10), seed=5)
        check_snapshot_is_finite(settings, make_sessionmaker(engine), features)
    finally:
        engine.dispose()


def test_bin_means_of_overflowed_sums_are_clipped_to_the_widened_reference_range() -> None:
    reference = build_profile(pd.DataFrame({"v": np.linspace(0.0, 10.0, 500)})).features["v"]
    edges = numeric_edges(reference)
    finite_edges = edges[np.isfinite(edges)]
    low, high = finite_edges.min(), finite_edges.max()
    current = bin_values(np.array([1e308, 1e308, math.inf, -math.inf, 5.0]), edges)
    assert np.isfinite(current.sums).all()  # summed clipped: two 1e308 do not overflow
    old = Histogram(counts=current.counts, sums=np.where(current.counts > 0, np.inf, 0.0))  # rolled up before
    old.sums[0] = -np.inf
    for histogram in (current, old):
        means = histogram.means(edges)
        span = high - low
        assert np.isfinite(means).all() and means.min() >= low - span and means.max() <= high + span
    stale = Histogram(counts=current.counts, sums=np.full(len(current.counts), np.nan))
    assert np.isfinite(stale.means(edges)).all()
    from core.monitoring.drift_statistics import reference_histogram

    assert math.isfinite(wasserstein_binned(edges, reference_histogram(reference), old))


def test_prediction_buckets_of_infinite_values_stay_finite() -> None:
    values = np.array([math.inf, -math.inf, 1e308, -1e308, 3.0])
    buckets = signed_log_bucket(values)
    # ±inf in the outermost buckets (those of the largest float), not wrapped around by an integer cast.
    assert buckets[0] == -buckets[1] - 1 == signed_log_bucket(np.array([1.7976931348623157e308]))[0]
    assert buckets[0] > buckets[2] > buckets[4] > 0 > buckets[3] > buckets[1]
    low, high = signed_log_bounds(np.unique(buckets))
    assert np.isfinite(low).all() and np.isfinite(high).all()
    unique, counts = np.unique(buckets, return_counts=True)
    assert all_finite(signed_log_quantiles(unique, counts, (1, 50, 99)).values())
