"""The Monitoring page on a seeded log, on an empty log, and its demo-traffic button."""

from __future__ import annotations

import json
import logging
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine, event
from streamlit.testing.v1 import AppTest

from core.dataset import load_diamonds
from core.mlflow_io import attach_reference_profile
from core.monitoring.simulator import bulk_log, simulated_latencies
from core.profile import build_profile, profile_predictions
from core.serving.model_cache import clear_memory_caches
from core.settings import get_settings
from storage.db import make_engine, make_sessionmaker, migrate
from storage.prediction_log import count_predictions
from tests.core.monitoring.classification_log import log_classifier
from tests.pages.helpers import BOOM, LOG_NOTE, REDACTED, failures, open_page, page_text, readable
from tests.team_classifiers import register_binary_text_labels, register_multiclass_int_labels
from tests.team_store import champion, team_home


def page() -> AppTest:
    return open_page("pages/4_Monitoring.py")


def seed(settings, *, rows: int, shift: float, hours_back: float) -> None:
    rng = np.random.default_rng(0)
    data = load_diamonds().sample(rows, replace=True, random_state=1).reset_index(drop=True)
    features = data.drop(columns=["price"]).astype({"cut": str, "color": str, "clarity": str})
    features["carat"] = features["carat"] * shift
    now = datetime.now(UTC)
    stamps = pd.Series([now - timedelta(hours=float(h)) for h in np.sort(rng.random(rows))[::-1] * hours_back])
    engine = make_engine(settings.database_url)
    migrate(engine)
    with make_sessionmaker(engine).begin() as session:
        bulk_log(
            session,
            features=features,
            predictions=data["price"].to_numpy() * rng.normal(1, 0.1, rows),
            timestamps=stamps,
            model_name=settings.model_name,
            model_version=1,
            latency_ms=simulated_latencies(rows, rng=rng),
            actuals=data["price"].to_numpy(float),
            label_share=0.3,
        )
    engine.dispose()


def texts(app: AppTest) -> str:
    parts = [element.value for element in (*app.markdown, *app.caption, *app.info, *app.warning, *app.error)]
    return "\n".join(readable(str(part)) for part in parts)


@pytest.mark.slow
def test_a_seeded_log_shows_kpis_drift_and_downloads(registry_home) -> None:
    seed(registry_home, rows=3_000, shift=1.25, hours_back=100)

    app = page().run()

    assert not app.exception
    metrics = {metric.label: metric.value for metric in app.metric}
    assert set(metrics) >= {"Predictions", "Rejected inputs", "Latency p95", "Drift share", "Realised MAE"}
    assert metrics["Predictions"] != "—" and int(metrics["Predictions"].replace(",", "")) > 2_000
    assert metrics["Drift share"] == "11.1%"  # carat only: 1 of 9 features
    # Errors carry the version's unit (loupe.unit USD), in the KPI and in the versions table alike.
    assert re.fullmatch(r"\$\d{1,3}(,\d{3})*", metrics["Realised MAE"]), metrics["Realised MAE"]
    versions = next(frame for frame in app.dataframe if "mae" in frame.value.columns)
    config = json.loads(versions.proto.columns)
    assert config["mae"]["type_config"]["format"] == config["rmse"]["type_config"]["format"] == "$%,.0f"
    drift_table = next(frame.value for frame in app.dataframe if "method" in frame.value.columns)
    carat = drift_table.set_index("feature").loc["carat"]
    assert carat["method"] == "wasserstein" and bool(carat["drifted"]) and carat["threshold"] == 0.1
    assert carat["verdict"] == "drifted"
    assert "1 of 9 features drifted" in texts(app)
    assert app.selectbox(key="monitoring_drift_feature").value == "carat"
    # Latency per kind of request (the seeded log is simulated traffic), what the rejected rate counts.
    kinds = next(frame.value for frame in app.dataframe if "requests" in frame.value.columns)
    assert list(kinds["requests"]) == ["simulated"] and kinds["answers"].sum() > 2_000
    assert "Rejected inputs of every version over every answered and rejected row" in texts(app)
    # carat's statistic by day, with its threshold line.
    trend = next(chart for chart in app.get("plotly_chart") if "by day" in chart.proto.spec)
    spec = json.loads(trend.proto.spec)
    assert (
        spec["data"][1]["name"] == "threshold ≥ 0.1" and "carat by day: wasserstein" in spec["layout"]["title"]["text"]
    )


@pytest.mark.slow
def test_controls_change_the_window_and_version(registry_home) -> None:
    seed(registry_home, rows=600, shift=1.0, hours_back=60)
    app = page().run()

    app.selectbox(key="monitoring_window").set_value("Last hour").run()
    hour = {metric.label: metric.value for metric in app.metric}
    app.selectbox(key="monitoring_window").set_value("Last week").run()
    week = {metric.label: metric.value for metric in app.metric}

    assert not app.exception
    assert int(week["Predictions"].replace(",", "")) == 600
    assert int(hour.get("Predictions", "0").replace(",", "").replace("—", "0")) < 600
    assert app.selectbox(key="monitoring_version").options == ["All versions", "Version 1"]
    app.selectbox(key="monitoring_version").set_value(1).run()
    assert not app.exception


@pytest.mark.slow
def test_an_empty_log_offers_the_simulator_and_it_fills_the_log(registry_home) -> None:
    app = page().run()

    assert not app.exception
    assert "prediction log is empty" in texts(app)
    app.number_input(key="monitoring_sim_rows").set_value(50)
    app.button(key="monitoring_sim_run").click().run(timeout=300)

    assert not app.exception
    engine = make_engine(registry_home.database_url)
    with make_sessionmaker(engine).begin() as session:
        answered = count_predictions(session, model_name=registry_home.model_name, is_shadow=False)
        shadows = count_predictions(session, model_name=registry_home.model_name, is_shadow=True)
    engine.dispose()
    assert 45 <= answered <= 50 and shadows == answered  # a few rows are made invalid on purpose
    assert any(metric.label == "Predictions" for metric in app.metric)


@pytest.mark.slow
def test_home_shows_monitoring_alerts(registry_home, monkeypatch) -> None:
    monkeypatch.setenv("LOUPE_ALERT_P95_LATENCY_MS", "1")  # every answer is slower than 1 ms
    get_settings.cache_clear()
    seed(registry_home, rows=300, shift=1.0, hours_back=5)

    app = open_page().run()

    assert not app.exception
    assert any("Slow answers: p95 latency" in warning.value for warning in app.warning)


def predictions_in_log(settings) -> int:
    engine = make_engine(settings.database_url)
    migrate(engine)
    with make_sessionmaker(engine).begin() as session:
        answered = count_predictions(session, model_name=settings.model_name, is_shadow=False)
    engine.dispose()
    return answered


def rolled_up(app: AppTest) -> str:
    return next(readable(caption.value) for caption in app.caption if "rolled up just now" in caption.value)


def test_the_roll_ups_are_refreshed_once_per_run(settings) -> None:
    rows = 40
    rng = np.random.default_rng(0)
    now = datetime.now(UTC)
    engine = make_engine(settings.database_url)
    migrate(engine)
    with make_sessionmaker(engine).begin() as session:
        bulk_log(
            session,
            features=pd.DataFrame({"carat": rng.uniform(0.3, 2.0, rows), "depth": rng.uniform(58.0, 65.0, rows)}),
            predictions=rng.uniform(500.0, 5_000.0, rows),
            timestamps=[now - timedelta(minutes=3 * index) for index in range(rows)],
            model_name=settings.model_name,
            model_version=1,
            latency_ms=simulated_latencies(rows, rng=rng),
        )
    engine.dispose()
    refreshes: list[str] = []

    def watch(connection, cursor, statement, parameters, context, executemany) -> None:
        if "max(predictions.id)" in statement:  # a roll-up refresh asks where the log ends, once per refresh
            refreshes.append(statement)

    event.listen(Engine, "before_cursor_execute", watch)
    try:
        app = page().run()
        after_first_run, first_caption = len(refreshes), rolled_up(app)
        app.run()
    finally:
        event.remove(Engine, "before_cursor_execute", watch)

    assert not app.exception
    assert (after_first_run, len(refreshes)) == (1, 2)
    assert f"· {rows} new log rows rolled up just now · Last refreshed at " in first_caption
    assert "· 0 new log rows rolled up just now · Last refreshed at " in rolled_up(app)
    assert re.search(r"Last refreshed at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$", first_caption)
    assert app.selectbox(key="monitoring_version").options == ["All versions", "Version 1"]


def test_traffic_a_failing_model_cannot_answer_is_reported_in_words(failing_registry, caplog) -> None:
    app = page().run()
    assert "prediction log is empty" in texts(app)
    app.number_input(key="monitoring_sim_rows").set_value(50)

    app.button(key="monitoring_sim_run").click().run()

    assert not app.exception
    (failure,) = failures(app)
    title, _, said = failure.partition("\n")
    assert title == "Generating simulated traffic failed (model version 2)"
    assert BOOM in said.splitlines()[0] and LOG_NOTE in said
    assert "Traceback" not in page_text(app) and REDACTED not in page_text(app)
    assert not app.success and not app.get("progress")
    assert app.button(key="monitoring_sim_run")  # the form stays, to try again
    assert predictions_in_log(failing_registry) == 0
    (record,) = [record for record in caplog.records if record.name == "loupe.pages"]
    assert record.levelno == logging.ERROR and record.getMessage() == title and record.exc_info is not None


# --- a classifier a team registered with plain MLflow code ------------------------------------------------

CLASSIFIER = "tumour-triage"


def classifier_home(tmp_path, monkeypatch):
    """The breast-cancer classifier as champion, with reference data holding its label counts and scores."""
    clear_memory_caches()
    settings = team_home(tmp_path, monkeypatch, model=CLASSIFIER)
    registered = register_binary_text_labels(CLASSIFIER)
    champion(CLASSIFIER, registered.version)
    profile = build_profile(registered.features, target_values=registered.labels, categorical_target=True)
    scores = registered.estimator.predict_proba(registered.features)[:, 1]
    profile = replace(profile, prediction_profile=profile_predictions(scores))
    attach_reference_profile(settings, version=registered.version, profile=profile, note="the training data")
    yield settings, registered
    clear_memory_caches()


@pytest.fixture
def classifier(tmp_path, monkeypatch):
    yield from classifier_home(tmp_path, monkeypatch)


def log_classified(settings, version: int, *, label_share: float, skill: float) -> None:
    """Answers over the last day (and the challenger's shadow rows), true labels for ``label_share`` of them."""
    engine = make_engine(settings.database_url)
    migrate(engine)
    start = datetime.now(UTC) - timedelta(hours=20)
    classes = ["benign", "malignant"]
    with make_sessionmaker(engine).begin() as session:
        answers = log_classifier(
            session,
            classes=classes,
            rows=300,
            seed=1,
            model_name=settings.model_name,
            version=version,
            start=start,
            hours=19,
            label_share=label_share,
            skill=skill,
        )
        log_classifier(
            session,
            classes=classes,
            rows=300,
            seed=2,
            model_name=settings.model_name,
            version=version + 1,
            start=start,
            hours=19,
            shadow_of=answers.ids,
        )
    engine.dispose()


def frame_with(app: AppTest, column: str) -> pd.DataFrame:
    return next(frame.value for frame in app.dataframe if column in frame.value.columns)


def test_a_classifier_shows_metrics_confusion_calibration_agreement_and_output_drift(classifier) -> None:
    settings, registered = classifier
    log_classified(settings, registered.version, label_share=0.6, skill=0.1)

    app = page().run()

    assert not app.exception and not failures(app)[1:]  # the one error box is the accuracy alert
    metrics = {metric.label: metric.value for metric in app.metric}
    assert "Realised MAE" not in metrics
    assert metrics["Label coverage"].endswith("%") and 50 <= float(metrics["Label coverage"][:-1]) <= 70
    assert any("Realised accuracy" in failure and "holdout" in failure for failure in failures(app))
    table = frame_with(app, "roc_auc")
    assert {"accuracy", "precision", "recall", "f1", "roc_auc", "log_loss", "coverage"} <= set(table.columns)
    assert set(table["role"]) == {"answered", "shadow"}
    shown = texts(app)
    assert "positive class malignant" in shown
    assert "**Predicted labels**:" in shown and "**Scores (P(malignant))**:" in shown
    assert app.selectbox(key="monitoring_calibration_class").value == "malignant"
    agreement = frame_with(app, "agreement")
    assert agreement["compared"].tolist() == [300] and 0 < agreement["agreement"].iloc[0] < 100  # a percentage
    charts = {chart.proto.id for chart in app.get("plotly_chart")}
    assert len(charts) >= 6  # latency, throughput, prediction, 2 output drifts, over time, confusion, calibration


def test_a_classifier_without_true_labels_says_how_to_send_them(classifier) -> None:
    settings, registered = classifier
    log_classified(settings, registered.version, label_share=0.0, skill=0.5)

    app = page().run()

    assert not app.exception and not failures(app)
    assert "No true labels yet" in texts(app) and "python -m core feedback" in texts(app)
    metrics = {metric.label: metric.value for metric in app.metric}
    assert metrics["Label coverage"] == "0.0%" and metrics["Realised accuracy"] == "—"


def test_a_multiclass_classifier_without_reference_data_still_shows_its_metrics(tmp_path, monkeypatch) -> None:
    clear_memory_caches()
    settings = team_home(tmp_path, monkeypatch, model="iris-species")
    registered = register_multiclass_int_labels("iris-species")
    champion("iris-species", registered.version)
    engine = make_engine(settings.database_url)
    migrate(engine)
    with make_sessionmaker(engine).begin() as session:
        log_classifier(
            session,
            classes=["0", "1", "2"],
            rows=120,
            seed=3,
            model_name="iris-species",
            version=registered.version,
            start=datetime.now(UTC) - timedelta(hours=10),
            hours=9,
        )
    engine.dispose()

    app = page().run()
    clear_memory_caches()

    assert not app.exception and not failures(app)
    shown = texts(app)
    assert "(macro averages)" in shown
    assert "neither its label counts nor its scores" in shown
    assert app.selectbox(key="monitoring_calibration_class").options == ["0", "1", "2"]
    assert frame_with(app, "roc_auc")["labelled"].iloc[0] > 0
    titles = [json.loads(chart.proto.spec)["layout"]["title"]["text"] for chart in app.get("plotly_chart")]
    assert "Score distribution: probability of the predicted class" in titles  # what a multiclass score is
