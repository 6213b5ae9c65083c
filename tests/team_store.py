"""A temporary MLflow store and prediction log for models a team registers with plain MLflow code.

Tests register their models with MLflow's own API (never Loupe's training), as a team's scripts would,
into the store these helpers point both MLflow and Loupe at.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import mlflow
import pytest

from core.serving.model_cache import clear_memory_caches
from core.settings import Settings
from storage.db import Sessions, make_engine, make_sessionmaker, migrate
from tests.conftest import use_home


def team_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, model: str, **variables: str) -> Settings:
    """Settings for a fresh home operating ``model`` (no shadow scoring unless asked); MLflow points at its store."""
    settings = use_home(
        monkeypatch, tmp_path / "home", LOUPE_MODEL_NAME=model, **{"LOUPE_SHADOW": "false", **variables}
    )
    settings.ensure_home()
    # The team's script talks to this store; Loupe may have pointed MLflow at an earlier test's store.
    mlflow.set_tracking_uri(settings.tracking_uri)
    mlflow.set_registry_uri(settings.tracking_uri)
    mlflow.set_experiment(experiment_id="0")  # runs without an experiment go to this store's default one
    clear_memory_caches()
    return settings


def champion(model: str, version: int) -> None:
    """Point the model's ``champion`` alias at ``version``, as the team would in MLflow."""
    mlflow.MlflowClient().set_registered_model_alias(model, "champion", str(version))


@contextmanager
def prediction_log(settings: Settings) -> Iterator[Sessions]:
    """Sessions on the home's migrated prediction log, disposed afterwards."""
    engine = make_engine(settings.database_url)
    migrate(engine)
    try:
        yield make_sessionmaker(engine)
    finally:
        engine.dispose()
        clear_memory_caches()
