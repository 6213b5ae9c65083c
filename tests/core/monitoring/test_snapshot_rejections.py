"""The rejected-input rate per version: a version's own refusals over its own answered and refused rows;
rejections logged before they carried a version count for the model only, and alerts judge the serving version."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.monitoring.alerts import snapshot_alerts
from core.monitoring.snapshot import snapshot
from core.monitoring.windows import Window
from storage.db import make_engine, make_sessionmaker, migrate
from storage.prediction_log import Rejection
from tests.monitoring_traffic import seed_traffic


@pytest.fixture
def sessions(registry_home):
    engine = make_engine(registry_home.database_url)
    migrate(engine)
    yield make_sessionmaker(engine)
    engine.dispose()


def _reject(sessions, settings, *, rows: int, version: int | None, at: datetime, request: str) -> None:
    with sessions.begin() as session:
        for row in range(rows):
            session.add(
                Rejection(
                    created_at=at + timedelta(minutes=row % 50),
                    model_name=settings.model_name,
                    model_version=version,  # None: logged before rejections carried the refusing version
                    source="batch",
                    request_id=request,
                    row_number=row,
                    field="carat",
                    rule="gt",
                    message="carat must be > 0",
                )
            )


def test_each_version_has_its_own_rejected_rate(registry_home, sessions) -> None:
    settings = registry_home.model_copy(update={"alert_rejected_rate": 0.02})
    start = datetime.now(UTC) - timedelta(hours=3)
    seed_traffic(settings, rows=3_000, start=start, hours=2, shift=1.0, version=1, seed=1)
    seed_traffic(settings, rows=1_000, start=start, hours=2, shift=1.0, version=2, seed=2)
    _reject(sessions, settings, rows=30, version=1, at=start, request="v1")
    _reject(sessions, settings, rows=50, version=2, at=start, request="v2")
    _reject(sessions, settings, rows=20, version=None, at=start, request="old")
    window = Window.last(timedelta(hours=24))

    model = snapshot(settings, sessions=sessions, window=window)
    first = snapshot(settings, sessions=sessions, window=window, version=1, refresh_first=False)
    second = snapshot(settings, sessions=sessions, window=window, version=2, refresh_first=False)

    assert model.current.rejected_rows == 100 and model.current.rejected_rate == pytest.approx(100 / 4_100)
    assert first.current.rejected_rows == 30 and first.current.rejected_rate == pytest.approx(30 / 3_030)
    assert second.current.rejected_rows == 50 and second.current.rejected_rate == pytest.approx(50 / 1_050)
    assert model.current.unattributed_rejections == first.current.unattributed_rejections == 20
    assert first.current.rejected_rate != second.current.rejected_rate
    kpis = {kpi.name: kpi.value for kpi in second.kpis()}
    assert kpis["Rejected inputs"] == pytest.approx(50 / 1_050)
    # The table of refused values follows the chosen version too.
    assert int(second.rejections.loc[second.rejections["field"] == "carat", "count"].sum()) == 50

    # All versions: the model's rate is 2.4 %, but the alert speaks of the serving version (v1, 1.0 %).
    assert model.drift_version == 1
    assert "rejected_rate" not in {alert.rule for alert in snapshot_alerts(settings, model)}
    fired = {alert.rule: alert for alert in snapshot_alerts(settings, second)}
    assert fired["rejected_rate"].value == pytest.approx(50 / 1_050)
    assert "4.8% of version 2's input rows were refused" in fired["rejected_rate"].message


def test_a_log_without_attributed_rejections_says_nothing_per_version(registry_home, sessions) -> None:
    settings = registry_home
    start = datetime.now(UTC) - timedelta(hours=3)
    seed_traffic(settings, rows=500, start=start, hours=2, shift=1.0, version=1, seed=3)
    _reject(sessions, settings, rows=10, version=None, at=start, request="old")

    view = snapshot(settings, sessions=sessions, window=Window.last(timedelta(hours=24)), version=1)

    assert view.current.rejected_rows == 0 and view.current.rejected_rate == 0
    assert view.current.unattributed_rejections == 10
