"""The alert tables' unique keys: one open incident per key, one message per incident, event and channel.

That migration 0017 builds them as the ORM declares and its downgrade removes them: tests/storage/test_migrations.py.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy.exc import IntegrityError

from storage import alerts
from storage.db import make_engine, make_sessionmaker, migrate

NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.slow)])
def engine(request, tmp_path):
    url = f"sqlite:///{tmp_path / 'loupe.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    engine = make_engine(url)
    yield engine
    engine.dispose()


def test_one_open_incident_per_key_and_one_message_per_incident_event_channel(engine) -> None:
    migrate(engine)
    sessions = make_sessionmaker(engine)
    key = {"model_name": "m", "rule": "mae", "model_version": 2, "severity": "error", "message": "x"}

    with sessions.begin() as session:
        first = alerts.open_incident(session, **key, value=1.0, threshold=0.5, now=NOW)
        again = alerts.open_incident(session, **key, value=2.0, threshold=0.5, now=NOW)
        assert first is not None and again is None
        assert alerts.queue_delivery(session, incident_id=first.id, event="firing", channel="slack", now=NOW)
        assert not alerts.queue_delivery(session, incident_id=first.id, event="firing", channel="slack", now=NOW)
        alerts.resolve_incident(session, incident=first, now=NOW)
        reopened = alerts.open_incident(session, **key, value=3.0, threshold=0.5, now=NOW)
        assert reopened is not None and reopened.id != first.id
    with pytest.raises(IntegrityError), sessions.begin() as session:  # the constraint itself, not only the check
        session.add(alerts.AlertDelivery(incident_id=first.id, event="firing", channel="slack", created_at=NOW))
