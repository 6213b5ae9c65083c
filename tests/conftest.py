"""Shared fixtures: every test gets its own LOUPE_HOME; real MLflow stores and databases, no mocks.

- (autouse) each test's LOUPE_HOME is ``tmp_path / "home"``, holding an empty MLflow store copied from
  ``empty_mlflow_store`` (migrated once per session instead of about a second per test); a test marked
  ``fresh_home`` gets no folder at all, for checking that nothing creates a local store.
- ``settings``: the settings for this test's isolated runtime folder.
- ``bootstrapped_home``: a runtime folder bootstrapped once per session with small real models
  (``LIGHT_MODELS``: champion v1 hgb, challenger v2 rf, trained in seconds). Read it, never change it.
- ``registry_home``: a private copy of that registry for tests that change it.
- ``ridge_home`` / ``ridge_registry``: the same plus v3, a clearly worse ridge model without an alias.
- ``classifier_home`` / ``classifier_registry``: ``bootstrapped_home`` plus the demo classifier (``tumour-triage``:
  champion v1 logreg, challenger v2 small rf) added by ``bootstrap --demo``; the registry a first run makes.
- ``demo_models_home``: bootstrapped with the real demo models (the 800-tree champion, minutes of
  training); only for tests of the model itself, which are marked ``slow``.
- ``diabetes_home`` / ``diabetes_registry``: a registry holding another model (other fields and types).
- ``failing_tracking_server``: a tracking server on loopback that answers 503 and counts the requests.
- ``pg_url``: a fresh PostgreSQL schema on the local server (fails under CI=true if unreachable).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from core.settings import Settings, get_settings

LOUPE_VARIABLES = (
    "LOUPE_HOME",
    "MLFLOW_TRACKING_URI",
    "LOUPE_DATABASE_URL",
    "LOUPE_MODEL_NAME",
    "LOUPE_EXPERIMENT_NAME",
    "LOUPE_ADMIN_TOKEN",
    "LOUPE_SHADOW",
    "LOUPE_COMPILE_MODELS",
    "LOUPE_SECRETS_FILE",
)
PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
STORES = ("mlflow.db", "loupe.db")


def use_home(monkeypatch: pytest.MonkeyPatch, home: Path, **variables: str) -> Settings:
    """Point the settings at ``home`` (plus any extra env vars) and return the fresh settings."""
    monkeypatch.setenv("LOUPE_HOME", str(home))
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    return get_settings()


@contextmanager
def preserved_environment() -> Iterator[None]:
    """Restore os.environ afterwards: ``mlflow.set_tracking_uri`` exports MLFLOW_TRACKING_URI itself."""
    saved = dict(os.environ)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@contextmanager
def settings_at(home: Path, **variables: str) -> Iterator[Settings]:
    """Settings for ``home`` (plus ``variables``) outside any test, for session fixtures that build stores."""
    with preserved_environment():
        for name in LOUPE_VARIABLES:
            os.environ.pop(name, None)
        os.environ.update({"LOUPE_HOME": str(home), **variables})
        get_settings.cache_clear()
        try:
            yield get_settings()
        finally:
            get_settings.cache_clear()


def private_copy(
    source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, stores: tuple[str, ...] = STORES, **variables: str
) -> Settings:
    """Copy ``source``'s stores into this test's home (artifacts stay shared, read-only) and use it."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    for name in stores:
        shutil.copy2(source / name, home / name)
    return use_home(monkeypatch, home, **variables)


@pytest.fixture(scope="session")
def empty_mlflow_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty MLflow store, migrated once per session: MLflow's own migrations take about a second per store."""
    from core import mlflow_io

    home = tmp_path_factory.mktemp("empty-store") / "home"
    with settings_at(home) as settings:
        assert mlflow_io.check_reachable(settings) is None  # creates and migrates mlflow.db
    return home / "mlflow.db"


@pytest.fixture(autouse=True)
def isolated_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest, empty_mlflow_store: Path
) -> Iterator[None]:
    # The home starts with the empty store MLflow would create on first use (its default experiment's
    # artifacts go under the working directory either way, so a copy is the same store), unless the
    # test is marked ``fresh_home``: one that checks nothing creates a local store needs an empty folder.
    if request.node.get_closest_marker("fresh_home") is None:
        (tmp_path / "home").mkdir()
        shutil.copy2(empty_mlflow_store, tmp_path / "home" / "mlflow.db")
        _default_experiment_artifacts_in(tmp_path / "home")
    with preserved_environment():
        yield from _isolate(tmp_path, monkeypatch)


def _default_experiment_artifacts_in(home: Path) -> None:
    """Keep the default experiment's artifacts in ``home``: MLflow puts them under the working directory.

    A run started without an experiment (a team's model, logged the plain MLflow way) would otherwise
    write its model into the repository's ``mlruns/`` folder.
    """
    with closing(sqlite3.connect(home / "mlflow.db")) as database, database:
        database.execute(
            "UPDATE experiments SET artifact_location = ? WHERE experiment_id = 0", (str(home / "mlruns" / "0"),)
        )


def _isolate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in LOUPE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    # No developer's .streamlit/secrets.toml may leak into a test.
    monkeypatch.setenv("LOUPE_SECRETS_FILE", str(tmp_path / "no-secrets.toml"))
    monkeypatch.setenv("LOUPE_HOME", str(tmp_path / "home"))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def settings() -> Settings:
    return get_settings()


# Small versions of the demo's estimators: a few seconds to train instead of minutes, and the
# relations the tests rely on kept — on the fixed split, holdout RMSE ≈ 547 for hgb and ≈ 559 for rf,
# so the champion is the better model and the challenger is within the 5 % promotion tolerance
# (tests/core/training/test_train.py checks this). The demo's defaults give ≈ 529 for hgb.
LIGHT_MODELS: dict[str, dict[str, object]] = {
    "hgb": {"max_iter": 40, "learning_rate": 0.3},
    "rf": {"n_estimators": 8, "min_samples_leaf": 5, "max_depth": 14},
}


# The demo classifier's challenger, smaller (its logistic-regression champion trains in well under a second).
LIGHT_CLASSIFIERS: dict[str, dict[str, object]] = {"rf": {"n_estimators": 10}}
CLASSIFIER_MODEL = "tumour-triage"


def _bootstrapped(home: Path, *, tasks: tuple[str, ...] = ("regression",), **overrides: dict[str, object]) -> Path:
    from core.training.bootstrap import bootstrap

    with settings_at(home) as settings:
        bootstrap(settings, overrides=overrides, tasks=tasks)  # type: ignore[arg-type]
    return home


@pytest.fixture(scope="session")
def bootstrapped_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Bootstrapped once per session with ``LIGHT_MODELS`` (the regressor only: the tests of every page read
    it as one model's registry); read it, never change it (use ``registry_home``)."""
    return _bootstrapped(tmp_path_factory.mktemp("bootstrapped") / "home", **LIGHT_MODELS)


@pytest.fixture(scope="session")
def classifier_home(bootstrapped_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``bootstrapped_home``'s stores plus the demo classifier, added as ``bootstrap --demo`` adds it. Read only."""
    from core.training.bootstrap import bootstrap

    home = tmp_path_factory.mktemp("classifier") / "home"
    home.mkdir(parents=True)
    for name in STORES:
        shutil.copy2(bootstrapped_home / name, home / name)
    with settings_at(home) as settings:
        bootstrap(settings, demo=True, classifier_overrides=LIGHT_CLASSIFIERS)
    return home


@pytest.fixture
def classifier_registry(classifier_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """A private copy of ``classifier_home`` with LOUPE_MODEL_NAME=tumour-triage, for tests that change it."""
    return private_copy(classifier_home, tmp_path, monkeypatch, LOUPE_MODEL_NAME=CLASSIFIER_MODEL)


@pytest.fixture(scope="session")
def demo_models_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Bootstrapped with the demo's own hyperparameters, as ``make bootstrap`` does (minutes): slow tests only."""
    return _bootstrapped(tmp_path_factory.mktemp("demo-models") / "home", tasks=("regression", "classification"))


@pytest.fixture
def registry_home(bootstrapped_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """A private copy of the bootstrapped stores; artifacts stay in the shared (read-only) folder."""
    return private_copy(bootstrapped_home, tmp_path, monkeypatch)


@dataclass
class FailingTrackingServer:
    """A tracking server on loopback that answers every request with 503; ``requests`` counts what it was asked."""

    url: str
    paths: list[str] = field(default_factory=list)

    @property
    def requests(self) -> int:
        return len(self.paths)


@pytest.fixture
def failing_tracking_server() -> Iterator[FailingTrackingServer]:
    """A real HTTP server, so a test sees whether (and how often) the registry was asked, not how long it took."""
    server_state = FailingTrackingServer(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            server_state.paths.append(self.path)
            self.send_response(503)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_POST = do_PATCH = do_DELETE = do_GET

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server_state.url = f"http://127.0.0.1:{server.server_address[1]}"
    # A short poll interval: shutdown() waits up to one interval for the serving loop to notice.
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server_state
    finally:
        server.shutdown()
        server.server_close()


def _ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


@pytest.fixture
def pg_url() -> Iterator[str]:
    """URL of a fresh, empty schema on the local PostgreSQL, dropped afterwards."""
    import sqlalchemy as sa

    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    schema = f"loupe_test_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as connection:
            connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    except sa.exc.OperationalError as error:
        admin.dispose()
        message = f"PostgreSQL at 127.0.0.1:5432 is unreachable: {error}"
        if _ci():
            pytest.fail(message)
        pytest.skip(message)
    try:
        yield f"{PG_ADMIN_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(scope="session")
def ridge_home(bootstrapped_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bootstrapped stores plus v3: a clearly worse ridge model (RMSE ≈ 1,135) without an alias. Read only."""
    from core.training.train import train

    home = tmp_path_factory.mktemp("ridge") / "home"
    home.mkdir(parents=True)
    for name in STORES:
        shutil.copy2(bootstrapped_home / name, home / name)
    with settings_at(home) as settings:
        train(settings, estimator="ridge")
    return home


@pytest.fixture
def ridge_registry(ridge_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """A private copy of ``ridge_home`` (champion v1 hgb, challenger v2 rf, v3 ridge) for tests that change it."""
    return private_copy(ridge_home, tmp_path, monkeypatch)


DIABETES_MODEL = "diabetes-progression"


def _register_diabetes_model(settings: Settings) -> None:
    """A second, non-diamond model: scikit-learn's bundled diabetes data, other fields, an integer and a level."""
    import mlflow
    import sklearn
    from mlflow.models import infer_signature
    from sklearn.compose import ColumnTransformer
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    from core import mlflow_io
    from core.profile import PROFILE_ARTIFACT, build_profile
    from core.training.train import trusted_types

    data = load_diabetes(as_frame=True, scaled=False)
    features = data.data.copy()
    features["age"] = features["age"].astype("int64")
    features["sex"] = features["sex"].map({1.0: "female", 2.0: "male"})
    numeric = [name for name in features.columns if name != "sex"]
    pipeline = Pipeline(
        [
            (
                "prepare",
                ColumnTransformer(
                    [("sex", OneHotEncoder(handle_unknown="ignore"), ["sex"]), ("numbers", StandardScaler(), numeric)]
                ),
            ),
            ("model", Ridge(alpha=1.0)),
        ]
    ).fit(features, data.target)
    profile = build_profile(
        features,
        target="progression",
        rules={"bmi": [{"rule": "gt", "value": 0.0}], "age": [{"rule": "ge", "value": 0}]},
    )
    experiment_id = mlflow_io.ensure_experiment(settings)
    with mlflow.start_run(experiment_id=experiment_id, run_name="diabetes-ridge"):
        mlflow.log_text(profile.to_json(), PROFILE_ARTIFACT)
        info = mlflow.sklearn.log_model(
            pipeline,
            name="model",
            signature=infer_signature(features.head(5), pipeline.predict(features.head(5))),
            pip_requirements=[f"scikit-learn=={sklearn.__version__}"],
            skops_trusted_types=trusted_types(pipeline),
        )
    version = mlflow.register_model(info.model_uri, settings.model_name).version
    mlflow_io.set_alias(settings, alias="champion", version=int(version))


@pytest.fixture(scope="session")
def diabetes_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A runtime folder whose registry holds only the diabetes model (LOUPE_MODEL_NAME=diabetes-progression)."""
    home = tmp_path_factory.mktemp("diabetes") / "home"
    with settings_at(home, LOUPE_MODEL_NAME=DIABETES_MODEL) as settings:
        _register_diabetes_model(settings)
    return home


@pytest.fixture
def diabetes_registry(diabetes_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """A private copy of ``diabetes_home``'s registry with LOUPE_MODEL_NAME set (an empty prediction log)."""
    return private_copy(diabetes_home, tmp_path, monkeypatch, stores=("mlflow.db",), LOUPE_MODEL_NAME=DIABETES_MODEL)
