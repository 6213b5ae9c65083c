"""Monitoring figures from the roll-ups equal the same figures computed on the raw log."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from core.monitoring.alerts import snapshot_alerts
from core.monitoring.drift import current_counts, drift_report
from core.monitoring.export import drift_export
from core.monitoring.percentiles import latency_percentiles, signed_log_quantiles
from core.monitoring.references import reference_profile
from core.monitoring.series import (
    error_over_time,
    latency_over_time,
    residual_histogram,
    throughput,
    version_comparison,
)
from core.monitoring.snapshot import snapshot
from core.monitoring.window_drift import current_drift_status
from core.monitoring.windows import Window, parse_duration
from core.registry.checks import UNKNOWN
from core.registry.preflight import preflight
from storage.db import make_engine, make_sessionmaker, migrate
from storage.prediction_log import Rejection
from storage.rollups import latency_bucket, signed_log_bucket
from tests.monitoring_traffic import seed_traffic

NOW = datetime(2026, 3, 8, 10, 30, tzinfo=UTC)


def test_percentiles_from_log_buckets_match_numpy_within_a_bucket() -> None:
    rng = np.random.default_rng(0)
    latencies = rng.lognormal(np.log(12), 0.7, 50_000)
    buckets, counts = np.unique(latency_bucket(latencies), return_counts=True)

    figures = latency_percentiles(buckets, counts)

    for quantile in (50, 95, 99):
        assert figures[quantile] == pytest.approx(np.percentile(latencies, quantile), rel=0.03)


def test_percentiles_of_known_latencies() -> None:
    latencies = np.array([1.0] * 50 + [10.0] * 45 + [100.0] * 5)
    buckets, counts = np.unique(latency_bucket(latencies), return_counts=True)

    figures = latency_percentiles(buckets, counts)

    # Each value sits in a bucket ≈ 5.9 % wide; the percentile lands inside the right one.
    assert 1.0 <= figures[50] < 1.0 * 10 ** (1 / 40)
    assert 10.0 <= figures[95] < 10.0 * 10 ** (1 / 40)
    assert 100.0 <= figures[99] < 100.0 * 10 ** (1 / 40)
    assert latency_percentiles(np.array([]), np.array([])) == {50: None, 95: None, 99: None}


def test_prediction_quantiles_from_signed_log_buckets() -> None:
    values = np.random.default_rng(1).lognormal(8, 1, 20_000)
    buckets, counts = np.unique(signed_log_bucket(values), return_counts=True)

    figures = signed_log_quantiles(buckets, counts)

    for quantile in (10, 50, 90):
        assert figures[quantile] == pytest.approx(np.percentile(values, quantile), rel=0.05)


def test_windows_are_whole_hours_including_the_open_one() -> None:
    day = Window.last(timedelta(days=1), now=NOW)

    assert day.start == datetime(2026, 3, 7, 10, tzinfo=UTC) and day.end == datetime(2026, 3, 8, 11, tzinfo=UTC)
    assert day.hours == 25
    assert day.previous() == Window(datetime(2026, 3, 6, 9, tzinfo=UTC), datetime(2026, 3, 7, 10, tzinfo=UTC))
    assert Window.last(timedelta(hours=1), now=NOW).hours == 2
    custom = Window.between(datetime(2026, 3, 1, 8, 15, tzinfo=UTC), datetime(2026, 3, 1, 9, 5, tzinfo=UTC))
    assert (custom.start.hour, custom.end.hour, custom.hours) == (8, 10, 2)
    with pytest.raises(ValueError, match="end after"):
        Window.between(NOW, NOW - timedelta(hours=3))
    assert parse_duration("7d") == timedelta(days=7) and parse_duration("12h") == timedelta(hours=12)
    with pytest.raises(ValueError, match="12h, 7d or 2w"):
        parse_duration("7 days")


@pytest.fixture
def sessions(registry_home):
    engine = make_engine(registry_home.database_url)
    migrate(engine)
    yield make_sessionmaker(engine)
    engine.dispose()


def test_snapshot_figures_equal_the_raw_log(registry_home, sessions) -> None:
    settings = registry_home
    day = Window.last(timedelta(days=1), now=NOW)
    before = seed_traffic(settings, rows=3_000, start=day.previous().start, hours=25, shift=1.0, seed=1)
    now = seed_traffic(settings, rows=4_000, start=day.start, hours=24.9, shift=1.2, seed=2)
    with sessions.begin() as session:
        for row in range(40):
            session.add(
                Rejection(
                    created_at=day.start + timedelta(minutes=row),
                    model_name=settings.model_name,
                    source="batch",
                    request_id="bad",
                    row_number=row,
                    field="carat",
                    rule="gt",
                    message="carat must be > 0",
                )
            )

    view = snapshot(settings, sessions=sessions, window=day)

    current = view.current
    labelled = now[now["labelled"]]
    assert current.predictions == len(now) and view.previous.predictions == len(before)
    assert view.previous.ood_share == pytest.approx(before["ood"].mean())
    assert current.ood_share == pytest.approx(now["ood"].mean())
    assert current.rejected_rows == 40 and current.rejected_rate == pytest.approx(40 / 4_040)
    assert current.feedback == len(labelled)
    assert current.mae == pytest.approx(np.mean(np.abs(labelled["actual"] - labelled["prediction"])))
    assert current.rmse == pytest.approx(np.sqrt(np.mean((labelled["actual"] - labelled["prediction"]) ** 2)))
    for quantile in (50, 95, 99):
        # Within the ≈ 5.9 %-wide log bucket holding the true percentile.
        assert current.latency[quantile] == pytest.approx(np.percentile(now["latency"], quantile), rel=0.06)
    assert view.drift_version == 1
    assert [item.feature for item in current.drift.features if item.drifted] == ["carat"]
    assert view.previous.drift.drifted_count == 0
    kpis = {kpi.name: kpi for kpi in view.kpis()}
    assert kpis["Predictions"].delta == 1_000
    assert kpis["Drift share"].value == pytest.approx(1 / 9) and kpis["Drift share"].delta == pytest.approx(1 / 9)

    # The roll-up drift equals the drift computed on the raw inputs of the same window.
    with sessions.begin() as session:
        profile = reference_profile(settings, session=session, model_version=1)
    raw = drift_report(profile, current_counts(profile, now))
    for merged, direct in zip(current.drift.features, raw.features, strict=True):
        assert merged.feature == direct.feature
        assert merged.statistic == pytest.approx(direct.statistic, rel=1e-9, abs=1e-12)

    hourly = latency_over_time(view.latency_by_hour)
    assert len(hourly) == 25 and (hourly["p50"] <= hourly["p95"]).all()
    assert throughput(view.totals, day)["predictions"].sum() == 4_000
    errors = error_over_time(view.totals, day)
    assert errors["feedback"].sum() == len(labelled)
    assert residual_histogram(view.residuals)["count"].sum() == len(labelled)
    comparison = version_comparison(view)
    assert comparison.to_dict("records")[0]["predictions"] == 4_000


def test_drift_status_for_the_registry_preflight(registry_home, sessions) -> None:
    settings = registry_home
    recent = datetime.now(UTC) - timedelta(hours=3)
    seed_traffic(settings, rows=2_000, start=recent, hours=2, shift=1.0, seed=3)

    calm = current_drift_status(settings, sessions=sessions, model_version=1)
    nothing = current_drift_status(settings, sessions=sessions, model_version=2)
    unknown = current_drift_status(settings, sessions=sessions, model_version=42)

    assert calm.drifted is False and calm.share == 0 and "0 of 9 features drifted" in calm.detail
    assert nothing.drifted is None and "no logged inputs for version 2" in nothing.detail
    assert unknown.drifted is None and "no reference data" in unknown.detail

    seed_traffic(settings, rows=8_000, start=recent, hours=2, shift=-1.3, seed=4)  # five of nine features move
    moved = current_drift_status(settings, sessions=sessions, model_version=1)

    assert moved.drifted is True and moved.share == pytest.approx(5 / 9)
    assert "5 of 9 features drifted" in moved.detail and "carat" in moved.detail


def test_an_empty_log_gives_an_empty_snapshot(registry_home, sessions) -> None:
    view = snapshot(registry_home, sessions=sessions, window=Window.last(timedelta(days=7)))

    assert view.is_empty and view.drift_version is None and view.current.drift is None
    assert view.current.mae is None and view.current.latency[95] is None
    assert all(kpi.delta is None for kpi in view.kpis() if kpi.name != "Predictions")
    assert latency_over_time(view.latency_by_hour).empty
    assert pd.DataFrame(version_comparison(view)).empty


@pytest.mark.postgres
def test_the_same_figures_on_postgresql(registry_home, pg_url, monkeypatch) -> None:
    from tests.conftest import use_home

    settings = use_home(monkeypatch, registry_home.home_dir, LOUPE_DATABASE_URL=pg_url)
    day = Window.last(timedelta(days=1), now=NOW)
    logged = seed_traffic(settings, rows=2_000, start=day.start, hours=24.5, shift=1.2, seed=7)
    engine = make_engine(settings.database_url)
    sessions = make_sessionmaker(engine)

    view = snapshot(settings, sessions=sessions, window=day)
    status = drift_export(settings, sessions=sessions, window=day, fmt="csv")
    engine.dispose()

    labelled = logged[logged["labelled"]]
    assert view.current.predictions == 2_000 and view.current.feedback == len(labelled)
    assert view.current.mae == pytest.approx(np.mean(np.abs(labelled["actual"] - labelled["prediction"])))
    assert [item.feature for item in view.current.drift.features if item.drifted] == ["carat"]
    assert "carat,numeric,wasserstein" in status and len(latency_over_time(view.latency_by_hour)) == 25


def test_too_few_inputs_give_no_drift_verdict_anywhere(registry_home, sessions) -> None:
    # 29 inputs with five of nine features moved far: drifted by any statistic, but too little evidence.
    settings = registry_home
    recent = datetime.now(UTC) - timedelta(hours=3)
    seed_traffic(settings, rows=29, start=recent, hours=2, shift=-1.3, seed=5)
    day = Window.last(timedelta(hours=settings.alert_window_hours))

    status = current_drift_status(settings, sessions=sessions, model_version=1)
    view = snapshot(settings, sessions=sessions, window=day, version=1)
    checks = preflight(settings, sessions=sessions, version=1, alias="challenger", drift=status)

    assert status.drifted is None and status.share is None
    assert status.detail.startswith("not enough data: 29 inputs of version 1")
    report = view.current.drift
    assert report is not None and report.share is None and report.dataset_drift is None
    assert {item.verdict for item in report.features} == {"not enough data"}
    assert not [alert for alert in snapshot_alerts(settings, view) if alert.rule == "drift_share"]
    (drift_check,) = [check for check in checks.checks if check.name == "input drift"]
    assert drift_check.status == UNKNOWN and drift_check.detail == status.detail

    # The same window through the same code: once there is evidence, both say the same thing.
    seed_traffic(settings, rows=400, start=recent, hours=2, shift=-1.3, seed=6)
    status = current_drift_status(settings, sessions=sessions, model_version=1)
    view = snapshot(settings, sessions=sessions, window=day, version=1)
    report = view.current.drift
    assert report is not None and status.drifted is True
    assert status.share == report.share and f"over {report.current_rows:,} answered inputs" in status.detail
    assert [alert.rule for alert in snapshot_alerts(settings, view)].count("drift_share") == 1


def test_the_minimum_of_rows_is_a_setting(registry_home, sessions) -> None:
    settings = registry_home.model_copy(update={"drift_min_rows": 20})
    seed_traffic(settings, rows=29, start=datetime.now(UTC) - timedelta(hours=3), hours=2, shift=-1.3, seed=5)

    status = current_drift_status(settings, sessions=sessions, model_version=1)

    assert status.drifted is True and "of 9 features drifted" in status.detail
