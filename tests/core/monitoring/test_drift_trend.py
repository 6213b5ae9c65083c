"""A feature's drift by day: each day judged as the window is, with its threshold line."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.monitoring.drift_trend import daily_spans, drift_trend, drift_trend_figure
from core.monitoring.references import refresh
from core.monitoring.windows import Window
from storage.db import make_engine, make_sessionmaker, migrate
from tests.monitoring_traffic import seed_traffic


@pytest.fixture
def sessions(registry_home):
    engine = make_engine(registry_home.database_url)
    migrate(engine)
    yield make_sessionmaker(engine)
    engine.dispose()


def test_a_window_is_cut_at_utc_midnights() -> None:
    window = Window(datetime(2026, 3, 1, 18, tzinfo=UTC), datetime(2026, 3, 3, 6, tzinfo=UTC))

    spans = daily_spans(window)

    assert [(span.start.day, span.start.hour, span.end.day, span.end.hour) for span in spans] == [
        (1, 18, 2, 0),
        (2, 0, 3, 0),
        (3, 0, 3, 6),
    ]


def test_drift_that_starts_on_one_day_shows_on_that_day(registry_home, sessions) -> None:
    settings = registry_home
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    two_days_ago, yesterday = today - timedelta(days=2), today - timedelta(days=1)
    seed_traffic(settings, rows=600, start=two_days_ago + timedelta(hours=1), hours=20, shift=1.0, seed=1)
    seed_traffic(settings, rows=600, start=yesterday + timedelta(hours=1), hours=20, shift=1.5, seed=2)
    seed_traffic(settings, rows=30, start=today, hours=0.5, shift=1.5, seed=3)
    refresh(settings, sessions=sessions)
    window = Window(two_days_ago, today + timedelta(days=1))

    with sessions.begin() as session:
        trend = drift_trend(settings, session=session, window=window, model_version=1, feature="carat")
        nothing = drift_trend(settings, session=session, window=window, model_version=1, feature="no such input")

    assert list(trend["day"]) == [two_days_ago, yesterday, today]
    assert list(trend["verdict"]) == ["stable", "drifted", "not enough data"]
    assert list(trend["rows"]) == [600, 600, 30] and set(trend["threshold"]) == {0.1}
    assert trend["statistic"].iloc[1] > 0.1 > trend["statistic"].iloc[0]
    assert nothing.empty
    figure = drift_trend_figure(trend, "carat")
    statistic, threshold = figure.data
    assert list(statistic.y) == list(trend["statistic"]) and list(threshold.y) == [0.1, 0.1]
    assert threshold.name == "threshold ≥ 0.1"
    assert "1 stable" in figure.layout.title.text and "1 drifted" in figure.layout.title.text
    assert drift_trend_figure(nothing, "carat").data == ()
