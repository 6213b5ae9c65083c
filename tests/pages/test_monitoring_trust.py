"""Monitoring you can trust: no verdict without evidence, the refresh time, one prediction looked up by id."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from core.dataset import load_diamonds
from core.mlflow_io import attach_reference_profile
from core.monitoring.simulator import bulk_log, simulated_latencies
from core.profile import build_profile
from core.serving.model_cache import clear_memory_caches
from core.serving.scoring import predict_one
from storage.db import make_engine, make_sessionmaker, migrate
from storage.prediction_log import add_feedback
from tests.pages.helpers import open_page, readable
from tests.pages.test_monitoring import seed, texts

DIAMOND = {"carat": 0.7, "cut": "Ideal", "color": "G", "clarity": "VS2", "depth": 61.5, "table": 56.0}
DIAMOND |= {"x": 5.7, "y": 5.72, "z": 3.51}


def page() -> AppTest:
    return open_page("pages/4_Monitoring.py")


@pytest.mark.slow
def test_a_handful_of_inputs_is_not_enough_data_for_a_verdict(registry_home) -> None:
    seed(registry_home, rows=29, shift=2.0, hours_back=5)  # carat doubled: drifted by any test, on 29 rows

    app = page().run()

    assert not app.exception
    shown = texts(app)
    assert "**Not enough data** for version 1: 29 inputs in this window" in shown
    assert "needs at least 100 rows per feature" in shown
    assert "Dataset drift" not in shown and not [error for error in app.error if "Input drift" in error.value]
    assert "What the Registry's pre-flight reads (answered inputs, last 24 h): not enough data: 29 inputs" in shown
    drift = next(frame.value for frame in app.dataframe if "method" in frame.value.columns)
    assert set(drift["verdict"]) == {"not enough data"}
    metrics = {metric.label: metric.value for metric in app.metric}
    assert metrics["Drift share"] == "—"


@pytest.mark.slow
def test_one_prediction_is_looked_up_by_id(registry_home) -> None:
    clear_memory_caches()
    engine = make_engine(registry_home.database_url)
    migrate(engine)
    sessions = make_sessionmaker(engine)
    outcome = predict_one(registry_home, DIAMOND, sessions=sessions)
    assert outcome.prediction_id is not None
    with sessions.begin() as session:
        add_feedback(session, actuals={outcome.prediction_id: 2_345.0})
    engine.dispose()
    app = page().run()

    app.number_input(key="monitoring_lookup_id").set_value(outcome.prediction_id)
    app.button(key="monitoring_lookup_run").click().run()

    assert not app.exception
    metrics = {metric.label: metric.value for metric in app.metric}
    assert metrics["Version"] == "v1" and metrics["True value"] == "2,345"
    inputs = next(frame.value for frame in app.dataframe if "input" in frame.value.columns)
    values = dict(zip(inputs["input"], inputs["value"], strict=True))
    assert values["cut"] == "Ideal" and values["depth"] == "61.5"  # as sent, not Markdown-escaped
    shadows = next(frame.value for frame in app.dataframe if "shadow id" in frame.value.columns)
    assert list(shadows["version"]) == ["v2"]
    assert any("Answered at " in readable(caption.value) and " UTC" in caption.value for caption in app.caption)

    app.number_input(key="monitoring_lookup_id").set_value(outcome.prediction_id + 500)
    app.button(key="monitoring_lookup_run").click().run()

    assert not app.exception
    assert any(f"has id {outcome.prediction_id + 500}" in warning.value for warning in app.warning)


@pytest.mark.slow
def test_a_regressors_predictions_are_compared_with_its_references_next_to_its_inputs(registry_home) -> None:
    data = load_diamonds().sample(5_000, random_state=0)
    profile = build_profile(data.drop(columns=["price"]), target="price", target_values=data["price"])
    attach_reference_profile(registry_home, version=1, profile=profile, note="training data with its prices")
    clear_memory_caches()
    seed(registry_home, rows=600, shift=1.0, hours_back=20)

    app = page().run()

    assert not app.exception
    shown = texts(app)
    assert "**Predictions**: stable — wasserstein" in shown
    assert "over 600 answers against the reference's true values (5,000 rows)" in shown


@pytest.mark.slow
def test_without_reference_outputs_the_page_says_why_predictions_are_not_compared(team_home, team_registry) -> None:
    # A team's model (plain MLflow) whose reference data was attached without its target: inputs only.
    inputs = team_home.diabetes_data.drop(columns=["progression"])
    attach_reference_profile(team_registry, version=1, profile=build_profile(inputs), note="inputs, no target")
    clear_memory_caches()
    logged = inputs.sample(300, replace=True, random_state=0).reset_index(drop=True)
    now = datetime.now(UTC)
    engine = make_engine(team_registry.database_url)
    migrate(engine)
    with make_sessionmaker(engine).begin() as session:
        bulk_log(
            session,
            features=logged,
            predictions=team_home.diabetes.predict(logged),
            timestamps=[now - timedelta(minutes=3 * number) for number in range(len(logged))],
            model_name=team_registry.model_name,
            model_version=1,
            latency_ms=simulated_latencies(len(logged), rng=np.random.default_rng(0)),
        )
    engine.dispose()

    app = page().run()

    assert not app.exception
    assert "Version 1's reference data holds neither its predictions nor its true values" in texts(app)
