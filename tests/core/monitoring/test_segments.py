"""Segments on a real log: which features split, the worst segment first, each segment's drift against its
own reference, and a regressor's estimated error per segment equal to the mean of its rows' estimates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from core.dataset import load_diamonds
from core.monitoring.estimation import fit_dle, per_row_estimates
from core.monitoring.references import binning_of
from core.monitoring.segment_reference import segment_profile
from core.monitoring.segments import input_plan, segment_view, split_features
from core.monitoring.simulator import bulk_log, simulated_latencies
from core.monitoring.windows import Window
from core.profile import build_profile
from storage.db import make_engine, make_sessionmaker, migrate
from storage.rollups import refresh_rollups

DAY = datetime(2026, 6, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def diamonds() -> pd.DataFrame:
    data = load_diamonds().sample(frac=1.0, random_state=11).reset_index(drop=True)
    return data.astype({"cut": str, "color": str, "clarity": str})


@pytest.mark.slow  # a 40,000-row reference profiled and 12,000 rows logged and rolled up
def test_each_segment_is_judged_against_its_own_reference_and_estimated(diamonds, settings, tmp_path) -> None:
    reference, holdout, live = diamonds.iloc[:30_000], diamonds.iloc[30_000:40_000], diamonds.iloc[40_000:52_000]
    features = reference.drop(columns=["price"])
    profile = build_profile(features)
    assert split_features(profile, max_values=settings.segment_max_values) == ["cut", "color", "clarity"]
    assert split_features(profile, max_values=7) == ["cut", "color"]
    fair = segment_profile(profile, "cut", "Fair")
    assert fair is not None and fair.row_count == int((features["cut"] == "Fair").sum())
    assert segment_profile(profile, "cut", "(other)") is None
    rng = np.random.default_rng(2)
    estimator = fit_dle(
        holdout.drop(columns=["price"]),
        holdout["price"].to_numpy() * rng.normal(1, 0.1, len(holdout)),
        holdout["price"],
    )

    inputs = live.drop(columns=["price"]).reset_index(drop=True)
    premium = (inputs["cut"] == "Premium").to_numpy()
    inputs.loc[premium, "carat"] = inputs.loc[premium, "carat"] * 1.3  # only Premium drifts
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
    with sessions.begin() as session:
        refresh_rollups(
            session,
            binning=lambda name, version: binning_of(profile),
            plan=lambda name, version: input_plan(settings, profile, estimator=estimator),
        )
        view = segment_view(
            settings,
            session=session,
            window=Window(DAY, DAY + timedelta(days=1)),
            feature="cut",
            version=None,
            drift_version=1,
            profile=profile,
            include_shadow=False,
        )
    engine.dispose()

    table = view.table.set_index("value")
    assert view.table.iloc[0]["value"] == "Premium" and "carat" in view.table.iloc[0]["drifted"]
    assert all(table.loc[value, "drift_share"] == 0 for value in ("Ideal", "Very Good", "Good"))
    assert table["predictions"].sum() == len(live)
    assert table.loc["Premium", "predictions"] == premium.sum()
    # Estimated error per segment: the mean of the rows' own DLE estimates.
    logged = pd.DataFrame(
        {"prediction": predictions, "inputs": inputs.to_json(orient="records", lines=True).splitlines()}
    )
    expected = pd.Series(per_row_estimates(estimator, logged).abs_error).groupby(inputs["cut"]).mean()
    for value, estimate in expected.items():
        assert table.loc[value, "estimated"] == pytest.approx(estimate, rel=1e-9)
    # The figures' order: worst first on each one.
    assert list(view.worst("mae")["mae"]) == sorted(table["mae"], reverse=True)
