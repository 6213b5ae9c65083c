"""Estimated performance roll-ups (DLE, CBPE) equal the direct computation on the raw rows of a real SQLite log."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.ensemble import HistGradientBoostingRegressor
from sqlalchemy import select

from core.monitoring.estimated_view import estimated_performance, expected_auc
from core.monitoring.estimation import Estimator, fit_cbpe, fit_dle, per_row_estimates
from core.monitoring.estimators import NO_ESTIMATOR, estimate_source
from core.monitoring.simulator import bulk_log, simulated_latencies
from core.monitoring.windows import Window
from storage.db import make_engine, make_sessionmaker, migrate
from storage.prediction_log import Prediction
from storage.rollups import refresh_rollups
from storage.rollups.estimates import ESTIMATE_BINS, estimate_bins, estimate_classes, estimate_totals, save_estimator
from tests.core.monitoring.classification_log import log_classifier, probabilities_for

START = datetime(2026, 3, 1, tzinfo=UTC)
WINDOW = Window(START - timedelta(hours=1), START + timedelta(days=2))


@pytest.fixture
def sessions(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'log.db'}")
    migrate(engine)
    yield make_sessionmaker(engine)
    engine.dispose()


def _features(rng: np.random.Generator, rows: int) -> pd.DataFrame:
    return pd.DataFrame({"size": rng.lognormal(0.3, 0.6, rows), "colour": rng.choice(["red", "blue", "teal"], rows)})


def _regression_truth(rng: np.random.Generator, features: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    # The model is worse on large sizes and on teal: errors the DLE model can learn from the inputs.
    predictions = 100 * features["size"].to_numpy()
    noise = 5 + 20 * features["size"].to_numpy() + 15 * (features["colour"] == "teal").to_numpy()
    return predictions, predictions + rng.normal(0, 1, len(features)) * noise


def _store(session, model_name: str, version: int, estimator: Estimator) -> None:
    payload_json, model_bytes = estimator.to_record()
    save_estimator(
        session,
        model_name=model_name,
        model_version=version,
        method=estimator.method,
        payload_json=payload_json,
        model_bytes=model_bytes,
        rows=int(estimator.payload["rows"]),
    )


def _refresh(sessions) -> None:
    with sessions.begin() as session:
        refresh_rollups(session, binning=lambda name, version: None, chunk_rows=300, estimates=estimate_source(session))


def _raw(session, model_name: str) -> pd.DataFrame:
    columns = [Prediction.id, Prediction.created_at, Prediction.model_version, Prediction.is_shadow]
    columns += [Prediction.prediction, Prediction.label, Prediction.inputs, Prediction.probabilities]
    found = session.execute(select(*columns).where(Prediction.model_name == model_name).order_by(Prediction.id))
    frame = pd.DataFrame(list(found), columns=[column.key for column in columns])
    frame["hour"] = pd.to_datetime(frame["created_at"], utc=True).dt.floor("h")
    return frame


def test_dle_rollups_equal_the_per_row_estimates_of_the_raw_rows(sessions) -> None:
    rng = np.random.default_rng(3)
    holdout = _features(rng, 1_500)
    predictions, actual = _regression_truth(rng, holdout)
    estimator = fit_dle(holdout, predictions, actual)
    logged = _features(rng, 1_000)
    logged_predictions, _ = _regression_truth(rng, logged)
    with sessions.begin() as session:
        _store(session, "m", 1, estimator)
        bulk_log(
            session,
            features=logged,
            predictions=logged_predictions,
            timestamps=[START + timedelta(seconds=float(s)) for s in rng.random(len(logged)) * 5 * 3600],
            model_name="m",
            model_version=1,
            latency_ms=simulated_latencies(len(logged), rng=rng),
        )
    _refresh(sessions)
    _refresh(sessions)  # a second refresh adds nothing twice

    with sessions.begin() as session:
        raw = _raw(session, "m")
        direct = per_row_estimates(estimator, raw)
        stored = estimate_totals(session, model_name="m", start=WINDOW.start, end=WINDOW.end).set_index("hour")
        view = estimated_performance(
            session, model_name="m", window=WINDOW, version=None, include_shadow=False, estimator_version=1
        )
    assert direct.abs_error is not None and direct.sq_error is not None
    expected = (
        raw.assign(abs_error=direct.abs_error, sq_error=direct.sq_error, abs_sq=direct.abs_error**2)
        .groupby("hour")
        .agg(
            count=("id", "size"),
            abs_error_sum=("abs_error", "sum"),
            sq_error_sum=("sq_error", "sum"),
            abs_sq=("abs_sq", "sum"),
        )
    )
    assert stored["count"].tolist() == expected["count"].tolist()
    np.testing.assert_allclose(stored["abs_error_sum"], expected["abs_error_sum"], rtol=1e-9)
    np.testing.assert_allclose(stored["sq_error_sum"], expected["sq_error_sum"], rtol=1e-9)
    np.testing.assert_allclose(stored["abs_error_sq_sum"], expected["abs_sq"], rtol=1e-9)
    mae = view.figure("mae")
    rmse = view.figure("rmse")
    assert view.method == "dle" and view.rows == len(raw)
    assert mae is not None and mae.value == pytest.approx(direct.abs_error.mean(), rel=1e-9)
    assert rmse is not None and rmse.value == pytest.approx(np.sqrt(direct.sq_error.mean()), rel=1e-9)
    assert mae.low is not None and mae.high is not None and mae.low < mae.value < mae.high
    assert set(view.over_time["metric"]) == {"mae", "rmse"} and len(view.over_time) == 2 * len(expected)


def test_dle_learns_where_the_model_is_worse() -> None:
    rng = np.random.default_rng(4)
    holdout = _features(rng, 4_000)
    predictions, actual = _regression_truth(rng, holdout)
    estimator = fit_dle(holdout, predictions, actual)
    large = pd.DataFrame({"size": [3.0] * 50, "colour": ["teal"] * 50})
    small = pd.DataFrame({"size": [0.5] * 50, "colour": ["red"] * 50})

    def estimate(frame: pd.DataFrame) -> float:
        rows = pd.DataFrame(
            {"prediction": 100 * frame["size"], "inputs": [json.dumps(row) for row in frame.to_dict("records")]}
        )
        found = per_row_estimates(estimator, rows).abs_error
        assert found is not None
        return float(found.mean())

    # True mean |error| is noise · √(2/π): ~64 on the large teal rows, ~12 on the small red ones.
    assert estimate(large) == pytest.approx(80 * np.sqrt(2 / np.pi), rel=0.25)
    assert estimate(small) == pytest.approx(15 * np.sqrt(2 / np.pi), rel=0.35)


def test_cbpe_rollups_equal_the_expected_confusion_of_the_raw_rows(sessions) -> None:
    classes = ["no", "yes"]
    rng = np.random.default_rng(5)
    truths = rng.choice(classes, 1_000)
    estimator = fit_cbpe(probabilities_for(rng, truths, classes, 0.5), classes, list(truths))
    with sessions.begin() as session:
        _store(session, "clf", 1, estimator)
        log_classifier(session, classes=classes, rows=800, seed=6, hours=30)
    _refresh(sessions)

    with sessions.begin() as session:
        raw = _raw(session, "clf")
        direct = per_row_estimates(estimator, raw)
        per_class = estimate_classes(session, model_name="clf", start=WINDOW.start, end=WINDOW.end)
        bins = estimate_bins(session, model_name="clf", start=WINDOW.start, end=WINDOW.end)
        totals = estimate_totals(session, model_name="clf", start=WINDOW.start, end=WINDOW.end)
        view = estimated_performance(
            session, model_name="clf", window=WINDOW, version=None, include_shadow=False, estimator_version=1
        )
    assert direct.calibrated is not None and direct.predicted is not None and direct.scores is not None
    p = direct.calibrated
    correct = p[np.arange(len(raw)), direct.predicted]
    assert totals["count"].sum() == len(raw)
    assert totals["correct_sum"].sum() == pytest.approx(correct.sum(), rel=1e-9)
    assert totals["correct_var_sum"].sum() == pytest.approx((correct * (1 - correct)).sum(), rel=1e-9)
    summed = per_class.groupby("class_name")[["tp", "fp", "fn"]].sum()
    for index, name in enumerate(classes):
        mine = direct.predicted == index
        assert summed.loc[name, "tp"] == pytest.approx(p[mine, index].sum(), rel=1e-9)
        assert summed.loc[name, "fp"] == pytest.approx((1 - p[mine, index]).sum(), rel=1e-9)
        assert summed.loc[name, "fn"] == pytest.approx(p[~mine, index].sum(), rel=1e-9)
    # Bins: the positive class's raw score, with the calibrated probabilities summed.
    bucket = np.clip(np.floor(direct.scores[:, 1] * ESTIMATE_BINS), 0, ESTIMATE_BINS - 1)
    expected_bins = pd.DataFrame({"bucket": bucket, "count": 1, "probability_sum": p[:, 1]}).groupby("bucket").sum()
    stored_bins = bins.groupby("bucket")[["count", "probability_sum"]].sum()
    assert stored_bins["count"].tolist() == expected_bins["count"].tolist()
    np.testing.assert_allclose(stored_bins["probability_sum"], expected_bins["probability_sum"], rtol=1e-9)
    tp, fp, fn = summed.loc["yes", ["tp", "fp", "fn"]]
    accuracy, f1, auc = (view.figure(name) for name in ("accuracy", "f1", "roc_auc"))
    assert accuracy is not None and accuracy.value == pytest.approx(correct.mean(), rel=1e-9)
    assert f1 is not None and f1.value == pytest.approx(2 * tp / (2 * tp + fp + fn), rel=1e-9)
    assert auc is not None and auc.value == pytest.approx(expected_auc(bins), rel=1e-12)
    assert auc.low is not None and auc.high is not None and auc.low < auc.value < auc.high


def test_expected_auc_of_bins_matches_a_weighted_roc_auc() -> None:
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(7)
    scores = rng.integers(0, ESTIMATE_BINS, 5_000)  # one score per bin: no ties within a bin but equal scores
    probability = rng.uniform(size=5_000)
    bins = pd.DataFrame({"class_name": "yes", "bucket": scores, "count": 1, "probability_sum": probability})
    # Each row counts as a positive with weight p and a negative with weight 1 − p.
    labels = np.concatenate([np.ones(5_000), np.zeros(5_000)])
    weights = np.concatenate([probability, 1 - probability])
    expected = roc_auc_score(labels, np.concatenate([scores, scores]), sample_weight=weights)

    assert expected_auc(bins) == pytest.approx(expected, abs=1e-9)


class Smuggled:
    """A type nobody listed as trusted: loading it must be refused."""


def test_an_estimator_loads_only_trusted_types() -> None:
    rng = np.random.default_rng(8)
    holdout = _features(rng, 300)
    predictions, actual = _regression_truth(rng, holdout)
    payload_json, model_bytes = fit_dle(holdout, predictions, actual).to_record()

    loaded = Estimator.from_record("dle", payload_json, model_bytes)
    assert loaded.error_models is not None and isinstance(loaded.error_models[0], HistGradientBoostingRegressor)
    tampered = sio.dumps([Smuggled(), Smuggled()])
    with pytest.raises(sio.exceptions.UntrustedTypesFoundException):
        Estimator.from_record("dle", payload_json, tampered)


def test_a_version_without_an_estimator_says_what_it_needs(sessions) -> None:
    with sessions.begin() as session:
        view = estimated_performance(
            session, model_name="m", window=WINDOW, version=None, include_shadow=False, estimator_version=3
        )
    assert view.method is None and view.empty == NO_ESTIMATOR and view.figures == []


def test_too_few_reference_rows_with_true_values_is_refused() -> None:
    from core.errors import InvalidInput

    features = pd.DataFrame({"size": [1.0] * 40})
    actual = np.full(40, np.nan)
    actual[:10] = 1.0
    with pytest.raises(InvalidInput, match="at least 30 reference rows with true values"):
        fit_dle(features, np.ones(40), actual)
