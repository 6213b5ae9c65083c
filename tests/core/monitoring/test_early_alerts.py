"""Alerts that need no true values: multivariate drift and estimated performance, on a real log."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.monitoring.alerts import snapshot_alerts
from core.monitoring.snapshot import snapshot
from core.monitoring.windows import Window
from core.settings import get_settings
from storage.db import make_engine, make_sessionmaker
from tests.monitoring_traffic import seed_traffic

pytestmark = pytest.mark.slow  # a real registry (DLE fitted at training) and a snapshot of 2,000 answers


@pytest.fixture
def view(registry_home):
    # carat × 1.2: one feature drifts alone, so the features no longer vary together as in training.
    seed_traffic(registry_home, rows=2_000, start=datetime.now(UTC) - timedelta(hours=20), hours=19, shift=1.2)
    engine = make_engine(registry_home.database_url)
    yield snapshot(registry_home, sessions=make_sessionmaker(engine), window=Window.last(timedelta(days=1)))
    engine.dispose()


def test_multivariate_drift_alerts_when_switched_on(registry_home, view, monkeypatch) -> None:
    by_default = {alert.rule for alert in snapshot_alerts(registry_home, view)}
    monkeypatch.setenv("LOUPE_ALERT_MULTIVARIATE_DRIFT", "true")
    get_settings.cache_clear()
    fired = {alert.rule: alert for alert in snapshot_alerts(get_settings(), view)}

    moved = fired["multivariate_drift"]
    assert view.multivariate is not None and moved.value == pytest.approx(view.multivariate.mean_error)
    assert moved.threshold == pytest.approx(view.multivariate.upper) and moved.value > moved.threshold
    assert moved.version == 1 and moved.message.startswith("Multivariate drift: version 1's inputs reconstruct")
    assert moved.message.endswith("— last 25 h.")
    assert "multivariate_drift" not in by_default  # opt-in: small windows leave the band by chance


def test_estimated_error_alerts_before_true_values_at_the_mae_ratio(registry_home, view) -> None:
    estimate = view.estimated.figure("mae").value
    ratio = estimate / view.holdout_mae
    below = registry_home.model_copy(update={"alert_mae_ratio": ratio * 1.01})
    at = registry_home.model_copy(update={"alert_mae_ratio": ratio * 0.99})

    assert "estimated_mae" not in {alert.rule for alert in snapshot_alerts(below, view)}
    (fired,) = [alert for alert in snapshot_alerts(at, view) if alert.rule == "estimated_mae"]
    assert fired.value == pytest.approx(estimate) and fired.threshold == pytest.approx(view.holdout_mae * ratio * 0.99)
    assert fired.message.startswith("Estimated error (DLE, before true values): MAE ")
    assert "on 2,000 predictions" in fired.message and "holdout MAE" in fired.message
