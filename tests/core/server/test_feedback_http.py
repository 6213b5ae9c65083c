"""True values over HTTP reach Monitoring; a classifier answers labels and probabilities; writes need the token."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest

from core.monitoring.snapshot import snapshot
from core.monitoring.windows import Window
from core.settings import Settings
from tests import team_classifiers
from tests.core.server.server_process import scoring_server
from tests.core.server.test_invocations import diamonds, predictions, wait_for
from tests.team_store import champion, prediction_log, team_home

pytestmark = pytest.mark.slow


def test_feedback_over_http_shows_as_realised_error_and_refuses_shadow_duplicate_and_unknown_ids(
    registry_home: Settings, tmp_path
) -> None:
    rows = diamonds(3, skip=100)
    with prediction_log(registry_home) as log, scoring_server(tmp_path, LOUPE_SHADOW="true") as server:
        answer = server.post("/invocations", {"dataframe_records": rows.to_dict("records")})
        first, second, third = answer.body["prediction_ids"]
        shadow = wait_for(lambda: predictions(log, shadow=True))[0]
        batch = server.post(
            "/feedback",
            {
                "feedback": [
                    {"prediction_id": first, "actual": 410.5},
                    {"prediction_id": second, "actual": "1200"},
                    {"prediction_id": shadow.id, "actual": 700.0},
                    {"prediction_id": third, "actual": 1.0},
                    {"prediction_id": third, "actual": 2.0},
                    {"prediction_id": 987_654, "actual": 3.0},
                    {"prediction_id": first + 1_000_000, "actual": 4.0},
                ]
            },
        )
        single = server.post("/feedback", {"prediction_id": third, "actual": 2_500})
        not_a_number = server.post("/feedback", {"prediction_id": first, "actual": "lots"})
        malformed = server.post("/feedback", {"feedback": [{"prediction_id": "abc", "actual": 1}]})
        missing = server.post("/feedback", {"prediction_id": first})
        not_json = server.post("/feedback", "prediction_id=1")

        assert batch.status == 200
        assert (batch.body["stored"], batch.body["unknown"], batch.body["refused"]) == (2, 2, 3)
        assert batch.body["unknown_ids"] == sorted([987_654, first + 1_000_000])
        reasons = {(item["prediction_id"], item["field"]): item["reason"] for item in batch.body["refusals"]}
        assert "shadow" in reasons[(shadow.id, "prediction_id")]
        assert "is given 2 times" in reasons[(third, "prediction_id")]
        assert (single.status, single.body["stored"]) == (200, 1)
        assert not_a_number.status == 200 and not_a_number.body["stored"] == 0
        assert "not a number (rule: type)" in not_a_number.body["refusals"][0]["reason"]
        assert malformed.status == 400 and "feedback[0].prediction_id" in malformed.body["message"]
        assert missing.status == 400 and "actual is missing" in missing.body["message"]
        assert not_json.status == 400 and not_json.body["error_code"] == "BAD_REQUEST"

        answers = {row.id: row.prediction for row in predictions(log, shadow=False)}
        view = snapshot(registry_home, sessions=log, window=Window.last(timedelta(days=1)), version=1)
    truth = {first: 410.5, second: 1200.0, third: 2_500.0}
    assert view.current.feedback == 3
    assert view.current.mae == pytest.approx(np.mean([abs(truth[key] - answers[key]) for key in truth]))


def test_a_classifier_answers_its_labels_and_probabilities_and_feedback_needs_the_token(tmp_path, monkeypatch) -> None:
    settings = team_home(tmp_path, monkeypatch, model="iris-species", LOUPE_INGEST_TOKEN="s3cret")
    registered = team_classifiers.register_multiclass_int_labels("iris-species")
    champion(registered.name, registered.version)
    rows = registered.features.sample(12, random_state=5)
    truth = registered.labels.loc[rows.index]
    with prediction_log(settings) as log, scoring_server(tmp_path) as server:
        answer = server.post("/invocations", {"dataframe_split": rows.to_dict("split", index=False)})
        assert answer.status == 200, answer.body
        # As MLflow's server answers this model: its integer classes, as its pyfunc predict gives them.
        assert answer.body["predictions"] == [int(label) for label in registered.estimator.predict(rows)]
        expected = registered.estimator.predict_proba(rows)
        for given, wanted in zip(answer.body["probabilities"], expected, strict=True):
            assert list(given) == ["0", "1", "2"]
            assert list(given.values()) == pytest.approx(list(wanted), abs=1e-9)
        ids = answer.body["prediction_ids"]
        body = {"feedback": [{"prediction_id": i, "actual": int(t)} for i, t in zip(ids, truth, strict=True)]}

        refused = server.post("/feedback", body)
        wrong = server.post("/feedback", body, headers={"Authorization": "Bearer nope"})
        stored = server.post("/feedback", body, headers={"Authorization": "Bearer s3cret"})
        unknown_class = server.post(
            "/feedback", {"prediction_id": ids[0], "actual": 7}, headers={"Authorization": "Bearer s3cret"}
        )
        view = snapshot(settings, sessions=log, window=Window.last(timedelta(days=1)), version=1)

    assert refused.status == 401 and wrong.status == 401
    assert stored.status == 200 and stored.body["stored"] == len(ids)
    assert "(rule: class)" in unknown_class.body["refusals"][0]["reason"]
    labels = np.asarray(answer.body["predictions"])
    assert view.classification is not None
    assert view.classification.current.accuracy == pytest.approx(float(np.mean(labels == truth.to_numpy())))
