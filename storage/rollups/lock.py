"""The roll-up lock: refreshers run one at a time; one told not to wait returns at once when another runs."""

from __future__ import annotations

from sqlalchemy.orm import Session

from storage.transaction_lock import lock_for_transaction

PG_ROLLUP_LOCK = 4_242_006


def lock_rollups(session: Session, *, wait: bool = True) -> bool:
    """Hold the roll-up lock until ``session``'s transaction ends; ``False`` if ``wait`` is off and it is taken.

    Taken before the transaction's first statement, so a waiting refresher never holds SQLite's write
    lock while it waits (no deadlock with the holder); re-entered by rebuild → refresh.
    """
    return lock_for_transaction(session, name="rollups", pg_key=PG_ROLLUP_LOCK, wait=wait)
