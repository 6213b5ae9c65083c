"""The shared fixtures keep their promises: each test's home is its own, and nothing is written outside it."""

from pathlib import Path

import mlflow
import pytest

from core import mlflow_io

ROOT = Path(__file__).resolve().parents[1]


def test_a_home_starts_with_an_empty_store_that_keeps_the_default_experiments_artifacts_inside(settings) -> None:
    assert (settings.home_dir / "mlflow.db").exists()
    assert mlflow_io.list_versions(settings) == [] and not mlflow_io.has_any_version(settings)
    mlflow_io.configure(settings)

    with mlflow.start_run() as run:  # no experiment named: MLflow's default one, as a team might log
        mlflow.log_text("hello", "note.txt")

    assert run.info.experiment_id == "0"
    assert Path(run.info.artifact_uri.removeprefix("file://")).is_relative_to(settings.home_dir)
    assert (settings.home_dir / "mlruns" / "0" / run.info.run_id / "artifacts" / "note.txt").read_text() == "hello"
    assert not (ROOT / "mlruns" / "0" / run.info.run_id).exists()


def test_homes_are_not_shared(settings, tmp_path) -> None:
    assert settings.home_dir == tmp_path / "home"


@pytest.mark.fresh_home
def test_a_fresh_home_is_no_folder_at_all(settings) -> None:
    assert not settings.home_dir.exists()
