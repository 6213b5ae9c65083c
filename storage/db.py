"""Engines, sessions and migrations for the prediction log, on SQLite or PostgreSQL alike."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from storage.file_lock import exclusive

MIGRATIONS = Path(__file__).parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 30_000

# The session factory every service takes; ``with sessions.begin() as session:`` owns one transaction.
Sessions = sessionmaker[Session]


def make_engine(url: str) -> Engine:
    """An engine for ``url``; on SQLite: WAL, a busy timeout, and write-locking transactions.

    SQLite transactions start with ``BEGIN IMMEDIATE``: a deferred transaction that reads and then
    writes cannot wait for the lock and fails with "database is locked" under concurrent writers.
    Read-only work opts out with :func:`reading`.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)

    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})

    @event.listens_for(engine, "connect")
    def _configure_connection(dbapi_connection, _record) -> None:
        # Hand transaction control to SQLAlchemy's "begin" event below instead of pysqlite.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection) -> None:
        mode = connection.get_execution_options().get("sqlite_begin", "IMMEDIATE")
        connection.exec_driver_sql(f"BEGIN {mode}")

    return engine


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """Sessions whose objects stay readable after commit; use ``with factory.begin() as session:``."""
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def migrated_sessions(url: str) -> Iterator[sessionmaker[Session]]:
    """Sessions on a freshly migrated database, disposed afterwards (for commands and scripts)."""
    engine = make_engine(url)
    try:
        migrate(engine)
        yield make_sessionmaker(engine)
    finally:
        engine.dispose()


@contextmanager
def reading(sessions: Sessions) -> Iterator[Session]:
    """A session for reads only: on SQLite it does not take the write lock, so reads never queue behind writes."""
    with sessions() as session:
        session.connection(execution_options={"sqlite_begin": "DEFERRED"})
        yield session


def _alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def migrate(engine: Engine, *, revision: str = "head") -> None:
    """Bring the schema to ``revision`` (idempotent; concurrent callers are serialised).

    PostgreSQL serialises migrators with an advisory lock (migrations/env.py). SQLite DDL runs outside a
    transaction under Alembic, so two processes would both read revision N and both try N → N+1:
    a lock file beside the database lets one migrate while the others wait, then find nothing to do.
    """
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    if not database or database == ":memory:":
        command.upgrade(_alembic_config(engine), revision)
        return
    with exclusive(Path(database).expanduser().with_name(Path(database).name + ".migrate.lock")):
        command.upgrade(_alembic_config(engine), revision)


def current_revision(engine: Engine) -> str | None:
    """The schema revision the database is at, or ``None`` if it was never migrated."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def table_names(engine: Engine) -> list[str]:
    """Tables present in the database."""
    return sorted(inspect(engine).get_table_names())


def head_revision() -> str:
    """The newest schema revision this code knows."""
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    head = ScriptDirectory.from_config(config).get_current_head()
    if head is None:
        raise RuntimeError(f"no migrations found in {MIGRATIONS}")
    return head
