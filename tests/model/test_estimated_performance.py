"""Estimated performance on the demo models under a simulated covariate shift: how far the estimate is from the
realised metric, stated and bounded.

Each model's holdout is split in two at random: the estimator is fitted on one half (the reference), and the
other half is shifted — only its larger stones / larger tumours are kept — and scored as production traffic
would be: per-row estimates from the logged inputs and answers (JSON, as the refresh reads them), against the
realised metric from the true values. A naive estimate (the reference's own metric) is printed beside it.
These need the real demo models (minutes of training, once per session), so they are all ``slow``.
"""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score, roc_auc_score
from sklearn.model_selection import train_test_split

from core import mlflow_io
from core.dataset import CATEGORICAL_FEATURES, load_diamonds, split_diamonds
from core.monitoring.estimated_view import classification_estimates, regression_estimates
from core.monitoring.estimation import fit_cbpe, fit_dle, per_row_estimates
from core.task import class_text
from core.training.classifier import HOLDOUT_SHARE, load_tumours
from tests.conftest import CLASSIFIER_MODEL, use_home

pytestmark = pytest.mark.slow
# Stated tolerances: the estimate's error on the shifted half (measured: see the printed figures).
MAE_TOLERANCE = 0.10  # relative
RMSE_TOLERANCE = 0.15  # relative
ACCURACY_TOLERANCE = 0.06  # absolute, on ~36 rows
AUC_TOLERANCE = 0.05  # absolute


def _halves(rows: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    order = np.random.default_rng(seed).permutation(rows)
    return order[: rows // 2], order[rows // 2 :]


def _logged(features: pd.DataFrame, **columns: object) -> pd.DataFrame:
    """Rows as the prediction log holds them: inputs as JSON text, plus the given answer columns."""
    return pd.DataFrame({"inputs": [json.dumps(row) for row in features.to_dict("records")], **columns})


def test_dle_estimates_the_diamond_model_mae_under_a_carat_shift(demo_models_home: Path, monkeypatch) -> None:
    settings = use_home(monkeypatch, demo_models_home)
    mlflow_io.configure(settings)
    champion = mlflow.sklearn.load_model(f"models:/{settings.model_name}@champion")
    split = split_diamonds(load_diamonds())
    features = split.X_test.astype({column: str for column in CATEGORICAL_FEATURES}).reset_index(drop=True)
    actual = split.y_test.to_numpy(float)
    predictions = champion.predict(features)
    reference, monitored = _halves(len(features))
    estimator = fit_dle(features.iloc[reference], predictions[reference], actual[reference])

    shifted = monitored[features["carat"].to_numpy()[monitored] > np.median(features["carat"])]
    rows = _logged(features.iloc[shifted], prediction=predictions[shifted])
    found = per_row_estimates(estimator, rows)
    assert found.abs_error is not None and found.sq_error is not None
    sums = pd.Series(
        {
            "count": len(rows),
            "abs_error_sum": found.abs_error.sum(),
            "abs_error_sq_sum": (found.abs_error**2).sum(),
            "sq_error_sum": found.sq_error.sum(),
        }
    )
    estimated = regression_estimates(sums, estimator)
    error = actual[shifted] - predictions[shifted]
    realised = {"mae": float(np.mean(np.abs(error))), "rmse": float(np.sqrt(np.mean(error**2)))}
    naive = {"mae": estimator.payload["reference_mae"], "rmse": estimator.payload["reference_rmse"]}
    for metric in ("mae", "rmse"):
        value, low, high = estimated[metric] or (np.nan, np.nan, np.nan)
        print(
            f"diamonds, larger-carat half ({len(rows):,} rows): {metric} estimated {value:,.1f} "
            f"[{low:,.1f}, {high:,.1f}], realised {realised[metric]:,.1f}, "
            f"error {100 * (value / realised[metric] - 1):+.1f}%; reference {naive[metric]:,.1f}"
        )
    mae, rmse = estimated["mae"], estimated["rmse"]
    assert mae is not None and rmse is not None
    assert mae[0] == pytest.approx(realised["mae"], rel=MAE_TOLERANCE)
    assert rmse[0] == pytest.approx(realised["rmse"], rel=RMSE_TOLERANCE)
    # The shift matters: the reference's own MAE would be far off, the estimate is not.
    assert abs(mae[0] - realised["mae"]) < abs(naive["mae"] - realised["mae"]) / 3


def test_cbpe_estimates_the_tumour_classifier_under_a_size_shift(classifier_home: Path, monkeypatch) -> None:
    settings = use_home(monkeypatch, classifier_home, LOUPE_MODEL_NAME=CLASSIFIER_MODEL)
    mlflow_io.configure(settings)
    champion = mlflow.sklearn.load_model(f"models:/{CLASSIFIER_MODEL}@champion")
    features, target = load_tumours()
    _, X_test, _, y_test = train_test_split(features, target, test_size=HOLDOUT_SHARE, random_state=42, stratify=target)
    X_test, truth = X_test.reset_index(drop=True), np.array([class_text(value) for value in y_test])
    classes = [class_text(value) for value in champion.classes_]
    probabilities = champion.predict_proba(X_test)
    reference, monitored = _halves(len(X_test))
    estimator = fit_cbpe(probabilities[reference], classes, list(truth[reference]))

    shifted = monitored[X_test["mean_radius"].to_numpy()[monitored] > np.median(X_test["mean_radius"])]
    labels = np.array(classes, dtype=object)[probabilities[shifted].argmax(axis=1)]
    rows = _logged(
        X_test.iloc[shifted],
        label=labels,
        probabilities=[json.dumps(dict(zip(classes, map(float, row), strict=True))) for row in probabilities[shifted]],
    )
    found = per_row_estimates(estimator, rows)
    assert found.calibrated is not None and found.predicted is not None and found.scores is not None
    p = found.calibrated
    correct = p[np.arange(len(rows)), found.predicted]
    sums = pd.Series(
        {"count": len(rows), "correct_sum": correct.sum(), "correct_var_sum": (correct * (1 - correct)).sum()}
    )
    per_class = pd.DataFrame(
        {
            "class_name": classes,
            "tp": [p[found.predicted == i, i].sum() for i in range(2)],
            "fp": [(1 - p[found.predicted == i, i]).sum() for i in range(2)],
            "fn": [p[found.predicted != i, i].sum() for i in range(2)],
        }
    )
    bins = pd.DataFrame(
        {
            "class_name": classes[1],
            "bucket": np.clip(np.floor(found.scores[:, 1] * 100), 0, 99),
            "count": 1,
            "probability_sum": p[:, 1],
        }
    )
    estimated = classification_estimates(sums, per_class, bins, estimator)
    realised = {
        "accuracy": float(np.mean(labels == truth[shifted])),
        "f1": float(f1_score(truth[shifted], labels, pos_label=classes[1])),
        "roc_auc": float(roc_auc_score(truth[shifted] == classes[1], probabilities[shifted, 1])),
    }
    for metric in ("accuracy", "f1", "roc_auc"):
        value, low, high = estimated[metric] or (np.nan, np.nan, np.nan)
        print(
            f"tumours, larger-radius half ({len(rows)} rows): {metric} estimated {value:.3f} [{low:.3f}, {high:.3f}], "
            f"realised {realised[metric]:.3f}, error {value - realised[metric]:+.3f}"
        )
    accuracy, auc = estimated["accuracy"], estimated["roc_auc"]
    assert accuracy is not None and auc is not None
    assert accuracy[0] == pytest.approx(realised["accuracy"], abs=ACCURACY_TOLERANCE)
    assert accuracy[1] <= realised["accuracy"] <= accuracy[2]
    assert auc[0] == pytest.approx(realised["roc_auc"], abs=AUC_TOLERANCE)
