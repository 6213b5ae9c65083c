"""A real scoring server process: MLflow's payload formats, answers equal to the model's own, every answer logged."""

from __future__ import annotations

import time
from collections.abc import Iterator

import mlflow
import pandas as pd
import pytest
from sqlalchemy import select

from core.dataset import load_diamonds
from core.settings import Settings
from storage.db import Sessions, make_engine, make_sessionmaker, migrate
from storage.prediction_log import Prediction, Rejection, features_of
from tests.core.server.server_process import scoring_server

pytestmark = pytest.mark.slow


def diamonds(count: int, *, skip: int = 0) -> pd.DataFrame:
    frame = load_diamonds().drop(columns="price").iloc[skip : skip + count]
    return frame.astype({"cut": str, "color": str, "clarity": str}).reset_index(drop=True)


def own_predictions(settings: Settings, version: int, frame: pd.DataFrame) -> list:
    """What the registered version's pyfunc ``predict`` answers (what ``mlflow models serve`` would send)."""
    mlflow.set_tracking_uri(settings.tracking_uri)
    mlflow.set_registry_uri(settings.tracking_uri)  # this test's store, not one an earlier test pointed at
    model = mlflow.pyfunc.load_model(f"models:/{settings.model_name}/{version}")
    return list(model.predict(frame))


@pytest.fixture
def log(registry_home: Settings) -> Iterator[Sessions]:
    engine = make_engine(registry_home.database_url)
    migrate(engine)
    yield make_sessionmaker(engine)
    engine.dispose()


def predictions(sessions: Sessions, *, shadow: bool | None = None) -> list[Prediction]:
    query = select(Prediction).order_by(Prediction.id)
    if shadow is not None:
        query = query.where(Prediction.is_shadow.is_(shadow))
    with sessions.begin() as session:
        return list(session.scalars(query))


def payloads(frame: pd.DataFrame) -> dict[str, tuple[object, str]]:
    records = frame.to_dict("records")
    return {
        "dataframe_split": ({"dataframe_split": frame.to_dict("split", index=False)}, "application/json"),
        "dataframe_records": ({"dataframe_records": records}, "application/json"),
        "instances": ({"instances": records}, "application/json"),
        "inputs (columns)": ({"inputs": frame.to_dict("list")}, "application/json"),
        "inputs (rows in signature order)": ({"inputs": frame.to_numpy().tolist()}, "application/json"),
        "text/csv": (frame.to_csv(index=False), "text/csv"),
    }


def wait_for(condition, *, timeout_s: float = 30.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def test_every_payload_format_answers_as_the_model_does_and_every_answer_is_logged(
    registry_home: Settings, log: Sessions, tmp_path
) -> None:
    one, three = diamonds(1), diamonds(3, skip=10)
    expected = {1: own_predictions(registry_home, 1, one), 3: own_predictions(registry_home, 1, three)}
    with scoring_server(tmp_path, LOUPE_SHADOW="true") as server:
        answered: list[tuple[str, int, list[int]]] = []
        for frame in (one, three):
            for name, (body, content_type) in payloads(frame).items():
                request_id = f"req-{len(frame)}-{len(answered)}"
                answer = server.post(
                    "/invocations", body, content_type=content_type, headers={"X-Request-Id": request_id}
                )
                assert answer.status == 200, (name, answer.body)
                assert answer.body["predictions"] == pytest.approx(expected[len(frame)], rel=1e-9), name
                ids = answer.body["prediction_ids"]
                assert len(ids) == len(frame) and answer.body["model_version"] == 1
                assert answer.headers["x-loupe-prediction-ids"] == ",".join(map(str, ids))
                assert answer.headers["x-loupe-model-version"] == "1"
                assert answer.headers["x-request-id"] == request_id
                assert "x-loupe-served-from-cache" not in answer.headers
                answered.append((request_id, len(frame), ids))

        logged = {row.id: row for row in predictions(log, shadow=False)}
        assert sorted(logged) == sorted(i for _, _, ids in answered for i in ids)  # every answer, nothing else
        for request_id, _, ids in answered:
            for position, prediction_id in enumerate(ids):
                row = logged[prediction_id]
                assert (row.source, row.request_id, row.model_version, row.alias) == (
                    "server",
                    request_id,
                    1,
                    "champion",
                )
                frame = one if len(ids) == 1 else three
                assert row.prediction == pytest.approx(expected[len(frame)][position], rel=1e-9)
                assert row.latency_ms > 0
        with log.begin() as session:
            first = features_of(session, prediction_id=answered[0][2][0])
        assert first == pytest.approx(one.iloc[0].to_dict())

        # The challenger (v2) shadows each answered row once the answer is sent.
        shadows = wait_for(lambda: (rows := predictions(log, shadow=True)) and len(rows) == len(logged) and rows)
        assert {row.shadow_of for row in shadows} == set(logged)
        assert {(row.model_version, row.alias, row.source) for row in shadows} == {(2, "challenger", "server")}


def test_an_invalid_row_refuses_the_request_naming_row_field_and_rule_and_logs_no_prediction(
    registry_home: Settings, log: Sessions, tmp_path
) -> None:
    frame = diamonds(4)
    frame.loc[2, "carat"] = -1.0
    frame.loc[3, "cut"] = "Gorgeous"
    with scoring_server(tmp_path, LOUPE_SHADOW="false") as server:
        answer = server.post("/invocations", {"dataframe_split": frame.to_dict("split", index=False)})
        single = server.post("/invocations", {"dataframe_records": [{**frame.iloc[0].to_dict(), "depth": "deep"}]})
        malformed = server.post("/invocations", {"dataframe_split": {"columns": ["carat"], "data": [[1, 2]]}})
        unknown_format = server.post("/invocations", {"rows": []})
        wrong_type = server.post("/invocations", "carat\n1", content_type="text/plain")

    assert answer.status == 400 and answer.body["error_code"] == "BAD_REQUEST"
    refused = {(item["row"], item["field"], item["rule"]) for item in answer.body["problems"]}
    assert refused == {(3, "carat", "gt"), (4, "cut", "category")}
    assert "row 3" in answer.body["message"] and "carat" in answer.body["message"]
    assert single.status == 400 and single.body["problems"][0]["field"] == "depth"
    assert single.body["problems"][0]["row"] == 1 and single.body["problems"][0]["rule"] == "type"
    assert malformed.status == 400 and "dataframe_split.data[0]" in malformed.body["message"]
    assert unknown_format.status == 400 and "dataframe_records" in unknown_format.body["message"]
    assert wrong_type.status == 415

    assert predictions(log) == []
    with log.begin() as session:
        rejections = list(session.scalars(select(Rejection).order_by(Rejection.id)))
    assert [(r.row_number, r.field, r.rule, r.model_version, r.source) for r in rejections] == [
        (3, "carat", "gt", 1, "server"),
        (4, "cut", "category", 1, "server"),
        (1, "depth", "type", 1, "server"),
    ]
    assert rejections[0].request_id == answer.headers["x-request-id"]


def test_another_alias_is_chosen_by_query_or_header_and_health_probes_answer(
    registry_home: Settings, log: Sessions, tmp_path
) -> None:
    row = diamonds(1)
    body = {"dataframe_records": row.to_dict("records")}
    challenger = own_predictions(registry_home, 2, row)
    with scoring_server(tmp_path, LOUPE_SHADOW="false") as server:
        by_query = server.post("/invocations?alias=challenger", body)
        by_header = server.post("/invocations", body, headers={"X-Loupe-Alias": "challenger"})
        champion = server.post("/invocations", body)
        nobody = server.post("/invocations?alias=nobody", body)
        traversal = server.post("/invocations?alias=../../etc", body)
        probes = [server.request("GET", path) for path in ("/ping", "/health", "/version")]
        # The alias moved in the registry (as a team would, with MLflow's client): the next answer follows it.
        client = mlflow.MlflowClient(tracking_uri=registry_home.tracking_uri, registry_uri=registry_home.tracking_uri)
        client.set_registered_model_alias(registry_home.model_name, "champion", "2")
        moved = server.post("/invocations", body)

    for answer in (by_query, by_header):
        assert answer.status == 200 and answer.body["model_version"] == 2
        assert answer.body["predictions"] == pytest.approx(challenger, rel=1e-9)
    assert champion.body["model_version"] == 1
    assert nobody.status == 503 and "nobody" in nobody.body["message"]
    assert traversal.status == 400
    assert [probe.status for probe in probes] == [200, 200, 200]
    assert str(probes[2].body) == mlflow.__version__  # as MLflow's server answers /version
    assert moved.status == 200 and moved.body["model_version"] == 2
    assert moved.body["predictions"] == pytest.approx(challenger, rel=1e-9)
    assert [(p.model_version, p.alias) for p in predictions(log)] == [
        (2, "challenger"),
        (2, "challenger"),
        (1, "champion"),
        (2, "champion"),
    ]


def test_a_dead_registry_keeps_the_cached_version_answering_and_says_so(
    registry_home: Settings, log: Sessions, tmp_path, failing_tracking_server
) -> None:
    body = {"dataframe_records": diamonds(1).to_dict("records")}
    with scoring_server(tmp_path, LOUPE_SHADOW="false") as server:
        first = server.post("/invocations", body)
    assert first.status == 200 and "x-loupe-served-from-cache" not in first.headers

    with scoring_server(
        tmp_path,
        LOUPE_SHADOW="false",
        MLFLOW_TRACKING_URI=failing_tracking_server.url,
        LOUPE_MLFLOW_MAX_RETRIES="0",
    ) as server:
        answer = server.post("/invocations", body)
    assert answer.status == 200, answer.body
    assert answer.body["predictions"] == pytest.approx(first.body["predictions"], rel=1e-9)
    assert answer.headers["x-loupe-served-from-cache"] == "true"
    assert "serving cached v1" in answer.headers["x-loupe-notice"]
    assert failing_tracking_server.requests > 0  # it did ask, and was refused
    assert {p.id for p in predictions(log)} == {*first.body["prediction_ids"], *answer.body["prediction_ids"]}
