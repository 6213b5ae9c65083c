"""Multivariate drift on a real log: a shift that keeps every feature's marginal but breaks how carat and the
dimensions x, y, z go together is flagged, while every per-feature verdict stays clean."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from core.dataset import load_diamonds
from core.monitoring.drift import DriftThresholds, drift_report
from core.monitoring.multivariate import fit_reference_pca, multivariate_drift, reconstruction_errors
from core.monitoring.references import binning_of
from core.monitoring.segments import input_plan
from core.monitoring.simulator import bulk_log, simulated_latencies
from core.monitoring.window_drift import current_from_rollups
from core.profile import build_profile
from storage.db import make_engine, make_sessionmaker, migrate
from storage.rollups import feature_counts, refresh_rollups
from storage.rollups.segment_queries import multivariate_totals

DAY = datetime(2026, 5, 4, tzinfo=UTC)
ROWS = 6_000


@pytest.fixture(scope="module")
def diamonds() -> tuple[pd.DataFrame, pd.DataFrame]:
    frame = load_diamonds().sample(frac=1.0, random_state=7).reset_index(drop=True).drop(columns=["price"])
    return frame.iloc[:40_000].reset_index(drop=True), frame.iloc[40_000:].reset_index(drop=True)


def broken_relation(rows: pd.DataFrame, seed: int) -> pd.DataFrame:
    """x, y, z moved together to other rows: each column keeps its values, carat no longer matches them."""
    shifted = rows.copy()
    order = np.random.default_rng(seed).permutation(len(rows))
    shifted[["x", "y", "z"]] = rows[["x", "y", "z"]].to_numpy()[order]
    return shifted


@pytest.mark.slow  # a 40,000-row reference profiled and 12,000 rows logged and rolled up
def test_a_broken_correlation_is_flagged_while_each_feature_stays_clean(diamonds, settings, tmp_path) -> None:
    reference, unseen = diamonds
    profile = build_profile(reference, pca_variance=settings.drift_pca_variance)
    fit = profile.multivariate
    assert fit is not None and 1 <= len(fit["components"]) < 9 and fit["explained"] >= settings.drift_pca_variance

    engine = make_engine(f"sqlite:///{tmp_path / 'log.db'}")
    migrate(engine)
    sessions = make_sessionmaker(engine)
    rng = np.random.default_rng(3)
    clean = unseen.iloc[:ROWS].reset_index(drop=True)
    shifted = broken_relation(unseen.iloc[ROWS : 2 * ROWS].reset_index(drop=True), seed=4)
    for day, rows in ((DAY, clean), (DAY + timedelta(days=1), shifted)):
        stamps = [day + timedelta(seconds=float(s)) for s in np.sort(rng.random(len(rows))) * 86_000]
        with sessions.begin() as session:
            bulk_log(
                session,
                features=rows,
                predictions=rng.normal(4000, 900, len(rows)),
                timestamps=stamps,
                model_name="diamond-price",
                model_version=1,
                latency_ms=simulated_latencies(len(rows), rng=rng),
            )
    with sessions.begin() as session:
        refresh_rollups(
            session,
            binning=lambda name, version: binning_of(profile),
            plan=lambda name, version: input_plan(settings, profile),
        )

    thresholds = DriftThresholds.from_settings(settings)
    verdicts = {}
    with sessions.begin() as session:
        for label, start in (("clean", DAY), ("shifted", DAY + timedelta(days=1))):
            end = start + timedelta(days=1)
            sums = multivariate_totals(session, model_name="diamond-price", start=start, end=end)
            window = multivariate_drift(fit, rows=int(sums["rows"].sum()), error_sum=float(sums["error_sum"].sum()))
            counts = feature_counts(
                session, model_name="diamond-price", model_version=1, start=start, end=end, include_shadow=False
            )
            verdicts[label] = (
                window,
                drift_report(profile, current_from_rollups(profile, counts), thresholds=thresholds),
            )
    engine.dispose()

    clean_mv, clean_drift = verdicts["clean"]
    shifted_mv, shifted_drift = verdicts["shifted"]
    # The roll-ups' mean is the mean of each raw row's error.
    assert clean_mv.rows == ROWS and clean_mv.mean_error == pytest.approx(reconstruction_errors(fit, clean).mean())
    assert shifted_mv.mean_error == pytest.approx(reconstruction_errors(fit, shifted).mean())
    assert clean_mv.drifted is False and fit["lower"] <= clean_mv.mean_error <= fit["upper"]
    assert shifted_mv.drifted is True and shifted_mv.mean_error > fit["upper"]
    for report in (clean_drift, shifted_drift):
        assert len(report.judged) == 9 and report.drifted_count == 0 and report.dataset_drift is False
    print(  # the figures the report quotes (pytest -s)
        f"\nreference error {fit['reference_error']:.4f}, band [{fit['lower']:.4f}, {fit['upper']:.4f}], "
        f"{len(fit['components'])} components ({fit['explained']:.0%}); clean window {clean_mv.mean_error:.4f}, "
        f"shifted window {shifted_mv.mean_error:.4f}"
    )


def test_the_band_comes_from_the_reference_and_too_little_data_fits_nothing(diamonds) -> None:
    reference, _ = diamonds
    profile = build_profile(reference.iloc[:5_000])
    fit = profile.multivariate
    assert fit is not None
    chunks = np.asarray(fit["chunk_errors"])
    assert len(chunks) == 10
    assert fit["upper"] == pytest.approx(fit["reference_error"] + 3 * chunks.std(ddof=1))
    assert fit_reference_pca(reference.iloc[:10], profile.features) is None  # under 50 rows: no band
    # A version's inputs missing a feature still get an error (the reference mean stands in), never NaN.
    assert np.isfinite(reconstruction_errors(fit, reference.iloc[:100].drop(columns=["x"]))).all()


def test_a_small_window_gets_a_wider_band_and_too_few_rows_no_verdict() -> None:
    from core.monitoring.multivariate import multivariate_drift

    fit = {"reference_error": 1.0, "lower": 0.9, "upper": 1.1, "rows": 10_000, "components": [[1.0]], "explained": 0.7}
    chunk = multivariate_drift(fit, rows=1_000, error_sum=1_150.0)  # a tenth of the reference: NannyML's band
    assert (chunk.lower, chunk.upper) == (0.9, 1.1) and chunk.drifted
    small = multivariate_drift(fit, rows=250, error_sum=250 * 1.15, min_rows=100)  # a quarter of a chunk: band × 2
    assert small.lower == pytest.approx(0.8) and small.upper == pytest.approx(1.2) and small.drifted is False
    few = multivariate_drift(fit, rows=50, error_sum=50 * 3.0, min_rows=100)
    assert few.drifted is None and few.verdict == "not enough data"
    assert multivariate_drift(fit, rows=0, error_sum=0.0).verdict == "no inputs"
