import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core import mlflow_io
from storage.db import make_engine, make_sessionmaker
from storage.ledger import list_alias_changes
from tests.conftest import private_copy, settings_at, use_home
from tests.experiment_runs import (
    CLASSIFIER,
    CLASSIFIER_EXPERIMENT,
    REGRESSOR,
    ClassifierRun,
    LoggedRun,
    log_runs,
)
from tests.experiment_runs import classifier_registry as log_team_classifiers
from tests.pages.helpers import (
    FAILING_MODEL,
    LOG_NOTE,
    REDACTED,
    failures,
    open_page,
    page_text,
    readable,
    refuse_writes,
)

RUN_COUNT = 60


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[LoggedRun]]:
    """60 param/metric-only runs logged once for the module; read only."""
    home = tmp_path_factory.mktemp("experiments-page") / "home"
    with settings_at(home) as settings:
        logged = log_runs(settings, RUN_COUNT)
    return home, logged


def page() -> AppTest:
    return open_page("pages/2_Experiments.py")


def captions(app: AppTest) -> str:
    return "\n".join(readable(caption.value) for caption in app.caption)


def runs_table(app: AppTest):
    return app.dataframe[0].value


@pytest.fixture
def synthetic_page(synthetic, monkeypatch) -> tuple[AppTest, str, list[LoggedRun]]:
    home, logged = synthetic
    settings = use_home(monkeypatch, home)
    app = page().run()
    assert not app.exception
    return app, mlflow_io.ensure_experiment(settings), logged


def test_an_empty_store_says_how_to_log_runs(settings) -> None:
    app = page().run()

    assert not app.exception
    assert any("has no runs yet" in info.value and "python -m core train" in info.value for info in app.info)
    assert "The configured experiment `loupe` does not exist yet." in captions(app)


def test_an_experiment_without_runs_says_how_to_log_runs(settings) -> None:
    mlflow_io.ensure_experiment(settings)

    app = page().run()

    assert app.selectbox(key="experiment").format_func(app.selectbox(key="experiment").value) == "loupe"
    assert any("**loupe** has no runs yet" in info.value for info in app.info)


def test_the_table_pages_through_all_runs_sorted_by_the_first_metric(synthetic_page) -> None:
    app, _, logged = synthetic_page
    by_rmse = sorted(logged, key=lambda run: run.metrics["rmse"])

    first = runs_table(app)
    assert f"{RUN_COUNT} runs · page 1 of 2 · sorted by rmse" in captions(app)
    assert len(first) == 50
    assert list(first["run"]) == [run.name for run in by_rmse[:50]]
    assert {"run", "started", "duration (s)", "status", "estimator", "registered", "rmse", "mae", "r2", "mape"} <= set(
        first.columns
    )

    app.number_input(key="page").set_value(2).run()
    assert list(runs_table(app)["run"]) == [run.name for run in by_rmse[50:]]

    app.selectbox(key="sort_by").set_value("run").run()
    app.toggle(key="descending").set_value(True).run()
    app.number_input(key="page").set_value(1).run()
    assert list(runs_table(app)["run"][:3]) == sorted((run.name for run in logged), reverse=True)[:3]
    assert not app.exception


def test_an_invalid_filter_says_what_is_wrong_and_keeps_every_control_and_tab(synthetic_page) -> None:
    app, experiment_id, _ = synthetic_page

    app.text_input(key="search").set_value("rmse < 3").run()

    assert not app.exception
    (error,) = failures(app)
    assert error.startswith("The search `rmse < 3` cannot be run. `rmse` is not something runs can be searched by")
    assert "`metrics.rmse`" in error and "Invalid attribute key" not in error  # words, not MLflow's raw error
    assert "Showing the runs without this search until it is fixed." in captions(app)
    # Every control and tab stays, over the runs without the search.
    assert app.multiselect(key="estimators").options == ["hgb", "rf", "ridge"]
    assert app.selectbox(key="threshold_metric") is not None
    assert [tab.label for tab in app.tabs] == ["Runs", "Compare", "Leaderboard", "Register"]
    assert f"{RUN_COUNT} runs · page 1 of 2" in captions(app)

    app.multiselect(key="estimators").set_value(["rf"]).run()
    app.selectbox(key="threshold_metric").set_value("rmse").run()
    app.number_input(key="threshold").set_value(760.0).run()
    assert set(runs_table(app)["estimator"]) == {"rf"} and len(runs_table(app)) == 7  # the quick filters still work
    assert app.selectbox(key=f"register_run_{experiment_id}") is not None

    app.text_input(key="search").set_value("metrics.rmse < 600 or metrics.mae < 3").run()
    assert "MLflow search has no `or`" in failures(app)[0]

    app.text_input(key="search").set_value("params.estimator = 'rf'").run()
    assert not failures(app) and "Showing the runs without this search" not in captions(app)


def test_runs_and_the_experiment_link_to_the_mlflow_ui_only_when_it_is_set(synthetic, monkeypatch) -> None:
    home, logged = synthetic
    settings = use_home(monkeypatch, home)
    app = page().run()
    assert "mlflow" not in runs_table(app).columns
    assert not any("MLflow UI" in markdown.value for markdown in app.markdown)

    settings = use_home(monkeypatch, home, LOUPE_MLFLOW_UI_URL="http://localhost:5000/")
    experiment_id = mlflow_io.ensure_experiment(settings)
    app = page().run()

    assert not app.exception
    base = f"http://localhost:5000/#/experiments/{experiment_id}"
    assert f"[Open experiment loupe in the MLflow UI]({base})" in [markdown.value for markdown in app.markdown]
    links = dict(zip(runs_table(app).index, runs_table(app)["mlflow"], strict=True))
    assert links[logged[0].run_id] == f"{base}/runs/{logged[0].run_id}"
    app.selectbox(key=f"register_run_{experiment_id}").set_value(logged[1].run_id).run()
    assert f"[Open this run in the MLflow UI]({base}/runs/{logged[1].run_id})" in [
        markdown.value for markdown in app.markdown
    ]


def test_filters_narrow_the_runs(synthetic_page) -> None:
    app, _, logged = synthetic_page

    app.text_input(key="search").set_value("params.estimator != 'ridge'").run()
    assert f"{40} runs · page 1 of 1" in captions(app)

    app.multiselect(key="estimators").set_value(["rf"]).run()
    assert set(runs_table(app)["estimator"]) == {"rf"} and len(runs_table(app)) == 20

    app.selectbox(key="threshold_metric").set_value("rmse").run()
    app.number_input(key="threshold").set_value(760.0).run()
    expected = [run.name for run in logged if run.estimator == "rf" and run.metrics["rmse"] <= 760]
    assert sorted(runs_table(app)["run"]) == sorted(expected) and len(expected) == 7

    app.number_input(key="threshold").set_value(1.0).run()
    assert any("No run matches these filters" in warning.value for warning in app.warning)
    assert not app.exception


def test_compare_leaderboard_and_register_explanations(synthetic_page) -> None:
    app, experiment_id, logged = synthetic_page
    chosen = [logged[0].run_id, logged[15].run_id, logged[2].run_id]
    assert any("Pick two or more runs" in info.value for info in app.info)

    app.multiselect(key=f"compare_{experiment_id}").set_value(chosen).run()
    assert not app.exception
    comparison = app.dataframe[1].value
    assert comparison.shape == (13, 3)
    assert comparison.loc["metric: rmse"].tolist() == ["500", "545", "706"]

    app.toggle(key="only_differences").set_value(True).run()
    differences = app.dataframe[1].value
    assert "status" not in differences.index and "metric: rmse" in differences.index
    assert len(differences) < len(comparison)
    labels = ", ".join(app.multiselect(key=f"compare_{experiment_id}").format_func(run_id) for run_id in chosen)
    assert f"No holdout plot for {labels}: no holdout_predictions.json artifact" in captions(
        app
    )  # param/metric-only runs

    leaderboard = app.dataframe[2].value
    assert list(leaderboard["run"]) == ["hgb-0000", "rf-0001", "ridge-0002"]
    app.selectbox(key="leaderboard_metric").set_value("r2").run()
    assert "highest r2 wins" in captions(app)

    app.selectbox(key=f"register_run_{experiment_id}").set_value(logged[0].run_id).run()
    assert any("logged no model" in warning.value for warning in app.warning)
    assert app.button(key="register").disabled


def test_re_registering_a_run_names_its_version_and_asks_before_another(registry_home, monkeypatch) -> None:
    settings = use_home(monkeypatch, registry_home.home_dir, LOUPE_MLFLOW_UI_URL="http://mlflow.example:5000")
    experiment_id = mlflow_io.ensure_experiment(settings)
    app = page().run()
    hgb_run = mlflow_io.version_for_alias(settings, alias="champion").run_id

    app.selectbox(key=f"register_run_{experiment_id}").set_value(hgb_run).run()
    asked = next(readable(warning.value) for warning in app.warning if "already" in warning.value)
    assert asked.startswith("This run's model is already version 1 of diamond-price. Registering it again makes")
    assert "[version 1 in the MLflow UI](http://mlflow.example:5000/#/models/diamond-price/versions/1)" in asked
    assert app.button(key="register").disabled  # nothing is made until asked twice
    assert mlflow_io.versions_by_run(settings)[hgb_run] == [1]

    app.checkbox(key="register_again").check().run()
    assert not app.button(key="register").disabled
    app.checkbox(key="register_challenger").check()
    app.text_input(key="register_actor").set_value("grace")
    app.button(key="register").click().run()

    assert not app.exception
    assert any("as version 3 of diamond-price" in success.value for success in app.success)
    assert any(
        "[Open version 3 in the MLflow UI](http://mlflow.example:5000/#/models/diamond-price/versions/3)"
        in success.value
        for success in app.success
    )
    assert any("`challenger` → version 3 (was version 2)" in success.value for success in app.success)
    assert mlflow_io.alias_map(settings) == {"champion": 1, "challenger": 3}
    assert "v1 (champion), v3 (challenger)" in set(runs_table(app)["registered"])
    engine = make_engine(settings.database_url)
    try:
        with make_sessionmaker(engine)() as session:
            change = list_alias_changes(session, model_name=settings.model_name, alias="challenger")[-1]
        assert (change.from_version, change.to_version, change.origin, change.actor) == (2, 3, "page", "grace")
    finally:
        engine.dispose()

    app.selectbox(key=f"register_run_{experiment_id}").set_value(hgb_run).run()
    assert any("already is version 1, version 3 of diamond-price" in readable(w.value) for w in app.warning)


def test_an_unreachable_tracking_server_is_reported(monkeypatch, tmp_path) -> None:
    use_home(monkeypatch, tmp_path / "home", MLFLOW_TRACKING_URI="http://127.0.0.1:9")

    app = page().run()

    assert not app.exception
    assert "MLflow unreachable" in failures(app)[0] and "127.0.0.1:9" in failures(app)[0]


def test_a_blocked_challenger_move_keeps_the_new_version_and_says_why(registry_home, monkeypatch) -> None:
    settings = use_home(monkeypatch, registry_home.home_dir, LOUPE_PROMOTION_TOLERANCE="0")
    mlflow_io.set_alias(settings, alias="challenger", version=1)  # the better hgb model holds challenger
    rf_run = mlflow_io.get_version(settings, version=2).run_id
    experiment_id = mlflow_io.ensure_experiment(settings)
    app = page().run()

    app.selectbox(key=f"register_run_{experiment_id}").set_value(rf_run).run()
    app.checkbox(key="register_again").check().run()
    app.checkbox(key="register_challenger").check()
    app.button(key="register").click().run()

    assert not app.exception
    assert any("as version 3 of diamond-price" in success.value for success in app.success)
    refusal = next(readable(warning.value) for warning in app.warning if "stayed where it was" in warning.value)
    assert "blocked by failed checks" in refusal and "holdout rmse" in refusal
    assert mlflow_io.alias_map(settings)["challenger"] == 1


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real ``mlflow server`` on loopback (SQLite behind it), stopped with its whole process group."""
    folder = tmp_path_factory.mktemp("mlflow-server")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}", "--workers", "1"]
    command += ["--artifacts-destination", str(folder / "artifacts")]
    with open(folder / "server.log", "w") as log:
        process = subprocess.Popen(command, cwd=folder, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 150  # a loaded 2-core machine needs ~30 s
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"mlflow server did not start: {(folder / 'server.log').read_text()[-2000:]}")
                time.sleep(0.5)
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


@pytest.mark.slow
def test_against_an_mlflow_server_runs_link_to_its_ui(mlflow_server, monkeypatch, tmp_path) -> None:
    settings = use_home(
        monkeypatch, tmp_path / "home", MLFLOW_TRACKING_URI=mlflow_server, LOUPE_MLFLOW_UI_URL=mlflow_server
    )
    logged = log_runs(settings, 4)
    experiment_id = mlflow_io.ensure_experiment(settings)

    app = page().run()

    assert not app.exception
    links = dict(zip(runs_table(app)["run"], runs_table(app)["mlflow"], strict=True))
    assert links == {run.name: f"{mlflow_server}/#/experiments/{experiment_id}/runs/{run.run_id}" for run in logged}
    app.selectbox(key=f"register_run_{experiment_id}").set_value(logged[1].run_id).run()
    assert f"[Open this run in the MLflow UI]({links[logged[1].name]})" in [markdown.value for markdown in app.markdown]

    app.text_input(key="search").set_value("metrics.rmse <<< 3").run()
    assert not app.exception
    assert failures(app)[0].startswith("The search `metrics.rmse <<< 3` cannot be run. `<<<` is not a comparison.")
    assert [tab.label for tab in app.tabs] == ["Runs", "Compare", "Leaderboard", "Register"]


def test_a_registration_the_registry_refuses_is_reported_in_words(failing_registry, caplog) -> None:
    settings = failing_registry
    refuse_writes(
        settings.home_dir / "mlflow.db", table="model_versions", message="this registry takes no new versions"
    )
    app = page().run()
    experiment_id = app.selectbox(key="experiment").value
    run = app.selectbox(key=f"register_run_{experiment_id}")
    label = run.format_func(run.value)
    assert label.startswith("failing-pyfunc")
    app.checkbox(key="register_again").check().run()  # the run already is a version: asked, then made again
    assert not app.button(key="register").disabled

    app.button(key="register").click().run()

    assert not app.exception
    (failure,) = failures(app)
    title, _, said = failure.partition("\n")
    assert title == f"Registering run {label} as a new version of {FAILING_MODEL} failed"  # no version exists yet
    assert said.startswith(f"MLflow at {settings.tracking_uri} ") and LOG_NOTE in said
    assert "Traceback" not in page_text(app) and REDACTED not in page_text(app)
    assert not app.success
    assert [version.version for version in mlflow_io.list_versions(settings)] == [2, 1]  # nothing registered
    (record,) = [record for record in caplog.records if record.name == "loupe.pages"]
    assert record.getMessage() == title and record.exc_info is not None  # the full trace is in the log


@pytest.fixture(scope="module")
def team_classifier_home(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[ClassifierRun]]:
    """A team's classifier runs and versions logged with plain MLflow (see ``classifier_registry``). Read only."""
    home = tmp_path_factory.mktemp("classifier-experiments") / "home"
    with settings_at(home, LOUPE_MODEL_NAME=REGRESSOR) as settings:
        logged = log_team_classifiers(settings.tracking_uri, artifacts=home / "artifacts")
    return home, logged


def chart_titles(app: AppTest) -> list[str]:
    return [json.loads(chart.proto.spec)["layout"]["title"]["text"] for chart in app.get("plotly_chart")]


def test_a_classifiers_runs_are_ranked_and_charted_the_way_each_metric_points(
    team_classifier_home, tmp_path, monkeypatch
) -> None:
    home, logged = team_classifier_home
    private_copy(home, tmp_path, monkeypatch, stores=("mlflow.db",), LOUPE_MODEL_NAME=REGRESSOR)
    app = page().run()
    app.selectbox(key="sidebar_model").select(CLASSIFIER).run()
    assert not app.exception and not failures(app)
    experiment = app.selectbox(key="experiment")
    assert experiment.format_func(experiment.value) == CLASSIFIER_EXPERIMENT
    by_auc = sorted(logged, key=lambda run: -run.metrics["roc_auc"])

    # The regressor's run logged rmse too; the classifier metric most runs logged leads, highest first.
    assert "4 runs · page 1 of 1 · sorted by roc_auc" in captions(app)
    assert list(runs_table(app).index[:3]) == [run.run_id for run in by_auc]
    assert app.toggle(key="descending").value

    leaderboard = app.dataframe[-1].value
    assert app.selectbox(key="leaderboard_metric").value == "roc_auc" and "highest roc_auc wins" in captions(app)
    assert list(leaderboard["run_id"][:3]) == [run.run_id for run in by_auc]
    app.selectbox(key="leaderboard_metric").set_value("log_loss").run()
    assert "lowest log_loss wins" in captions(app)
    by_loss = sorted(logged, key=lambda run: run.metrics["log_loss"])
    assert list(app.dataframe[-1].value["run_id"]) == [run.run_id for run in by_loss]

    app.multiselect(key=f"compare_{experiment.value}").set_value([run.run_id for run in logged]).run()
    assert not app.exception and not failures(app), failures(app)
    titles = chart_titles(app)
    assert {"roc_auc (higher is better)", "accuracy_score (higher is better)", "log_loss (lower is better)"} <= set(
        titles
    )
    assert "training_accuracy_score (higher is better)" in titles  # shown, but never chosen as the default
    assert any(title.startswith("params → roc_auc (higher is better;") for title in titles)


def test_comparing_the_demo_classifiers_runs_shows_confusion_matrices_and_the_other_tabs_still_work(
    classifier_registry,
) -> None:
    app = page().run()
    experiment = app.selectbox(key="experiment").value  # the model's own experiment, loupe-classifier
    run_ids = list(runs_table(app)["run_id"]) if "run_id" in runs_table(app) else list(runs_table(app).index)
    assert len(run_ids) == 2

    app.multiselect(key=f"compare_{experiment}").set_value(run_ids).run()

    assert not app.exception and not failures(app), failures(app)
    titles = chart_titles(app)
    assert "confusion matrices (holdout)" in titles and "predicted vs actual (holdout)" not in titles
    scatter = next(
        json.loads(chart.proto.spec)["layout"] for chart in app.get("plotly_chart") if "vs roc_auc" in chart.proto.spec
    )
    low, high = scatter["yaxis"]["range"]
    assert 0.9 < low < high < 1.02  # zoomed on the runs' ROC AUCs, not 0–1.5
    # The page goes on after the comparison: the leaderboard ranks, the register tab offers the runs.
    assert app.selectbox(key="leaderboard_metric").value == "roc_auc" and "highest roc_auc wins" in captions(app)
    assert len(app.dataframe[-1].value) == 2
    assert app.button(key="register") is not None
