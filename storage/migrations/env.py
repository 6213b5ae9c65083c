"""Alembic environment: runs migrations on the engine handed over by ``storage.db.migrate``."""

from alembic import context
from sqlalchemy import text

from storage import ledger, prediction_log, rollups  # noqa: F401  (register the tables on Base.metadata)
from storage.base import Base

PG_MIGRATION_LOCK = 4_242_001  # any constant: serialises concurrent migrators on PostgreSQL

engine = context.config.attributes["engine"]

with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_MIGRATION_LOCK})
        context.run_migrations()
