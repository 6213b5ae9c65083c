import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core import mlflow_io
from core.registry.preflight import VALIDATION_STATUS_TAG
from storage.db import make_engine, make_sessionmaker, migrate
from storage.prediction_log import Feedback, Prediction
from tests.conftest import private_copy, settings_at, use_home
from tests.experiment_runs import CLASSIFIER, REGRESSOR, ClassifierRun, classifier_registry
from tests.ledger_rows import ledger_rows
from tests.pages.helpers import LOG_NOTE, REDACTED, failures, open_page, page_text, readable, refuse_writes
from ui.formats import number


def registry_page() -> AppTest:
    return open_page("pages/3_Registry.py")


def messages(elements) -> str:
    return "\n".join(readable(str(element.value)) for element in elements)


def fill_promotion(
    app: AppTest, *, version: int, alias: str, name: str = "ana", reason: str = "", challenger: str = "keep"
) -> AppTest:
    app.text_input(key="operator").input(name)
    app.selectbox(key="promote_version").select(version)
    app.radio(key="promote_alias_choice").set_value(alias)
    app.text_area(key="promote_reason").input(reason)
    app.run()
    asked = [radio for radio in app.radio if radio.key == "promote_challenger_choice"]
    if asked:  # the version holds challenger: say what becomes of it
        asked[0].set_value(challenger)
        app.run()
    return app


def test_the_page_lists_versions_and_says_promotion_is_open(registry_home) -> None:
    app = registry_page().run()

    assert not app.exception
    assert "Promotion is open" in messages(app.warning)
    shown = messages(app.markdown)
    assert "**🏆 champion** — version **1** · hgb · holdout RMSE $547" in shown  # tagged loupe.unit=USD
    assert "**🥊 challenger** — version **2** · rf · holdout RMSE $559" in shown
    versions = app.dataframe[0].value
    assert list(versions["version"]) == [2, 1]
    assert list(versions.columns[:2]) == ["version", "aliases"]  # the badges stay in sight at 1280 px
    config = json.loads(app.dataframe[0].proto.columns)
    assert [column for column, shown in config.items() if shown.get("pinned")] == ["version", "aliases"]
    assert list(app.dataframe[1].value["origin"]) == ["bootstrap", "bootstrap"]
    assert app.get("download_button")[0].proto.label == "Download the ledger (CSV)"


def test_promoting_from_the_page_moves_the_alias_and_records_the_operator(registry_home) -> None:
    app = fill_promotion(registry_page().run(), version=2, alias="champion", reason="rf holds up")
    assert "✅ PASS · **holdout rmse**" in messages(app.markdown)

    app.button(key="promote_button").click().run()

    assert not app.exception
    assert "`champion` → version 2 (was version 1)" in messages(app.success)
    assert mlflow_io.alias_map(registry_home)["champion"] == 2
    assert ledger_rows(registry_home)[-1] == ("champion", 1, 2, "ana", "page", False)
    assert app.dataframe[1].value.iloc[0]["reason"] == "rf holds up"


def test_a_missing_reason_or_name_is_refused_on_the_page(registry_home) -> None:
    app = fill_promotion(registry_page().run(), version=2, alias="champion", name="", reason="fine")
    app.button(key="promote_button").click().run()
    assert "operator name is required" in messages(app.error)

    app.text_input(key="operator").input("ana")
    app.text_area(key="promote_reason").input("")
    app.button(key="promote_button").click().run()

    assert "reason is required" in messages(app.error)
    assert mlflow_io.alias_map(registry_home)["champion"] == 1


def test_a_worse_version_is_blocked_until_overridden_with_a_reason(ridge_registry) -> None:
    app = fill_promotion(registry_page().run(), version=3, alias="champion", reason="")
    assert "❌ FAIL · **holdout rmse**" in messages(app.markdown)
    assert "Blocked by 1 failed check" in messages(app.error)

    app.text_area(key="promote_reason").input("ridge for the audit")
    app.button(key="promote_button").click().run()
    assert "blocked by failed checks" in messages(app.error)
    assert mlflow_io.alias_map(ridge_registry)["champion"] == 1

    app.checkbox(key="promote_override").check()
    app.button(key="promote_button").click().run()

    assert "failed checks overridden" in messages(app.success)
    assert mlflow_io.alias_map(ridge_registry)["champion"] == 3
    assert ledger_rows(ridge_registry)[-1] == ("champion", 1, 3, "ana", "page", True)


def test_with_a_token_set_the_page_asks_for_it_and_refuses_a_wrong_one(registry_home, monkeypatch) -> None:
    settings = use_home(monkeypatch, registry_home.home_dir, LOUPE_ADMIN_TOKEN="s3cret")
    app = registry_page().run()
    assert "need the admin token" in messages(app.info)
    app = fill_promotion(app, version=2, alias="champion", reason="rf")
    app.text_input(key="admin_token").input("guess")
    app.button(key="promote_button").click().run()

    assert "admin token is wrong" in messages(app.error)
    assert mlflow_io.alias_map(settings)["champion"] == 1
    assert len(ledger_rows(settings)) == 2

    app.text_input(key="admin_token").input("s3cret")
    app.button(key="promote_button").click().run()
    assert mlflow_io.alias_map(settings)["champion"] == 2


def test_one_click_rollback_and_outside_changes_on_the_page(registry_home) -> None:
    mlflow_io.set_alias(registry_home, alias="champion", version=2)  # someone used another MLflow client

    app = registry_page().run()
    assert "`champion` v1 → v2" in messages(app.warning)
    assert "rolling back restores **version 1**" in messages(app.markdown)

    app.text_input(key="operator").input("bo")
    app.text_input(key="rollback_reason").input("unreviewed change")
    app.button(key="rollback_button").click().run()

    assert not app.exception
    assert "version 2 → version 1" in messages(app.success)
    assert mlflow_io.alias_map(registry_home)["champion"] == 1
    assert ledger_rows(registry_home)[-2:] == [
        ("champion", 1, 2, "outside Loupe", "external", False),
        ("champion", 2, 1, "bo", "rollback", False),
    ]


def test_removing_an_alias_and_tagging_a_version(registry_home) -> None:
    app = registry_page().run()
    app.text_input(key="operator").input("ana")
    app.selectbox(key="remove_alias").select("challenger")
    app.text_input(key="remove_reason").input("retired")
    app.checkbox(key="remove_confirm").check().run()
    app.button(key="remove_button").click().run()
    assert "`challenger` removed" in messages(app.success)

    app.selectbox(key="validation_version").select(2)
    app.selectbox(key="validation_status").select("validated")
    app.button(key="validation_button").click().run()

    assert not app.exception
    assert "challenger" not in mlflow_io.alias_map(registry_home)
    assert mlflow_io.get_version(registry_home, version=2).tags[VALIDATION_STATUS_TAG] == "validated"
    assert ledger_rows(registry_home)[-1] == ("challenger", 2, None, "ana", "page", False)


def test_an_empty_registry_says_what_to_do(monkeypatch, tmp_path) -> None:
    settings = use_home(monkeypatch, tmp_path / "home")
    migrate(make_engine(settings.database_url))

    app = registry_page().run()

    assert not app.exception
    hint = messages(app.info)
    assert hint.startswith("The registry holds no model yet.") and "python -m core bootstrap" in hint


def test_an_unreachable_registry_is_reported(monkeypatch, tmp_path) -> None:
    use_home(monkeypatch, tmp_path / "home", MLFLOW_TRACKING_URI="http://127.0.0.1:9")

    app = registry_page().run()

    assert not app.exception
    assert "Registry unreachable" in messages(app.error)


def test_a_move_the_registry_refuses_is_reported_in_words(failing_registry, caplog) -> None:
    settings = failing_registry
    refuse_writes(settings.home_dir / "mlflow.db", table="registered_model_aliases", message="alias moves are frozen")
    app = fill_promotion(registry_page().run(), version=1, alias="challenger", reason="a second opinion")
    assert "**Pre-flight: `challenger` nothing → version 1**" in messages(app.markdown)
    ledger_before = ledger_rows(settings)

    app.button(key="promote_button").click().run()

    assert not app.exception
    (failure,) = failures(app)
    title, _, said = failure.partition("\n")
    assert title == "Moving challenger to version 1 failed (model version 1)"
    assert "alias moves are frozen" in said.splitlines()[0] and LOG_NOTE in said
    assert "Traceback" not in page_text(app) and REDACTED not in page_text(app)
    assert not app.success
    assert mlflow_io.alias_map(settings) == {"champion": 2}
    assert ledger_rows(settings) == ledger_before  # the ledger entry went with the failed move
    (record,) = [record for record in caplog.records if record.name == "loupe.pages"]
    assert record.getMessage() == title and record.exc_info is not None


@pytest.fixture(scope="module")
def classifier_home(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[ClassifierRun]]:
    """A team's classifiers registered with plain MLflow (see ``classifier_registry``). Read only."""
    home = tmp_path_factory.mktemp("classifier-registry") / "home"
    with settings_at(home, LOUPE_MODEL_NAME=REGRESSOR) as settings:
        logged = classifier_registry(settings.tracking_uri, artifacts=home / "artifacts")
    return home, logged


@pytest.fixture
def classifier_page(classifier_home, tmp_path, monkeypatch) -> tuple[AppTest, list[ClassifierRun]]:
    """The Registry page on a private copy of the store, the classifier chosen in the sidebar."""
    home, logged = classifier_home
    private_copy(home, tmp_path, monkeypatch, stores=("mlflow.db",), LOUPE_MODEL_NAME=REGRESSOR)
    app = registry_page().run()
    app.selectbox(key="sidebar_model").select(CLASSIFIER).run()
    assert not app.exception
    return app, logged


def test_a_classifier_chosen_in_the_sidebar_shows_its_holdout_figures(classifier_page) -> None:
    app, (good, blind, _) = classifier_page

    shown = messages(app.markdown)
    assert f"**🏆 champion** — version **1** · holdout ROC AUC {number(good.metrics['roc_auc'])}" in shown
    assert f"**🥊 challenger** — version **2** · holdout ROC AUC {number(blind.metrics['roc_auc'])}" in shown
    versions = app.dataframe[0].value
    assert list(versions["version"]) == [2, 1]
    assert list(versions.columns[4:8]) == ["roc_auc", "f1_score", "accuracy_score", "log_loss"]
    assert "training_accuracy_score" not in versions.columns


def test_the_classifiers_pre_flight_reads_its_metrics_the_right_way_round(classifier_page) -> None:
    app, (good, blind, _) = classifier_page

    app = fill_promotion(app, version=2, alias="champion", reason="")
    said = messages(app.markdown)
    assert "❌ FAIL · **holdout roc_auc** — ROC AUC" in said and "higher is better" in said
    assert "❔ UNKNOWN · **realised accuracy** — true classes for 0 answers" in said
    assert "Blocked by 1 failed check" in messages(app.error)

    app = fill_promotion(app, version=1, alias="challenger", reason="the sound model back")
    said = messages(app.markdown)
    assert (
        f"✅ PASS · **holdout roc_auc** — ROC AUC {good.metrics['roc_auc']:,.4g} vs {blind.metrics['roc_auc']:,.4g}"
        in said
    )

    app.button(key="promote_button").click().run()

    assert not app.exception
    assert "`challenger` → version 1 (was version 2)" in messages(app.success)


def test_the_classifiers_live_evidence_is_label_agreement_and_realised_accuracy(
    classifier_home, tmp_path, monkeypatch
) -> None:
    home, _ = classifier_home
    settings = private_copy(home, tmp_path, monkeypatch, stores=("mlflow.db",), LOUPE_MODEL_NAME=CLASSIFIER)
    truth = ["benign", "malignant"] * 15
    served = truth[:27] + ["benign"] * 3  # 28 of 30 right
    shadow = ["benign"] * 30  # the challenger that learned nothing: the majority class every time
    engine = make_engine(settings.database_url)
    migrate(engine)
    try:
        with make_sessionmaker(engine).begin() as session:
            for index in range(30):
                common = {"model_name": CLASSIFIER, "latency_ms": 3.0, "source": "api", "request_id": f"r{index}"}
                answer = Prediction(model_version=1, alias="champion", label=served[index], **common)
                session.add(answer)
                session.flush()
                session.add(
                    Prediction(
                        model_version=2,
                        alias="challenger",
                        label=shadow[index],
                        is_shadow=True,
                        shadow_of=answer.id,
                        **common,
                    )
                )
                session.add(Feedback(prediction_id=answer.id, actual_label=truth[index]))
    finally:
        engine.dispose()

    app = fill_promotion(registry_page().run(), version=2, alias="champion")

    assert not app.exception
    said = messages(app.markdown)
    agreeing = sum(left == right for left, right in zip(served, shadow, strict=True))
    assert f"⚠️ WARN · **shadow agreement** — {agreeing / 30:.0%} of 30 shared requests got the same class" in said
    accuracy = sum(left == right for left, right in zip(shadow, truth, strict=True)) / 30
    assert f"❌ FAIL · **realised accuracy** — version 2: accuracy {accuracy:.1%} on 30 answers" in said
    assert "Blocked by 2 failed check" in messages(app.error)


def test_promote_starts_on_the_challenger_and_asks_what_becomes_of_it(ridge_registry) -> None:
    app = registry_page().run()  # champion v1, challenger v2, v3 the newest (a much worse ridge)
    assert app.selectbox(key="promote_version").value == 2

    app.text_input(key="operator").input("ana")
    app.text_area(key="promote_reason").input("rf won the shadow run")
    app.run()
    question = app.radio(key="promote_challenger_choice")
    assert question.value is None and app.button(key="promote_button").disabled  # asked, not assumed

    question.set_value("another").run()
    assert app.selectbox(key="promote_challenger_version").options == ["v3", "v1 · champion"]
    app.selectbox(key="promote_challenger_version").select(1).run()
    app.button(key="promote_button").click().run()

    assert not app.exception
    said = messages(app.success)
    assert "`champion` → version 2 (was version 1); `challenger` → version 1 (was version 2)" in said
    assert mlflow_io.alias_map(ridge_registry) == {"champion": 2, "challenger": 1}
    assert [row[:3] for row in ledger_rows(ridge_registry)[-2:]] == [("champion", 1, 2), ("challenger", 2, 1)]


def test_keeping_challenger_on_the_champions_version_is_said_to_idle_shadow_scoring(registry_home) -> None:
    app = fill_promotion(registry_page().run(), version=2, alias="champion", reason="rf", challenger="keep")
    assert "shadow scoring is idle" not in messages(app.warning)

    app.button(key="promote_button").click().run()

    assert not app.exception
    assert mlflow_io.alias_map(registry_home) == {"champion": 2, "challenger": 2}
    note = messages(app.warning)
    assert "`champion` and `challenger` both point to version 2: shadow scoring is idle" in note
    assert app.selectbox(key="promote_version").value == 2  # no challenger elsewhere: the newest


def test_rollbacks_walk_back_and_never_offer_the_version_just_left(ridge_registry) -> None:
    settings = ridge_registry
    mlflow_io.set_alias(settings, alias="champion", version=2)  # v1 → v2 → v3, by another client
    registry_page().run()
    mlflow_io.set_alias(settings, alias="champion", version=3)

    app = registry_page().run()
    assert "rolling back restores **version 2**. Further back on record: v1." in messages(app.markdown)
    app.text_input(key="operator").input("bo")
    app.text_input(key="rollback_reason").input("ridge misbehaves")
    app.button(key="rollback_button").click().run()
    assert mlflow_io.alias_map(settings)["champion"] == 2

    said = messages(app.markdown)
    assert "rolling back restores **version 1**. It is the earliest on record." in said
    assert app.button(key="rollback_button").proto.label == "Roll back champion to version 1"
    app.text_input(key="rollback_reason").input("rf too")
    app.button(key="rollback_button").click().run()

    assert not app.exception
    assert mlflow_io.alias_map(settings)["champion"] == 1
    assert "nothing to roll back to" in messages(app.info)
    assert app.button(key="rollback_button").disabled
    assert [row[1:3] for row in ledger_rows(settings) if row[0] == "champion"][-2:] == [(3, 2), (2, 1)]
