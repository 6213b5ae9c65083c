from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import func, select

from core import mlflow_io
from core.dataset import load_diamonds
from core.serving.model_cache import ServingError, clear_memory_caches, model_loads, serve
from core.serving.scoring import predict_one, score_frame, score_shadow_for
from storage.db import make_engine, make_sessionmaker, migrate
from storage.log_writer import decode_inputs
from storage.prediction_log import Prediction, Rejection, features_of
from tests.conftest import LIGHT_MODELS, use_home

DIAMOND = {"carat": 0.7, "cut": "Ideal", "color": "G", "clarity": "VS2", "depth": 61.8, "table": 57.0}
DIAMOND |= {"x": 5.7, "y": 5.72, "z": 3.53}


@pytest.fixture(autouse=True)
def fresh_process_caches():
    clear_memory_caches()
    yield
    clear_memory_caches()


@pytest.fixture
def log(registry_home):
    engine = make_engine(registry_home.database_url)
    migrate(engine)
    yield make_sessionmaker(engine)
    engine.dispose()


def rows(sessions, *, shadow: bool | None = None) -> list[Prediction]:
    query = select(Prediction).order_by(Prediction.id)
    if shadow is not None:
        query = query.where(Prediction.is_shadow.is_(shadow))
    with sessions.begin() as session:
        return list(session.scalars(query))


def diamonds(count: int) -> pd.DataFrame:
    frame = load_diamonds().drop(columns="price").head(count)
    return frame.astype({"cut": str, "color": str, "clarity": str}).reset_index(drop=True)


def test_one_prediction_is_answered_by_the_champion_logged_and_shadowed(registry_home, log) -> None:
    outcome = predict_one(registry_home, DIAMOND, sessions=log)

    assert outcome.accepted and outcome.version == 1 and outcome.errors == []
    assert 300 < outcome.prediction < 10_000
    assert outcome.warnings == [] and outcome.notice is None
    (answer,) = rows(log, shadow=False)
    assert answer.id == outcome.prediction_id and answer.model_version == 1 and answer.alias == "champion"
    assert answer.prediction == pytest.approx(outcome.prediction)
    assert answer.source == "form" and not answer.is_ood
    with log.begin() as session:
        assert features_of(session, prediction_id=answer.id) == DIAMOND
    (shadow,) = rows(log, shadow=True)
    assert shadow.model_version == 2 and shadow.alias == "challenger"
    assert shadow.request_id == answer.request_id and shadow.shadow_of == answer.id
    assert shadow.prediction != answer.prediction
    assert shadow.id > answer.id  # the answer is committed first; the shadow follows it


def test_the_champion_answers_from_its_compiled_form_exactly_as_predict_would(registry_home, log) -> None:
    served, _ = serve(registry_home)
    frame = diamonds(40)

    answers = [
        predict_one(registry_home, record, sessions=log, run_shadow=False).prediction
        for record in frame.to_dict("records")
    ]

    assert served.compiled is not None
    trees = LIGHT_MODELS["hgb"]["max_iter"]
    assert served.scoring_path == (
        f"compiled: ColumnTransformer → TransformedTargetRegressor(HistGradientBoostingRegressor({trees} trees))"
    )
    np.testing.assert_allclose(answers, served.predict(served.model_input(frame)), rtol=1e-9, atol=0)


@pytest.mark.parametrize("count", [3, 40])
def test_small_and_large_frames_get_the_same_answers_as_predict(registry_home, log, count) -> None:
    served, _ = serve(registry_home)
    frame = diamonds(count)

    result = score_frame(registry_home, frame, sessions=log, source="batch", shadow=False)

    expected = served.predict(served.model_input(frame))
    np.testing.assert_allclose(result.accepted["prediction"], expected, rtol=1e-9, atol=0)


def test_with_compilation_off_one_record_goes_through_predict(registry_home, log, monkeypatch) -> None:
    settings = use_home(monkeypatch, registry_home.home_dir, LOUPE_COMPILE_MODELS="false")

    served, _ = serve(settings)
    outcome = predict_one(settings, DIAMOND, sessions=log, run_shadow=False)

    assert served.compiled is None and served.scoring_path == "predict()"
    assert outcome.prediction == served.predict(served.model_input(pd.DataFrame([DIAMOND])))[0]


def test_the_page_can_defer_shadow_until_after_the_answer(registry_home, log) -> None:
    outcome = predict_one(registry_home, DIAMOND, sessions=log, run_shadow=False)
    assert rows(log, shadow=True) == []

    result = score_shadow_for(registry_home, outcome, sessions=log)

    assert result.version == 2 and result.scored == 1 and result.error is None
    assert rows(log, shadow=True)[0].shadow_of == outcome.prediction_id


def test_out_of_range_values_are_answered_with_a_warning_and_a_flag(registry_home, log) -> None:
    outcome = predict_one(registry_home, {**DIAMOND, "carat": 7.5, "table": 99.0}, sessions=log)

    assert outcome.accepted
    assert outcome.warnings == [
        "carat: 7.5 is outside the training range 0.2 – 5.01",
        "table: 99 is outside the training range 43 – 95",
    ]
    answer = rows(log, shadow=False)[0]
    assert answer.is_ood and answer.ood_fields == "carat,table"


def test_an_alias_move_is_picked_up_on_the_next_request(registry_home, log) -> None:
    assert predict_one(registry_home, DIAMOND, sessions=log, run_shadow=False).version == 1

    mlflow_io.set_alias(registry_home, alias="champion", version=2)

    assert predict_one(registry_home, DIAMOND, sessions=log, run_shadow=False).version == 2
    mlflow_io.set_alias(registry_home, alias="champion", version=1)
    assert predict_one(registry_home, DIAMOND, sessions=log, run_shadow=False).version == 1


def test_no_shadow_when_the_challenger_is_the_champion_or_shadow_is_off(registry_home, log, monkeypatch) -> None:
    mlflow_io.set_alias(registry_home, alias="challenger", version=1)
    predict_one(registry_home, DIAMOND, sessions=log)
    assert rows(log, shadow=True) == []

    mlflow_io.set_alias(registry_home, alias="challenger", version=2)
    quiet = use_home(monkeypatch, registry_home.home_dir, LOUPE_SHADOW="false")
    score_frame(quiet, diamonds(5), sessions=log, source="batch")
    assert rows(log, shadow=True) == []
    assert len(rows(log, shadow=False)) == 6


def test_a_failing_registry_is_asked_once_then_left_alone_while_the_cached_version_answers(
    registry_home, log, monkeypatch, failing_tracking_server
) -> None:
    predict_one(registry_home, DIAMOND, sessions=log, run_shadow=False)  # loads and copies v1
    failing = use_home(
        monkeypatch,
        registry_home.home_dir,
        MLFLOW_TRACKING_URI=failing_tracking_server.url,
        LOUPE_MLFLOW_MAX_RETRIES="1",
    )
    clear_memory_caches()  # as after a restart: only the local copy is left

    outcome = predict_one(failing, DIAMOND, sessions=log)
    asked = failing_tracking_server.requests

    assert outcome.accepted and outcome.version == 1 and outcome.served_from_cache
    assert outcome.notice == "registry unreachable — serving cached v1"
    # One request and its one retry (LOUPE_MLFLOW_MAX_RETRIES=1), not MLflow's minutes of retries;
    # the challenger's shadow did not ask again either.
    assert 1 <= asked <= 2
    (answer,) = rows(log, shadow=False)[-1:]
    assert answer.id == outcome.prediction_id and answer.model_version == 1
    # The next requests do not wait for the failing server again: it is not asked at all.
    for _ in range(3):
        assert predict_one(failing, DIAMOND, sessions=log).notice == "registry unreachable — serving cached v1"
    assert failing_tracking_server.requests == asked


def test_a_failing_registry_with_nothing_cached_is_a_clear_error(monkeypatch, tmp_path, failing_tracking_server):
    failing = use_home(
        monkeypatch, tmp_path / "home", MLFLOW_TRACKING_URI=failing_tracking_server.url, LOUPE_MLFLOW_MAX_RETRIES="1"
    )

    with pytest.raises(ServingError, match="registry unreachable and no version for 'champion' was ever loaded"):
        serve(failing, alias="champion")
    assert 1 <= failing_tracking_server.requests <= 2  # asked, with bounded retries


def test_a_missing_alias_is_a_clear_error(registry_home) -> None:
    with pytest.raises(ServingError, match="no version of diamond-price holds the alias 'gold'"):
        serve(registry_home, alias="gold")


def test_score_frame_logs_accepted_and_rejected_rows_in_one_go(registry_home, log) -> None:
    frame = diamonds(50)
    frame.loc[3, "carat"] = -1.0
    frame.loc[7, "cut"] = "Superb"

    result = score_frame(registry_home, frame, sessions=log, source="batch", request_id="batch-1")

    assert result.rows_in == 50 and len(result.accepted) == 48 and result.model_version == 1
    assert result.rejected[["row", "field", "rule"]].values.tolist() == [[4, "carat", "gt"], [8, "cut", "category"]]
    assert list(result.accepted.columns[-4:]) == ["prediction", "prediction_id", "model_version", "ood_fields"]
    answers = rows(log, shadow=False)
    assert [row.id for row in answers] == result.accepted["prediction_id"].tolist()
    assert {row.request_id for row in answers} == {"batch-1"}
    assert result.shadow.scored == 48 and len(rows(log, shadow=True)) == 48
    with log.begin() as session:
        rejections = session.execute(select(Rejection.row_number, Rejection.field, Rejection.rule)).all()
        assert sorted(rejections) == [(4, "carat", "gt"), (8, "cut", "category")]
        logged = session.scalars(select(Prediction.inputs).where(Prediction.inputs.is_not(None))).all()
        assert len(logged) == 48 and all(len(decode_inputs(inputs)) == 9 for inputs in logged)


def test_timestamps_spread_rows_over_the_past(registry_home, log) -> None:
    frame = diamonds(4)
    frame["carat"] = frame["carat"].astype(object)
    frame.loc[frame.index[3], "carat"] = -1.0  # refused: its rejection belongs to its own day too
    start = datetime(2026, 11, 1, 12, tzinfo=UTC)
    stamps = pd.Series([start + timedelta(days=day) for day in range(4)])

    score_frame(registry_home, frame, sessions=log, source="simulator", timestamps=stamps)

    answers = rows(log, shadow=False)
    assert [row.created_at for row in answers] == list(stamps[:3])
    assert [row.created_at for row in rows(log, shadow=True)] == list(stamps[:3])
    assert {row.source for row in answers} == {"simulator"}
    with log.begin() as session:
        assert session.scalars(select(Rejection.created_at)).all() == [stamps[3]]


def test_an_error_mid_batch_leaves_no_rows(registry_home, log) -> None:
    def stop_halfway(fraction: float) -> None:
        if 0.5 < fraction < 1.0:
            raise KeyboardInterrupt("stopped by the user")

    with pytest.raises(KeyboardInterrupt):
        score_frame(registry_home, diamonds(12_000), sessions=log, source="batch", progress=stop_halfway)

    assert rows(log) == []
    with log.begin() as session:
        assert session.scalar(select(func.count()).select_from(Prediction)) == 0


def test_a_cold_load_is_its_own_figure_not_the_first_answers_latency(registry_home, log) -> None:
    cold = predict_one(registry_home, DIAMOND, sessions=log)
    loads = model_loads(registry_home)
    warm = predict_one(registry_home, DIAMOND, sessions=log)

    assert [(load.version, load.copied) for load in loads] == [(1, True), (2, True)]  # champion, then challenger
    answer, shadow = rows(log)[:2]
    assert shadow.is_shadow and answer.latency_ms == pytest.approx(cold.latency_ms)
    # A row that carried its version's load would take at least as long as the load itself.
    assert answer.latency_ms < loads[0].seconds * 1000
    assert shadow.latency_ms < loads[1].seconds * 1000
    assert len(model_loads(registry_home)) == 2 and warm.accepted  # a warm answer loads nothing

    clear_memory_caches()
    predict_one(registry_home, DIAMOND, sessions=log)
    assert [(load.version, load.copied) for load in model_loads(registry_home)[2:]] == [(1, False), (2, False)]


def test_each_batch_row_carries_its_share_and_is_marked_batch(registry_home, log) -> None:
    score_frame(registry_home, diamonds(50), sessions=log, source="batch", shadow=False)

    answered = rows(log, shadow=False)
    assert len(answered) == 50 and {row.source for row in answered} == {"batch"}
    assert len({row.latency_ms for row in answered}) == 1  # one share of one batch's time, the same for each row
