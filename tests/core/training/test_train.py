from pathlib import Path

import mlflow
import pytest

from core import mlflow_io
from core.profile import PROFILE_ARTIFACT, CategoricalProfile, NumericProfile
from core.training.bootstrap import bootstrap
from core.training.train import HOLDOUT_ARTIFACT, resolve_params, train
from tests.conftest import LIGHT_MODELS, use_home


def test_bootstrap_registers_champion_and_challenger(bootstrapped_home: Path, monkeypatch) -> None:
    settings = use_home(monkeypatch, bootstrapped_home)

    versions = mlflow_io.list_versions(settings)

    assert [version.version for version in versions] == [2, 1]
    champion = mlflow_io.version_for_alias(settings, alias="champion")
    challenger = mlflow_io.version_for_alias(settings, alias="challenger")
    assert (champion.version, champion.estimator) == (1, "hgb")
    assert (challenger.version, challenger.estimator) == (2, "rf")
    assert set(champion.metrics) >= {"rmse", "mae", "r2", "mape"}
    assert champion.params["estimator"] == "hgb"


def test_bootstrap_overrides_reach_training_and_the_light_models_keep_the_demos_relations(
    ridge_home: Path, monkeypatch
) -> None:
    """The fast tier's registry stands in for the demo's: these relations are what its tests rely on."""
    settings = use_home(monkeypatch, ridge_home)
    versions = {version.version: version for version in mlflow_io.list_versions(settings)}
    rmse = {number: version.metrics["rmse"] for number, version in versions.items()}
    limit = 1 + settings.promotion_tolerance

    assert versions[1].params["max_iter"] == str(LIGHT_MODELS["hgb"]["max_iter"])
    assert versions[2].params["n_estimators"] == str(LIGHT_MODELS["rf"]["n_estimators"])
    assert versions[1].params["l2_regularization"] == "1.0"  # what is not overridden keeps the default
    assert rmse[1] < rmse[2] <= rmse[1] * limit  # the challenger is worse but may be promoted
    assert rmse[3] > rmse[1] * limit  # the ridge model is blocked by the holdout check
    assert 500 < rmse[1] < 600  # still a real price model


def test_training_run_logs_model_profile_and_plot(bootstrapped_home: Path, monkeypatch) -> None:
    settings = use_home(monkeypatch, bootstrapped_home)
    champion = mlflow_io.version_for_alias(settings, alias="champion")
    mlflow_io.configure(settings)

    artifacts = {item.path for item in mlflow.MlflowClient().list_artifacts(champion.run_id)}
    assert {PROFILE_ARTIFACT, HOLDOUT_ARTIFACT, "predicted_vs_actual.html"} <= artifacts

    profile = mlflow_io.load_profile(settings, run_id=champion.run_id)
    assert profile.row_count == 43_152 and profile.target == "price"
    assert isinstance(profile.features["carat"], NumericProfile)
    assert profile.features["carat"].rules == [{"rule": "gt", "value": 0.0}]
    assert isinstance(profile.features["cut"], CategoricalProfile)
    assert profile.features["cut"].levels[0] == "Fair"

    model = mlflow.pyfunc.load_model(f"models:/{settings.model_name}@champion")
    assert model.metadata.get_input_schema().input_names() == list(profile.features)


def test_bootstrap_is_idempotent(registry_home) -> None:
    result = bootstrap(registry_home)

    assert result.did_nothing
    assert len(mlflow_io.list_versions(registry_home)) == 2


def test_train_adds_a_version_and_moves_no_alias(registry_home) -> None:
    result = train(registry_home, estimator="ridge", seed=3)

    assert result.version == 3
    # Aliases move only through the guarded promotion (the train command does that for --alias).
    assert mlflow_io.alias_map(registry_home) == {"champion": 1, "challenger": 2}
    run = mlflow.MlflowClient().get_run(result.run_id)
    assert run.data.params["estimator"] == "ridge" and run.data.params["seed"] == "3"
    assert run.data.metrics["rmse"] == pytest.approx(result.metrics["rmse"])


def test_same_seed_gives_the_same_metrics(ridge_registry) -> None:
    earlier = mlflow_io.get_version(ridge_registry, version=3)  # ridge, seed 42, trained for the ridge fixture

    again = train(ridge_registry, estimator="ridge", register=False)

    assert again.metrics == {name: earlier.metrics[name] for name in again.metrics}
    assert again.version is None and again.run_id != earlier.run_id
    assert len(mlflow_io.list_versions(ridge_registry)) == 3


def test_unknown_hyperparameter_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="n_estimators is not a hyperparameter of ridge"):
        resolve_params("ridge", {"n_estimators": 3})
    with pytest.raises(ValueError, match="estimator must be one of"):
        resolve_params("xgb")
