"""The refresh reads and parses a chunk's inputs once and runs a version's estimator once: the segments' estimated
sums are the very per-row estimates the hour sums add up, and parsed inputs estimate as the logged text does."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import func, select

from core.dataset import load_diamonds
from core.monitoring.estimation import fit_dle, per_row_estimates
from core.monitoring.references import binning_of
from core.monitoring.segments import input_plan
from core.monitoring.simulator import bulk_log, simulated_latencies
from core.profile import build_profile
from storage.db import make_engine, make_sessionmaker, migrate
from storage.prediction_log import Prediction
from storage.rollups import refresh_rollups
from storage.rollups.tables import RollupEstimate, RollupSegment

DAY = datetime(2026, 6, 1, tzinfo=UTC)


@pytest.mark.slow  # an estimator fitted on 2,000 rows, 3,000 rows logged and rolled up in chunks
def test_segment_estimates_are_the_hour_estimates_split(settings, tmp_path) -> None:
    data = load_diamonds().sample(n=8_000, random_state=5).reset_index(drop=True)
    data = data.astype({"cut": str, "color": str, "clarity": str})
    reference, holdout, live = data.iloc[:3_000], data.iloc[3_000:5_000], data.iloc[5_000:]
    profile = build_profile(reference.drop(columns=["price"]))
    rng = np.random.default_rng(3)
    estimator = fit_dle(
        holdout.drop(columns=["price"]),
        holdout["price"].to_numpy() * rng.normal(1, 0.1, len(holdout)),
        holdout["price"],
    )
    inputs = live.drop(columns=["price"]).reset_index(drop=True)
    predictions = live["price"].to_numpy() * rng.normal(1, 0.1, len(live))
    engine = make_engine(f"sqlite:///{tmp_path / 'log.db'}")
    migrate(engine)
    sessions = make_sessionmaker(engine)
    stamps = [DAY + timedelta(seconds=float(s)) for s in np.sort(rng.random(len(live))) * 80_000]
    with sessions.begin() as session:
        bulk_log(
            session,
            features=inputs,
            predictions=predictions,
            timestamps=stamps,
            model_name=settings.model_name,
            model_version=1,
            latency_ms=simulated_latencies(len(live), rng=rng),
            actuals=live["price"].to_numpy(float),
            label_share=0.5,
        )
    calls: list[int] = []

    def estimate(rows: pd.DataFrame, *, inputs: pd.DataFrame | None = None):
        calls.append(len(rows))
        return per_row_estimates(estimator, rows, inputs=inputs)

    planned = input_plan(settings, profile, estimator=estimator)
    assert planned is not None and planned.estimates is not None
    own_calls: list[int] = []

    def plan_estimates(rows: pd.DataFrame, frame: pd.DataFrame):
        own_calls.append(len(rows))
        return planned.estimates(rows, frame)

    plan = replace(planned, estimates=plan_estimates)  # segments still want a regressor's estimates
    with sessions.begin() as session:
        refresh_rollups(
            session,
            binning=lambda name, version: binning_of(profile),
            plan=lambda name, version: plan,
            estimates=lambda name, version: estimate,
            chunk_rows=1_000,
        )
        hour_sum = session.scalar(select(func.sum(RollupEstimate.abs_error_sum)))
        texts = session.scalars(select(Prediction.inputs).order_by(Prediction.id)).all()
        by_cut = dict(
            session.execute(
                select(RollupSegment.value, func.sum(RollupSegment.estimated_sum))
                .where(RollupSegment.feature == "cut")
                .group_by(RollupSegment.value)
            ).all()
        )
    engine.dispose()

    assert calls == [1_000, 1_000, 1_000] and own_calls == []  # once per chunk, not again for the segments
    # The rows' own estimates from their logged text, split by cut: what the segments hold.
    logged = pd.DataFrame({"prediction": predictions, "inputs": texts})
    own = pd.Series(per_row_estimates(estimator, logged).abs_error).groupby(inputs["cut"]).sum()
    assert sum(by_cut.values()) == pytest.approx(hour_sum, rel=1e-12)
    for value, total in own.items():
        assert by_cut[value] == pytest.approx(total, rel=1e-9)


def test_parsed_inputs_estimate_as_the_logged_text_unless_a_level_was_logged_as_a_number() -> None:
    rng = np.random.default_rng(0)
    features = pd.DataFrame({"size": rng.random(200) * 10, "grade": rng.choice(["1", "2", "3"], 200)})
    actual = features["size"] * 3 + features["grade"].astype(int)
    estimator = fit_dle(features, actual.to_numpy() + rng.normal(0, 1, 200), actual.to_numpy())
    texts = ['{"size": 2.5, "grade": "2"}', '{"size": 7, "grade": "3"}', '{"size": 1.0}', '{"size": 4.0, "grade": 2}']
    rows = pd.DataFrame({"prediction": [8.0, 24.0, 3.0, 14.0], "inputs": texts})
    from_text = per_row_estimates(estimator, rows).abs_error
    # Parsed as the refresh parses (numbers as floats): text levels give the same encoding, so the same estimates.
    parsed = pd.DataFrame.from_records([json.loads(text, parse_int=float) for text in texts[:3]])
    shared = per_row_estimates(estimator, rows.iloc[:3], inputs=parsed).abs_error
    assert shared is not None and from_text is not None
    np.testing.assert_array_equal(shared, from_text[:3])
    # A level logged as the number 2 parses as 2.0 ("2.0" is no level): the text is parsed again instead.
    parsed_all = pd.DataFrame.from_records([json.loads(text, parse_int=float) for text in texts])
    again = per_row_estimates(estimator, rows, inputs=parsed_all).abs_error
    assert again is not None
    np.testing.assert_array_equal(again, from_text)
