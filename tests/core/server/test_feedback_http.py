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


def test_absurd_inputs_huge_ids_and_implausible_truths_are_refused_by_name_never_a_traceback(
    registry_home: Settings, tmp_path
) -> None:
    from core.dataset import load_diamonds
    from core.profile import build_profile
    from core.training.train import DIAMOND_RULES
    from storage.rollups import save_reference

    data = load_diamonds()
    # The version's reference with its target (price, never ≤ 0 in training), as Monitoring keeps it.
    profile = build_profile(
        data.drop(columns="price"),
        target="price",
        rules=DIAMOND_RULES,
        target_values=data["price"],
        categorical_target=False,
    )
    rows = diamonds(2, skip=300)
    absurd = diamonds(3, skip=300)
    absurd.loc[0, "carat"] = 1e308
    absurd.loc[1, "depth"] = 1e-320
    with prediction_log(registry_home) as log:
        with log.begin() as session:
            save_reference(
                session,
                model_name=registry_home.model_name,
                model_version=1,
                run_id=None,
                profile_json=profile.to_json(),
            )
        with scoring_server(tmp_path) as server:
            refused_inputs = server.post("/invocations", {"dataframe_records": absurd.to_dict("records")})
            answer = server.post("/invocations", {"dataframe_records": rows.to_dict("records")})
            first, second = answer.body["prediction_ids"]
            feedback = server.post(
                "/feedback",
                {
                    "feedback": [
                        {"prediction_id": first, "actual": 410.5},
                        {"prediction_id": second, "actual": -5},
                        {"prediction_id": 2**63, "actual": 1.0},
                        {"prediction_id": str(10**40), "actual": 1.0},
                        {"prediction_id": second, "actual": "1e400"},
                    ]
                },
            )
            single = server.post("/feedback", {"prediction_id": 2**63, "actual": 3.0})
            negative = server.post("/feedback", {"prediction_id": second, "actual": -5})
            logged = predictions(log, shadow=False)

    assert refused_inputs.status == 400
    problems = {(item["row"], item["field"], item["rule"]) for item in refused_inputs.body["problems"]}
    assert problems == {(1, "carat", "range"), (2, "depth", "subnormal")}
    assert "carat: 1e+308 is beyond the plausible range" in refused_inputs.body["problems"][0]["message"]
    assert [row.id for row in logged] == [first, second]  # the absurd rows were never answered nor logged

    assert feedback.status == 200
    assert (feedback.body["stored"], feedback.body["unknown"], feedback.body["refused"]) == (1, 0, 4)
    reasons = sorted((item["item"], item["field"], item["reason"]) for item in feedback.body["refusals"])
    assert reasons[0] == (
        2,
        "prediction_id",
        f"prediction_id: {second} is given 2 times; give it once (rule: unique)",
    )
    assert reasons[1][:2] == (3, "prediction_id") and f"{2**63} is out of range (rule: range;" in reasons[1][2]
    assert (
        reasons[2][:2] == (4, "prediction_id") and f"{str(10**40)[:40]}… (41 digits) is out of range" in reasons[2][2]
    )  # quoted in part
    assert single.status == 200 and single.body["refused"] == 1 and single.body["stored"] == 0
    assert negative.body["stored"] == 0 and negative.body["refusals"][0]["reason"] == (
        "actual: must be > 0, got -5 (rule: gt 0; price is never ≤ 0 in the reference data)"
    )
