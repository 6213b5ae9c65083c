"""Looking up one logged prediction by id: inputs, answer, version, shadow answer and feedback."""

from __future__ import annotations

import pytest

from core.monitoring.lookup import look_up
from core.serving.model_cache import clear_memory_caches
from core.serving.scoring import predict_one
from storage.db import make_engine, make_sessionmaker, migrate
from storage.prediction_log import add_feedback

DIAMOND = {"carat": 0.7, "cut": "Ideal", "color": "G", "clarity": "VS2", "depth": 61.5, "table": 56.0}
DIAMOND |= {"x": 5.7, "y": 5.72, "z": 3.51}


@pytest.fixture
def log(registry_home):
    clear_memory_caches()
    engine = make_engine(registry_home.database_url)
    migrate(engine)
    yield make_sessionmaker(engine)
    engine.dispose()
    clear_memory_caches()


def test_a_prediction_is_found_with_its_inputs_shadow_and_feedback(registry_home, log) -> None:
    outcome = predict_one(registry_home, DIAMOND, sessions=log)
    assert outcome.prediction_id is not None
    with log.begin() as session:
        add_feedback(session, actuals={outcome.prediction_id: 2_500.0})

    with log.begin() as session:
        found = look_up(session, prediction_id=outcome.prediction_id, model_name=registry_home.model_name)
        assert found is not None
        (shadow,) = found.shadows
        by_shadow = look_up(session, prediction_id=shadow.prediction_id)
        elsewhere = look_up(session, prediction_id=outcome.prediction_id, model_name="another-model")
        missing = look_up(session, prediction_id=outcome.prediction_id + 1_000)

    assert found.answer.prediction_id == outcome.prediction_id and found.answer.model_version == 1
    assert found.answer.prediction == pytest.approx(outcome.prediction) and found.answer.alias == "champion"
    assert found.inputs == DIAMOND and found.source == "form" and found.request_id == outcome.request_id
    assert shadow.model_version == 2 and shadow.alias == "challenger" and shadow.prediction != found.answer.prediction
    assert found.has_feedback and found.actual == 2_500.0 and found.feedback_at is not None
    # Asked by the shadow row's id: the request it shadowed, the same record.
    assert by_shadow is not None and by_shadow.asked_for == shadow.prediction_id
    assert by_shadow.answer.prediction_id == outcome.prediction_id and by_shadow.inputs == DIAMOND
    assert elsewhere is None and missing is None


def test_a_prediction_without_feedback_or_shadow_says_so(registry_home, log) -> None:
    settings = registry_home.model_copy(update={"shadow": False})
    outcome = predict_one(settings, DIAMOND, sessions=log)
    assert outcome.prediction_id is not None

    with log.begin() as session:
        found = look_up(session, prediction_id=outcome.prediction_id)

    assert found is not None and found.shadows == [] and not found.has_feedback and found.actual is None
