"""Estimated performance in the roll-ups: each version's fitted estimator, and the per-hour sums of its per-row estimates.

The estimator itself (DLE, CBPE) lives in :mod:`core.monitoring.estimation`; the refresh hands each chunk's
rows to an :data:`EstimateSource` and adds what comes back here, additively per (model, hour, version, shadow):

- ``rollup_estimates``: row count, Σ estimated |error|, Σ estimated |error|², Σ estimated error², and a
  classifier's Σ expected correctness p and Σ p(1 − p);
- ``rollup_estimate_classes``: a classifier's expected TP, FP, FN per class;
- ``rollup_estimate_bins``: a classifier's rows by their raw score of a class on :data:`ESTIMATE_BINS` fixed bins
  of [0, 1], with the summed calibrated probability of that class (the expected positives) — a window's ROC AUC
  estimate is read from these.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

import numpy as np
import pandas as pd
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from storage.base import table_of
from storage.rollups.chunk_inputs import ChunkInputs
from storage.rollups.sql import as_hours, read_frame, to_records, upsert
from storage.rollups.tables import ModelEstimator, RollupEstimate, RollupEstimateBin, RollupEstimateClass

ESTIMATE_BINS = 100  # raw-score bins per class: isotonic calibration gives far fewer distinct levels anyway
KEYS = ["model_name", "hour", "model_version", "is_shadow"]


@dataclass(frozen=True)
class RowEstimates:
    """Per-row estimates for some rows, in their order (``None``: not this kind of model)."""

    abs_error: np.ndarray | None = None  # a regressor's estimated |actual − prediction|
    sq_error: np.ndarray | None = None  # … and (actual − prediction)²
    calibrated: np.ndarray | None = None  # a classifier's calibrated probabilities, rows × classes
    scores: np.ndarray | None = None  # … its raw probabilities in the same layout (the ranking ROC AUC uses)
    predicted: np.ndarray | None = None  # … the index of each row's predicted class (−1: none)
    classes: list[str] = field(default_factory=list)
    ranked: list[int] = field(default_factory=list)  # the class columns ROC AUC is estimated for


# (model_name, version) -> a function of one version's rows (id, prediction, label, and the logged ``inputs`` and
# ``probabilities`` as JSON text) giving their estimates; None when the version has no estimator.
class RowEstimator(Protocol):
    """``inputs``: the rows' inputs already parsed (one row each, numbers as floats), to spare a second parse."""

    def __call__(self, rows: pd.DataFrame, *, inputs: pd.DataFrame | None = None) -> RowEstimates: ...


EstimateSource = Callable[[str, int], "RowEstimator | None"]


def save_estimator(
    session: Session,
    *,
    model_name: str,
    model_version: int,
    method: str,
    payload_json: str,
    model_bytes: bytes | None,
    rows: int,
) -> None:
    """Keep a version's estimator (a newer fit replaces the older one: estimates from then on use it)."""
    session.execute(
        delete(ModelEstimator).where(
            ModelEstimator.model_name == model_name, ModelEstimator.model_version == model_version
        )
    )
    session.add(
        ModelEstimator(
            model_name=model_name,
            model_version=model_version,
            method=method,
            payload_json=payload_json,
            model_bytes=model_bytes,
            rows=rows,
        )
    )
    session.flush()


def load_estimator(session: Session, *, model_name: str, model_version: int) -> ModelEstimator | None:
    return session.get(ModelEstimator, (model_name, model_version))


def estimator_fitted_at(session: Session, *, model_name: str, model_version: int) -> datetime | None:
    """When the version's estimator was fitted (``None``: it has none) — without reading its models' bytes."""
    return session.scalar(
        select(ModelEstimator.fitted_at).where(
            ModelEstimator.model_name == model_name, ModelEstimator.model_version == model_version
        )
    )


def add_estimates(
    session: Session, rows: pd.DataFrame, groups: pd.DataFrame, inputs: ChunkInputs, estimator_for: EstimateSource
) -> np.ndarray:
    """Add the estimates of a refresh chunk's predictions (``rows`` with ``group``, ``id``, ``prediction``, ``label``).

    Returns each row's estimate (NaN: none) — a regressor's estimated absolute error, a classifier's expected
    correctness (the calibrated probability of its predicted class) — which the segments of the same rows sum
    too: each version's estimator runs once per chunk.
    """
    estimated = np.full(len(rows), np.nan)
    versions = groups[["model_name", "model_version"]].drop_duplicates()
    group_of = rows["group"].to_numpy()
    for model_name, version in versions.itertuples(index=False):
        estimate = estimator_for(str(model_name), int(version))
        if estimate is None:
            continue
        version_groups = groups.index[(groups["model_name"] == model_name) & (groups["model_version"] == version)]
        at = np.flatnonzero(np.isin(group_of, version_groups))
        if not len(at):
            continue
        part = rows.iloc[at].reset_index(drop=True)
        part["inputs"] = inputs.texts[at]
        part["probabilities"] = inputs.probabilities[at] if inputs.probabilities is not None else None
        found = estimate(part, inputs=inputs.parsed_for(at))
        _add_rows(session, part, groups, found)
        if found.abs_error is not None:
            estimated[at] = found.abs_error
        elif found.calibrated is not None and found.predicted is not None:
            estimated[at] = expected_correct(found)
    return estimated


def expected_correct(found: RowEstimates) -> np.ndarray:
    """A classifier's per-row expected correctness: the calibrated probability of the predicted class (NaN: none)."""
    assert found.calibrated is not None and found.predicted is not None
    known = found.predicted >= 0
    picked = found.calibrated[np.arange(len(known)), np.maximum(found.predicted, 0)]
    return np.where(known, picked, np.nan)


def _add_rows(session: Session, part: pd.DataFrame, groups: pd.DataFrame, found: RowEstimates) -> None:
    group = part["group"].to_numpy()
    sums: dict[str, np.ndarray] = {"count": np.ones(len(part))}
    if found.abs_error is not None and found.sq_error is not None:
        known = np.isfinite(found.abs_error) & np.isfinite(found.sq_error)
        sums = {
            "count": known.astype(float),
            "abs_error_sum": np.where(known, found.abs_error, 0.0),
            "abs_error_sq_sum": np.where(known, found.abs_error**2, 0.0),
            "sq_error_sum": np.where(known, found.sq_error, 0.0),
        }
    elif found.calibrated is not None and found.predicted is not None:
        known = found.predicted >= 0
        correct = np.where(known, expected_correct(found), 0.0)
        sums = {"count": known.astype(float), "correct_sum": correct, "correct_var_sum": correct * (1 - correct)}
        _add_classes(session, group[known], groups, found, known)
    else:
        return
    frame = pd.DataFrame({"group": group, **sums}).groupby("group").sum()
    frame["count"] = frame["count"].round().astype(int)
    frame = frame[frame["count"] > 0].join(groups)
    added = [name for name in sums]
    upsert(session, RollupEstimate, to_records(frame, [*KEYS, *added]), added=added)


def _add_classes(
    session: Session, group: np.ndarray, groups: pd.DataFrame, found: RowEstimates, known: np.ndarray
) -> None:
    assert found.calibrated is not None and found.predicted is not None and found.scores is not None
    calibrated, predicted, scores = found.calibrated[known], found.predicted[known], found.scores[known]
    frames = []
    for index, name in enumerate(found.classes):
        mine = predicted == index
        probability = calibrated[:, index]
        # Expected confusion from calibrated probabilities (CBPE): a row predicted c is a true positive with
        # probability p_c, a false positive with 1 − p_c; a row predicted otherwise is a false negative with p_c.
        frames.append(
            pd.DataFrame(
                {
                    "group": group,
                    "class_name": name,
                    "tp": np.where(mine, probability, 0.0),
                    "fp": np.where(mine, 1 - probability, 0.0),
                    "fn": np.where(mine, 0.0, probability),
                }
            )
        )
    classes = pd.concat(frames).groupby(["group", "class_name"], as_index=False).sum().join(groups, on="group")
    upsert(
        session,
        RollupEstimateClass,
        to_records(classes, [*KEYS, "class_name", "tp", "fp", "fn"]),
        added=["tp", "fp", "fn"],
    )
    bins = []
    for index in found.ranked:
        bucket = np.clip(np.floor(scores[:, index] * ESTIMATE_BINS), 0, ESTIMATE_BINS - 1).astype(np.int64)
        bins.append(
            pd.DataFrame(
                {
                    "group": group,
                    "class_name": found.classes[index],
                    "bucket": bucket,
                    "count": 1,
                    "probability_sum": calibrated[:, index],
                }
            )
        )
    if not bins:
        return
    summed = pd.concat(bins).groupby(["group", "class_name", "bucket"], as_index=False).sum().join(groups, on="group")
    records = to_records(summed, [*KEYS, "class_name", "bucket", "count", "probability_sum"])
    for record in records:
        record["bucket"], record["count"] = int(record["bucket"]), int(record["count"])
    upsert(session, RollupEstimateBin, records, added=["count", "probability_sum"])


def estimate_totals(session: Session, *, model_name: str, start: datetime, end: datetime) -> pd.DataFrame:
    """``rollup_estimates`` rows over ``[start, end)``: hour, version, shadow flag and the sums."""
    columns = ["hour", "model_version", "is_shadow", "count", "abs_error_sum", "abs_error_sq_sum"]
    columns += ["sq_error_sum", "correct_sum", "correct_var_sum"]
    table = table_of(RollupEstimate)
    query = select(*(table.c[name] for name in columns)).where(
        table.c.model_name == model_name, table.c.hour >= start, table.c.hour < end
    )
    return _typed(read_frame(session, query, columns))


def estimate_classes(session: Session, *, model_name: str, start: datetime, end: datetime) -> pd.DataFrame:
    """``rollup_estimate_classes`` rows over ``[start, end)``: hour, version, shadow flag, class, tp, fp, fn."""
    columns = ["hour", "model_version", "is_shadow", "class_name", "tp", "fp", "fn"]
    table = table_of(RollupEstimateClass)
    query = select(*(table.c[name] for name in columns)).where(
        table.c.model_name == model_name, table.c.hour >= start, table.c.hour < end
    )
    return _typed(read_frame(session, query, columns))


def estimate_bins(session: Session, *, model_name: str, start: datetime, end: datetime) -> pd.DataFrame:
    """``rollup_estimate_bins`` rows over ``[start, end)``: hour, version, shadow, class, bucket, count, probability sum."""
    columns = ["hour", "model_version", "is_shadow", "class_name", "bucket", "count", "probability_sum"]
    table = table_of(RollupEstimateBin)
    query = select(*(table.c[name] for name in columns)).where(
        table.c.model_name == model_name, table.c.hour >= start, table.c.hour < end
    )
    return _typed(read_frame(session, query, columns))


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    frame["hour"] = as_hours(frame["hour"])
    frame["is_shadow"] = frame["is_shadow"].astype(bool)
    frame["model_version"] = frame["model_version"].astype(int)
    return frame


def clear_estimates(session: Session) -> None:
    """Forget every estimate sum (a rebuild reads the log again)."""
    for table in (RollupEstimate, RollupEstimateClass, RollupEstimateBin):
        session.execute(delete(table))


__all__ = [
    "ESTIMATE_BINS",
    "EstimateSource",
    "RowEstimates",
    "RowEstimator",
    "add_estimates",
    "clear_estimates",
    "estimate_bins",
    "estimate_classes",
    "estimate_totals",
    "estimator_fitted_at",
    "expected_correct",
    "load_estimator",
    "save_estimator",
]
