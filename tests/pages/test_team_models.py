"""The console on a team's registry (plain MLflow, no Loupe training): what a user sees on every page."""

from __future__ import annotations

import pandas as pd
import pytest
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from core.serving.model_cache import clear_memory_caches
from storage.db import make_engine, make_sessionmaker, migrate
from storage.prediction_log import Prediction
from tests.conftest import private_copy, use_home
from tests.pages.helpers import failures, open_page, page_text, readable
from tests.pages.team_models import DIABETES, TYPED, UNSIGNED, TeamModels
from ui.formats import amount, number

PREDICT = "pages/1_Predict.py"
REGISTRY = "pages/3_Registry.py"
MONITORING = "pages/4_Monitoring.py"
FIELD = "predict_field_"


@pytest.fixture(autouse=True)
def fresh_serving_caches():
    clear_memory_caches()
    yield
    clear_memory_caches()


def choose(app: AppTest, model: str) -> AppTest:
    """Pick ``model`` in the sidebar, as a user does."""
    return app.selectbox(key="sidebar_model").set_value(model).run()


def broken(app: AppTest) -> list[str]:
    """Failures of the page's own actions (alerts, which are error boxes too, are left out)."""
    return [failure for failure in failures(app) if " failed" in failure.partition("\n")[0]]


def metrics(app: AppTest) -> dict[str, str]:
    return {readable(item.label): readable(item.value) for item in app.metric}


def said(app: AppTest, *kinds: str) -> str:
    return "\n".join(readable(str(element.value)) for kind in kinds for element in app.get(kind))


def answers(settings) -> list[float]:
    """The answers in the prediction log (not the shadows), oldest first."""
    engine = make_engine(settings.database_url)
    migrate(engine)
    with make_sessionmaker(engine).begin() as session:
        found = session.scalars(
            select(Prediction.prediction).where(Prediction.is_shadow.is_(False)).order_by(Prediction.id)
        ).all()
    engine.dispose()
    return list(found)


def typed_case(**values: object) -> pd.DataFrame:
    """One ``team-typed`` input row the way the model receives it (a missing time is NaT)."""
    return pd.DataFrame(
        {
            "body mass": [float(values["body mass"])],
            "größe": [int(values["größe"])],
            "select": [values["select"]],
            "order": [bool(values["order"])],
            "measured at": [pd.Timestamp(values["measured at"]) if values.get("measured at") else pd.NaT],
        }
    )


def test_home_shows_a_team_models_holdout_metrics_under_their_logged_names(team_registry) -> None:
    app = open_page().run()

    assert not app.exception and not failures(app)
    assert metrics(app) == {
        "RMSE (test_root_mean_squared_error)": "53.78",
        "MAE (test_mean_absolute_error)": "42.79",
        "R² (test_r2_score)": "0.4526",
    }
    shown = page_text(app)
    assert "**Version 1** · holdout metrics from its run" in shown  # no estimator: no Loupe tag, no param
    assert "unknown" not in shown and "$" not in shown
    assert "No version holds `challenger`." in shown
    assert "bootstrap" not in shown and "make run" not in shown
    assert app.selectbox(key="sidebar_model").options == [DIABETES, TYPED, UNSIGNED]


def test_a_registry_without_the_configured_model_says_to_choose_one(team_home, tmp_path, monkeypatch) -> None:
    private_copy(team_home.home, tmp_path, monkeypatch, stores=("mlflow.db",))  # LOUPE_MODEL_NAME: the default

    app = open_page().run()

    assert not app.exception
    assert app.selectbox(key="sidebar_model").value == DIABETES  # the first, A–Z
    assert (
        "LOUPE_MODEL_NAME is `diamond-price`, which this registry does not hold: showing **team-diabetes**. "
        "Choose the model to operate in the sidebar." in said(app, "info")
    )
    assert "RMSE (test_root_mean_squared_error)" in metrics(app)


def test_the_sidebar_switches_the_model_on_every_page(team_registry) -> None:
    app = choose(open_page().run(), TYPED)
    assert "team-typed · 1 version registered" in said(app, "markdown")
    assert metrics(app) == {"MAE (val_mae)": "4.2 points"}  # tagged loupe.unit=points

    app.switch_page(PREDICT).run()
    assert app.selectbox(key="sidebar_model").value == TYPED  # the choice outlives the page
    assert "Answering: **team-typed v1**" in said(app, "markdown")

    choose(app, DIABETES)
    assert "Answering: **team-diabetes v1**" in said(app, "markdown")
    assert f"{FIELD}bmi" in [widget.key for widget in app.number_input]
    assert not [widget for widget in app.text_input if widget.key == f"{FIELD}select"]

    app.switch_page(REGISTRY).run()
    assert not app.exception
    assert "Versions of **team-diabetes**" in said(app, "caption")


def test_with_many_models_the_sidebar_lists_the_first_and_says_so(team_registry, monkeypatch) -> None:
    monkeypatch.setattr("ui.page.MODELS_LISTED", 2)

    app = open_page().run()

    assert app.selectbox(key="sidebar_model").options == [DIABETES, TYPED]
    assert "The first 2 models (A–Z) of more" in said(app, "caption")


def test_the_form_of_a_signature_only_model_answers_as_the_model_does(team_home: TeamModels, team_registry) -> None:
    app = open_page(PREDICT).run()
    inputs = team_home.diabetes_data.drop(columns="progression")
    assert not app.exception
    assert {widget.key for widget in app.number_input} == {f"{FIELD}{name}" for name in inputs.columns}
    assert all(widget.value is None for widget in app.number_input)  # no reference: no defaults to invent
    assert "Version 1 has no reference data" in said(app, "info")

    case = inputs.iloc[[7]]
    for name, value in case.iloc[0].items():
        app.number_input(key=f"{FIELD}{name}").set_value(float(value))
    app.button(key="predict_submit").click().run()

    assert not app.exception and not failures(app)
    expected = team_home.diabetes_answer(case)
    assert metrics(app)["Predicted progression"] == number(expected)
    assert answers(team_registry) == [pytest.approx(expected)]
    assert "$" not in page_text(app)


def test_the_form_follows_each_input_type(team_home: TeamModels, team_registry) -> None:
    app = choose(open_page(PREDICT).run(), TYPED)
    assert app.number_input(key=f"{FIELD}body mass").value is None
    assert app.number_input(key=f"{FIELD}größe").step == 1  # an integer
    assert app.text_input(key=f"{FIELD}select").value == ""  # a string without known levels
    assert app.toggle(key=f"{FIELD}order").value is False
    when = app.text_input(key=f"{FIELD}measured at")
    assert readable(when.label) == "measured at (optional)" and when.placeholder.startswith("2026-11-30T14:05:00")

    case = {"body mass": 70.5, "größe": 181, "select": "beta", "order": True, "measured at": "2026-03-04T15:30:00"}
    for name in ("body mass", "größe"):
        app.number_input(key=f"{FIELD}{name}").set_value(case[name])
    app.text_input(key=f"{FIELD}select").input(case["select"])
    app.toggle(key=f"{FIELD}order").set_value(True)
    app.text_input(key=f"{FIELD}measured at").input("04/03/2026 3pm")
    app.button(key="predict_submit").click().run()
    (refused,) = failures(app)
    assert "measured at: '04/03/2026 3pm' is not a date and time (rule: datetime; ISO 8601" in refused

    app.text_input(key=f"{FIELD}measured at").input(case["measured at"])
    app.button(key="predict_submit").click().run()
    expected = team_home.typed_answer(typed_case(**case))
    assert metrics(app)["Predicted score"] == amount(expected, "points") == "260.5 points"

    app.text_input(key=f"{FIELD}measured at").input("")  # optional: may stay empty
    app.button(key="predict_submit").click().run()
    assert not failures(app)
    assert answers(team_registry) == [pytest.approx(expected), pytest.approx(expected - 15)]


def test_a_batch_for_a_typed_model_is_scored_by_the_model(team_home: TeamModels, team_registry) -> None:
    batch = team_home.typed_data.head(12).copy()
    batch["measured at"] = batch["measured at"].dt.strftime("%Y-%m-%dT%H:%M:%S")
    batch["note"] = "passed through"
    bad = batch.head(1).assign(größe="181.5")
    upload = pd.concat([batch, bad], ignore_index=True).to_csv(index=False).encode()
    app = choose(open_page(PREDICT).run(), TYPED)
    assert app.get("download_button")[0].proto.label == "Download a template CSV"

    app.file_uploader(key="batch_upload").upload("cases.csv", upload, "text/csv").run()
    app.button(key="batch_score").click().run()

    assert not app.exception and not failures(app)
    shown = metrics(app)
    assert (shown["Rows"], shown["Scored"], shown["Rejected rows"]) == ("13", "12", "1")
    expected = [team_home.typed_answer(team_home.typed_data.iloc[[index]]) for index in range(12)]
    assert answers(team_registry) == pytest.approx(expected)


def test_a_model_whose_inputs_cannot_be_told_says_what_to_attach(team_registry) -> None:
    app = choose(open_page(PREDICT).run(), UNSIGNED)

    assert not app.exception
    (failure,) = failures(app)
    assert failure.startswith("Loading the model behind champion failed (model version 1)\n")
    shown = page_text(app)
    assert "Registry" in shown and "python -m core reference --version 1 --input FILE --model team-unsigned" in shown
    assert not app.button  # no form for inputs nobody knows


def test_attaching_reference_data_gives_the_form_defaults_and_monitoring_drift(team_home, team_registry) -> None:
    app = open_page(MONITORING).run()
    assert "The champion, version 1, has no reference data" in said(app, "info")
    assert "python -m core reference --version 1 --input FILE" in said(app, "info")
    assert [button.key for button in app.button] == ["monitoring_lookup_run"]  # nothing to draw traffic from

    app.switch_page(REGISTRY).run()
    app.file_uploader(key="reference_upload").upload(
        "diabetes.csv", team_home.diabetes_data.to_csv(index=False).encode(), "text/csv"
    ).run()
    assert app.selectbox(key="reference_target").options == ["none", *team_home.diabetes_data.columns]
    app.selectbox(key="reference_target").set_value("progression").run()
    app.button(key="reference_attach").click().run()

    assert not app.exception and not failures(app)
    (done,) = [readable(item.value) for item in app.success]
    assert done.startswith(
        "Version 1 now has a reference: 442 rows from diabetes.csv, 10 inputs profiled — age, sex, bmi, bp, s1,"
    )
    assert not app.warning or "Only" not in said(app, "warning")

    app.switch_page(PREDICT).run()
    assert app.number_input(key=f"{FIELD}bmi").value == pytest.approx(team_home.diabetes_data["bmi"].median())

    app.switch_page(MONITORING).run()
    assert app.text_input(key="monitoring_sim_shift").value == "age=1.2"  # the first numeric input
    app.number_input(key="monitoring_sim_rows").set_value(300)
    app.button(key="monitoring_sim_run").click().run(timeout=300)

    assert not app.exception and not broken(app)
    drift = next(frame.value for frame in app.dataframe if "method" in frame.value.columns).set_index("feature")
    assert bool(drift.loc["age", "drifted"]) and not bool(drift.loc["s3", "drifted"])


def test_what_the_run_logged_makes_a_thin_reference_and_needs_the_admin_token(team_registry, monkeypatch) -> None:
    use_home(monkeypatch, team_registry.home_dir, LOUPE_MODEL_NAME=DIABETES, LOUPE_ADMIN_TOKEN="s3cret")
    app = open_page(REGISTRY).run()
    app.radio(key="reference_source").set_value("What the version's run logged").run()

    app.button(key="reference_attach").click().run()
    assert "the admin token is required" in said(app, "error")
    assert not app.success

    app.text_input(key="admin_token").input("s3cret")
    app.button(key="reference_attach").click().run()

    assert not app.exception
    (done,) = [readable(item.value) for item in app.success]
    assert done.startswith("Version 1 now has a reference: 5 rows from the model's input example, 10 inputs")
    assert "Only 5 rows: with fewer than 100, drift tests can hardly tell a change from chance." in said(app, "warning")


def test_inputs_named_with_spaces_letters_and_sql_words_drift_like_any_other(team_home, team_registry) -> None:
    reference = team_home.typed_data.assign(**{"measured at": team_home.typed_data["measured at"].dt.date})
    app = choose(open_page(REGISTRY).run(), TYPED)
    app.file_uploader(key="reference_upload").upload(
        "typed.csv", reference.to_csv(index=False).encode(), "text/csv"
    ).run()
    app.button(key="reference_attach").click().run()

    assert not failures(app)
    assert "400 rows from typed.csv, 4 inputs profiled — body mass, größe, select, order." in said(app, "success")
    assert "Not profiled: measured at (date and time: not profiled for drift)." in said(app, "info")

    app.switch_page(PREDICT).run()
    assert app.selectbox(key=f"{FIELD}select").options == ["alpha", "beta", "gamma"]  # levels from the reference

    app.switch_page(MONITORING).run()
    assert app.text_input(key="monitoring_sim_shift").value == "body mass=1.2"
    app.number_input(key="monitoring_sim_rows").set_value(200)
    app.button(key="monitoring_sim_run").click().run(timeout=300)

    assert not app.exception and not broken(app)
    drift = next(frame.value for frame in app.dataframe if "method" in frame.value.columns).set_index("feature")
    assert set(drift.index) == {"body mass", "größe", "select", "order"}
    assert bool(drift.loc["body mass", "drifted"])


def test_monitoring_speaks_of_the_chosen_models_versions_only(team_registry) -> None:
    app = choose(open_page(PREDICT).run(), TYPED)
    for name, value in (("body mass", 70.5), ("größe", 181)):
        app.number_input(key=f"{FIELD}{name}").set_value(value)
    app.text_input(key=f"{FIELD}select").input("beta")
    app.button(key="predict_submit").click().run()
    assert len(answers(team_registry)) == 1

    app.switch_page(MONITORING)
    choose(app, DIABETES)  # team-typed's answer is rolled up now; it is not this model's concern
    assert "No reference data for" not in said(app, "warning")

    choose(app, TYPED)  # its own answer: counted, and said to have nothing to compare drift with
    assert metrics(app)["Predictions"] == "1"
    assert "No inputs with reference data to compare in this window." in said(app, "info")


def test_its_own_first_days_of_traffic_can_be_the_reference_and_say_so(team_home, team_registry) -> None:
    from core.serving.scoring import score_frame

    inputs = team_home.diabetes_data.drop(columns=["progression"]).head(120)
    engine = make_engine(team_registry.database_url)
    migrate(engine)
    score_frame(team_registry, inputs, sessions=make_sessionmaker(engine), source="cli")
    engine.dispose()
    clear_memory_caches()

    app = open_page(REGISTRY).run()
    app.radio(key="reference_source").set_value("Its own first days of traffic").run()
    app.button(key="reference_attach").click().run()

    assert not broken(app)
    assert "now has a reference: 120 rows from its own first 3 day(s) of traffic" in said(app, "success")
