"""Migration 0017 builds the alert tables exactly as the ORM declares them, and its downgrade removes them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy.exc import IntegrityError

from storage import alerts
from storage.base import Base
from storage.db import MIGRATIONS, make_engine, make_sessionmaker, migrate, table_names

TABLES = {"alert_incidents", "alert_deliveries"}
NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.slow)])
def engine(request, tmp_path):
    url = f"sqlite:///{tmp_path / 'loupe.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    engine = make_engine(url)
    yield engine
    engine.dispose()


def test_the_migrated_alert_tables_match_the_orm(engine) -> None:
    migrate(engine)

    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)

    def table_of(difference) -> str | None:
        item = difference[0] if isinstance(difference, list) else difference
        for part in item[1:]:  # (kind, schema, table name, …) or (kind, Table / Index / constraint)
            if isinstance(part, str):
                return part
            table = getattr(part, "table", None)
            name = table.name if table is not None else getattr(part, "name", None)
            if isinstance(name, str):
                return name
        return None

    assert [difference for difference in differences if table_of(difference) in TABLES] == []


def test_downgrade_removes_the_tables_and_upgrade_brings_them_back(engine) -> None:
    migrate(engine)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine

    command.downgrade(config, "0016")
    assert not TABLES & set(table_names(engine))
    migrate(engine)
    assert TABLES <= set(table_names(engine))


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
