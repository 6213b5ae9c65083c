"""The alias ledger: every change of a registry alias, made in Loupe or detected outside it.

A Loupe move is written ``pending`` before the registry makes it and ``done`` after (see
:mod:`core.registry.promotion`); a pending entry left by a crash is settled on the next read.
Readers see ``done`` entries only.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from sqlalchemy import Boolean, Integer, String, Text, func, select, text, update
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from storage.base import Base, BigId, UTCDateTime, utcnow
from storage.file_lock import exclusive, try_exclusive

ORIGINS = ("page", "cli", "rollback", "external", "bootstrap")
PENDING, DONE, ABANDONED = "pending", "done", "abandoned"


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
    # pending: written, the registry not yet moved; done: the registry moved; abandoned: it never did.
    state: Mapped[str] = mapped_column(String(16), default=DONE, server_default=DONE)
    settled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # when a pending entry became done/abandoned
    artifact_digest: Mapped[str | None] = mapped_column(String(64))  # SHA-256 of the model files moved to


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
    state: str = DONE,
    artifact_digest: str | None = None,
) -> AliasChange:
    """Append one entry to the ledger (flushed, not committed); ``state=PENDING`` before a registry move."""
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
        state=state,
        artifact_digest=artifact_digest,
    )
    session.add(change)
    session.flush()
    return change


def settle_alias_changes(session: Session, *, ids: Sequence[int], state: str) -> None:
    """Mark pending entries ``done`` or ``abandoned`` (entries already settled are left as they are)."""
    if ids:
        session.execute(
            update(AliasChange)
            .where(AliasChange.id.in_(list(ids)), AliasChange.state == PENDING)
            .values(state=state, settled_at=utcnow())
        )


def pending_alias_changes(session: Session, *, model_name: str) -> list[AliasChange]:
    """Entries written for a registry move that was not confirmed (a move in flight, or a crash), oldest first."""
    query = select(AliasChange).where(AliasChange.model_name == model_name, AliasChange.state == PENDING)
    return list(session.scalars(query.order_by(AliasChange.id)))


def list_alias_changes(session: Session, *, model_name: str, alias: str | None = None) -> list[AliasChange]:
    """Ledger entries for a model (optionally one alias), oldest first: moves the registry made."""
    query = select(AliasChange).where(AliasChange.model_name == model_name, AliasChange.state == DONE)
    if alias is not None:
        query = query.where(AliasChange.alias == alias)
    return list(session.scalars(query.order_by(AliasChange.id)))


def last_alias_changes(session: Session, *, model_name: str) -> dict[str, AliasChange]:
    """The newest ledger entry of every alias the model ever had."""
    newest = (
        select(func.max(AliasChange.id))
        .where(AliasChange.model_name == model_name, AliasChange.state == DONE)
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


def _move_lock_key(model_name: str) -> int:
    # Another key than the ledger lock's: a mover holds this one across transactions that take that one.
    return zlib.crc32(f"loupe.alias_moves:{model_name}".encode())


def _move_lock_file(sessions: sessionmaker[Session], model_name: str) -> Path | None:
    url = sessions.kw["bind"].url
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    database = Path(url.database).expanduser()
    return database.with_name(f"{database.name}.alias-moves-{_move_lock_key(model_name)}.lock")


@contextmanager
def alias_move_lock(sessions: sessionmaker[Session], *, model_name: str, wait: bool = True) -> Iterator[bool]:
    """Held by a move from its pending entry to its settlement (several transactions, other processes excluded).

    Yields ``False`` without waiting when ``wait`` is off and a move is in flight: a reader then knows a
    pending entry may be that move's, not a crash's. PostgreSQL: a session advisory lock on a connection
    of its own; SQLite: a ``flock`` beside the database (both released if the process dies).
    """
    path = _move_lock_file(sessions, model_name)
    if path is not None:
        if wait:
            with exclusive(path):
                yield True
        else:
            with try_exclusive(path) as held:
                yield held
        return
    engine = sessions.kw["bind"]
    if engine.dialect.name != "postgresql":  # an in-memory SQLite database has one connection: nobody to exclude
        yield True
        return
    key = _move_lock_key(model_name)
    with engine.connect() as connection:
        if wait:
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": key})
            held = True
        else:
            held = bool(connection.scalar(text("SELECT pg_try_advisory_lock(:key)"), {"key": key}))
        connection.commit()
        try:
            yield held
        finally:
            if held:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
                connection.commit()
