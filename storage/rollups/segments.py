"""Roll-ups of what a version's logged inputs say beyond feature bins: multivariate errors and segments.

Called by the refresh with each chunk's parsed inputs (one JSON parse per chunk, shared with the
feature bins), and with the true values received since the last refresh:

- ``rollup_multivariate``: each row's PCA reconstruction error (the version's :class:`InputPlan` computes
  it) summed per (model, hour, version, shadow);
- ``rollup_segments``: per value of each split feature (a categorical with few reference levels; a value
  outside them counts as :data:`OTHER`, a missing one as :data:`MISSING`, so the table stays bounded):
  predictions, true values and error sums (a classifier's: how many were right), multivariate error sums,
  estimated sums (a regressor's estimated absolute error, a classifier's expected correctness);
- ``rollup_segment_features``: per segment and UTC day, the feature bins of ``rollup_features``.

Feedback that replaces an earlier value makes its hour's segment error sums be recounted from the raw
log, as :mod:`storage.rollups.realised_error` does for the hour totals.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from storage.base import table_of
from storage.prediction_log import Feedback, Prediction
from storage.rollups.chunk_inputs import logged_numbers, logged_texts
from storage.rollups.realised_error import hour_lost_rows
from storage.rollups.sql import as_hours, hour_of, read_frame, upsert
from storage.rollups.tables import RollupMultivariate, RollupSegment, RollupSegmentFeature

OTHER = "(other)"  # a logged value the reference does not have
MISSING = "(missing)"  # no value logged for the split feature
SEGMENT_SUMS = ["predictions", "feedback", "error_sum", "abs_error_sum", "sq_error_sum", "correct"]
SEGMENT_SUMS += ["mv_rows", "mv_error_sum", "estimated_rows", "estimated_sum"]
REALISED_SUMS = ["feedback", "error_sum", "abs_error_sum", "sq_error_sum", "correct"]  # recounted on replacement
KEYS = ["model_name", "hour", "model_version", "is_shadow"]


@dataclass(frozen=True)
class InputPlan:
    """What one version's inputs are rolled up into beyond the feature bins."""

    # Feature -> numeric bin edges (None: categorical), the bins of rollup_features.
    binning: Mapping[str, np.ndarray | None]
    # Split feature -> the values it splits into (its reference levels).
    segments: Mapping[str, frozenset[str]] = field(default_factory=dict)
    errors: Callable[[pd.DataFrame], np.ndarray] | None = None  # each row's PCA reconstruction error
    # Each row's estimated error, from its logged row (prediction, …) and its inputs (one row each).
    estimates: Callable[[pd.DataFrame, pd.DataFrame], np.ndarray] | None = None


InputPlanSource = Callable[[str, int], "InputPlan | None"]


def segment_values(values: pd.Series, known: frozenset[str]) -> np.ndarray:
    """Each logged value as its segment: the text of a known value, else :data:`OTHER` or :data:`MISSING`."""
    array = values.to_numpy(dtype=object)
    out = np.full(len(array), MISSING, dtype=object)
    present = pd.notna(values).to_numpy()
    if isinstance(values.dtype, pd.StringDtype):  # text already: no per-row str()
        text = array[present]
    else:
        text = np.array([str(value) for value in array[present]], dtype=object)
    out[present] = np.where(np.isin(text, list(known)), text, OTHER) if len(text) else text
    return out


def add_input_rollups(
    session: Session,
    rows: pd.DataFrame,
    wide: pd.DataFrame,
    row_at: np.ndarray,
    plan_for: Callable[[str, int], InputPlan | None],
    feedback_seen: datetime | None,
    *,
    estimated: np.ndarray | None = None,
) -> None:
    """Roll up a chunk's inputs: ``wide`` (one row per logged input) belongs to ``rows.iloc[row_at]``.

    ``estimated``: each of ``rows``' estimate (a regressor's absolute error, a classifier's expected correctness),
    as the refresh's estimator gave it for the hour sums (the same estimator: not run twice); without it the
    plan's own ``estimates`` computes them.
    """
    chunk = rows.iloc[row_at].reset_index(drop=True)
    chunk["estimated"] = estimated[row_at] if estimated is not None else np.nan
    chunk["day"] = chunk["hour"].dt.floor("D")
    chunk["actual"], chunk["actual_label"] = np.nan, None
    if feedback_seen is not None and chunk["is_shadow"].any():
        chunk["actual"], chunk["actual_label"] = _shadow_actuals(session, chunk, feedback_seen)
    for (model_name, version), at in chunk.groupby(["model_name", "model_version"], sort=False).indices.items():
        plan = plan_for(str(model_name), int(version))
        if plan is None:
            continue
        mine, inputs = chunk.iloc[at].reset_index(drop=True), wide.iloc[at].reset_index(drop=True)
        mine["mv"] = plan.errors(inputs) if plan.errors is not None else np.nan
        mine["estimate"] = np.nan
        if estimated is not None:
            mine["estimate"] = mine["estimated"]
        elif plan.estimates is not None:
            mine["estimate"] = plan.estimates(mine, inputs)
        if plan.errors is not None:
            _add_multivariate(session, mine)
        binned = _binned(inputs, plan.binning) if plan.segments else {}
        for split, known in plan.segments.items():
            mine["segment"] = segment_values(inputs[split], known) if split in inputs else MISSING
            _add_segments(session, mine, split)
            _add_segment_bins(session, mine, binned, split)


def _shadow_actuals(session: Session, chunk: pd.DataFrame, feedback_seen: datetime) -> tuple[np.ndarray, np.ndarray]:
    # A shadow row logged after its answer's true value was rolled up is scored here (as the refresh does):
    # its true number (a regressor's) and true label (a classifier's).
    shadow_of = pd.to_numeric(chunk["shadow_of"], errors="coerce")
    wanted = [int(value) for value in shadow_of.dropna().unique()]
    known: dict[int, float] = {}
    labels: dict[int, str] = {}
    for start in range(0, len(wanted), 5_000):
        query = select(Feedback.prediction_id, Feedback.actual, Feedback.actual_label).where(
            Feedback.prediction_id.in_(wanted[start : start + 5_000]), Feedback.received_at <= feedback_seen
        )
        for key, value, text in session.execute(query):
            if value is not None:
                known[int(key)] = value
            if text is not None:
                labels[int(key)] = text
    shadow = chunk["is_shadow"].astype(bool).to_numpy()
    actual = np.where(shadow, shadow_of.map(known).astype(float).to_numpy(), np.nan)
    truth = shadow_of.map(labels).to_numpy(dtype=object)
    truth[~shadow] = None
    return actual, truth


def _add_multivariate(session: Session, mine: pd.DataFrame) -> None:
    scored = mine[np.isfinite(mine["mv"].astype(float))]
    if scored.empty:
        return
    scored = scored.assign(mv_sq=scored["mv"] ** 2)
    summed = scored.groupby(KEYS).agg(rows=("mv", "size"), error_sum=("mv", "sum"), error_sq_sum=("mv_sq", "sum"))
    upsert(session, RollupMultivariate, _records(summed.reset_index()), added=["rows", "error_sum", "error_sq_sum"])


def _error_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """Per row: the sums a segment adds (prediction, error, multivariate and estimated columns).

    A row is labelled when it has a true number and a predicted number (a regressor's: error sums) or a true
    label and a predicted label (a classifier's: ``correct`` when they are equal).
    """
    error = frame["actual"].astype(float) - frame["prediction"].astype(float)
    predicted = frame["label"] if "label" in frame else pd.Series(None, index=frame.index, dtype=object)
    truth = frame["actual_label"] if "actual_label" in frame else pd.Series(None, index=frame.index, dtype=object)
    classified = predicted.notna() & truth.notna()
    same = predicted.astype(object).where(classified, "").to_numpy() == truth.astype(object).where(classified, "")
    right = classified & same
    labelled = error.notna() | classified
    mv = frame["mv"].astype(float) if "mv" in frame else pd.Series(np.nan, index=frame.index)
    estimate = frame["estimate"].astype(float) if "estimate" in frame else pd.Series(np.nan, index=frame.index)
    return pd.DataFrame(
        {
            "feedback": labelled.astype(int),
            "error_sum": error.fillna(0.0),
            "abs_error_sum": error.abs().fillna(0.0),
            "sq_error_sum": (error**2).fillna(0.0),
            "correct": right.astype(int),
            "mv_rows": mv.notna().astype(int),
            "mv_error_sum": mv.fillna(0.0),
            "estimated_rows": estimate.notna().astype(int),
            "estimated_sum": estimate.fillna(0.0),
        },
        index=frame.index,
    )


def _add_segments(session: Session, mine: pd.DataFrame, split: str) -> None:
    sums = _error_columns(mine).assign(predictions=1)
    keyed = pd.concat([mine[[*KEYS, "segment"]], sums], axis=1)
    summed = keyed.groupby([*KEYS, "segment"])[SEGMENT_SUMS].sum().reset_index()
    summed = summed.rename(columns={"segment": "value"}).assign(feature=split)
    upsert(session, RollupSegment, _records(summed), added=SEGMENT_SUMS)


Binned = dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]  # feature -> (rows with a value, bucket, value)


def _binned(inputs: pd.DataFrame, binning: Mapping[str, np.ndarray | None]) -> Binned:
    """Each feature's bucket per row, once for every split: the bins of ``storage.rollups.refresh._feature_rows``,
    typed as logged (a level counts only where text was logged, a number only where a number was)."""
    out: Binned = {}
    for feature, edges in binning.items():
        if feature not in inputs:
            continue
        values = inputs[feature].to_numpy(dtype=object)
        if edges is None:
            chosen = logged_texts(inputs[feature])
            bucket = values[chosen]
            value = np.zeros(int(chosen.sum()))
        else:
            chosen = logged_numbers(inputs[feature])
            value = values[chosen].astype(float)
            index = np.clip(np.searchsorted(edges, value, side="right") - 1, 0, len(edges) - 2)
            bucket = index.astype(str)
        if chosen.any():
            out[feature] = (chosen, bucket, value)
    return out


def _add_segment_bins(session: Session, mine: pd.DataFrame, binned: Binned, split: str) -> None:
    # Counted with integer codes and bincount, records built column-wise (a pandas groupby on five text keys,
    # then a MultiIndex lookup per record, were most of the refresh).
    keys = ["model_name", "model_version", "day", "is_shadow"]
    group_code, groups = _group_codes(mine, keys)
    segment_code, segments = pd.factorize(mine["segment"])
    segment_texts = np.asarray(segments, dtype=object)
    parts: list[dict[str, Any]] = []
    for feature, (chosen, bucket, value) in binned.items():
        if feature == split:
            continue
        bucket_code, buckets = pd.factorize(bucket)
        combined = (group_code[chosen] * len(segments) + segment_code[chosen]) * len(buckets) + bucket_code
        found, inverse = np.unique(combined, return_inverse=True)
        rest, at_bucket = np.divmod(found, len(buckets))
        at_group, at_segment = np.divmod(rest, len(segments))
        parts.append(
            {
                "at_group": at_group,
                "split_value": segment_texts[at_segment],
                "feature": np.full(len(found), feature, dtype=object),
                "bucket": np.asarray(buckets, dtype=object)[at_bucket].astype(str).astype(object),
                "count": np.bincount(inverse),
                "value_sum": np.bincount(inverse, weights=value),
            }
        )
    if not parts:
        return
    at_group = np.concatenate([part["at_group"] for part in parts])
    columns = {
        "model_name": groups["model_name"][at_group].tolist(),
        "model_version": groups["model_version"][at_group].tolist(),
        "split_feature": [split] * len(at_group),
        "day": groups["day"][at_group].tolist(),
        "is_shadow": groups["is_shadow"][at_group].tolist(),
    }
    for name in ("split_value", "feature", "bucket", "count", "value_sum"):
        columns[name] = np.concatenate([part[name] for part in parts]).tolist()
    names = list(columns)
    records = [dict(zip(names, row, strict=True)) for row in zip(*columns.values(), strict=True)]
    upsert(session, RollupSegmentFeature, records, added=["count", "value_sum"])


def _group_codes(frame: pd.DataFrame, keys: list[str]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Each row's group over ``keys`` as an integer code, and each group's key values as plain Python objects
    (``day``: datetime, ``model_version``: int, ``is_shadow``: bool), indexed by code."""
    codes = np.zeros(len(frame), dtype=np.int64)
    uniques = []
    for key in keys:
        code, unique = pd.factorize(frame[key])
        codes = codes * len(unique) + code
        uniques.append(unique)
    found, code = np.unique(codes, return_inverse=True)
    groups: dict[str, np.ndarray] = {}
    for key, unique in zip(reversed(keys), reversed(uniques), strict=True):
        found, at = np.divmod(found, len(unique))
        if key == "day" or key == "hour":
            values = np.asarray(pd.DatetimeIndex(unique).to_pydatetime(), dtype=object)
        elif key == "model_version":
            values = np.array([int(value) for value in unique], dtype=object)
        elif key == "is_shadow":
            values = np.array([bool(value) for value in unique], dtype=object)
        else:
            values = np.asarray(unique, dtype=object)
        groups[key] = values[at]
    return code.reshape(-1), groups


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    records = frame.to_dict("records")
    for record in records:
        record["hour"] = record["hour"].to_pydatetime()
        record["model_version"] = int(record["model_version"])
        record["is_shadow"] = bool(record["is_shadow"])
        for name in ("predictions", "feedback", "correct", "mv_rows", "estimated_rows", "rows"):
            if name in record:
                record[name] = int(record[name])
    return records


def _labelled_inputs(
    session: Session,
    *,
    after: datetime | None,
    until: datetime,
    newest_prediction: int,
    made_in: tuple[str, datetime] | None = None,
) -> pd.DataFrame:
    """Predictions (and their shadow rows) with a true value received in (``after``, ``until``], with the
    answer's inputs (as :func:`storage.rollups.realised_error._labelled_rows` selects them)."""
    answer = table_of(Prediction)
    shadow = table_of(Prediction).alias("shadow")
    frames = []
    columns = ["hour", "model_name", "model_version", "is_shadow", "prediction", "actual", "label", "actual_label"]
    columns += ["revision", "inputs"]
    for made, joined_on in ((answer, answer.c.id), (shadow, shadow.c.shadow_of)):
        query = (
            select(
                hour_of(session, made.c.created_at),
                made.c.model_name,
                made.c.model_version,
                made.c.is_shadow,
                made.c.prediction,
                Feedback.actual,
                made.c.label,
                Feedback.actual_label,
                Feedback.revision,
                answer.c.inputs,
            )
            .select_from(Feedback)
            .join(made, joined_on == Feedback.prediction_id)
            .where(Feedback.received_at <= until, Feedback.actual.is_not(None) | Feedback.actual_label.is_not(None))
        )
        if made is shadow:
            query = query.join(answer, answer.c.id == Feedback.prediction_id).where(shadow.c.id <= newest_prediction)
        if after is not None:
            query = query.where(Feedback.received_at > after)
        if made_in is not None:
            model_name, hour = made_in
            query = query.where(
                made.c.model_name == model_name,
                made.c.created_at >= hour,
                made.c.created_at < hour + timedelta(hours=1),
            )
        frames.append(read_frame(session, query, columns))
    rows = pd.concat([frame for frame in frames if not frame.empty] or frames[:1], ignore_index=True)
    if not rows.empty:
        rows["hour"] = as_hours(rows["hour"])
        rows["is_shadow"] = rows["is_shadow"].astype(bool)
    return rows


def _add_labelled(session: Session, rows: pd.DataFrame, plan_for: Callable[[str, int], InputPlan | None]) -> None:
    if rows.empty:
        return
    parsed = json.loads("[" + ",".join(text or "{}" for text in rows["inputs"]) + "]", parse_int=float)
    wide = pd.DataFrame.from_records(parsed, index=rows.index)
    for (model_name, version), at in rows.groupby(["model_name", "model_version"], sort=False).indices.items():
        plan = plan_for(str(model_name), int(version))
        if plan is None or not plan.segments:
            continue
        mine, inputs = rows.iloc[at], wide.iloc[at]
        sums = _error_columns(mine.assign(mv=np.nan, estimate=np.nan)).drop(
            columns=["mv_rows", "mv_error_sum", "estimated_rows", "estimated_sum"]
        )
        added = list(sums.columns)
        for split, known in plan.segments.items():
            segment = segment_values(inputs[split], known) if split in inputs else MISSING
            keyed = pd.concat([mine[KEYS].assign(value=segment), sums], axis=1)
            summed = keyed.groupby([*KEYS, "value"])[added].sum().reset_index().assign(feature=split)
            for name in SEGMENT_SUMS:
                if name not in summed:
                    summed[name] = 0
            upsert(session, RollupSegment, _records(summed), added=added)


def add_segment_feedback(
    session: Session,
    after: datetime | None,
    until: datetime,
    newest_prediction: int,
    plan_for: Callable[[str, int], InputPlan | None],
) -> None:
    """Add the true values received in (``after``, ``until``] to their predictions' segments."""
    rows = _labelled_inputs(session, after=after, until=until, newest_prediction=newest_prediction)
    replaced = rows[rows["revision"] > 1] if not rows.empty else rows
    if not replaced.empty:  # a replacement in a pruned hour is not added (see realised_error)
        lost = {
            (model_name, hour)
            for model_name, hour in set(zip(replaced["model_name"], replaced["hour"], strict=True))
            if hour_lost_rows(session, model_name, hour.to_pydatetime(), newest_prediction)
        }
        if lost:
            in_lost = pd.Series(list(zip(rows["model_name"], rows["hour"], strict=True)), index=rows.index).isin(lost)
            rows = rows[~(in_lost & (rows["revision"] > 1))]
    _add_labelled(session, rows, plan_for)


def recount_segment_errors(
    session: Session,
    model_name: str,
    hour: datetime,
    until: datetime,
    newest_prediction: int,
    plan_for: Callable[[str, int], InputPlan | None],
) -> None:
    """Recount one hour's segment error sums from the raw log (its true values were replaced)."""
    zeroed = {name: 0 for name in REALISED_SUMS}
    session.execute(
        update(RollupSegment).where(RollupSegment.model_name == model_name, RollupSegment.hour == hour).values(zeroed)
    )
    rows = _labelled_inputs(
        session, after=None, until=until, newest_prediction=newest_prediction, made_in=(model_name, hour)
    )
    _add_labelled(session, rows, plan_for)


def clear_input_rollups(session: Session) -> None:
    """Empty the multivariate and segment roll-ups (a rebuild reads the whole log again)."""
    for table in (RollupMultivariate, RollupSegment, RollupSegmentFeature):
        session.execute(delete(table))
