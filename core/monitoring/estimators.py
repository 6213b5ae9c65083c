"""A version's performance estimator: fitted when a reference with true values is attached or Loupe trains it,
kept in Loupe's database with the version, and handed to the roll-up refresh.

See :mod:`core.monitoring.estimation` for what DLE and CBPE do.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from core.errors import InvalidInput, LoupeError, first_line
from core.monitoring.estimation import CBPE, DLE, Estimator, fit_cbpe, fit_dle, per_row_estimates
from core.serving.served_model import ServedModel
from core.settings import Settings
from core.task import class_text
from storage.db import migrated_sessions
from storage.rollups.estimates import (
    EstimateSource,
    RowEstimates,
    RowEstimator,
    estimator_fitted_at,
    load_estimator,
    save_estimator,
)

ANSWER_CHUNK = 50_000
NO_ESTIMATOR = "estimated performance needs a reference with true values"
# Loaded estimators by (model, version, fitted_at): a refresh asks once per chunk and version.
_LOADED: dict[tuple[str, int, Any], Estimator] = {}
_LOADED_LOCK = threading.Lock()
_LOADED_MAX = 32


def fit_for_reference(served: ServedModel, *, data: pd.DataFrame, target: str) -> Estimator:
    """Fit the version's estimator on reference rows with true values in ``target``: its own answers on them."""
    if target not in data.columns:
        raise InvalidInput(f"the reference data has no target column {target!r}")
    data = data[data[target].notna()].reset_index(drop=True)
    inputs = [spec.name for spec in served.schema.fields if spec.name in data.columns]
    check = served.schema.validate_frame(data[inputs])
    accepted = np.asarray(check.accepted_mask, dtype=bool)
    if not accepted.any():
        raise InvalidInput("the model accepts none of the reference rows: no estimator")
    model_input = served.model_input(check.clean)
    parts = [
        served.answer(model_input.iloc[low : low + ANSWER_CHUNK]) for low in range(0, len(model_input), ANSWER_CHUNK)
    ]
    truth = data[target][accepted].reset_index(drop=True)
    if served.task == "classification":
        probabilities = [part.probabilities for part in parts if part.probabilities is not None]
        if len(probabilities) < len(parts):
            raise InvalidInput("the model gives no probabilities: confidence-based estimation needs them")
        classes = parts[0].class_texts
        return fit_cbpe(np.concatenate(probabilities), classes, [class_text(value) for value in truth])
    predictions = np.concatenate([part.values for part in parts])
    return fit_dle(
        check.clean.reset_index(drop=True), predictions, pd.to_numeric(truth, errors="coerce").to_numpy(float)
    )


def fit_on_holdout(
    *,
    features: pd.DataFrame,
    actual: Sequence[Any],
    predictions: np.ndarray | None = None,
    probabilities: np.ndarray | None = None,
    classes: Sequence[str] = (),
) -> Estimator:
    """Fit from a holdout Loupe already scored (training): a regressor's predictions, or a classifier's probabilities."""
    if probabilities is not None:
        return fit_cbpe(probabilities, [class_text(name) for name in classes], [class_text(value) for value in actual])
    assert predictions is not None
    return fit_dle(features, predictions, np.asarray(actual, dtype=float))


def store(settings: Settings, *, version: int, estimator: Estimator) -> None:
    """Keep ``estimator`` with the version in Loupe's database (rows rolled up from now on get estimates)."""
    payload_json, model_bytes = estimator.to_record()
    with migrated_sessions(settings.database_url) as sessions, sessions.begin() as session:
        save_estimator(
            session,
            model_name=settings.model_name,
            model_version=version,
            method=estimator.method,
            payload_json=payload_json,
            model_bytes=model_bytes,
            rows=int(estimator.payload.get("rows", 0)),
        )


def fit_and_store_note(settings: Settings, *, version: int, fit: Any) -> str:
    """Run ``fit()`` and store its estimator; what happened, in one line for the caller's notes."""
    try:
        estimator = fit()
        store(settings, version=version, estimator=estimator)
    except (LoupeError, ValueError) as error:
        return f"estimated performance not fitted: {first_line(error)}"
    except SQLAlchemyError as error:
        return f"estimated performance not stored (database: {first_line(error)})"
    method = "direct loss estimation" if estimator.method == DLE else "confidence-based estimation"
    return f"estimated performance fitted ({method}) on {estimator.payload.get('rows', 0):,} reference rows"


def estimator_of(session: Session, *, model_name: str, model_version: int) -> Estimator | None:
    """The version's stored estimator (loaded once per fit: a window read asks only when it was fitted), or ``None``."""
    fitted_at = estimator_fitted_at(session, model_name=model_name, model_version=model_version)
    if fitted_at is None:
        return None
    key = (model_name, int(model_version), fitted_at)
    with _LOADED_LOCK:
        if key in _LOADED:
            return _LOADED[key]
    record = load_estimator(session, model_name=model_name, model_version=model_version)
    if record is None:  # replaced or removed in between
        return None
    estimator = Estimator.from_record(record.method, record.payload_json, record.model_bytes)
    with _LOADED_LOCK:
        if len(_LOADED) >= _LOADED_MAX:
            _LOADED.clear()
        _LOADED[key] = estimator
    return estimator


def _per_row_of(estimator: Estimator) -> RowEstimator:
    def estimate(rows: pd.DataFrame, *, inputs: pd.DataFrame | None = None) -> RowEstimates:
        return per_row_estimates(estimator, rows, inputs=inputs)

    return estimate


def estimate_source(session: Session) -> EstimateSource:
    """What the refresh calls per (model, version): the per-row estimates of its rows, or ``None``."""
    cache: dict[tuple[str, int], RowEstimator | None] = {}

    def source(model_name: str, version: int) -> RowEstimator | None:
        key = (model_name, int(version))
        if key not in cache:
            estimator = estimator_of(session, model_name=model_name, model_version=int(version))
            cache[key] = None if estimator is None else _per_row_of(estimator)
        return cache[key]

    return source


__all__ = ["CBPE", "DLE", "NO_ESTIMATOR", "estimate_source", "estimator_of", "fit_and_store_note", "fit_for_reference"]
