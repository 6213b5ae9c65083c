"""Refreshing the roll-ups: add what was logged since the last refresh, chunk by chunk of ids.

Predictions and rejections are read by id (watermark in ``rollup_state``, ids read past but not found
in ``rollup_gaps``), feedback by ``received_at`` (see :mod:`storage.rollups.realised_error`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from storage.base import table_of, utcnow
from storage.prediction_log import Feedback, Prediction, Rejection
from storage.rollups.buckets import (
    UNTIMED_SOURCES,
    latency_bucket,
    latency_kind,
    latency_metric,
    signed_log_bucket,
)
from storage.rollups.chunk_inputs import FeatureBinning, feature_rows, read_chunk_inputs
from storage.rollups.classification import add_labels, add_predicted
from storage.rollups.estimates import EstimateSource, add_estimates, clear_estimates
from storage.rollups.lock import lock_rollups
from storage.rollups.realised_error import (
    add_errors,
    add_received_feedback,
    hours_with_replaced_feedback,
    recount_errors,
)
from storage.rollups.segments import (
    InputPlan,
    InputPlanSource,
    add_input_rollups,
    add_segment_feedback,
    clear_input_rollups,
    recount_segment_errors,
)
from storage.rollups.sql import as_hours, bucket_rows, hour_of, read_frame, to_records, upsert
from storage.rollups.tables import (
    ALL,
    RollupBucket,
    RollupFeature,
    RollupGap,
    RollupHour,
    RollupLabel,
    RollupRejection,
    RollupScore,
    RollupState,
)

CHUNK_ROWS = 200_000
# Writers commit within seconds; an id still missing after this long was rolled back, not late.
GAP_PATIENCE = timedelta(hours=1)

BinningSource = Callable[[str, int], "FeatureBinning | None"]  # (model_name, version) -> binning or None


@dataclass
class RefreshResult:
    """What one refresh read."""

    predictions: int = 0
    rejections: int = 0
    feedback: int = 0
    recounted_hours: int = 0  # hours whose realised error was recounted for replaced feedback
    unbinned_versions: set[tuple[str, int]] = field(default_factory=set)
    skipped: bool = False  # another refresher held the lock and the caller asked not to wait: nothing was read

    @property
    def rows(self) -> int:
        return self.predictions + self.rejections + self.feedback


def _state(session: Session, name: str) -> RollupState:
    state = session.get(RollupState, name)
    if state is None:
        state = RollupState(name=name, last_id=0)
        session.add(state)
        session.flush()
    return state


def refresh_rollups(
    session: Session,
    *,
    binning: BinningSource,
    chunk_rows: int = CHUNK_ROWS,
    progress: Callable[[str], None] | None = None,
    wait: bool = True,
    plan: InputPlanSource | None = None,
    estimates: EstimateSource | None = None,
) -> RefreshResult:
    """Add everything logged since the last refresh to the roll-ups (idempotent; flushed, not committed).

    Refreshers run one at a time. ``wait=False``: if another refresher holds the lock, return at once
    with ``skipped`` set (its refresh covers what this one would have read); call it first in the
    transaction, before any other statement, so that on SQLite it does not wait for the database either.
    """
    if not lock_rollups(session, wait=wait):
        return RefreshResult(skipped=True)
    result = RefreshResult()
    now = utcnow()
    cache: dict[tuple[str, int], FeatureBinning | None] = {}

    def binning_for(model_name: str, version: int) -> FeatureBinning | None:
        key = (model_name, int(version))
        if key not in cache:
            cache[key] = binning(*key)
            if cache[key] is None:
                result.unbinned_versions.add(key)
        return cache[key]

    feedback_seen = _state(session, "feedback").last_time
    plans: dict[tuple[str, int], InputPlan | None] = {}

    def plan_for(model_name: str, version: int) -> InputPlan | None:
        # Multivariate errors and segments (storage.rollups.segments), one plan per version and refresh.
        key = (model_name, int(version))
        if key not in plans:
            plans[key] = plan(*key) if plan is not None else None
        return plans[key]

    def add_predictions(low: int, high: int) -> np.ndarray:
        return _add_predictions(session, low, high, binning_for, feedback_seen, plan_for, estimates)

    def add_rejections(low: int, high: int) -> np.ndarray:
        return _add_rejections(session, low, high)

    result.predictions += _revisit_gaps(session, "predictions", add_predictions, now)
    state = _state(session, "predictions")
    newest = newest_prediction = session.scalar(select(func.max(Prediction.id))) or 0
    for low, high in _id_chunks(state.last_id, newest, chunk_rows):
        found = add_predictions(low, high)
        result.predictions += len(found)
        _record_gaps(session, "predictions", _missing_ranges(found, low, high), now)
        state.last_id = high
        if progress:
            progress(f"rolled up predictions up to id {high:,} of {newest:,}")
    state.refreshed_at = now

    result.rejections += _revisit_gaps(session, "rejections", add_rejections, now)
    state = _state(session, "rejections")
    newest = session.scalar(select(func.max(Rejection.id))) or 0
    for low, high in _id_chunks(state.last_id, newest, chunk_rows):
        found = add_rejections(low, high)
        result.rejections += len(found)
        _record_gaps(session, "rejections", _missing_ranges(found, low, high), now)
        state.last_id = high
    state.refreshed_at = now

    state = _state(session, "feedback")
    newest_time = session.scalar(select(func.max(Feedback.received_at)))
    if newest_time is not None and (state.last_time is None or newest_time > state.last_time):
        result.feedback += add_received_feedback(session, state.last_time, newest_time, newest_prediction)
        add_segment_feedback(session, state.last_time, newest_time, newest_prediction, plan_for)
        for model_name, hour in hours_with_replaced_feedback(session, state.last_time, newest_time, newest_prediction):
            if recount_errors(session, model_name, hour, newest_time, newest_prediction):  # False: a pruned hour
                recount_segment_errors(session, model_name, hour, newest_time, newest_prediction, plan_for)
                result.recounted_hours += 1
        state.last_time = newest_time
    state.refreshed_at = now
    session.flush()
    return result


def _id_chunks(last: int, newest: int, size: int) -> Iterator[tuple[int, int]]:
    """Consecutive id ranges (``low``, ``high``] of at most ``size`` ids, from ``last`` up to ``newest``."""
    low = last
    while low < newest:
        high = min(low + size, newest)
        yield low, high
        low = high


def _missing_ranges(found: np.ndarray, low: int, high: int) -> list[tuple[int, int]]:
    """The runs of ids in (``low``, ``high``] that are not in ``found``, as inclusive (first, last)."""
    bounds = np.concatenate([[low], np.unique(found), [high + 1]]).astype(np.int64)
    firsts, lasts = bounds[:-1] + 1, bounds[1:] - 1
    keep = firsts <= lasts
    return list(zip(firsts[keep].tolist(), lasts[keep].tolist(), strict=True))


def _record_gaps(session: Session, source: str, ranges: list[tuple[int, int]], found_at: datetime) -> None:
    rows = [{"source": source, "first_id": first, "last_id": last, "found_at": found_at} for first, last in ranges]
    if rows:
        session.execute(table_of(RollupGap).insert(), rows)


def _revisit_gaps(session: Session, source: str, add: Callable[[int, int], np.ndarray], now: datetime) -> int:
    """Roll up rows that have appeared in earlier gaps; keep what is still missing, until it is too old."""
    gaps = session.execute(
        select(RollupGap.first_id, RollupGap.last_id, RollupGap.found_at).where(RollupGap.source == source)
    ).all()
    session.execute(delete(RollupGap).where(RollupGap.source == source))
    arrived = 0
    for first, last, found_at in gaps:
        found = add(first - 1, last)
        arrived += len(found)
        if found_at >= now - GAP_PATIENCE:
            _record_gaps(session, source, _missing_ranges(found, first - 1, last), found_at)
    return arrived


def _add_predictions(
    session: Session,
    low: int,
    high: int,
    binning_for: Callable[[str, int], FeatureBinning | None],
    feedback_seen: datetime | None,
    plan_for: Callable[[str, int], InputPlan | None] | None = None,
    estimates: EstimateSource | None = None,
) -> np.ndarray:
    """Roll up the predictions with ids in (``low``, ``high``]; returns the ids found."""
    query = select(
        Prediction.id,
        hour_of(session, Prediction.created_at),
        Prediction.model_name,
        Prediction.model_version,
        Prediction.is_shadow,
        Prediction.latency_ms,
        Prediction.prediction,
        Prediction.is_ood,
        Prediction.label,
        Prediction.shadow_of,
        Prediction.source,
    ).where(Prediction.id > low, Prediction.id <= high)
    columns = ["id", "hour", "model_name", "model_version", "is_shadow", "latency_ms", "prediction", "is_ood"]
    columns += ["label", "shadow_of", "source"]
    rows = read_frame(session, query.order_by(Prediction.id), columns)
    if rows.empty:
        return np.empty(0, dtype=np.int64)
    rows["hour"] = as_hours(rows["hour"])
    rows["is_shadow"] = rows["is_shadow"].astype(bool)
    rows["is_ood"] = rows["is_ood"].astype(bool)
    rows["prediction"] = rows["prediction"].astype(float)  # NULL (a classifier without scores) → NaN, skipped
    keys = ["model_name", "hour", "model_version", "is_shadow"]
    rows["group"] = rows.groupby(keys, sort=False).ngroup()
    groups = rows.drop_duplicates("group").set_index("group")[keys].sort_index()

    totals = rows.assign(prediction_sq=rows["prediction"] ** 2).groupby("group")
    summary = pd.DataFrame(
        {
            "predictions": totals.size(),
            "ood": totals["is_ood"].sum(),
            "latency_sum": totals["latency_ms"].sum(),
            "prediction_sum": totals["prediction"].sum(),
            "prediction_sq_sum": totals["prediction_sq"].sum(),
        }
    ).join(groups)
    added = ["predictions", "ood", "latency_sum", "prediction_sum", "prediction_sq_sum"]
    upsert(session, RollupHour, to_records(summary, keys + added), added=added)

    scored = rows[rows["prediction"].notna()]
    latency = latency_bucket(rows["latency_ms"].to_numpy())
    sources = rows["source"].astype(str)
    timed = ~sources.isin(UNTIMED_SOURCES).to_numpy()  # ingested rows were timed by nobody here
    buckets = [
        bucket_rows(rows[timed], groups, "latency", latency[timed]),
        bucket_rows(scored, groups, "prediction", signed_log_bucket(scored["prediction"].to_numpy())),
    ]
    kinds = sources.map(latency_kind).to_numpy()
    for kind in np.unique(kinds[timed]):  # the same buckets per kind of request: server, one record, batch…
        chosen = (kinds == kind) & timed
        buckets.append(bucket_rows(rows[chosen], groups, latency_metric(str(kind)), latency[chosen]))
    upsert(session, RollupBucket, [row for part in buckets for row in part], added=["count"])

    # The chunk's inputs are read and parsed once; bins, estimates, multivariate errors and segments share them.
    inputs = read_chunk_inputs(session, rows, low, high, probabilities=estimates is not None)
    estimated = None
    if estimates is not None:  # estimated performance: see storage.rollups.estimates
        estimated = add_estimates(session, rows, groups, inputs, estimates)
    if plan_for is not None and inputs.wide is not None:
        add_input_rollups(session, rows, inputs.wide, inputs.at, plan_for, feedback_seen, estimated=estimated)
    upsert(session, RollupFeature, feature_rows(rows, groups, inputs, binning_for), added=["count", "value_sum"])
    if feedback_seen is not None and rows["is_shadow"].any():
        # Feedback is given for the answer; a shadow row logged after it was rolled up scores against it here.
        shadow = table_of(Prediction).alias("shadow")
        query = (
            select(shadow.c.id, Feedback.actual)
            .select_from(shadow)
            .join(Feedback, Feedback.prediction_id == shadow.c.shadow_of)
            .where(shadow.c.id > low, shadow.c.id <= high, Feedback.received_at <= feedback_seen)
        )
        query = query.add_columns(shadow.c.probabilities, Feedback.actual_label)
        known = read_frame(session, query, ["id", "actual", "probabilities", "actual_label"])
        if not known.empty:
            labelled = rows.merge(known, on="id")
            keys = ["model_name", "hour", "model_version", "is_shadow"]
            add_errors(session, labelled[[*keys, "prediction", "actual"]])
            add_labels(session, labelled[[*keys, "label", "probabilities", "actual_label"]])
    add_predicted(session, rows, groups, low, high)
    return rows["id"].to_numpy(dtype=np.int64)


def _add_rejections(session: Session, low: int, high: int) -> np.ndarray:
    """Roll up the rejections with ids in (``low``, ``high``]; returns the ids found."""
    query = select(
        Rejection.id,
        hour_of(session, Rejection.created_at),
        Rejection.model_name,
        Rejection.model_version,
        Rejection.field,
        Rejection.rule,
        Rejection.request_id,
        Rejection.row_number,
    ).where(Rejection.id > low, Rejection.id <= high)
    columns = ["id", "hour", "model_name", "model_version", "field", "rule", "request_id", "row_number"]
    rows = read_frame(session, query, columns)
    if rows.empty:
        return np.empty(0, dtype=np.int64)
    rows["hour"] = as_hours(rows["hour"])
    # 0 stands for "not attributed": rejections logged before they carried the refusing version.
    rows["model_version"] = pd.to_numeric(rows["model_version"]).fillna(0).astype(int)
    keys = ["model_name", "model_version", "hour"]
    by_rule = rows.groupby([*keys, "field", "rule"]).size().rename("count").reset_index()
    distinct = rows.drop_duplicates(["model_name", "hour", "request_id", "row_number"])
    by_row = distinct.groupby(keys).size().rename("count").reset_index().assign(field=ALL, rule=ALL)
    records = pd.concat([by_rule, by_row], ignore_index=True).to_dict("records")
    for record in records:
        record["hour"] = record["hour"].to_pydatetime()
        record["model_version"] = int(record["model_version"])
    upsert(session, RollupRejection, records, added=["count"])
    return rows["id"].to_numpy(dtype=np.int64)


def rebuild_rollups(
    session: Session,
    *,
    binning: BinningSource,
    estimates: EstimateSource | None = None,
    plan: InputPlanSource | None = None,
) -> RefreshResult:
    """Drop every roll-up and read the whole log again (after changing bins, or to repair)."""
    lock_rollups(session)
    for table in (RollupHour, RollupBucket, RollupLabel, RollupScore, RollupFeature, RollupRejection, RollupState):
        session.execute(delete(table))
    session.execute(delete(RollupGap))
    clear_estimates(session)
    clear_input_rollups(session)
    return refresh_rollups(session, binning=binning, estimates=estimates, plan=plan)
