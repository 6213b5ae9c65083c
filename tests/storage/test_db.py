from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from storage.db import current_revision, head_revision, make_engine, make_sessionmaker, migrate, table_names
from storage.ledger import list_alias_changes, record_alias_change

TABLES = {"predictions", "feedback", "rejections", "alias_changes"}


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request, tmp_path):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'log' / 'loupe.db'}"
    else:
        url = request.getfixturevalue("pg_url")
    engine = make_engine(url)
    yield engine
    engine.dispose()


def test_migrate_creates_every_table_and_is_idempotent(engine) -> None:
    assert current_revision(engine) is None

    migrate(engine)
    migrate(engine)

    assert TABLES <= set(table_names(engine))
    assert current_revision(engine) == head_revision()


def test_sqlite_runs_in_wal_with_a_busy_timeout(tmp_path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'loupe.db'}")
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5_000


def test_ledger_keeps_order_and_utc_times(engine) -> None:
    migrate(engine)
    sessions = make_sessionmaker(engine)
    with sessions.begin() as session:
        for version in (1, 2, 3):
            record_alias_change(
                session,
                model_name="m",
                alias="champion",
                from_version=version - 1 or None,
                to_version=version,
                actor="tester",
                reason=f"step {version}",
                origin="cli",
            )
        record_alias_change(
            session,
            model_name="m",
            alias="challenger",
            from_version=None,
            to_version=9,
            actor="t",
            reason="r",
            origin="cli",
        )

    with sessions.begin() as session:
        changes = list_alias_changes(session, model_name="m", alias="champion")

    assert [change.to_version for change in changes] == [1, 2, 3]
    assert changes[0].from_version is None
    assert all(abs(change.changed_at - datetime.now(UTC)) < timedelta(minutes=1) for change in changes)


def test_a_failed_transaction_leaves_nothing(engine) -> None:
    migrate(engine)
    sessions = make_sessionmaker(engine)
    with pytest.raises(RuntimeError), sessions.begin() as session:
        record_alias_change(
            session, model_name="m", alias="a", from_version=None, to_version=1, actor="t", reason="r", origin="cli"
        )
        raise RuntimeError("boom")

    with engine.connect() as connection:
        assert connection.execute(text("SELECT COUNT(*) FROM alias_changes")).scalar() == 0
