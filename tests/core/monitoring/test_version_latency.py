"""The pre-flight's latency p95 and Monitoring's come from the same roll-up buckets, so they agree."""

from datetime import timedelta

import pytest

from core.monitoring.percentiles import version_latency
from core.monitoring.references import refresh
from core.monitoring.series import version_comparison
from core.monitoring.snapshot import snapshot
from core.monitoring.windows import Window
from storage.base import utcnow
from storage.db import make_engine, make_sessionmaker, migrate
from storage.prediction_log import log_predictions


def answers(settings, *, version: int, latencies: list[float], shadow_of: list[int] | None = None) -> list[dict]:
    return [
        {
            "created_at": utcnow(),
            "model_name": settings.model_name,
            "model_version": version,
            "alias": "challenger" if shadow_of else "champion",
            "prediction": 1.0,
            "latency_ms": latency,
            "source": "form",
            "request_id": f"r{index}",
            "is_ood": False,
            "ood_fields": None,
            "is_shadow": bool(shadow_of),
            "shadow_of": shadow_of[index] if shadow_of else None,
        }
        for index, latency in enumerate(latencies)
    ]


@pytest.fixture
def sessions(settings):
    engine = make_engine(settings.database_url)
    migrate(engine)
    yield make_sessionmaker(engine)
    engine.dispose()


def test_preflight_latency_is_monitorings_p95(settings, sessions) -> None:
    with sessions.begin() as session:
        served = log_predictions(
            session, records=answers(settings, version=1, latencies=[float(n) for n in range(1, 101)])
        )
        log_predictions(session, records=answers(settings, version=2, latencies=[3.0] * 100, shadow_of=served))
    refresh(settings, sessions=sessions)

    with sessions() as session:
        champion = version_latency(session, model_name=settings.model_name, model_version=1)
        challenger = version_latency(session, model_name=settings.model_name, model_version=2)
        nothing = version_latency(session, model_name=settings.model_name, model_version=9)
    table = version_comparison(
        snapshot(settings, sessions=sessions, window=Window.last(timedelta(days=1)), include_shadow=True)
    ).set_index("version")

    assert (champion.samples, challenger.samples, nothing.samples) == (100, 100, 0)
    assert nothing.p95_ms is None
    assert champion.p95_ms == pytest.approx(95.0, rel=0.06)  # within one log-spaced bucket (≈ 5.9 %)
    assert challenger.p95_ms == pytest.approx(3.0, rel=0.06)
    assert table.loc[1, "latency_p95_ms"] == pytest.approx(champion.p95_ms)
    assert table.loc[2, "latency_p95_ms"] == pytest.approx(challenger.p95_ms)
