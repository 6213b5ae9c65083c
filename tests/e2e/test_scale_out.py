"""The scale-out deployment for real: an MLflow tracking server on PostgreSQL and a PostgreSQL prediction log."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core import mlflow_io
from core.dataset import load_diamonds
from core.registry.ledger_sync import ledger
from core.registry.promotion import promote
from core.serving.scoring import predict_one
from storage.db import make_engine, make_sessionmaker
from storage.prediction_log import count_predictions
from tests.conftest import use_home
from tests.e2e.conftest import run_core

ROOT = Path(__file__).resolve().parents[2]
# fresh_home: the home must stay empty, to show that nothing falls back to a local store.
pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.fresh_home]


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
    # The tracking server is shared by the session: --demo adds the demo models under this test's name
    # even though the registry already holds the other tests' models.
    result = run_core("bootstrap", "--demo", env=env)
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
    assert "**Version 1** · hgb" in shown
    assert settings.tracking_uri in shown
    assert "postgresql+psycopg://" in shown


def diamonds_csv(path: Path, *, rows: int, seed: int) -> Path:
    load_diamonds().drop(columns=["price"]).sample(rows, random_state=seed).to_csv(path, index=False)
    return path


def test_predict_promote_and_monitor_on_the_scaled_out_stack(scaled_out, tmp_path: Path) -> None:
    settings, env = scaled_out
    engine = make_engine(settings.database_url)
    sessions = make_sessionmaker(engine)
    case = {"carat": 0.9, "cut": "Ideal", "color": "G", "clarity": "VS1", "depth": 61.8, "table": 57.0}
    case |= {"x": 6.2, "y": 6.2, "z": 3.8}
    try:
        answered = predict_one(settings, case, sessions=sessions, source="form")
        assert answered.accepted and answered.version == 1 and answered.prediction > 0

        move = promote(settings, sessions=sessions, version=2, alias="champion", reason="scale-out test", actor="ci")
        assert (move.from_version, move.to_version) == (1, 2)
        assert predict_one(settings, case, sessions=sessions, source="form").version == 2
        assert [change.to_version for change in ledger(settings, sessions=sessions, alias="champion")][-1] == 2

        # Two Loupe processes write to the same PostgreSQL log at once: nothing is lost.
        inputs = [diamonds_csv(tmp_path / f"in-{n}.csv", rows=300, seed=n) for n in (1, 2)]
        processes = [
            subprocess.Popen(
                [sys.executable, "-m", "core", "score", "--input", str(path), "--output", f"{path}.out"],
                cwd=ROOT,
                env={**os.environ, **env},
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for path in inputs
        ]
        outputs = [process.communicate(timeout=600)[0] for process in processes]
        assert [process.returncode for process in processes] == [0, 0], outputs

        with sessions.begin() as session:
            answers = count_predictions(session, model_name=settings.model_name, is_shadow=False)
        assert answers == 2 + 600

        drift = run_core("drift", "--window", "1d", "--format", "json", env=env)
        assert drift.returncode == 0, drift.stderr
        assert '"carat"' in drift.stdout and "share" in drift.stdout
    finally:
        engine.dispose()
