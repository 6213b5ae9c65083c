"""``python -m core bootstrap``: prediction log migrated; champion and challenger trained only into an empty registry."""

import pytest

from core import mlflow_io
from core.identity import os_user
from tests.conftest import private_copy, use_home
from tests.ledger_rows import BOOTSTRAP_LEDGER, ledger_rows, moves


def test_on_a_registry_that_holds_the_model_bootstrap_trains_nothing(cli, registry_home) -> None:
    ran = cli("bootstrap")

    assert ran.code == 0, ran.err
    assert "migrating the prediction log" in ran.out
    assert "the registry already holds 1 model(s) (diamond-price): nothing trained" in ran.out
    assert ran.out.rstrip().endswith("nothing to do")
    assert [version.version for version in mlflow_io.list_versions(registry_home)] == [2, 1]
    assert moves(registry_home) == BOOTSTRAP_LEDGER


def test_demo_never_trains_over_existing_versions(cli, registry_home) -> None:
    ran = cli("bootstrap", "--demo")

    assert ran.code == 0, ran.err
    assert "diamond-price already has versions: nothing trained" in ran.out
    assert [version.version for version in mlflow_io.list_versions(registry_home)] == [2, 1]


def test_a_registry_holding_only_a_teams_model_is_left_alone_and_told_how_to_add_the_demo(
    cli, diabetes_home, tmp_path, monkeypatch
) -> None:
    settings = private_copy(diabetes_home, tmp_path, monkeypatch, stores=("mlflow.db",))  # model name: diamond-price

    ran = cli("bootstrap")

    assert ran.code == 0, ran.err
    assert "the registry already holds 1 model(s) (diabetes-progression): nothing trained" in ran.out
    assert "diamond-price is not among them" in ran.out and "python -m core bootstrap --demo" in ran.out
    assert mlflow_io.registered_model_names(settings) == ["diabetes-progression"]


def test_with_the_registry_failing_bootstrap_exits_1_in_one_line(cli, tmp_path, monkeypatch, failing_tracking_server):
    use_home(
        monkeypatch, tmp_path / "home", MLFLOW_TRACKING_URI=failing_tracking_server.url, LOUPE_MLFLOW_MAX_RETRIES="0"
    )

    ran = cli("bootstrap")

    assert ran.code == 1
    assert ran.err.startswith(f"error: MLflow at {failing_tracking_server.url}") and ran.err.count("\n") == 1
    assert "fitting" not in ran.out  # it asked the registry before training anything
    assert failing_tracking_server.requests == 1


@pytest.mark.slow  # trains the real demo models, as `make bootstrap` does (minutes)
def test_on_an_empty_home_bootstrap_trains_the_demo_regressor_and_classifier(cli, settings) -> None:
    ran = cli("bootstrap")

    assert ran.code == 0, ran.err
    assert "hgb: version 1 (rmse " in ran.out and "rf: version 2 (rmse " in ran.out
    assert "tumour-triage logreg: version 1 (accuracy " in ran.out and "tumour-triage rf: version 2 (" in ran.out
    assert "diamond-price: champion → version 1" in ran.out and "diamond-price: challenger → version 2" in ran.out
    assert "tumour-triage: champion → version 1" in ran.out and "tumour-triage: challenger → version 2" in ran.out
    assert ran.out.rstrip().endswith("bootstrap complete")
    assert mlflow_io.registered_model_names(settings) == ["diamond-price", "tumour-triage"]
    assert mlflow_io.alias_map(settings) == {"champion": 1, "challenger": 2}
    assert mlflow_io.alias_map(settings, name="tumour-triage") == {"champion": 1, "challenger": 2}
    assert mlflow_io.get_version(settings, version=1).params["max_iter"] == "800"
    assert mlflow_io.get_version(settings, version=2, name="tumour-triage").params["n_estimators"] == "100"
    expected = [
        ("champion", None, 1, os_user(), "bootstrap", False),
        ("challenger", None, 2, os_user(), "bootstrap", False),
    ]
    assert ledger_rows(settings) == expected
    assert ledger_rows(settings.model_copy(update={"model_name": "tumour-triage"})) == expected
