"""A regressor's answers against its reference's predictions (or true values), from the prediction buckets."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from core.dataset import load_diamonds
from core.monitoring.drift import DriftThresholds
from core.monitoring.output_drift import regression_output_drift
from core.profile import build_profile, profile_predictions
from storage.rollups import signed_log_bucket


def buckets(values: np.ndarray) -> pd.DataFrame:
    found, counts = np.unique(signed_log_bucket(values), return_counts=True)
    return pd.DataFrame({"bucket": found, "count": counts})


@pytest.fixture(scope="module")
def prices() -> np.ndarray:
    return np.random.default_rng(0).permutation(load_diamonds()["price"].to_numpy(float))


def test_answers_that_moved_drift_and_the_same_answers_do_not(prices) -> None:
    reference = prices[:20_000]
    profile = replace(build_profile(pd.DataFrame({"carat": [1.0, 2.0]})), row_count=len(reference))
    profile = replace(profile, prediction_profile=profile_predictions(reference))
    live = prices[20_000:30_000]

    same = regression_output_drift(profile, buckets(live), DriftThresholds())
    moved = regression_output_drift(profile, buckets(live * 1.3), DriftThresholds())
    few = regression_output_drift(profile, buckets(live[:40] * 1.3), DriftThresholds())

    assert same is not None and moved is not None and few is not None
    assert same.against == "the reference's predictions" and same.drift.method == "wasserstein"
    assert same.drift.verdict == "stable" and moved.drift.verdict == "drifted"
    raw = stats.wasserstein_distance(reference, live * 1.3) / np.std(reference)
    assert moved.drift.statistic == pytest.approx(raw, abs=0.02)  # buckets ≈ 2.3 % wide
    assert few.drift.verdict == "not enough data" and few.drift.current_count == 40


def test_without_predictions_the_target_is_the_reference_and_without_either_nothing(prices) -> None:
    features = pd.DataFrame({"carat": np.linspace(0.2, 3, len(prices))})
    with_target = build_profile(features, target="price", target_values=pd.Series(prices))
    without = build_profile(features)

    against_target = regression_output_drift(with_target, buckets(prices[:5_000]), DriftThresholds())

    assert against_target is not None and against_target.against == "the reference's true values"
    assert regression_output_drift(without, buckets(prices[:5_000]), DriftThresholds()) is None
    assert regression_output_drift(with_target, buckets(prices[:0]), DriftThresholds()) is None
