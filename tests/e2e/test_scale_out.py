"""The scale-out deployment for real: an MLflow tracking server on PostgreSQL and a PostgreSQL prediction log."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core import mlflow_io
from tests.conftest import use_home
from tests.e2e.conftest import run_core

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow, pytest.mark.postgres]


@pytest.fixture
def scaled_out(tracking_server: str, pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Settings pointing at the tracking server and a PostgreSQL log, with a bootstrapped registry."""
    model_name = f"scale-out-{tmp_path.name[-12:]}"
    env = {
        "LOUPE_HOME": str(tmp_path / "home"),
        "MLFLOW_TRACKING_URI": tracking_server,
        "LOUPE_DATABASE_URL": pg_url,
        "LOUPE_MODEL_NAME": model_name,
    }
    result = run_core("bootstrap", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    settings = use_home(monkeypatch, tmp_path / "home", **{k: v for k, v in env.items() if k != "LOUPE_HOME"})
    return settings, env


def test_bootstrap_registers_through_the_tracking_server(scaled_out) -> None:
    settings, _ = scaled_out

    assert settings.tracking_uri.startswith("http://127.0.0.1:")
    champion = mlflow_io.version_for_alias(settings, alias="champion")
    challenger = mlflow_io.version_for_alias(settings, alias="challenger")
    assert (champion.version, champion.estimator) == (1, "hgb")
    assert (challenger.version, challenger.estimator) == (2, "rf")
    profile = mlflow_io.load_profile(settings, run_id=champion.run_id)
    assert profile.row_count == 43_152
    assert not (Path(settings.home_dir) / "mlflow.db").exists(), "nothing may fall back to a local store"


def test_home_page_reads_the_tracking_server(scaled_out) -> None:
    settings, _ = scaled_out

    app = AppTest.from_file(str(ROOT / "Home.py"), default_timeout=60).run()

    assert not app.exception
    shown = "\n".join(str(element.value) for element in app.markdown)
    assert "**Version 1** · `hgb`" in shown
    assert settings.tracking_uri in shown
    assert "postgresql+psycopg://" in shown
