import json
import logging

import pytest
from sqlalchemy import func, select
from streamlit.testing.v1 import AppTest

from core.dataset import load_diamonds
from core.serving.model_cache import clear_memory_caches
from storage.db import make_engine, make_sessionmaker, migrate
from storage.prediction_log import Feedback, Prediction
from tests.conftest import use_home
from tests.pages.helpers import BOOM, LOG_NOTE, REDACTED, closed_port, failures, open_page, page_text, readable


@pytest.fixture(autouse=True)
def fresh_serving_caches():
    clear_memory_caches()
    yield
    clear_memory_caches()


def predict_page() -> AppTest:
    return open_page("pages/1_Predict.py")


def count(settings, *, shadow: bool | None = None, table=Prediction) -> int:
    engine = make_engine(settings.database_url)
    migrate(engine)
    query = select(func.count()).select_from(table)
    if shadow is not None:
        query = query.where(Prediction.is_shadow.is_(shadow))
    with make_sessionmaker(engine).begin() as session:
        result = session.scalar(query)
    engine.dispose()
    return int(result)


def metric(app: AppTest, label: str) -> str:
    """A metric's value as read, by its label as read."""
    return next(readable(item.value) for item in app.metric if readable(item.label) == label)


def test_single_prediction_from_the_form(registry_home) -> None:
    app = predict_page().run()
    assert not app.exception
    assert any("Answering: **diamond-price v1**" in item.value for item in app.markdown)
    assert any(
        readable(item.value).startswith(
            "Predicts: price · answers in USD · one-case scoring: compiled: ColumnTransformer"
        )
        for item in app.caption
    )
    assert app.number_input(key="predict_field_carat").value == pytest.approx(0.7)
    assert app.selectbox(key="predict_field_cut").value == "Ideal"

    app.number_input(key="predict_field_carat").set_value(1.2)
    app.selectbox(key="predict_field_color").set_value("D")
    app.button(key="predict_submit").click()
    app.run()

    assert not app.exception
    assert metric(app, "Predicted price").startswith("$")
    assert metric(app, "Answering version") == "v1"
    assert metric(app, "Latency").endswith(" ms")
    assert count(registry_home, shadow=False) == 1
    assert count(registry_home, shadow=True) == 1  # the challenger ran after the answer was rendered


def test_refused_form_input_names_field_and_rule_and_logs_nothing(registry_home) -> None:
    app = predict_page().run()
    app.number_input(key="predict_field_carat").set_value(0.0)
    app.number_input(key="predict_field_x").set_value(-1.0)
    app.button(key="predict_submit").click()
    app.run()

    assert not app.exception
    (error,) = failures(app)
    assert "carat: must be > 0, got 0 (rule: gt 0)" in error
    assert "x: must be ≥ 0, got -1 (rule: ge 0)" in error
    assert count(registry_home) == 0


def test_an_emptied_field_is_refused_as_required_not_scored_with_its_default(registry_home) -> None:
    app = predict_page().run()
    assert app.number_input(key="predict_field_carat").value == pytest.approx(0.7)  # starts at the median

    app.number_input(key="predict_field_carat").set_value(None)
    app.button(key="predict_submit").click()
    app.run()

    assert not app.exception
    assert app.number_input(key="predict_field_carat").value is None  # stays empty, no snapping back
    (error,) = failures(app)
    assert "carat: value is missing (rule: required)" in error
    assert count(registry_home) == 0

    app.number_input(key="predict_field_carat").set_value(0.9)
    app.button(key="predict_submit").click()
    app.run()
    assert not failures(app) and count(registry_home, shadow=False) == 1


def test_the_form_reads_and_tabs_across_rows(registry_home) -> None:
    app = predict_page().run()
    fields = [
        str(widget.key).removeprefix("predict_field_")
        for column in app.columns
        for widget in column.children.values()
        if str(getattr(widget, "key", "")).startswith("predict_field_")
    ]
    rows = [
        [str(widget.key) for widget in column.children.values()]
        for column in app.columns
        if any(str(getattr(widget, "key", "")).startswith("predict_field_") for widget in column.children.values())
    ]

    # Columns in page order, one field each: the tab order is the reading order, row after row.
    assert fields == ["carat", "cut", "color", "clarity", "depth", "table", "x", "y", "z"]
    assert all(len(column) == 1 for column in rows)


def test_out_of_range_input_is_answered_with_a_warning(registry_home) -> None:
    app = predict_page().run()
    app.number_input(key="predict_field_carat").set_value(6.0)
    app.button(key="predict_submit").click()
    app.run()

    assert any("carat: 6 is outside the training range" in readable(warning.value) for warning in app.warning)
    assert count(registry_home, shadow=False) == 1


def test_batch_upload_scores_rejects_and_offers_downloads(registry_home) -> None:
    frame = load_diamonds().drop(columns="price").head(30)
    frame["cut"] = frame["cut"].astype(str)
    frame.loc[4, "cut"] = "Superb"
    app = predict_page().run()
    assert app.get("download_button")  # the template

    app.file_uploader(key="batch_upload").upload("stones.csv", frame.to_csv(index=False).encode(), "text/csv")
    app.run()
    app.button(key="batch_score").click()
    app.run()

    assert not app.exception
    assert metric(app, "Rows") == "30" and metric(app, "Scored") == "29" and metric(app, "Rejected rows") == "1"
    assert metric(app, "Version") == "v1"
    assert count(registry_home, shadow=False) == 29
    # The answer reads as the form's does ($2,392, in the version's unit); the preview keeps every digit.
    preview = next(table for table in app.dataframe if "prediction" in table.value.columns)
    config = json.loads(preview.proto.columns)["prediction"]
    assert config["type_config"]["format"] == "$%,.0f" and config["label"] == "prediction (price)"
    assert (preview.value["prediction"] % 1 != 0).any()


def test_batch_with_a_bad_file_says_why(registry_home) -> None:
    app = predict_page().run()
    app.file_uploader(key="batch_upload").upload("latin.csv", "carat;cut\n0,5;Idéal\n".encode("latin-1"), "text/csv")
    app.run()
    app.button(key="batch_score").click()
    app.run()

    assert not app.exception
    assert any("latin.csv: the file is not UTF-8 text" in error for error in failures(app))
    assert count(registry_home) == 0


def test_ground_truth_upload_reports_unknown_ids(registry_home) -> None:
    app = predict_page().run()
    app.button(key="predict_submit").click()
    app.run()
    engine = make_engine(registry_home.database_url)
    with make_sessionmaker(engine).begin() as session:
        answer_id = session.scalar(select(Prediction.id).where(Prediction.is_shadow.is_(False)))
    engine.dispose()

    app.file_uploader(key="feedback_upload").upload(
        "truth.csv", f"prediction_id,actual\n{answer_id},2500\n777777,1\n".encode(), "text/csv"
    )
    app.run()
    app.button(key="feedback_attach").click()
    app.run()

    assert not app.exception
    assert any("1 actual value stored" in item.value for item in app.success)
    assert any("777777" in item.value for item in app.warning)
    assert count(registry_home, table=Feedback) == 1


def test_dead_registry_with_nothing_cached_is_a_clear_error(monkeypatch, tmp_path) -> None:
    use_home(monkeypatch, tmp_path / "home", MLFLOW_TRACKING_URI="http://127.0.0.1:9")

    app = predict_page().run()

    assert not app.exception
    assert "Nothing can answer: registry unreachable" in failures(app)[0]


def test_the_form_follows_another_models_signature(diabetes_registry) -> None:
    settings = diabetes_registry

    app = predict_page().run()

    assert not app.exception
    assert app.number_input(key="predict_field_age").value == 50
    assert app.selectbox(key="predict_field_sex").options == ["female", "male"]
    assert app.number_input(key="predict_field_bmi").value == pytest.approx(25.7)
    assert not any(widget.key == "predict_field_carat" for widget in app.number_input)

    app.number_input(key="predict_field_bmi").set_value(-2.0)
    app.button(key="predict_submit").click()
    app.run()
    assert "bmi: must be > 0, got -2 (rule: gt 0)" in failures(app)[0]

    app.number_input(key="predict_field_bmi").set_value(31.0)
    app.button(key="predict_submit").click()
    app.run()
    assert not app.exception
    assert metric(app, "Answering version") == "v1"
    assert not metric(app, "Predicted progression").startswith("$")
    assert count(settings) == 1


def test_dead_registry_serves_the_cached_version_with_a_notice(registry_home, monkeypatch) -> None:
    assert not predict_page().run().exception  # loads v1 and keeps a local copy
    use_home(monkeypatch, registry_home.home_dir, MLFLOW_TRACKING_URI="http://127.0.0.1:9")
    clear_memory_caches()  # as after a restart

    app = predict_page().run()
    assert any(readable(warning.value) == "registry unreachable — serving cached v1" for warning in app.warning)
    app.button(key="predict_submit").click()
    app.run()

    assert not app.exception
    assert metric(app, "Answering version") == "v1"
    assert count(registry_home, shadow=False) == 1


def test_a_model_that_raises_is_reported_in_words_and_logged(failing_registry, caplog) -> None:
    app = predict_page().run()
    assert not app.exception
    assert any("Answering: **failing-model v2**" in item.value for item in app.markdown)
    app.number_input(key="predict_field_carat").set_value(1.2)
    app.number_input(key="predict_field_depth").set_value(61.5)

    app.button(key="predict_submit").click().run()

    assert not app.exception  # no Streamlit error box, redacted or not
    (failure,) = failures(app)
    title, _, said = failure.partition("\n")
    assert title == "Scoring the form failed (model version 2)"
    assert BOOM in said and LOG_NOTE in said
    shown = page_text(app)
    assert "Traceback" not in shown and REDACTED not in shown
    assert not app.metric  # nothing pretends to answer
    assert not any("Fill in the case" in caption.value for caption in app.caption)
    assert count(failing_registry) == 0
    (record,) = [record for record in caplog.records if record.name == "loupe.pages"]
    assert record.levelno == logging.ERROR and record.exc_info is not None
    assert record.getMessage() == "Scoring the form failed (model version 2)"
    assert "Traceback" in caplog.text and f"ValueError: {BOOM}" in caplog.text  # the model's own trace


def test_a_batch_the_model_cannot_score_is_reported_and_nothing_is_logged(failing_registry) -> None:
    app = predict_page().run()
    app.file_uploader(key="batch_upload").upload("stones.csv", b"carat,depth\n0.5,61.0\n1.1,62.0\n", "text/csv")
    app.run()

    app.button(key="batch_score").click().run()

    assert not app.exception
    (failure,) = failures(app)
    assert failure.startswith("Scoring stones.csv failed (model version 2)\n")
    assert BOOM in failure and LOG_NOTE in failure
    assert not app.get("progress")  # the progress bar goes with the failed attempt
    assert count(failing_registry) == 0


def test_a_prediction_log_that_cannot_be_opened_is_said_in_words(failing_registry, monkeypatch) -> None:
    port = closed_port()
    use_home(
        monkeypatch,
        failing_registry.home_dir,
        LOUPE_MODEL_NAME=failing_registry.model_name,
        LOUPE_DATABASE_URL=f"postgresql+psycopg://loupe@127.0.0.1:{port}/loupe",
    )

    app = predict_page().run()

    assert not app.exception
    (failure,) = failures(app)
    assert failure.startswith("Opening the prediction log failed\nOperationalError: ")
    assert f"port {port} failed" in failure and LOG_NOTE in failure
    assert not app.tabs and not app.button  # the page stops: nothing to score into
