import getpass
import os
import subprocess
import sys
from pathlib import Path

import pytest

from core import mlflow_io
from storage.db import make_engine, make_sessionmaker
from storage.ledger import list_alias_changes
from tests.conftest import use_home

ROOT = Path(__file__).resolve().parents[3]


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "core", *args], cwd=ROOT, capture_output=True, text=True, timeout=300, env=os.environ
    )


def ledger_rows(settings) -> list[tuple]:
    engine = make_engine(settings.database_url)
    try:
        with make_sessionmaker(engine)() as session:
            return [
                (entry.alias, entry.from_version, entry.to_version, entry.actor, entry.origin, entry.override)
                for entry in list_alias_changes(session, model_name=settings.model_name)
            ]
    finally:
        engine.dispose()


@pytest.mark.slow
def test_a_blocked_promotion_exits_non_zero_with_the_failed_checks_until_forced(ridge_registry) -> None:
    blocked = cli("promote", "--version", "3", "--alias", "champion", "--reason", "try ridge")

    assert blocked.returncode == 1
    assert "promotion blocked by failed checks: holdout rmse" in blocked.stderr
    assert "Traceback" not in blocked.stderr
    assert "fail  holdout rmse" in blocked.stdout
    assert mlflow_io.alias_map(ridge_registry)["champion"] == 1

    forced = cli("promote", "--version", "3", "--alias", "champion", "--reason", "audit asked for it", "--force")

    assert forced.returncode == 0, forced.stderr
    assert "champion → version 3 (was version 1) (failed checks overridden)" in forced.stdout
    assert mlflow_io.alias_map(ridge_registry)["champion"] == 3
    assert ledger_rows(ridge_registry)[-1] == ("champion", 1, 3, getpass.getuser(), "cli", True)


@pytest.mark.slow
def test_promote_rollback_and_ledger_from_the_command_line(registry_home) -> None:
    empty_reason = cli("promote", "--version", "2", "--alias", "champion", "--reason", " ", "--force")
    assert empty_reason.returncode == 1 and "reason is required" in empty_reason.stderr

    promoted = cli("promote", "--version", "2", "--alias", "champion", "--reason", "rf is fine")
    rolled_back = cli("rollback", "--alias", "champion", "--reason", "changed my mind")
    nothing_left = cli("rollback", "--alias", "champion", "--reason", "again")
    shown = cli("ledger", "--alias", "champion", "--csv")

    assert promoted.returncode == 0 and "champion → version 2 (was version 1)" in promoted.stdout
    assert rolled_back.returncode == 0 and "version 2 → version 1" in rolled_back.stdout
    # The ledger's previous version of champion is now 2: a second rollback would re-promote it.
    assert nothing_left.returncode == 0 and "version 1 → version 2" in nothing_left.stdout
    lines = shown.stdout.strip().splitlines()
    assert lines[0].startswith("id,when (UTC),alias,from,to,who,origin")
    assert [[*line.split(",")[3:5], line.split(",")[6]] for line in lines[1:]] == [
        ["", "1", "bootstrap"],
        ["1", "2", "cli"],
        ["2", "1", "rollback"],
        ["1", "2", "rollback"],
    ]


@pytest.mark.slow
def test_the_command_line_needs_the_token_when_one_is_set(registry_home, monkeypatch) -> None:
    settings = use_home(monkeypatch, registry_home.home_dir, LOUPE_ADMIN_TOKEN="s3cret")

    missing = cli("promote", "--version", "2", "--alias", "champion", "--reason", "r")
    wrong = cli("rollback", "--alias", "champion", "--reason", "r", "--token", "nope")

    assert missing.returncode == 1 and "admin token is required" in missing.stderr
    assert wrong.returncode == 1 and "admin token is wrong" in wrong.stderr
    assert mlflow_io.alias_map(settings)["champion"] == 1 and len(ledger_rows(settings)) == 2

    allowed = cli("promote", "--version", "2", "--alias", "champion", "--reason", "r", "--token", "s3cret")
    assert allowed.returncode == 0, allowed.stderr


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_racing_promotion_processes_lose_no_ledger_entry(registry_home, monkeypatch, request, backend) -> None:
    settings = registry_home
    if backend == "postgresql":
        settings = use_home(monkeypatch, registry_home.home_dir, LOUPE_DATABASE_URL=request.getfixturevalue("pg_url"))
    command = [sys.executable, "-m", "core", "promote", "--alias", "race", "--reason", "race", "--version"]
    racers = [
        subprocess.Popen([*command, version], cwd=ROOT, env=os.environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for version in ("1", "2")
    ]
    outputs = [racer.communicate(timeout=300) for racer in racers]

    assert [racer.returncode for racer in racers] == [0, 0], outputs
    race = [row for row in ledger_rows(settings) if row[0] == "race"]
    assert len(race) == 2
    (_, first_from, first_to, *_), (_, second_from, second_to, *_) = race
    assert first_from is None and second_from == first_to and {first_to, second_to} == {1, 2}
    assert mlflow_io.alias_map(settings)["race"] == second_to
