"""The simulator: shift parsing, sampled traffic, the serving path and the bulk path (its command: tests/core/commands)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import func, select

from core.monitoring.simulator import Shift, sample_traffic, simulate, simulate_bulk
from storage.db import make_engine, make_sessionmaker, migrate
from storage.prediction_log import Feedback, Prediction, PredictionFeature, Rejection


def test_shift_parsing_and_clear_errors() -> None:
    assert Shift.parse("carat=1.2") == Shift(feature="carat", factor=1.2)
    assert Shift.parse("cut=Fair") == Shift(feature="cut", level="Fair", share=0.5)
    assert Shift.parse("cut=Very Good:0.3") == Shift(feature="cut", level="Very Good", share=0.3)
    for bad, message in (("carat", "FEATURE=FACTOR"), ("carat=-2", "positive"), ("cut=Fair:2", "share")):
        with pytest.raises(ValueError, match=message):
            Shift.parse(bad)


def test_sampled_traffic_is_shifted_and_spread_over_the_days() -> None:
    now = datetime(2026, 3, 8, 12, tzinfo=UTC)
    plain = sample_traffic(rows=5_000, days=3, seed=1, now=now)
    moved = sample_traffic(
        rows=5_000, days=3, seed=1, now=now, shifts=(Shift.parse("carat=1.5"), Shift.parse("cut=Fair:0.4"))
    )

    stamps = pd.to_datetime(plain.timestamps, utc=True)
    assert stamps.min() >= now - timedelta(days=3) and stamps.max() <= now and stamps.is_monotonic_increasing
    assert np.allclose(moved.features["carat"], plain.features["carat"] * 1.5)
    assert (moved.features["cut"] == "Fair").mean() > 0.4
    assert pd.api.types.is_string_dtype(plain.features["cut"]) and len(plain.actuals) == 5_000
    with pytest.raises(ValueError, match="not a feature"):
        sample_traffic(rows=10, days=1, shifts=(Shift.parse("weight=2"),))


@pytest.fixture
def sessions(registry_home):
    engine = make_engine(registry_home.database_url)
    migrate(engine)
    yield make_sessionmaker(engine)
    engine.dispose()


def test_simulate_goes_through_serving_with_shadow_feedback_and_rejections(registry_home, sessions) -> None:
    result = simulate(
        registry_home,
        sessions=sessions,
        rows=120,
        days=2,
        shifts=(Shift.parse("carat=1.2"),),
        label_share=0.5,
        invalid_share=0.05,
        seed=3,
    )

    with sessions.begin() as session:
        answered = session.scalar(select(func.count()).where(Prediction.is_shadow.is_(False)))
        shadows = session.scalar(select(func.count()).where(Prediction.is_shadow.is_(True)))
        oldest = session.scalar(select(func.min(Prediction.created_at)))
        sources = set(session.scalars(select(Prediction.source).distinct()))
        feedback = session.scalar(select(func.count()).select_from(Feedback))
        rejected = session.scalar(select(func.count(func.distinct(Rejection.row_number))).select_from(Rejection))
        carats = session.scalars(select(PredictionFeature.num_value).where(PredictionFeature.feature == "carat")).all()

    assert result.via == "serving" and result.model_version == 1 and result.requests > 1
    assert answered == result.accepted and result.accepted + result.rejected_rows == 120
    assert shadows == result.shadow_scored == answered  # the challenger shadows every answer
    assert rejected >= 1 and feedback == result.feedback > 0
    assert sources == {"simulator"} and oldest < datetime.now(UTC) - timedelta(hours=12)
    shifted = sample_traffic(rows=120, days=2, shifts=(Shift.parse("carat=1.2"),), seed=3).features["carat"]
    assert set(np.round(carats, 9)) <= set(np.round(shifted, 9))  # the shifted values, as sampled


def test_bulk_simulation_uses_the_champions_real_predictions(registry_home, sessions) -> None:
    result = simulate_bulk(registry_home, sessions=sessions, rows=2_000, days=7, label_share=0.3, seed=4)

    with sessions.begin() as session:
        rows = session.execute(
            select(Prediction.prediction, Feedback.actual).join(Feedback, Feedback.prediction_id == Prediction.id)
        ).all()
    predicted, actual = np.array(rows).T

    assert result.via == "bulk" and result.accepted == 2_000 and result.feedback == len(rows)
    assert np.mean(np.abs(predicted - actual)) < 400  # a real model (holdout MAE ≈ 280), not noise
