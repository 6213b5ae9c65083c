"""Alembic environment: runs migrations on the engine handed over by ``storage.db.migrate``."""

from alembic import context
from sqlalchemy import text

from storage import alert_tables, batch_log, ledger, prediction_log, rollups  # noqa: F401  (register the tables on Base.metadata)
from storage.base import Base

PG_MIGRATION_LOCK = 4_242_001  # any constant: serialises concurrent migrators on PostgreSQL

engine = context.config.attributes["engine"]

with engine.connect() as connection:
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        # A batch migration rebuilds a table (copy, drop, rename): with foreign keys on, dropping
        # ``predictions`` would cascade-delete every feature and feedback row. The pragma only takes
        # effect outside a transaction, hence the raw driver connection (autocommit).
        connection.connection.dbapi_connection.execute("PRAGMA foreign_keys=OFF")  # type: ignore[union-attr]
    try:
        context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
        with context.begin_transaction():
            if connection.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_MIGRATION_LOCK})
            context.run_migrations()
    finally:
        if sqlite:
            connection.connection.dbapi_connection.execute("PRAGMA foreign_keys=ON")  # type: ignore[union-attr]
