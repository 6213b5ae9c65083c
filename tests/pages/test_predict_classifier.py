"""The Predict page with a classifier a team registered with plain MLflow code selected."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from core.serving.model_cache import clear_memory_caches
from storage.db import make_engine, make_sessionmaker, migrate
from storage.prediction_log import Prediction
from tests.pages.helpers import failures, open_page, readable
from tests.team_classifiers import register_binary_text_labels
from tests.team_store import champion, team_home

MODEL = "tumour-triage"


@pytest.fixture
def classifier(tmp_path, monkeypatch):
    clear_memory_caches()
    settings = team_home(tmp_path, monkeypatch, model=MODEL)
    registered = register_binary_text_labels(MODEL)
    champion(MODEL, registered.version)
    yield settings, registered
    clear_memory_caches()


def logged(settings) -> list[Prediction]:
    engine = make_engine(settings.database_url)
    migrate(engine)
    with make_sessionmaker(engine)() as session:
        rows = list(session.scalars(select(Prediction).order_by(Prediction.id)))
    engine.dispose()
    return rows


def test_the_form_answers_with_the_class_and_a_bar_per_class(classifier) -> None:
    settings, registered = classifier
    case = registered.features.iloc[12]
    app = open_page("pages/1_Predict.py").run()
    assert not app.exception and not failures(app)
    assert any(
        readable(item.value).startswith("Classifies: diagnosis into 2 classes (benign, malignant)")
        or readable(item.value).startswith("Classifies: prediction into 2 classes (benign, malignant)")
        for item in app.caption
    )

    for name, value in case.items():
        app.number_input(key=f"predict_field_{name}").set_value(float(value))
    app.button(key="predict_submit").click()
    app.run()

    assert not app.exception and not failures(app)
    expected = registered.estimator.predict(case.to_frame().T)[0]
    shown = {readable(item.label): readable(item.value) for item in app.metric}
    assert shown["Predicted class"] == expected
    (chart,) = app.get("plotly_chart")
    figure = json.loads(chart.proto.spec)
    bars = figure["data"][0]
    assert bars["y"] == ["benign", "malignant"]
    assert bars["x"] == pytest.approx(list(registered.estimator.predict_proba(case.to_frame().T)[0]), rel=1e-9)
    (row,) = logged(settings)
    assert row.label == expected and json.loads(row.probabilities).keys() == {"benign", "malignant"}


def test_a_batch_shows_labels_and_class_probabilities(classifier) -> None:
    settings, registered = classifier
    frame = registered.features.head(20)
    app = open_page("pages/1_Predict.py").run()

    app.file_uploader(key="batch_upload").upload("cases.csv", frame.to_csv(index=False).encode(), "text/csv")
    app.run()
    app.button(key="batch_score").click()
    app.run()

    assert not app.exception and not failures(app)
    preview = app.dataframe[0].value  # the scored rows (the first table on the page)
    assert list(preview.columns[:3]) == ["prediction", "proba_benign", "proba_malignant"]  # the answer in view
    assert list(preview["prediction"]) == list(registered.estimator.predict(frame))
    assert {"proba_benign", "proba_malignant"} <= set(preview.columns)
    assert [row.label for row in logged(settings)] == list(registered.estimator.predict(frame))


def test_the_demo_classifiers_form_starts_from_its_reference_medians_without_float_noise(classifier_registry) -> None:
    app = open_page("pages/1_Predict.py").run()

    assert not app.exception and not failures(app)
    values = [widget.value for widget in app.number_input]
    assert len(values) == 10 and None not in values
    # A median of an even count is a midpoint; the form shows 86.21, not 86.21000000000001.
    assert all(len(repr(value)) <= 12 for value in values), values
