"""``POST /predictions`` on a real server process: a team classifier's predictions stored once, refusals named."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from storage.prediction_log import Feedback, Prediction
from tests import team_classifiers
from tests.core.server.server_process import scoring_server
from tests.team_store import champion, prediction_log, team_home

pytestmark = pytest.mark.slow
MODEL = "tumour-http"


def body(team, rows: range) -> dict:
    now = datetime.now(UTC)
    items = []
    for number in rows:
        features = team.features.iloc[number].to_dict()
        probabilities = team.estimator.predict_proba(team.features.iloc[[number]])[0]
        items.append(
            {
                "id": f"batch-7/{number}",
                "timestamp": (now - timedelta(minutes=number)).isoformat(),
                "model_version": team.version,
                "features": features,
                "prediction": str(team.estimator.predict(team.features.iloc[[number]])[0]),
                "probabilities": dict(zip(("benign", "malignant"), probabilities.tolist(), strict=True)),
                "actual": str(team.labels.iloc[number]),
            }
        )
    return {"model_name": MODEL, "predictions": items}


def test_predictions_posted_twice_are_stored_once_with_refusals_named_and_the_token_required(
    tmp_path, monkeypatch
) -> None:
    settings = team_home(tmp_path, monkeypatch, model=MODEL)
    team = team_classifiers.register_binary_text_labels(MODEL)
    champion(MODEL, team.version)
    sent = body(team, range(40))
    sent["predictions"][5]["timestamp"] = "last tuesday"
    sent["predictions"][6]["features"]["mean_radius"] = "wide"
    token = {"Authorization": "Bearer s3cret"}

    with scoring_server(tmp_path, LOUPE_INGEST_TOKEN="s3cret") as server:
        refused = server.post("/predictions", sent)
        first = server.post("/predictions", sent, headers=token)
        again = server.post("/predictions", sent, headers=token)
        malformed = server.post("/predictions", {"predictions": [{"id": "x", "features": [1, 2]}]}, headers=token)
        empty = server.post("/predictions", {"predictions": []}, headers=token)
        unknown = server.post("/predictions", {**body(team, range(1)), "model_name": "nobody"}, headers=token)

    assert refused.status == 401
    assert first.status == 200, first.body
    assert (first.body["stored"], first.body["already_stored"], first.body["rejected"]) == (38, 0, 2)
    assert first.body["feedback"] == 38
    reasons = [(item["row"], item["id"], item["field"], item["rule"]) for item in first.body["rejections"]]
    assert reasons == [(6, "batch-7/5", "timestamp", "datetime"), (7, "batch-7/6", "mean_radius", "type")]
    assert (again.status, again.body["stored"], again.body["already_stored"]) == (200, 0, 38)
    assert malformed.status == 400 and "predictions[0].features must be an object" in malformed.body["message"]
    assert empty.status == 400 and "predictions must be a non-empty list" in empty.body["message"]
    assert unknown.status == 200 and unknown.body["rejections"][0]["rule"] == "version"
    with prediction_log(settings) as sessions, sessions() as session:
        logged = session.scalars(select(Prediction).order_by(Prediction.created_at.desc())).all()
        truths = session.scalars(select(Feedback.actual_label)).all()
    assert len(logged) == 38 and {row.source for row in logged} == {"ingest"}
    assert logged[0].client_id == "batch-7/0" and logged[0].label == sent["predictions"][0]["prediction"]
    assert sorted(truths) == sorted(
        item["actual"] for number, item in enumerate(sent["predictions"]) if number not in (5, 6)
    )
