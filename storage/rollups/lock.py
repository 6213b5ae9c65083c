"""The roll-up lock: refreshers run one at a time; one told not to wait returns at once when another runs."""

from __future__ import annotations

import fcntl
from pathlib import Path

from sqlalchemy import Connection, event, text
from sqlalchemy.orm import Session, SessionTransaction

PG_ROLLUP_LOCK = 4_242_006


def lock_rollups(session: Session, *, wait: bool = True) -> bool:
    """Hold the roll-up lock until ``session``'s transaction ends; ``False`` if ``wait`` is off and it is taken.

    PostgreSQL: a transaction-scoped advisory lock (``pg_try_advisory_xact_lock`` when not waiting).
    SQLite: every write transaction already serialises on ``BEGIN IMMEDIATE``, but that lock is also
    taken by each prediction written, so it cannot tell "another refresher is running" from "a writer
    is busy for a millisecond". A ``flock`` on ``<database>.rollups.lock`` says exactly the former; it is
    taken before the transaction's first statement (so a waiting refresher never holds the database's
    write lock while it waits: no deadlock with the holder) and released when the transaction ends.
    """
    if session.info.get(_LOCK_HELD):
        return True  # re-entered (rebuild → refresh) within the transaction that holds it
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        if wait:
            session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_ROLLUP_LOCK})
        elif not session.scalar(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": PG_ROLLUP_LOCK}):
            return False
        held: object = True
    elif dialect == "sqlite" and (path := _sqlite_lock_path(session)) is not None:
        handle = path.open("a+b")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        held = handle
    else:
        held = True  # an in-memory SQLite database has one connection: nobody to exclude
    if not session.info.get(_LOCK_LISTENING):
        event.listen(session, "after_transaction_end", _release_lock)
        session.info[_LOCK_LISTENING] = True
    session.info[_LOCK_HELD] = held
    return True


_LOCK_HELD, _LOCK_LISTENING = "loupe.rollup_lock", "loupe.rollup_lock_listening"


def _sqlite_lock_path(session: Session) -> Path | None:
    bind = session.get_bind()
    database = (bind.engine if isinstance(bind, Connection) else bind).url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    path = Path(database).expanduser()
    return path.with_name(path.name + ".rollups.lock")


def _release_lock(session: Session, transaction: SessionTransaction) -> None:
    # PostgreSQL drops an xact lock at commit or rollback by itself; the file lock is released here.
    if transaction.parent is not None:
        return
    held = session.info.pop(_LOCK_HELD, None)
    if held is not None and held is not True:
        held.close()  # closing the file releases its flock
