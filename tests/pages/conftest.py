"""Page-test fixtures: fresh Streamlit caches per test, a registry whose model raises when it predicts, a team's registry."""

from __future__ import annotations

from pathlib import Path

import pytest
import streamlit as st

from core.settings import Settings
from tests.conftest import private_copy, settings_at
from tests.pages.helpers import BOOM, FAILING_MODEL, register_failing_model
from tests.pages.team_models import DIABETES, TeamModels, register_team_models


@pytest.fixture(autouse=True)
def clear_streamlit_caches():
    # st.cache_resource survives across AppTest instances in one process.
    st.cache_resource.clear()
    st.cache_data.clear()
    yield
    st.cache_resource.clear()
    st.cache_data.clear()


@pytest.fixture(scope="session")
def failing_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A registry (plain MLflow, no Loupe training) whose model raises ``BOOM`` in predict. Read only.

    Model ``failing-model``: versions 1 and 2 of one pyfunc with inputs ``carat`` and ``depth`` (doubles) and
    a training profile, ``champion`` on version 2, no ``challenger``; experiment ``loupe``, run ``failing-pyfunc``.
    """
    home = tmp_path_factory.mktemp("failing") / "home"
    with settings_at(home, LOUPE_MODEL_NAME=FAILING_MODEL) as settings:
        register_failing_model(settings.tracking_uri, artifacts=home / "artifacts", message=BOOM)
    return home


@pytest.fixture
def failing_registry(failing_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """A private copy of ``failing_home``'s registry (artifacts shared, read only) and an empty prediction log."""
    return private_copy(failing_home, tmp_path, monkeypatch, stores=("mlflow.db",), LOUPE_MODEL_NAME=FAILING_MODEL)


@pytest.fixture(scope="session")
def team_home(tmp_path_factory: pytest.TempPathFactory) -> TeamModels:
    """A registry a team filled with plain MLflow (see tests/pages/team_models.py). Read only."""
    home = tmp_path_factory.mktemp("team") / "home"
    with settings_at(home, LOUPE_MODEL_NAME=DIABETES) as settings:
        return register_team_models(settings.tracking_uri, artifacts=home / "artifacts")


@pytest.fixture
def team_registry(team_home: TeamModels, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """A private copy of the team's registry (artifacts shared), LOUPE_MODEL_NAME=team-diabetes, an empty log."""
    return private_copy(team_home.home, tmp_path, monkeypatch, stores=("mlflow.db",), LOUPE_MODEL_NAME=DIABETES)
