"""``python -m core bootstrap --demo`` adds the demo classifier beside a registry's regressor, never over versions."""

from core import mlflow_io
from core.identity import os_user
from tests.conftest import CLASSIFIER_MODEL
from tests.ledger_rows import BOOTSTRAP_LEDGER, ledger_rows, moves


def test_demo_adds_the_missing_classifier_and_leaves_the_regressor_alone(cli, registry_home) -> None:
    ran = cli("bootstrap", "--demo")
    again = cli("bootstrap", "--demo")

    assert ran.code == 0, ran.err
    assert "diamond-price already has versions: nothing trained" in ran.out
    assert f"{CLASSIFIER_MODEL} logreg: version 1 (accuracy " in ran.out
    assert f"{CLASSIFIER_MODEL} rf: version 2 (accuracy " in ran.out
    assert f"{CLASSIFIER_MODEL}: champion → version 1" in ran.out and ran.out.rstrip().endswith("bootstrap complete")
    classifier = registry_home.model_copy(update={"model_name": CLASSIFIER_MODEL})
    assert mlflow_io.alias_map(classifier) == {"champion": 1, "challenger": 2}
    assert ledger_rows(classifier) == [
        ("champion", None, 1, os_user(), "bootstrap", False),
        ("challenger", None, 2, os_user(), "bootstrap", False),
    ]
    assert [version.version for version in mlflow_io.list_versions(registry_home)] == [2, 1]
    assert moves(registry_home) == BOOTSTRAP_LEDGER  # the regressor's ledger is unchanged
    assert again.code == 0 and f"{CLASSIFIER_MODEL} already has versions: nothing trained" in again.out
    assert len(mlflow_io.list_versions(classifier)) == 2


def test_without_demo_a_registry_holding_both_is_left_alone(cli, classifier_registry) -> None:
    ran = cli("bootstrap")

    assert ran.code == 0, ran.err
    assert f"the registry already holds 2 model(s) (diamond-price, {CLASSIFIER_MODEL}): nothing trained" in ran.out
    assert ran.out.rstrip().endswith("nothing to do")
