import dataclasses
import math
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from core import mlflow_io
from core.experiments.comparison import comparison_table, leaderboard, load_holdouts, values_differ
from core.experiments.registration import (
    AlreadyRegistered,
    CannotRegister,
    register_run,
    registrable,
    run_summary,
    with_models_first,
)
from core.experiments.runs import (
    InvalidFilter,
    RunFilters,
    RunSet,
    default_experiment,
    display_table,
    experiment_url,
    list_experiments,
    load_runs,
    mlflow_ui,
    narrow,
    run_url,
    runs_page,
    sort_table,
    version_url,
)
from core.mlflow_io import RegistryUnavailable
from core.settings import get_settings
from storage.db import make_engine, make_sessionmaker, migrate
from storage.ledger import list_alias_changes
from tests.conftest import settings_at, use_home
from tests.experiment_runs import LoggedRun, log_runs

RUN_COUNT = 60


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[LoggedRun]]:
    """60 param/metric-only runs logged once for the module; read them, never change them."""
    home = tmp_path_factory.mktemp("synthetic") / "home"
    with settings_at(home) as settings:
        logged = log_runs(settings, RUN_COUNT)
    return home, logged


@pytest.fixture
def synthetic_runs(synthetic, monkeypatch) -> tuple[RunSet, list[LoggedRun]]:
    home, logged = synthetic
    settings = use_home(monkeypatch, home)
    experiment_id = mlflow_io.ensure_experiment(settings)
    return load_runs(settings, experiment_id=experiment_id), logged


def sessions_for(settings):
    engine = make_engine(settings.database_url)
    migrate(engine)
    return make_sessionmaker(engine)


def test_one_row_per_run_with_attributes_params_and_metrics(synthetic_runs) -> None:
    runs, logged = synthetic_runs

    assert len(runs.frame) == RUN_COUNT
    assert set(runs.frame.index) == {run.run_id for run in logged}
    assert runs.metrics == ("rmse", "mae", "r2", "mape")
    assert set(runs.params) == {"estimator", "seed", "learning_rate", "max_iter", "n_estimators", "max_depth", "alpha"}
    assert runs.estimators == ("hgb", "rf", "ridge")
    run = logged[16]  # an rf run that failed after 16 s
    row = runs.frame.loc[run.run_id]
    assert row["run_name"] == "rf-0016"
    assert row["status"] == "FAILED"
    assert row["estimator"] == "rf"
    assert row["start"] == pd.Timestamp(run.start)
    assert row["duration_s"] == 16.0
    assert row["metrics.rmse"] == run.metrics["rmse"] == 500 + 16 * 3 + 200
    assert row["params.n_estimators"] == float(run.params["n_estimators"])
    assert math.isnan(row["params.learning_rate"])  # an hgb-only param
    assert row["params.max_depth"] == "None"  # text stays text
    assert not row["has_model"] and row["registered"] == ""
    # numeric params become numbers, so they sort and plot as numbers
    assert pd.api.types.is_float_dtype(runs.frame["params.learning_rate"])


def test_key_params_are_the_varying_ones_without_the_estimator(synthetic_runs) -> None:
    runs, _ = synthetic_runs

    # the most common first (seed is on every run), then by name
    assert runs.key_params() == ["seed", "alpha", "learning_rate", "max_depth", "max_iter", "n_estimators"]
    assert runs.key_params(limit=2) == ["seed", "alpha"]
    hgb_only = narrow(runs, estimators=["hgb"])
    # within one estimator the others' params are constant (missing), so they are not key
    assert RunSet.key_params(hgb_only) == ["seed", "learning_rate", "max_iter"]


def test_table_sorts_all_runs_before_cutting_a_page(synthetic_runs) -> None:
    runs, logged = synthetic_runs
    table = display_table(runs, params=["learning_rate", "alpha"])
    by_rmse = sorted(logged, key=lambda run: run.metrics["rmse"])

    first = runs_page(sort_table(table, sort_by="rmse", descending=False), page=1, page_size=10)
    last = runs_page(sort_table(table, sort_by="rmse", descending=True), page=1, page_size=10)

    assert list(table.columns) == [
        "run",
        "estimator",
        "rmse",
        "mae",
        "r2",
        "mape",
        "registered",
        "model",
        "status",
        "started",
        "duration (s)",
        "learning_rate",
        "alpha",
    ]
    assert list(first.table["run"]) == [run.name for run in by_rmse[:10]]
    assert list(last.table["run"]) == [run.name for run in reversed(by_rmse[-10:])]
    assert (first.page, first.pages, first.total) == (1, 6, RUN_COUNT)

    by_alpha = sort_table(table, sort_by="alpha", descending=True)
    assert by_alpha["alpha"].iloc[:20].notna().all() and by_alpha["alpha"].iloc[20:].isna().all()
    assert list(by_alpha["alpha"].iloc[:20]) == sorted(by_alpha["alpha"].iloc[:20], reverse=True)

    clamped = runs_page(table, page=99, page_size=25)
    assert (clamped.page, len(clamped.table)) == (3, 10)
    with pytest.raises(ValueError, match="sort_by must be one of"):
        sort_table(table, sort_by="nope", descending=False)


def test_mlflow_search_filter_and_date_range(synthetic, monkeypatch) -> None:
    home, logged = synthetic
    settings = use_home(monkeypatch, home)
    experiment_id = mlflow_io.ensure_experiment(settings)

    hgb = load_runs(
        settings,
        experiment_id=experiment_id,
        filters=RunFilters(search="params.estimator = 'hgb' and metrics.rmse < 560"),
    )
    day = load_runs(
        settings,
        experiment_id=experiment_id,
        filters=RunFilters(started_from=date(2026, 1, 2), started_to=date(2026, 1, 2)),
    )

    expected = {run.run_id for run in logged if run.estimator == "hgb" and run.metrics["rmse"] < 560}
    assert set(hgb.frame.index) == expected and len(expected) == 7
    # runs start hourly from 2026-01-01 12:00 UTC: runs 12..35 started on 2 January
    assert set(day.frame.index) == {run.run_id for run in logged[12:36]}
    assert day.filter_string == "attributes.start_time >= 1767312000000 and attributes.start_time < 1767398400000"
    assert not hgb.unfiltered_empty


@pytest.mark.parametrize(
    ("search", "reason", "said"),
    [
        ("rmse < 3", "Invalid attribute key 'rmse'", "`rmse` is not something runs can be searched by"),
        ("metrics.rmse <<< 3", "Invalid comparator '<<<'", "`<<<` is not a comparison. Use one of `=`, `!=`"),
        ("tags.team > 'a'", "Invalid comparator '>'", "`>` cannot compare text"),
        (
            "metrics.rmse < 600 or metrics.mae < 3",
            "Invalid clause(s) in filter string: 'or'",
            "MLflow search has no `or`",
        ),
        ("metrics.rmse <", "Invalid clause(s) in filter string", "A clause is incomplete"),
        ("params.seed = 3", "Expected a quoted string value for parameter", "Params, tags and attributes are text"),
        ("metrics.rmse < 'low'", "Expected numeric value type for metric", "Metrics are numbers"),
        ("foo.bar = '1'", "Invalid entity type 'foo'", "`foo.` is not a prefix MLflow knows"),
    ],
)
def test_an_invalid_filter_says_what_to_change(synthetic, monkeypatch, search: str, reason: str, said: str) -> None:
    home, _ = synthetic
    settings = use_home(monkeypatch, home)

    with pytest.raises(InvalidFilter) as raised:
        load_runs(settings, experiment_id=mlflow_io.ensure_experiment(settings), filters=RunFilters(search=search))

    message = str(raised.value)
    assert message.startswith(f"The search `{search}` cannot be run. {said}")
    assert reason in raised.value.reason and reason not in message  # MLflow's words are kept, not shown
    assert "metrics.rmse < 600 and params.estimator = 'hgb'" in message  # an example of what works


def test_quick_filters_estimator_and_metric_threshold(synthetic_runs) -> None:
    runs, logged = synthetic_runs

    cheap = narrow(runs, estimators=["rf", "ridge"], metric="rmse", threshold=800.0)
    good_fit = narrow(runs, metric="r2", threshold=0.94)  # higher is better: "at least"
    untouched = narrow(runs, metric="rmse", threshold=None)

    assert set(cheap.frame.index) == {
        run.run_id for run in logged if run.estimator in {"rf", "ridge"} and run.metrics["rmse"] <= 800
    }
    assert set(cheap.frame["estimator"]) == {"rf", "ridge"} and len(cheap.frame) == 22
    assert set(good_fit.frame.index) == {run.run_id for run in logged if run.metrics["r2"] >= 0.94}
    assert cheap.estimators == ("hgb", "rf", "ridge")  # the picker still offers every estimator
    assert len(untouched.frame) == RUN_COUNT
    with pytest.raises(ValueError, match="metric must be one of rmse, mae, r2, mape"):
        narrow(runs, metric="accuracy", threshold=1.0)


def test_comparison_table_and_only_differences(synthetic_runs) -> None:
    runs, logged = synthetic_runs
    hgb_a, hgb_b, ridge = logged[0], logged[15], logged[2]  # both hgb have seed 0

    full = comparison_table(runs, run_ids=[hgb_a.run_id, hgb_b.run_id])
    differences = comparison_table(runs, run_ids=[hgb_a.run_id, hgb_b.run_id], only_differences=True)
    with_ridge = comparison_table(runs, run_ids=[hgb_a.run_id, hgb_b.run_id, ridge.run_id], only_differences=True)

    labels = runs.labels()
    assert list(full.columns) == [labels[hgb_a.run_id], labels[hgb_b.run_id]]
    assert full.loc["metric: rmse"].tolist() == ["500", "545"]
    assert full.loc["param: learning_rate"].tolist() == ["0.01", "0.06"]
    assert full.loc["param: alpha"].tolist() == ["—", "—"]
    assert list(differences.index) == [
        "param: learning_rate",
        "param: max_iter",
        "metric: rmse",
        "metric: mae",
        "metric: r2",
        "metric: mape",
    ]
    # a missing value differs from a present one: ridge brings alpha (and drops the hgb params)
    assert {"estimator", "param: estimator", "param: alpha", "param: learning_rate"} <= set(with_ridge.index)
    assert "status" not in with_ridge.index and "param: seed" in with_ridge.index


@pytest.mark.parametrize(
    ("values", "differ"),
    [
        ([1.0, 1.0], False),
        ([1.0, 2.0], True),
        ([1.0, float("nan")], True),
        ([float("nan"), None], False),
        (["None", "None"], False),
        (["a", None], True),
    ],
)
def test_values_differ(values, differ: bool) -> None:
    assert values_differ(pd.Series(values, dtype=object)) is differ


def test_leaderboard_is_the_best_run_of_each_estimator(synthetic_runs) -> None:
    runs, logged = synthetic_runs

    by_rmse = leaderboard(runs, metric="rmse")
    by_r2 = leaderboard(runs, metric="r2")
    among_late = leaderboard(narrow(runs, metric="rmse", threshold=600.0), metric="rmse")

    assert list(by_rmse["run"]) == ["hgb-0000", "rf-0001", "ridge-0002"]
    assert list(by_rmse["rmse"]) == [500.0, 703.0, 706.0]
    assert list(by_rmse["runs"]) == [20, 20, 20]
    assert list(by_rmse.index) == [1, 2, 3]
    assert list(by_r2["run"]) == ["hgb-0000", "rf-0001", "ridge-0002"]  # highest r2 first
    assert by_r2["r2"].is_monotonic_decreasing
    assert list(among_late["estimator"]) == ["hgb"]
    assert by_rmse.loc[1, "run_id"] == logged[0].run_id


def test_mlflow_ui_links_only_when_the_ui_url_is_set_and_without_credentials(settings, monkeypatch) -> None:
    assert run_url(settings, experiment_id="1", run_id="abc") is None  # sqlite store, no UI configured
    tracked = use_home(monkeypatch, Path(settings.home_dir), MLFLOW_TRACKING_URI="http://mlflow:5000")
    assert run_url(tracked, experiment_id="1", run_id="abc") is None  # a tracking server is not a UI address
    assert version_url(tracked, version=3) is None and experiment_url(tracked, experiment_id="1") is None

    shown = use_home(
        monkeypatch,
        Path(settings.home_dir),
        MLFLOW_TRACKING_URI="http://mlflow:5000",
        LOUPE_MLFLOW_UI_URL="https://me:secret@mlflow.example/ui/",
        LOUPE_MODEL_NAME="team/price model",
    )

    assert experiment_url(shown, experiment_id="7") == "https://mlflow.example/ui/#/experiments/7"
    assert run_url(shown, experiment_id="7", run_id="abc") == "https://mlflow.example/ui/#/experiments/7/runs/abc"
    assert version_url(shown, version=3) == "https://mlflow.example/ui/#/models/team%2Fprice%20model/versions/3"
    assert version_url(shown, version=1, model_name="tumour-triage") == (
        "https://mlflow.example/ui/#/models/tumour-triage/versions/1"
    )
    blank = use_home(monkeypatch, Path(settings.home_dir), LOUPE_MLFLOW_UI_URL=" ")
    assert mlflow_ui(blank) is None


def test_a_param_only_run_cannot_be_registered(synthetic, monkeypatch, tmp_path) -> None:
    home, logged = synthetic
    settings = use_home(monkeypatch, home)
    runs = load_runs(settings, experiment_id=mlflow_io.ensure_experiment(settings))

    reason = registrable(runs, run_id=logged[0].run_id)

    assert "logged no model" in reason and "python -m core train" in reason
    with pytest.raises(CannotRegister, match="logged no model"):
        register_run(settings, run_id=logged[0].run_id, actor="test")
    assert mlflow_io.versions_by_run(settings) == {}


def test_experiments_list_and_default(settings) -> None:
    assert [experiment.name for experiment in list_experiments(settings)] == ["Default"]
    mlflow_io.ensure_experiment(settings)
    other = mlflow_io.client(settings).create_experiment("another")

    found = list_experiments(settings)

    assert [experiment.name for experiment in found] == ["another", "Default", "loupe"]
    assert default_experiment(found, name="loupe") == 2
    assert default_experiment(found, name="missing") == 0
    assert found[0].experiment_id == other


def test_an_empty_experiment_is_flagged_for_the_empty_state(settings) -> None:
    experiment_id = mlflow_io.ensure_experiment(settings)

    empty = load_runs(settings, experiment_id=experiment_id)
    filtered = load_runs(settings, experiment_id=experiment_id, filters=RunFilters(search="metrics.x > 1"))

    assert empty.empty and empty.unfiltered_empty
    assert filtered.empty and not filtered.unfiltered_empty
    assert empty.metrics == () and empty.estimators == ()
    with pytest.raises(ValueError, match="not 'rmse'"):
        leaderboard(empty, metric="rmse")


def test_a_dead_server_is_reported_in_words(monkeypatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    get_settings.cache_clear()

    with pytest.raises(RegistryUnavailable, match=r"127\.0\.0\.1:9"):
        load_runs(get_settings(), experiment_id="1")


def test_a_failing_server_is_asked_a_bounded_number_of_times(monkeypatch, tmp_path, failing_tracking_server) -> None:
    settings = use_home(
        monkeypatch, tmp_path / "home", MLFLOW_TRACKING_URI=failing_tracking_server.url, LOUPE_MLFLOW_MAX_RETRIES="1"
    )

    with pytest.raises(RegistryUnavailable, match="is unreachable or failing"):
        load_runs(settings, experiment_id="1")
    # One request and one retry, not MLflow's default of retrying for minutes.
    assert failing_tracking_server.requests == 2


# --- real trained runs (the bootstrapped registry: v1 hgb champion, v2 rf challenger) ----------


def test_trained_runs_show_their_model_and_registered_versions(bootstrapped_home, monkeypatch) -> None:
    settings = use_home(monkeypatch, bootstrapped_home)
    runs = load_runs(settings, experiment_id=mlflow_io.ensure_experiment(settings))

    by_estimator = runs.frame.set_index("estimator")

    assert runs.frame["has_model"].all()
    assert by_estimator.loc["hgb", "registered"] == "v1 (champion)"
    assert by_estimator.loc["rf", "registered"] == "v2 (challenger)"
    assert registrable(runs, run_id=by_estimator.loc["hgb", "run_id"]) is None
    assert by_estimator.loc["hgb", "metrics.rmse"] < by_estimator.loc["rf", "metrics.rmse"]
    summary = run_summary(runs, run_id=by_estimator.loc["hgb", "run_id"])
    assert summary.startswith("hgb · rmse ") and summary.endswith(" · registered as v1 (champion)")


def test_runs_with_a_model_come_first_for_registering(synthetic_runs) -> None:
    runs, logged = synthetic_runs
    frame = runs.frame.copy()
    frame.loc[[logged[5].run_id, logged[2].run_id], "has_model"] = True
    mixed = dataclasses.replace(runs, frame=frame)
    order = [run.run_id for run in logged[:8]]

    first = with_models_first(mixed, run_ids=order)

    assert first == [order[2], order[5], order[0], order[1], order[3], order[4], order[6], order[7]]
    assert run_summary(runs, run_id=logged[0].run_id) == (
        "hgb · rmse 500, mae 250, r2 0.95, mape 0.1 · not registered yet"
    )


def test_holdout_predictions_are_read_for_trained_runs(bootstrapped_home, monkeypatch) -> None:
    settings = use_home(monkeypatch, bootstrapped_home)
    runs = load_runs(settings, experiment_id=mlflow_io.ensure_experiment(settings))
    hgb = runs.frame.index[runs.frame["estimator"] == "hgb"][0]

    holdout = load_holdouts(settings, runs, run_ids=[hgb])[0]

    assert holdout.missing_reason is None and len(holdout.actual) == len(holdout.predicted) == 2000
    assert holdout.label == runs.labels()[hgb]


def test_a_param_only_run_has_no_holdout_predictions(synthetic_runs) -> None:
    runs, logged = synthetic_runs

    missing = load_holdouts(get_settings(), runs, run_ids=[logged[0].run_id])[0]

    assert missing.missing_reason == "no holdout_predictions.json artifact" and missing.actual == []


def test_register_a_run_as_a_new_version_and_set_challenger(registry_home) -> None:
    settings = registry_home
    runs = load_runs(settings, experiment_id=mlflow_io.ensure_experiment(settings))
    hgb_run = runs.frame.index[runs.frame["estimator"] == "hgb"][0]
    sessions = sessions_for(settings)

    # The hgb run already is version 1: registering it again is refused, naming the version, until asked twice.
    with pytest.raises(
        AlreadyRegistered, match=r"already version 1 of diamond-price\..*Nothing was registered"
    ) as first:
        register_run(settings, run_id=hgb_run, alias="challenger", estimator="hgb", actor="ada", sessions=sessions)
    assert first.value.versions == [1]
    assert mlflow_io.versions_by_run(settings)[hgb_run] == [1]

    registration = register_run(
        settings, run_id=hgb_run, alias="challenger", estimator="hgb", actor="ada", sessions=sessions, again=True
    )

    assert registration.version == 3 and registration.previous_version == 2
    assert mlflow_io.alias_map(settings) == {"champion": 1, "challenger": 3}
    version = mlflow_io.get_version(settings, version=3)
    assert version.run_id == hgb_run and version.estimator == "hgb"
    assert mlflow_io.versions_by_run(settings)[hgb_run] == [1, 3]
    with sessions() as session:
        change = list_alias_changes(session, model_name=settings.model_name, alias="challenger")[-1]
    assert (change.from_version, change.to_version, change.origin, change.actor) == (2, 3, "page", "ada")
    assert hgb_run in change.reason
    assert '"name": "holdout rmse", "status": "pass"' in change.preflight  # the Registry's guardrails ran

    again = load_runs(settings, experiment_id=runs.experiment_id)
    assert again.frame.loc[hgb_run, "registered"] == "v1 (champion), v3 (challenger)"


def test_register_without_alias_leaves_aliases_and_ledger_alone(registry_home) -> None:
    settings = registry_home
    runs = load_runs(settings, experiment_id=mlflow_io.ensure_experiment(settings))
    rf_run = runs.frame.index[runs.frame["estimator"] == "rf"][0]
    sessions = sessions_for(settings)
    with sessions() as session:
        ledger_before = len(list_alias_changes(session, model_name=settings.model_name))

    registration = register_run(settings, run_id=rf_run, actor="ada", again=True)

    assert registration.version == 3 and registration.alias is None
    assert mlflow_io.alias_map(settings) == {"champion": 1, "challenger": 2}
    with sessions() as session:
        assert len(list_alias_changes(session, model_name=settings.model_name)) == ledger_before


def test_setting_challenger_needs_the_admin_token_when_one_is_set(registry_home, monkeypatch) -> None:
    settings = use_home(monkeypatch, registry_home.home_dir, LOUPE_ADMIN_TOKEN="s3cret")
    runs = load_runs(settings, experiment_id=mlflow_io.ensure_experiment(settings))
    hgb_run = runs.frame.index[runs.frame["estimator"] == "hgb"][0]
    sessions = sessions_for(settings)

    for token, why in ((None, "the admin token is required"), ("wrong", "the admin token is wrong")):
        with pytest.raises(CannotRegister, match=f"Cannot set `challenger`: {why}.*Nothing was registered"):
            register_run(
                settings, run_id=hgb_run, alias="challenger", actor="ada", token=token, sessions=sessions, again=True
            )
    assert mlflow_io.versions_by_run(settings)[hgb_run] == [1]  # nothing registered

    registration = register_run(
        settings, run_id=hgb_run, alias="challenger", actor="ada", token="s3cret", sessions=sessions, again=True
    )
    assert mlflow_io.alias_map(settings)["challenger"] == registration.version == 3


def test_a_failed_preflight_keeps_the_version_and_leaves_the_alias(registry_home, monkeypatch) -> None:
    # No tolerance: the rf model's holdout rmse is worse than the hgb champion's, so the move is blocked.
    settings = use_home(monkeypatch, registry_home.home_dir, LOUPE_PROMOTION_TOLERANCE="0")
    runs = load_runs(settings, experiment_id=mlflow_io.ensure_experiment(settings))
    rf_run = runs.frame.index[runs.frame["estimator"] == "rf"][0]
    sessions = sessions_for(settings)
    with sessions() as session:
        ledger_before = len(list_alias_changes(session, model_name=settings.model_name))

    registration = register_run(settings, run_id=rf_run, alias="champion", actor="ada", sessions=sessions, again=True)

    assert registration.version == 3 and registration.alias is None
    assert "blocked by failed checks" in registration.alias_refused and "holdout rmse" in registration.alias_refused
    assert mlflow_io.alias_map(settings) == {"champion": 1, "challenger": 2}
    assert mlflow_io.versions_by_run(settings)[rf_run] == [2, 3]
    with sessions() as session:
        assert len(list_alias_changes(session, model_name=settings.model_name)) == ledger_before


def test_a_teams_runs_without_estimator_each_stand_alone_on_the_leaderboard() -> None:
    from core.experiments.comparison import leaderboard, most_logged_metric
    from core.experiments.runs import RunSet

    frame = pd.DataFrame(
        {
            "run_id": ["a", "b", "c"],
            "run_name": ["ridge-1", "ridge-2", "lasso"],
            "estimator": ["unknown", "unknown", "unknown"],
            "registered": ["", "", ""],
            "metrics.root_mean_squared_error": [56.0, 54.0, 60.0],
            "metrics.rmse": [None, None, 70.0],
        }
    )
    runs = RunSet(
        experiment_id="1",
        frame=frame.set_index("run_id", drop=False),
        params=(),
        metrics=("rmse", "root_mean_squared_error"),
        estimators=("unknown",),
        truncated=False,
        filter_string="",
    )

    board = leaderboard(runs, metric="root_mean_squared_error")

    assert most_logged_metric(runs) == "root_mean_squared_error"
    assert list(board["run"]) == ["ridge-2", "ridge-1", "lasso"] and list(board["runs"]) == [1, 1, 1]


def test_the_page_opens_on_the_experiment_the_models_champion_came_from(tmp_path, monkeypatch) -> None:
    import mlflow
    from sklearn.dummy import DummyRegressor

    from core.experiments.runs import default_experiment, list_experiments, model_experiment_id
    from tests.team_store import champion, team_home

    settings = team_home(tmp_path, monkeypatch, model="team-model")
    assert model_experiment_id(settings) is None  # nothing registered yet
    with mlflow.start_run(experiment_id=mlflow.create_experiment("team-training")):
        info = mlflow.sklearn.log_model(
            DummyRegressor().fit([[0]], [0]), name="model", pip_requirements=["scikit-learn"]
        )
    mlflow.register_model(info.model_uri, "team-model")
    champion("team-model", 1)
    mlflow_io.ensure_experiment(settings)  # Loupe's own experiment exists too

    experiments = list_experiments(settings)
    chosen = default_experiment(experiments, name=settings.experiment_name, preferred_id=model_experiment_id(settings))

    assert experiments[chosen].name == "team-training"


def test_a_run_registered_under_another_model_is_said_before_registering_it_again(tmp_path, monkeypatch) -> None:
    import mlflow
    from sklearn.dummy import DummyRegressor

    from core.experiments.registration import elsewhere
    from tests.team_store import team_home

    settings = team_home(tmp_path, monkeypatch, model="house-prices")
    with mlflow.start_run() as run:
        info = mlflow.sklearn.log_model(
            DummyRegressor().fit([[0]], [0]), name="model", pip_requirements=["scikit-learn"]
        )
    assert elsewhere(settings, run_id=run.info.run_id) is None
    mlflow.register_model(info.model_uri, "odd-inputs")

    said = elsewhere(settings, run_id=run.info.run_id)

    assert said is not None and said.startswith("This run's model is already registered as odd-inputs v1.")
