"""``python -m core promote``: pre-flight checks, the override, the token and the ledger (origin cli)."""

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from core import mlflow_io
from core.identity import os_user
from core.settings import get_settings
from tests.conftest import use_home
from tests.ledger_rows import BOOTSTRAP_LEDGER, ledger_rows, moves

ROOT = Path(__file__).resolve().parents[3]


def test_a_promotion_passes_its_checks_and_is_recorded(cli, registry_home) -> None:
    ran = cli("promote", "--version", "2", "--alias", "champion", "--reason", "rf is within tolerance")

    assert ran.code == 0, ran.err
    assert "pass  signature" in ran.out and "pass  holdout rmse" in ran.out
    assert "champion → version 2 (was version 1); ledger entry" in ran.out and "overridden" not in ran.out
    # challenger is kept on version 2 by default (--challenger keep), and the command says what that means.
    assert "both point to version 2, so shadow scoring is idle" in ran.out
    assert mlflow_io.alias_map(registry_home) == {"champion": 2, "challenger": 2}
    assert ledger_rows(registry_home)[-1] == ("champion", 1, 2, os_user(), "cli", False)


def test_a_blocked_promotion_exits_1_with_the_failed_checks_until_forced(cli, ridge_registry) -> None:
    blocked = cli("promote", "--version", "3", "--alias", "champion", "--reason", "try ridge")

    assert blocked.code == 1
    assert "promotion blocked by failed checks: holdout rmse" in blocked.err
    assert "fail  holdout rmse" in blocked.out
    assert mlflow_io.alias_map(ridge_registry)["champion"] == 1
    assert moves(ridge_registry) == BOOTSTRAP_LEDGER

    forced = cli("promote", "--version", "3", "--alias", "champion", "--reason", "audit asked for it", "--force")

    assert forced.code == 0, forced.err
    assert "champion → version 3 (was version 1) (failed checks overridden)" in forced.out
    assert mlflow_io.alias_map(ridge_registry)["champion"] == 3
    assert ledger_rows(ridge_registry)[-1] == ("champion", 1, 3, os_user(), "cli", True)


def test_bad_requests_are_refused_in_one_line_and_change_nothing(cli, registry_home) -> None:
    empty_reason = cli("promote", "--version", "2", "--alias", "champion", "--reason", " ", "--force")
    no_such_version = cli("promote", "--version", "99", "--alias", "champion", "--reason", "r")
    reserved = cli("promote", "--version", "2", "--alias", "latest", "--reason", "r")
    already = cli("promote", "--version", "1", "--alias", "champion", "--reason", "r")

    assert empty_reason.code == 1 and "reason is required" in empty_reason.err
    assert no_such_version.code == 1 and "version 99 of diamond-price does not exist" in no_such_version.err
    assert reserved.code == 1 and "reserved" in reserved.err
    assert already.code == 1 and "version 1 already holds champion" in already.err
    for ran in (empty_reason, no_such_version, reserved, already):
        assert ran.err.startswith("error: ") and ran.err.count("\n") == 1
    assert mlflow_io.alias_map(registry_home) == {"champion": 1, "challenger": 2}
    assert moves(registry_home) == BOOTSTRAP_LEDGER


def test_with_a_token_set_promote_presents_the_configured_one_or_reads_it_from_stdin(
    cli, registry_home, monkeypatch
) -> None:
    settings = use_home(monkeypatch, registry_home.home_dir, LOUPE_ADMIN_TOKEN="s3cret")
    promote = ("promote", "--version", "2", "--alias", "champion", "--reason", "r")

    monkeypatch.setattr("sys.stdin", io.StringIO("\n"))
    missing = cli(*promote, "--token-stdin")
    monkeypatch.setattr("sys.stdin", io.StringIO("nope\n"))
    wrong = cli(*promote, "--token-stdin")

    assert missing.code == 1 and "admin token is required" in missing.err
    assert wrong.code == 1 and "admin token is wrong" in wrong.err
    assert mlflow_io.alias_map(settings)["champion"] == 1 and moves(settings) == BOOTSTRAP_LEDGER

    monkeypatch.setattr("sys.stdin", io.StringIO("s3cret\n"))
    from_stdin = cli(*promote, "--token-stdin")
    assert from_stdin.code == 0, from_stdin.err
    assert moves(settings)[-1] == ("champion", 1, 2)

    from_environment = cli("promote", "--version", "1", "--alias", "champion", "--reason", "back")
    assert from_environment.code == 0, from_environment.err
    assert moves(settings)[-1] == ("champion", 2, 1)

    on_the_command_line = cli("promote", "--version", "2", "--alias", "champion", "--reason", "r", "--token", "s3cret")
    assert on_the_command_line.code == 0, on_the_command_line.err
    assert "--token is visible in the process list" in on_the_command_line.err


def test_an_empty_admin_token_is_a_configuration_error_not_open_promotion(cli, registry_home, monkeypatch) -> None:
    monkeypatch.setenv("LOUPE_ADMIN_TOKEN", "  ")
    get_settings.cache_clear()

    ran = cli("promote", "--version", "2", "--alias", "champion", "--reason", "r")

    assert ran.code == 1
    assert ran.err == "error: LOUPE_ADMIN_TOKEN is set but empty: give it a value (a long random string) or unset it\n"
    monkeypatch.delenv("LOUPE_ADMIN_TOKEN")
    get_settings.cache_clear()
    assert mlflow_io.alias_map(registry_home)["champion"] == 1


@pytest.mark.slow  # separate processes, each importing the whole stack
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


def test_promoting_the_challenger_can_clear_it_and_a_bad_choice_is_refused(cli, registry_home) -> None:
    bad = cli("promote", "--version", "2", "--alias", "champion", "--reason", "r", "--challenger", "drop")
    assert bad.code == 1 and "keep, clear or a version number" in bad.err
    assert mlflow_io.alias_map(registry_home) == {"champion": 1, "challenger": 2}

    ran = cli("promote", "--version", "2", "--alias", "champion", "--reason", "rf won", "--challenger", "clear")

    assert ran.code == 0, ran.err
    assert "challenger cleared (was version 2); ledger entry" in ran.out and "idle" not in ran.out
    assert mlflow_io.alias_map(registry_home) == {"champion": 2}
    assert moves(registry_home)[-2:] == [("champion", 1, 2), ("challenger", 2, None)]
