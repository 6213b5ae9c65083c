"""The alias ledger: every change of a registry alias, made in Loupe or detected outside it."""

from __future__ import annotations

import zlib
from datetime import datetime

from sqlalchemy import Boolean, Integer, String, Text, func, select, text
from sqlalchemy.orm import Mapped, Session, mapped_column

from storage.base import Base, BigId, UTCDateTime, utcnow

ORIGINS = ("page", "cli", "rollback", "external", "bootstrap")


class AliasChange(Base):
    """One alias move; ``to_version`` is ``None`` when the alias was removed."""

    __tablename__ = "alias_changes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    model_name: Mapped[str] = mapped_column(String(200))
    alias: Mapped[str] = mapped_column(String(64), index=True)
    from_version: Mapped[int | None] = mapped_column(Integer)
    to_version: Mapped[int | None] = mapped_column(Integer)
    actor: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text)
    origin: Mapped[str] = mapped_column(String(16))  # page | cli | rollback | external | bootstrap
    preflight: Mapped[str | None] = mapped_column(Text)  # JSON list of check results
    override: Mapped[bool] = mapped_column(Boolean, default=False)


def record_alias_change(
    session: Session,
    *,
    model_name: str,
    alias: str,
    from_version: int | None,
    to_version: int | None,
    actor: str,
    reason: str,
    origin: str,
    preflight: str | None = None,
    override: bool = False,
) -> AliasChange:
    """Append one entry to the ledger (flushed, not committed)."""
    change = AliasChange(
        model_name=model_name,
        alias=alias,
        from_version=from_version,
        to_version=to_version,
        actor=actor,
        reason=reason,
        origin=origin,
        preflight=preflight,
        override=override,
    )
    session.add(change)
    session.flush()
    return change


def list_alias_changes(session: Session, *, model_name: str, alias: str | None = None) -> list[AliasChange]:
    """Ledger entries for a model (optionally one alias), oldest first."""
    query = select(AliasChange).where(AliasChange.model_name == model_name)
    if alias is not None:
        query = query.where(AliasChange.alias == alias)
    return list(session.scalars(query.order_by(AliasChange.id)))


def last_alias_changes(session: Session, *, model_name: str) -> dict[str, AliasChange]:
    """The newest ledger entry of every alias the model ever had."""
    newest = (
        select(func.max(AliasChange.id))
        .where(AliasChange.model_name == model_name)
        .group_by(AliasChange.alias)
        .scalar_subquery()
    )
    return {change.alias: change for change in session.scalars(select(AliasChange).where(AliasChange.id.in_(newest)))}


def lock_alias_ledger(session: Session, *, model_name: str) -> None:
    """Serialise alias moves of one model until the transaction ends (other processes included).

    PostgreSQL: a transaction-level advisory lock keyed on the model. SQLite: the transaction's
    ``BEGIN IMMEDIATE`` (see ``storage.db.make_engine``) already holds the database write lock.
    """
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        key = zlib.crc32(f"loupe.alias_ledger:{model_name}".encode())
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
    elif connection.dialect.name == "sqlite":
        if connection.get_execution_options().get("sqlite_begin", "IMMEDIATE") != "IMMEDIATE":
            raise RuntimeError("alias moves need a write-locking SQLite transaction (BEGIN IMMEDIATE)")
    else:  # pragma: no cover - Loupe supports SQLite and PostgreSQL only
        raise RuntimeError(f"no ledger lock for {connection.dialect.name}")
