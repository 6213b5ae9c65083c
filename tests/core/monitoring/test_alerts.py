"""Alert rules fire at their thresholds, can be switched off, and run on the real log for Home."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from core.dataset import load_diamonds
from core.monitoring import alerts
from core.monitoring.drift import current_counts, drift_report
from core.monitoring.simulator import bulk_log
from core.monitoring.snapshot import WindowStats
from core.profile import build_profile
from core.settings import get_settings
from storage.db import make_engine, make_sessionmaker, migrate


def stats(**changes) -> WindowStats:
    values = {
        "predictions": 1_000,
        "rejected_rows": 10,
        "ood": 5,
        "latency": {50: 10.0, 95: 40.0, 99: 80.0},
        "feedback": 200,
        "mae": 300.0,
        "rmse": 500.0,
        "drift": None,
    }
    return WindowStats(**{**values, **changes})


def test_a_healthy_window_raises_nothing(settings) -> None:
    assert alerts.evaluate(stats(), settings, holdout_mae=260.0, version=1) == []


def test_each_rule_fires_at_its_threshold(settings) -> None:
    frame = load_diamonds().drop(columns=["price"])
    profile = build_profile(frame)
    moved = frame.assign(**{name: frame[name] * 1.5 for name in ("carat", "depth", "table", "x", "y")})
    drift = drift_report(profile, current_counts(profile, moved))

    fired = alerts.evaluate(
        stats(latency={50: 100.0, 95: 250.0, 99: 400.0}, rejected_rows=53, mae=390.0, drift=drift),
        settings,
        holdout_mae=260.0,
        version=3,
    )

    by_rule = {alert.rule: alert for alert in fired}
    assert set(by_rule) == {"drift_share", "p95_latency", "rejected_rate", "mae"}
    assert by_rule["p95_latency"].value == 250.0 and "250.0 ms" in by_rule["p95_latency"].message
    assert by_rule["rejected_rate"].value == pytest.approx(53 / 1_053)
    assert by_rule["mae"].threshold == pytest.approx(390.0) and "1.5× version 3's holdout MAE" in by_rule["mae"].message
    assert by_rule["drift_share"].value == pytest.approx(5 / 9) and "carat" in by_rule["drift_share"].message


def test_rules_follow_the_settings_and_can_be_switched_off(monkeypatch) -> None:
    monkeypatch.setenv("LOUPE_ALERT_P95_LATENCY_MS", "30")
    monkeypatch.setenv("LOUPE_ALERT_MAE_RATIO", "off")
    get_settings.cache_clear()
    settings = get_settings()

    fired = alerts.evaluate(stats(mae=10_000.0), settings, holdout_mae=260.0)

    assert settings.alert_mae_ratio is None
    assert [alert.rule for alert in fired] == ["p95_latency"]


def test_active_alerts_read_the_log(registry_home) -> None:
    settings = registry_home
    rows = 500
    data = load_diamonds().sample(rows, random_state=0).reset_index(drop=True)
    now = datetime.now(UTC)
    engine = make_engine(settings.database_url)
    migrate(engine)
    sessions = make_sessionmaker(engine)
    with sessions.begin() as session:
        bulk_log(
            session,
            features=data.drop(columns=["price"]).astype({"cut": str, "color": str, "clarity": str}),
            predictions=data["price"].to_numpy(float),
            timestamps=pd.Series([now - timedelta(minutes=i % 120) for i in range(rows)]),
            model_name=settings.model_name,
            model_version=1,
            latency_ms=np.full(rows, 900.0),  # far beyond the 250 ms default
        )

    fired = alerts.active_alerts(settings, sessions=sessions)
    engine.dispose()

    assert [alert.rule for alert in fired] == ["p95_latency"]
    assert "p95 latency 9" in fired[0].message
    assert fired[0].message.endswith("— last 25 h.")  # Home and Monitoring name the window they speak of
