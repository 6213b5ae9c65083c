import threading
import time

import pytest

from storage.db import make_engine, make_sessionmaker, migrate, reading
from storage.ledger import (
    ABANDONED,
    DONE,
    PENDING,
    alias_move_lock,
    last_alias_changes,
    list_alias_changes,
    lock_alias_ledger,
    pending_alias_changes,
    record_alias_change,
    settle_alias_changes,
)


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path):
    return f"sqlite:///{tmp_path / 'loupe.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")


@pytest.fixture
def sessions(url):
    engine = make_engine(url)
    migrate(engine)
    yield make_sessionmaker(engine)
    engine.dispose()


def change(session, *, alias, to_version, from_version=None, model="m", origin="cli"):
    return record_alias_change(
        session,
        model_name=model,
        alias=alias,
        from_version=from_version,
        to_version=to_version,
        actor="tester",
        reason="because",
        origin=origin,
    )


def test_last_alias_changes_gives_the_newest_entry_per_alias(sessions) -> None:
    with sessions.begin() as session:
        change(session, alias="champion", to_version=1)
        change(session, alias="challenger", to_version=2)
        change(session, alias="champion", from_version=1, to_version=3)
        change(session, alias="challenger", from_version=2, to_version=None)
        change(session, alias="champion", to_version=9, model="other")

    with sessions() as session:
        last = last_alias_changes(session, model_name="m")
        everything = list_alias_changes(session, model_name="m")

    assert {alias: (entry.from_version, entry.to_version) for alias, entry in last.items()} == {
        "champion": (1, 3),
        "challenger": (2, None),
    }
    assert [entry.to_version for entry in everything] == [1, 2, 3, None]


def test_the_ledger_lock_serialises_writers(url) -> None:
    engine = make_engine(url)
    migrate(engine)
    sessions = make_sessionmaker(engine)
    order: list[str] = []
    first_has_lock = threading.Event()

    def first() -> None:
        with sessions.begin() as session:
            lock_alias_ledger(session, model_name="m")
            first_has_lock.set()
            time.sleep(0.5)  # hold the lock while the second writer tries to take it
            order.append("first")
            change(session, alias="champion", to_version=1)

    def second() -> None:
        first_has_lock.wait(10)
        with sessions.begin() as session:
            lock_alias_ledger(session, model_name="m")
            last = last_alias_changes(session, model_name="m").get("champion")
            order.append(f"second saw {None if last is None else last.to_version}")
            change(session, alias="champion", from_version=1, to_version=2)

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert order == ["first", "second saw 1"]
    with sessions() as session:
        assert [entry.to_version for entry in list_alias_changes(session, model_name="m")] == [1, 2]
    engine.dispose()


def test_the_lock_refuses_a_sqlite_transaction_that_does_not_hold_the_write_lock(tmp_path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'loupe.db'}")
    migrate(engine)
    with reading(make_sessionmaker(engine)) as session, pytest.raises(RuntimeError, match="IMMEDIATE"):
        lock_alias_ledger(session, model_name="m")
    engine.dispose()


def test_pending_and_abandoned_entries_are_not_what_readers_see_until_settled(sessions) -> None:
    with sessions.begin() as session:
        made = record_alias_change(
            session,
            model_name="m",
            alias="champion",
            from_version=None,
            to_version=1,
            actor="a",
            reason="r",
            origin="cli",
        )
        pending = record_alias_change(
            session,
            model_name="m",
            alias="champion",
            from_version=1,
            to_version=2,
            actor="b",
            reason="r",
            origin="cli",
            state=PENDING,
        )
        lost = record_alias_change(
            session,
            model_name="m",
            alias="champion",
            from_version=1,
            to_version=3,
            actor="c",
            reason="r",
            origin="cli",
            state=PENDING,
        )
    with sessions() as session:
        assert [entry.id for entry in list_alias_changes(session, model_name="m")] == [made.id]
        assert last_alias_changes(session, model_name="m")["champion"].id == made.id
        assert [entry.id for entry in pending_alias_changes(session, model_name="m")] == [pending.id, lost.id]
    with sessions.begin() as session:
        settle_alias_changes(session, ids=[pending.id], state=DONE)
        settle_alias_changes(session, ids=[lost.id], state=ABANDONED)
        settle_alias_changes(session, ids=[pending.id], state=ABANDONED)  # settled once: a later call changes nothing
    with sessions() as session:
        assert [entry.id for entry in list_alias_changes(session, model_name="m")] == [made.id, pending.id]
        assert pending_alias_changes(session, model_name="m") == []
        assert list_alias_changes(session, model_name="m")[-1].settled_at is not None


def test_the_move_lock_is_held_across_transactions_and_others_need_not_wait(sessions) -> None:
    with alias_move_lock(sessions, model_name="m") as held:
        assert held
        with sessions.begin() as session:  # the mover's own transactions still run (no self-deadlock)
            lock_alias_ledger(session, model_name="m")
        seen: list[bool] = []

        def other_process_reader() -> None:
            with alias_move_lock(sessions, model_name="m", wait=False) as free:
                seen.append(free)

        reader = threading.Thread(target=other_process_reader)
        reader.start()
        reader.join(timeout=30)
        assert seen == [False]
        with alias_move_lock(sessions, model_name="other-model", wait=False) as free:
            assert free  # one model's move does not hold another's
    with alias_move_lock(sessions, model_name="m", wait=False) as free:
        assert free
