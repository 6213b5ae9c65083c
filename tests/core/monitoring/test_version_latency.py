"""The pre-flight's latency p95 and Monitoring's come from the same roll-up buckets, so they agree."""

from datetime import timedelta

import pytest

from core.monitoring.percentiles import paired_latency, version_latency
from core.monitoring.references import refresh
from core.monitoring.series import latency_by_kind, version_comparison
from core.monitoring.snapshot import snapshot
from core.monitoring.windows import Window
from storage.base import utcnow
from storage.db import make_engine, make_sessionmaker, migrate
from storage.prediction_log import log_predictions


def answers(
    settings, *, version: int, latencies: list[float], shadow_of: list[int] | None = None, source: str = "form"
) -> list[dict]:
    return [
        {
            "created_at": utcnow(),
            "model_name": settings.model_name,
            "model_version": version,
            "alias": "challenger" if shadow_of else "champion",
            "prediction": 1.0,
            "latency_ms": latency,
            "source": source,
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


def test_preflight_latency_compares_one_record_answers_with_one_record_answers(settings, sessions) -> None:
    # v1 answered 30 forms in 2 ms and a 100-row batch in 3,500 ms (35 ms a row); v2 shadowed the forms in 3 ms.
    with sessions.begin() as session:
        forms = log_predictions(session, records=answers(settings, version=1, latencies=[2.0] * 30))
        log_predictions(session, records=answers(settings, version=1, latencies=[35.0] * 100, source="batch"))
        log_predictions(session, records=answers(settings, version=2, latencies=[3.0] * 30, shadow_of=forms))
    refresh(settings, sessions=sessions)

    with sessions() as session:
        mixed = version_latency(session, model_name=settings.model_name, model_version=1)
        new, old = paired_latency(session, model_name=settings.model_name, candidate=2, holder=1, min_samples=20)
        few = paired_latency(session, model_name=settings.model_name, candidate=2, holder=1, min_samples=50)
    by_kind = latency_by_kind(
        snapshot(settings, sessions=sessions, window=Window.last(timedelta(days=1)), include_shadow=False)
    ).set_index("requests")

    assert mixed.p95_ms == pytest.approx(35.0, rel=0.06)  # all answers: the batch rows dominate
    assert (new.basis, new.samples, old.samples) == ("one record", 30, 30)
    assert old.p95_ms == pytest.approx(2.0, rel=0.06) and new.p95_ms == pytest.approx(3.0, rel=0.06)
    assert few[0].samples == 30 and few[0].basis == "one record"  # too few of any kind: "unknown" on one record
    assert list(by_kind.index) == ["one record", "batch (per-row share)"]
    assert by_kind.loc["one record", "answers"] == 30 and by_kind.loc["batch (per-row share)", "answers"] == 100
    assert by_kind.loc["batch (per-row share)", "p50_ms"] == pytest.approx(35.0, rel=0.06)
