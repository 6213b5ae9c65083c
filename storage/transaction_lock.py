"""A lock held until a session's transaction ends, for jobs one process at a time must run.

Roll-up refreshes, pruning and alert delivery are such jobs: every scoring-server worker runs them, and
only one may do each at once. PostgreSQL takes a transaction-scoped advisory lock (released by commit or
rollback). SQLite takes a ``flock`` on a file beside the database instead of a statement: SQLite's own
write lock is also taken by every prediction written, so it cannot tell "another job is running" from "a
writer is busy for a millisecond", and taking it early would stall the writers while the job waits.
"""

from __future__ import annotations

import fcntl
from pathlib import Path
from typing import IO

from sqlalchemy import Connection, event, text
from sqlalchemy.orm import Session, SessionTransaction

_HELD = "loupe.transaction_locks"  # session.info key: {lock name: open file, or True}


def lock_for_transaction(session: Session, *, name: str, pg_key: int, wait: bool = True) -> bool:
    """Hold lock ``name`` until ``session``'s transaction ends; ``False`` at once if ``wait`` is off and it is taken.

    Re-entering within the transaction that holds it returns ``True``. On SQLite the lock file is
    ``<database>.<name>.lock``; an in-memory database has one connection and nobody to exclude.
    """
    held: dict[str, IO[bytes] | bool] = session.info.setdefault(_HELD, {})
    if name in held:
        return True
    bind = session.get_bind()
    engine = bind.engine if isinstance(bind, Connection) else bind
    if engine.dialect.name == "postgresql":
        if wait:
            session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": pg_key})
        elif not session.scalar(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": pg_key}):
            return False
        held[name] = True
    elif (path := _sqlite_lock_path(engine.dialect.name, engine.url.database, name)) is not None:
        handle = path.open("a+b")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        held[name] = handle
    else:
        held[name] = True
    if not event.contains(session, "after_transaction_end", _release):
        event.listen(session, "after_transaction_end", _release)
    return True


def _sqlite_lock_path(dialect: str, database: str | None, name: str) -> Path | None:
    if dialect != "sqlite" or not database or database == ":memory:" or database.startswith("file:"):
        return None
    path = Path(database).expanduser()
    return path.with_name(f"{path.name}.{name}.lock")


def _release(session: Session, transaction: SessionTransaction) -> None:
    # PostgreSQL drops an xact lock at commit or rollback by itself; the files are closed here.
    if transaction.parent is not None:
        return
    for handle in session.info.pop(_HELD, {}).values():
        if not isinstance(handle, bool):
            handle.close()  # closing the file releases its flock
