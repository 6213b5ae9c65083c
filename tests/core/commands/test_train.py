"""``python -m core train``: a new version, and --alias moved through the guarded promotion (ledger origin cli)."""

import io

import mlflow

from core import mlflow_io
from core.identity import os_user
from tests.conftest import use_home
from tests.ledger_rows import BOOTSTRAP_LEDGER, ledger_rows, moves


def test_a_bad_hyperparameter_is_a_clean_error_and_nothing_is_logged(cli, settings) -> None:
    ran = cli("train", "--estimator", "ridge", "--n-estimators", "5")

    assert ran.code == 1
    assert ran.err == "error: n_estimators is not a hyperparameter of ridge (it has alpha, log_target)\n"
    assert mlflow_io.list_versions(settings) == []


def test_train_registers_a_version_with_the_given_hyperparameters_and_moves_no_alias(cli, registry_home) -> None:
    ran = cli("train", "--estimator", "ridge", "--alpha", "3", "--seed", "7", "--run-name", "ridge-a3")

    assert ran.code == 0, ran.err
    assert "fitting ridge on 43,152 rows" in ran.out and "done: run " in ran.out and ", version 3, rmse " in ran.out
    version = mlflow_io.get_version(registry_home, version=3)
    run = mlflow.MlflowClient().get_run(version.run_id)
    assert run.info.run_name == "ridge-a3" and version.estimator == "ridge"
    assert (run.data.params["alpha"], run.data.params["seed"]) == ("3.0", "7")
    assert mlflow_io.alias_map(registry_home) == {"champion": 1, "challenger": 2}
    assert moves(registry_home) == BOOTSTRAP_LEDGER


def test_no_register_logs_a_run_without_a_version(cli, registry_home) -> None:
    ran = cli("train", "--estimator", "ridge", "--no-register")

    assert ran.code == 0, ran.err
    assert "not registered" in ran.out
    assert len(mlflow_io.list_versions(registry_home)) == 2


def test_alias_on_a_new_alias_passes_the_pre_flight_and_is_recorded_with_origin_cli(cli, registry_home) -> None:
    ran = cli("train", "--estimator", "ridge", "--alias", "canary")

    assert ran.code == 0, ran.err
    assert "canary → version 3 (was nothing); ledger entry" in ran.out
    assert "holdout rmse" in ran.out  # the pre-flight checks are listed
    assert mlflow_io.alias_map(registry_home)["canary"] == 3
    (last,) = ledger_rows(registry_home)[-1:]
    assert last == ("canary", None, 3, os_user(), "cli", False)


def test_a_blocked_alias_move_keeps_the_version_exits_1_and_names_the_failed_check(cli, registry_home) -> None:
    ran = cli("train", "--estimator", "ridge", "--alias", "champion")

    assert ran.code == 1
    assert "version 3 is registered, but champion was not moved: failed checks holdout rmse" in ran.err
    assert "--force with a --reason" in ran.err
    assert "fail  holdout rmse" in ran.out
    assert mlflow_io.get_version(registry_home, version=3).estimator == "ridge"  # still registered
    assert mlflow_io.alias_map(registry_home) == {"champion": 1, "challenger": 2}
    assert moves(registry_home) == BOOTSTRAP_LEDGER


def test_force_with_a_reason_overrides_and_is_recorded(cli, registry_home) -> None:
    ran = cli(
        "train", "--estimator", "ridge", "--alias", "champion", "--force", "--reason", "explainable", "--origin", "ci"
    )

    assert ran.code == 0, ran.err
    assert "champion → version 3 (was version 1)" in ran.out
    assert mlflow_io.alias_map(registry_home)["champion"] == 3
    assert ledger_rows(registry_home)[-1] == ("champion", 1, 3, os_user(), "ci", True)


def test_what_would_be_refused_anyway_is_refused_before_training(cli, registry_home) -> None:
    no_reason = cli("train", "--estimator", "ridge", "--alias", "champion", "--force")
    reserved = cli("train", "--estimator", "ridge", "--alias", "latest")
    unregistered = cli("train", "--estimator", "ridge", "--alias", "canary", "--no-register")

    assert no_reason.code == 1 and no_reason.err == "error: --force needs a --reason, recorded in the ledger\n"
    assert reserved.code == 1 and "reserved" in reserved.err
    assert unregistered.code == 1 and "--alias needs a registered version" in unregistered.err
    for ran in (no_reason, reserved, unregistered):
        assert "fitting" not in ran.out
    assert len(mlflow_io.list_versions(registry_home)) == 2


def test_with_a_token_set_the_alias_needs_it(cli, registry_home, monkeypatch) -> None:
    settings = use_home(monkeypatch, registry_home.home_dir, LOUPE_ADMIN_TOKEN="s3cret")

    monkeypatch.setattr("sys.stdin", io.StringIO("\n"))
    refused = cli("train", "--estimator", "ridge", "--alias", "canary", "--token-stdin")
    allowed = cli("train", "--estimator", "ridge", "--alias", "canary")  # the configured token

    assert refused.code == 1 and "admin token is required" in refused.err
    assert "fitting" not in refused.out  # refused before any training: nothing registered
    assert allowed.code == 0, allowed.err
    assert [version.version for version in mlflow_io.list_versions(settings)] == [3, 2, 1]
    assert mlflow_io.alias_map(settings)["canary"] == 3
    assert moves(settings)[-1] == ("canary", None, 3)
