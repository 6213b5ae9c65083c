"""Audit that survives a crash: a move is in the ledger (who, why, checks) before the registry makes it.

A real process is cut off between the ledger and the registry: right after the registry moved the
alias (the move happened: the next read keeps it as a Loupe move with its actor, not an "outside"
change), or right before (it never happened: the next read abandons the entry). The cut is made by
exiting the process inside the registry call, as a kill or a power loss would.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from core import mlflow_io
from core.registry.ledger_sync import EXTERNAL_ACTOR, ledger, sync_external_changes
from core.registry.promotion import rollback_path
from core.settings import Settings
from storage.db import make_engine, make_sessionmaker, migrate
from storage.ledger import PENDING, alias_move_lock, pending_alias_changes, record_alias_change

pytestmark = pytest.mark.slow  # each test cuts off a real process

CRASH_EXIT = 70
# Promote v2 to champion from another process that dies around the registry's alias call.
PROMOTE_AND_DIE = """
import os, sys
from core import mlflow_io
from core.registry.promotion import promote
from core.settings import get_settings
from storage.db import migrated_sessions

real_set_alias = mlflow_io.set_alias

def cut_off(*args, **kwargs):
    if sys.argv[1] == "after":
        real_set_alias(*args, **kwargs)
    os._exit(int(sys.argv[2]))

mlflow_io.set_alias = cut_off
settings = get_settings()
with migrated_sessions(settings.database_url) as sessions:
    promote(settings, sessions=sessions, version=2, alias="champion", reason="rf wins on recent traffic",
            actor="ana", origin="cli", override=True)
"""


@pytest.fixture
def sessions(registry_home: Settings):
    engine = make_engine(registry_home.database_url)
    migrate(engine)
    yield make_sessionmaker(engine)
    engine.dispose()


def _promote_and_die(settings: Settings, when: str) -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROMOTE_AND_DIE, when, str(CRASH_EXIT)],
        env={**os.environ, "LOUPE_HOME": str(settings.home_dir)},
        cwd=Path(__file__).resolve().parents[3],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == CRASH_EXIT, result.stderr[-2000:]


def test_a_move_cut_off_after_the_registry_moved_stays_a_loupe_move_with_its_actor(registry_home, sessions) -> None:
    _promote_and_die(registry_home, "after")

    assert mlflow_io.alias_map(registry_home)["champion"] == 2  # the registry moved
    with sessions() as session:
        (pending,) = pending_alias_changes(session, model_name=registry_home.model_name)
    assert (pending.alias, pending.to_version, pending.actor) == ("champion", 2, "ana")  # written before the move

    entries = ledger(registry_home, sessions=sessions, alias="champion")

    last = entries[-1]
    assert (last.from_version, last.to_version, last.actor, last.origin) == (1, 2, "ana", "cli")
    assert last.reason == "rf wins on recent traffic" and last.preflight  # why, and the checks it passed
    assert all(entry.actor != EXTERNAL_ACTOR for entry in entries)
    with sessions() as session:
        assert pending_alias_changes(session, model_name=registry_home.model_name) == []
    assert rollback_path(registry_home, sessions=sessions, alias="champion").target == 1


def test_a_move_cut_off_before_the_registry_moved_is_abandoned(registry_home, sessions) -> None:
    before = [(entry.alias, entry.to_version) for entry in ledger(registry_home, sessions=sessions)]

    _promote_and_die(registry_home, "before")

    assert mlflow_io.alias_map(registry_home)["champion"] == 1  # the registry never moved
    after = ledger(registry_home, sessions=sessions)
    assert [(entry.alias, entry.to_version) for entry in after] == before  # nothing recorded as made
    with sessions() as session:
        assert pending_alias_changes(session, model_name=registry_home.model_name) == []
    assert rollback_path(registry_home, sessions=sessions, alias="champion").holder == 1


def test_a_move_in_flight_is_neither_abandoned_nor_recorded_as_outside(registry_home, sessions) -> None:
    with alias_move_lock(sessions, model_name=registry_home.model_name):  # another process is moving champion
        with sessions.begin() as session:
            record_alias_change(
                session,
                model_name=registry_home.model_name,
                alias="champion",
                from_version=1,
                to_version=2,
                actor="ben",
                reason="in flight",
                origin="page",
                state=PENDING,
            )
        mlflow_io.set_alias(registry_home, alias="champion", version=2)  # its registry call, not yet confirmed

        assert sync_external_changes(registry_home, sessions=sessions) == []
        with sessions() as session:
            assert len(pending_alias_changes(session, model_name=registry_home.model_name)) == 1

    # The mover is gone without confirming: the next read settles the entry as the move it was.
    assert sync_external_changes(registry_home, sessions=sessions) == []
    last = ledger(registry_home, sessions=sessions, alias="champion")[-1]
    assert (last.to_version, last.actor) == (2, "ben")
