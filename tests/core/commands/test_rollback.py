"""``python -m core rollback``: the alias goes back to its previous version, by the ledger, and is recorded."""

from core import mlflow_io
from core.identity import os_user
from tests.conftest import use_home
from tests.ledger_rows import BOOTSTRAP_LEDGER, ledger_rows, moves


def test_rollback_restores_the_previous_version_and_a_second_one_finds_nothing_older(cli, registry_home) -> None:
    assert cli("promote", "--version", "2", "--alias", "champion", "--reason", "rf is fine").code == 0

    rolled_back = cli("rollback", "--alias", "champion", "--reason", "changed my mind")

    assert rolled_back.code == 0, rolled_back.err
    assert "champion rolled back: version 2 → version 1; ledger entry" in rolled_back.out
    assert mlflow_io.alias_map(registry_home)["champion"] == 1
    assert ledger_rows(registry_home)[-1] == ("champion", 2, 1, os_user(), "rollback", False)

    # Rollbacks walk back through the ledger: never forward again to the version just left.
    again = cli("rollback", "--alias", "champion", "--reason", "again")

    assert again.code == 1 and "nothing to roll back to" in again.err
    assert mlflow_io.alias_map(registry_home)["champion"] == 1


def test_rollback_undoes_a_change_made_outside_loupe(cli, registry_home) -> None:
    mlflow_io.set_alias(registry_home, alias="champion", version=2)  # as another MLflow client would

    ran = cli("rollback", "--alias", "champion", "--reason", "who did this?")

    assert ran.code == 0, ran.err
    assert mlflow_io.alias_map(registry_home)["champion"] == 1
    assert moves(registry_home)[-2:] == [("champion", 1, 2), ("champion", 2, 1)]
    assert [row[4] for row in ledger_rows(registry_home)[-2:]] == ["external", "rollback"]


def test_without_history_or_with_a_removed_alias_nothing_moves(cli, registry_home) -> None:
    nothing = cli("rollback", "--alias", "champion", "--reason", "r")
    unknown = cli("rollback", "--alias", "canary", "--reason", "r")

    assert nothing.code == 1 and "nothing to roll back to" in nothing.err
    assert unknown.code == 1 and "no change of canary" in unknown.err
    assert mlflow_io.alias_map(registry_home) == {"champion": 1, "challenger": 2}
    assert moves(registry_home) == BOOTSTRAP_LEDGER


def test_a_rollback_onto_a_version_that_fails_its_checks_is_blocked_until_forced(cli, ridge_registry) -> None:
    forced_in = cli("promote", "--version", "3", "--alias", "champion", "--reason", "try ridge", "--force")
    assert forced_in.code == 0, forced_in.err
    assert cli("promote", "--version", "1", "--alias", "champion", "--reason", "back to hgb").code == 0

    blocked = cli("rollback", "--alias", "champion", "--reason", "ridge again")

    assert blocked.code == 1
    assert "rollback blocked by failed checks" in blocked.err and "fail  holdout rmse" in blocked.out
    assert mlflow_io.alias_map(ridge_registry)["champion"] == 1

    forced = cli("rollback", "--alias", "champion", "--reason", "ridge again, on purpose", "--force")

    assert forced.code == 0, forced.err
    assert mlflow_io.alias_map(ridge_registry)["champion"] == 3
    assert ledger_rows(ridge_registry)[-1] == ("champion", 1, 3, os_user(), "rollback", True)


def test_with_a_token_set_rollback_needs_it(cli, registry_home, monkeypatch) -> None:
    settings = use_home(monkeypatch, registry_home.home_dir, LOUPE_ADMIN_TOKEN="s3cret")
    assert cli("promote", "--version", "2", "--alias", "champion", "--reason", "r", "--token", "s3cret").code == 0

    wrong = cli("rollback", "--alias", "champion", "--reason", "r", "--token", "nope")
    allowed = cli("rollback", "--alias", "champion", "--reason", "r", "--token", "s3cret")

    assert wrong.code == 1 and "admin token is wrong" in wrong.err
    assert allowed.code == 0, allowed.err
    assert moves(settings)[-2:] == [("champion", 1, 2), ("champion", 2, 1)]
