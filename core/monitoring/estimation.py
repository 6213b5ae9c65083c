"""Estimated performance before true values arrive: DLE for regressors, CBPE for classifiers (as NannyML does them).

- DLE (direct loss estimation): two gradient-boosting regressors fitted on the version's reference holdout, from
  the features and the version's own prediction, to the absolute error |actual − prediction| and the squared
  error. A window's estimated MAE is the mean of the first, its estimated RMSE the root of the mean of the second.
- CBPE (confidence-based performance estimation): the model's probabilities are calibrated on the holdout
  (isotonic, one-vs-rest per class, rows renormalised for a multiclass model); each row is then expected to be
  right with the calibrated probability of the class it predicted, which gives an expected confusion matrix
  (accuracy, F1) and, ranking rows by their raw score with the calibrated probability as the expected label,
  an expected ROC curve.

An estimator is plain JSON (feature encoding, isotonic steps, sampling-error constants) plus, for DLE, the
two error models as skops bytes loaded with an explicit list of trusted types — never pickle.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import skops.io as sio
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.isotonic import IsotonicRegression
from threadpoolctl import threadpool_limits

from core.errors import InvalidInput
from storage.rollups.estimates import RowEstimates

DLE, CBPE = "dle", "cbpe"
MIN_ROWS = 30  # fewer holdout rows than this with true values: no estimator (it would say nothing)
MAX_LEVELS = 250  # a categorical's most frequent levels kept as codes (rarer ones read as missing)
BOOTSTRAP_SAMPLES = 200
# The only types skops may build when loading DLE's error models (besides what it trusts by default).
TRUSTED_TYPES = [
    "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingRegressor",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
    "sklearn._loss.loss.HalfSquaredError",
    "sklearn._loss.link.IdentityLink",
    "sklearn._loss.link.Interval",
]


@dataclass(frozen=True)
class Estimator:
    """A fitted estimator of one version: how to read its inputs, and what it fitted."""

    method: str  # dle | cbpe
    payload: dict[str, Any]
    error_models: tuple[HistGradientBoostingRegressor, HistGradientBoostingRegressor] | None = None

    @property
    def classes(self) -> list[str]:
        return list(self.payload.get("classes", []))

    def to_record(self) -> tuple[str, bytes | None]:
        """The JSON payload and the skops bytes of the error models (``None`` for CBPE)."""
        blob = None if self.error_models is None else sio.dumps(list(self.error_models))
        return json.dumps(self.payload), blob

    @classmethod
    def from_record(cls, method: str, payload_json: str, model_bytes: bytes | None) -> Estimator:
        models = None
        if model_bytes is not None:
            loaded = sio.loads(model_bytes, trusted=TRUSTED_TYPES)
            models = (loaded[0], loaded[1])
        return cls(method=method, payload=json.loads(payload_json), error_models=models)


# ---- DLE ----


def _encoding(features: pd.DataFrame) -> list[dict[str, Any]]:
    encoding = []
    for name in features.columns:
        column = features[name]
        numbers = pd.to_numeric(column, errors="coerce")
        if pd.api.types.is_bool_dtype(column) or numbers.notna().sum() < column.notna().sum():
            levels = column.dropna().astype(str).value_counts().index[:MAX_LEVELS].tolist()
            encoding.append({"name": str(name), "levels": levels})
        else:
            encoding.append({"name": str(name), "levels": None})
    return encoding


def _encode(encoding: list[dict[str, Any]], features: pd.DataFrame, predictions: np.ndarray) -> np.ndarray:
    """Features as the error models read them: numbers, level codes (unknown or missing: NaN), then the prediction."""
    columns = []
    for spec in encoding:
        if spec["name"] not in features.columns:
            columns.append(np.full(len(features), np.nan))
            continue
        column = features[spec["name"]]
        if spec["levels"] is None:
            columns.append(pd.to_numeric(column, errors="coerce").to_numpy(dtype=float))
        else:
            codes = {level: index for index, level in enumerate(spec["levels"])}
            texts = column.astype(object).where(column.notna(), None)
            columns.append(np.array([codes.get(str(v), np.nan) if v is not None else np.nan for v in texts], float))
    columns.append(np.asarray(predictions, dtype=float))
    return np.column_stack(columns)


def _error_model(seed: int) -> HistGradientBoostingRegressor:
    # Level codes are split on as numbers: declaring them categorical makes the fitted model hold a
    # functools.partial, a type skops would then have to trust when loading.
    return HistGradientBoostingRegressor(max_iter=200, learning_rate=0.05, min_samples_leaf=20, random_state=seed)


def fit_dle(features: pd.DataFrame, predictions: np.ndarray, actual: np.ndarray, *, seed: int = 0) -> Estimator:
    """DLE on a regressor's holdout: ``features`` (the model's inputs), its ``predictions`` and the ``actual`` values."""
    predictions, actual = np.asarray(predictions, dtype=float), np.asarray(actual, dtype=float)
    known = np.isfinite(predictions) & np.isfinite(actual)
    if known.sum() < MIN_ROWS:
        raise InvalidInput(f"estimated performance needs at least {MIN_ROWS} reference rows with true values")
    features = features.reset_index(drop=True)[known]
    predictions, actual = predictions[known], actual[known]
    encoding = _encoding(features)
    matrix = _encode(encoding, features, predictions)
    error = actual - predictions
    with threadpool_limits(limits=1, user_api="openmp"):  # OpenMP threads on a busy machine cost 50× (measured)
        models = (_error_model(seed).fit(matrix, np.abs(error)), _error_model(seed).fit(matrix, error**2))
    payload = {
        "features": encoding,
        "reference_mae": float(np.mean(np.abs(error))),
        "reference_rmse": float(np.sqrt(np.mean(error**2))),
        # NannyML's band for RMSE: the squared errors' spread on the reference, relative to their mean (the
        # coefficient of variation), times a window's estimated MSE, over √n.
        "sq_error_cv": float(np.std(error**2) / max(np.mean(error**2), 1e-12)),
        "rows": int(known.sum()),
    }
    return Estimator(method=DLE, payload=payload, error_models=models)


# ---- CBPE ----


def _calibrate(scores: np.ndarray, truth: np.ndarray) -> list[list[float]]:
    isotonic = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(scores, truth)
    return [isotonic.X_thresholds_.tolist(), isotonic.y_thresholds_.tolist()]


def calibrated(payload: dict[str, Any], scores: np.ndarray) -> np.ndarray:
    """Raw probabilities (rows × classes, the estimator's class order) through its isotonic steps."""
    steps = payload["calibration"]
    if len(payload["classes"]) == 2:
        positive = np.interp(scores[:, 1], *steps[0])
        return np.column_stack([1 - positive, positive])
    out = np.column_stack([np.interp(scores[:, index], *steps[index]) for index in range(scores.shape[1])])
    total = out.sum(axis=1, keepdims=True)
    # A row every class calibrates to 0 keeps its raw probabilities.
    return np.where(total > 0, out / np.where(total > 0, total, 1), scores)


def fit_cbpe(probabilities: np.ndarray, classes: Sequence[str], actual: Sequence[Any], *, seed: int = 0) -> Estimator:
    """CBPE on a classifier's holdout: its probabilities (rows × ``classes``) and the true classes (as text)."""
    probabilities = np.asarray(probabilities, dtype=float)
    truth = np.array([None if value is None else str(value) for value in actual], dtype=object)
    known = np.array([value is not None for value in truth]) & np.isfinite(probabilities).all(axis=1)
    if known.sum() < MIN_ROWS:
        raise InvalidInput(f"estimated performance needs at least {MIN_ROWS} reference rows with true classes")
    probabilities, truth = probabilities[known], truth[known]
    classes = [str(name) for name in classes]
    if len(classes) == 2:
        steps = [_calibrate(probabilities[:, 1], truth == classes[1])]
    else:
        steps = [_calibrate(probabilities[:, index], truth == name) for index, name in enumerate(classes)]
    payload: dict[str, Any] = {"classes": classes, "calibration": steps, "rows": int(known.sum())}
    payload["band"] = _bootstrap_spread(probabilities, truth, classes, seed=seed)
    return Estimator(method=CBPE, payload=payload)


def _bootstrap_spread(
    probabilities: np.ndarray, truth: np.ndarray, classes: list[str], *, seed: int
) -> dict[str, float]:
    """F1's and ROC AUC's sampling spread on the reference, as sd × √m of bootstrap samples of m rows.

    NannyML's band is a sampling error taken from the reference; for F1 and ROC AUC (no closed form per row) a
    window of n rows gets ± 3 · this / √n. Accuracy's band comes from the rows themselves (Σ p(1 − p)).
    """
    rng = np.random.default_rng(seed)
    predicted = probabilities.argmax(axis=1)
    actual = np.array([classes.index(value) if value in classes else -1 for value in truth])
    size = len(truth)
    chosen = [1] if len(classes) == 2 else list(range(len(classes)))
    f1s, aucs = [], []
    for _ in range(BOOTSTRAP_SAMPLES):
        pick = rng.integers(0, size, size)
        sample_actual, sample_predicted = actual[pick], predicted[pick]
        scores = []
        for index in chosen:
            tp = np.sum((sample_predicted == index) & (sample_actual == index))
            wrong = np.sum((sample_predicted == index) != (sample_actual == index))
            scores.append(2 * tp / (2 * tp + wrong) if tp + wrong else 0.0)
        f1s.append(np.mean(scores))
        if len(classes) == 2:
            auc = _auc(sample_actual == 1, probabilities[pick, 1])
            if auc is not None:
                aucs.append(auc)
    spread = {"f1": float(np.std(f1s) * np.sqrt(size))}
    if aucs:
        spread["roc_auc"] = float(np.std(aucs) * np.sqrt(size))
    return spread


def _auc(positive: np.ndarray, scores: np.ndarray) -> float | None:
    """ROC AUC by ranks (ties averaged): the Mann-Whitney statistic."""
    from scipy.stats import rankdata

    count = int(positive.sum())
    if count in (0, len(positive)):
        return None
    ranks = rankdata(scores)
    return float((ranks[positive].sum() - count * (count + 1) / 2) / (count * (len(positive) - count)))


# ---- per row ----


def _same_encoding(encoding: list[dict[str, Any]], parsed: pd.DataFrame) -> bool:
    """Whether inputs parsed with numbers as floats encode as the logged text does: numbers read as numbers
    either way, but a level logged as a number (``3``) would read as ``"3.0"``; only text levels are safe."""
    for spec in encoding:
        if spec["levels"] is None or spec["name"] not in parsed.columns:
            continue
        column = parsed[spec["name"]]
        if column.notna().any() and pd.api.types.infer_dtype(column, skipna=True) != "string":
            return False
    return True


def _parsed(texts: pd.Series) -> pd.DataFrame:
    # One json.loads for the chunk (a JSON array of the objects) instead of one per row.
    records = json.loads("[" + ",".join(t if isinstance(t, str) else "{}" for t in texts) + "]")
    # Rows logged without inputs parse to {}: keep one (empty) row each, or a chunk of only those has no rows.
    return pd.DataFrame.from_records(records).reindex(range(len(records)))


def per_row_estimates(estimator: Estimator, rows: pd.DataFrame, *, inputs: pd.DataFrame | None = None) -> RowEstimates:
    """Each row's estimate: ``rows`` holds ``prediction`` and ``inputs`` (JSON text) for a regressor,
    ``label`` and ``probabilities`` (JSON text ``{class: p}``) for a classifier — as the log stores them.

    ``inputs``: the same inputs already parsed (numbers as floats, one row each), used instead of parsing the
    text again where that gives the same encoding (see :func:`_same_encoding`).
    """
    if estimator.method == DLE:
        assert estimator.error_models is not None
        specs = estimator.payload["features"]
        features = inputs if inputs is not None and _same_encoding(specs, inputs) else _parsed(rows["inputs"])
        matrix = _encode(specs, features, rows["prediction"].to_numpy(float))
        with threadpool_limits(limits=1, user_api="openmp"):
            absolute, squared = (np.maximum(model.predict(matrix), 0.0) for model in estimator.error_models)
        known = np.isfinite(rows["prediction"].to_numpy(float))
        return RowEstimates(abs_error=np.where(known, absolute, np.nan), sq_error=np.where(known, squared, np.nan))
    classes = estimator.classes
    scores = _parsed(rows["probabilities"]).reindex(columns=classes).to_numpy(dtype=float)
    position = {name: index for index, name in enumerate(classes)}
    predicted = np.array([position.get(label, -1) if isinstance(label, str) else -1 for label in rows["label"]])
    usable = np.isfinite(scores).all(axis=1)
    predicted = np.where(usable, predicted, -1)  # a row without probabilities has no estimate
    scores = np.where(usable[:, None], scores, 0.0)
    ranked = [1] if len(classes) == 2 else list(range(len(classes)))
    return RowEstimates(
        calibrated=calibrated(estimator.payload, scores),
        scores=scores,
        predicted=predicted,
        classes=classes,
        ranked=ranked,
    )
