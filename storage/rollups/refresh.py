"""Hourly roll-ups of the prediction log, so monitoring reads hundreds of rows instead of millions.

Per (model, version, shadow flag, UTC hour): counts and sums (predictions, OOD, latency, realised
error), histograms on fixed buckets (latency: log-spaced; prediction and residual: signed-log), and
per-feature counts on the serving version's drift bins (numerics: count and value sum per bin;
categoricals: count per level). Rejections roll up per (model, hour, field, rule).

:func:`refresh_rollups` is incremental and idempotent: it adds the rows that arrived since the last
refresh (predictions and rejections by id, feedback by ``received_at``) to the hours they belong to,
and moves its watermarks in the same transaction. Backfilled timestamps are fine, since rows are
found by id, not by time. The write path is untouched: the still-open hour's new raw rows (a few
thousand an hour at a million a week) are added on every call, so the current hour is always live.
Shadow rows take their answer's inputs and feedback (``shadow_of``). Work is chunked by id, so memory
stays flat on any log size.

Feedback that *replaces* an earlier value (``Feedback.revision`` > 1) cannot be added on top: the
old value's share is already summed. The realised-error columns of the hours it touches (its
prediction's and its shadow rows') are recounted from the raw log instead.

Ids read past but not found (``rollup_gaps``) are looked at again on every refresh: on PostgreSQL a
lower id can commit after a higher one was rolled up. A gap still empty after
:data:`GAP_PATIENCE` belonged to a rolled-back write and is forgotten. (Left open: a late *shadow*
row that becomes visible in the middle of a refresh, while its answer's true value arrives in the
same refresh, could count that value twice; :func:`rebuild_rollups` recomputes everything.)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    Integer,
    Select,
    String,
    Text,
    cast,
    delete,
    func,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column

from storage.base import Base, BigId, UTCDateTime, utcnow
from storage.prediction_log import Feedback, Prediction, PredictionFeature, Rejection

# Latency buckets: 40 per decade from 0.01 ms (each ≈ 5.9 % wide), up to 10^6 ms.
LATENCY_FLOOR_MS = 0.01
LATENCY_PER_DECADE = 40
LATENCY_BUCKETS = 8 * LATENCY_PER_DECADE
# Prediction and residual buckets: 50 per unit of sign(v)·log10(1 + |v|), any magnitude, either sign.
SIGNED_LOG_PER_UNIT = 50
ALL = "*"  # the rejections row that counts distinct rejected input rows (field = rule = "*")
CHUNK_ROWS = 200_000
PG_ROLLUP_LOCK = 4_242_006
# Writers commit within seconds; an id still missing after this long was rolled back, not late.
GAP_PATIENCE = timedelta(hours=1)

ZERO_FILLED = {"predictions", "ood", "latency_sum", "prediction_sum", "prediction_sq_sum", "feedback", "error_sum"}
ZERO_FILLED |= {"abs_error_sum", "sq_error_sum", "count", "value_sum"}
FeatureBinning = Mapping[str, "np.ndarray | None"]  # feature -> numeric bin edges, or None for a categorical
BinningSource = Callable[[str, int], "FeatureBinning | None"]  # (model_name, version) -> binning or None


class RollupHour(Base):
    """Counts and sums for one hour of one model version (shadow or not)."""

    __tablename__ = "rollup_hours"

    model_name: Mapped[str] = mapped_column(String(200), primary_key=True)
    hour: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True)
    model_version: Mapped[int] = mapped_column(Integer, primary_key=True)
    is_shadow: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    predictions: Mapped[int] = mapped_column(BigId, default=0)
    ood: Mapped[int] = mapped_column(BigId, default=0)
    latency_sum: Mapped[float] = mapped_column(Float, default=0.0)
    prediction_sum: Mapped[float] = mapped_column(Float, default=0.0)
    prediction_sq_sum: Mapped[float] = mapped_column(Float, default=0.0)
    feedback: Mapped[int] = mapped_column(BigId, default=0)
    error_sum: Mapped[float] = mapped_column(Float, default=0.0)  # actual − predicted
    abs_error_sum: Mapped[float] = mapped_column(Float, default=0.0)
    sq_error_sum: Mapped[float] = mapped_column(Float, default=0.0)


class RollupBucket(Base):
    """One histogram bucket of one metric (latency, prediction, residual) for one hour and version."""

    __tablename__ = "rollup_buckets"

    model_name: Mapped[str] = mapped_column(String(200), primary_key=True)
    metric: Mapped[str] = mapped_column(String(16), primary_key=True)
    hour: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True)
    model_version: Mapped[int] = mapped_column(Integer, primary_key=True)
    is_shadow: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    bucket: Mapped[int] = mapped_column(Integer, primary_key=True)
    count: Mapped[int] = mapped_column(BigId, default=0)


class RollupFeature(Base):
    """Inputs of one feature in one bin (numeric: bin index as text) or level, per hour and version."""

    __tablename__ = "rollup_features"

    model_name: Mapped[str] = mapped_column(String(200), primary_key=True)
    model_version: Mapped[int] = mapped_column(Integer, primary_key=True)
    hour: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True)
    is_shadow: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    feature: Mapped[str] = mapped_column(String(128), primary_key=True)
    bucket: Mapped[str] = mapped_column(String(256), primary_key=True)
    count: Mapped[int] = mapped_column(BigId, default=0)
    value_sum: Mapped[float] = mapped_column(Float, default=0.0)  # numerics: for bin means


class RollupRejection(Base):
    """Rejected values per hour, field and rule; field = rule = ``*`` counts distinct rejected rows."""

    __tablename__ = "rollup_rejections"

    model_name: Mapped[str] = mapped_column(String(200), primary_key=True)
    hour: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True)
    field: Mapped[str] = mapped_column(String(128), primary_key=True)
    rule: Mapped[str] = mapped_column(String(64), primary_key=True)
    count: Mapped[int] = mapped_column(BigId, default=0)


class RollupReference(Base):
    """The training profile a version's features were binned with (kept so drift works offline)."""

    __tablename__ = "rollup_references"

    model_name: Mapped[str] = mapped_column(String(200), primary_key=True)
    model_version: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[str | None] = mapped_column(String(64))
    profile_json: Mapped[str] = mapped_column(Text)
    holdout_mae: Mapped[float | None] = mapped_column(Float)  # training's holdout MAE, for the MAE alert
    saved_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class RollupState(Base):
    """How far the roll-ups have read: last prediction/rejection id, last feedback time."""

    __tablename__ = "rollup_state"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    last_id: Mapped[int] = mapped_column(BigId, default=0)
    last_time: Mapped[datetime | None] = mapped_column(UTCDateTime())
    refreshed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class RollupGap(Base):
    """A run of ids a refresh read past without finding rows (yet): checked again on the next refresh."""

    __tablename__ = "rollup_gaps"

    source: Mapped[str] = mapped_column(String(32), primary_key=True)  # "predictions" or "rejections"
    first_id: Mapped[int] = mapped_column(BigId, primary_key=True)
    last_id: Mapped[int] = mapped_column(BigId)
    found_at: Mapped[datetime] = mapped_column(UTCDateTime())


@dataclass
class RefreshResult:
    """What one refresh read."""

    predictions: int = 0
    rejections: int = 0
    feedback: int = 0
    recounted_hours: int = 0  # hours whose realised error was recounted for replaced feedback
    unbinned_versions: set[tuple[str, int]] = field(default_factory=set)

    @property
    def rows(self) -> int:
        return self.predictions + self.rejections + self.feedback


# --- buckets ------------------------------------------------------------------------------------


def latency_bucket(latency_ms: np.ndarray) -> np.ndarray:
    """Log-spaced latency bucket of each value (clipped to the covered range)."""
    scaled = np.log10(np.maximum(np.asarray(latency_ms, dtype=float), LATENCY_FLOOR_MS) / LATENCY_FLOOR_MS)
    return np.clip(np.floor(scaled * LATENCY_PER_DECADE), 0, LATENCY_BUCKETS - 1).astype(np.int64)


def latency_bounds(bucket: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper latency (ms) of each bucket."""
    bucket = np.asarray(bucket, dtype=float)
    return (
        LATENCY_FLOOR_MS * 10 ** (bucket / LATENCY_PER_DECADE),
        LATENCY_FLOOR_MS * 10 ** ((bucket + 1) / LATENCY_PER_DECADE),
    )


def signed_log_bucket(values: np.ndarray) -> np.ndarray:
    """Signed-log bucket of each value: ``floor(50 · sign(v) · log10(1 + |v|))``."""
    values = np.asarray(values, dtype=float)
    return np.floor(np.sign(values) * np.log10(1 + np.abs(values)) * SIGNED_LOG_PER_UNIT).astype(np.int64)


def signed_log_bounds(bucket: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper value of each signed-log bucket."""

    def inverse(scaled: np.ndarray) -> np.ndarray:
        return np.sign(scaled) * (10 ** np.abs(scaled) - 1)

    bucket = np.asarray(bucket, dtype=float)
    return inverse(bucket / SIGNED_LOG_PER_UNIT), inverse((bucket + 1) / SIGNED_LOG_PER_UNIT)


# --- refresh ------------------------------------------------------------------------------------


def _hour_of(session: Session, column: Any) -> Any:
    # The UTC hour as text (SQLite) or a naive UTC timestamp (PostgreSQL); parsed by _as_hours.
    if session.get_bind().dialect.name == "postgresql":
        return func.date_trunc("hour", func.timezone("UTC", column))
    return func.strftime("%Y-%m-%d %H:00:00", column)


def _as_hours(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values, utc=True)


def _upsert(session: Session, table: type[Base], rows: list[dict[str, Any]], *, added: list[str]) -> None:
    """Insert rows, or add their ``added`` columns to the rows already there."""
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    core_table = table.__table__
    statement = insert(core_table)
    keys = [column.name for column in core_table.primary_key.columns]
    # A new row starts every counter it was not given at zero (e.g. feedback for an hour not rolled up yet).
    zeros = {column.name: 0 for column in core_table.columns if column.name not in keys and column.name in ZERO_FILLED}
    rows = [{**zeros, **row} for row in rows]
    statement = statement.on_conflict_do_update(
        index_elements=keys, set_={name: core_table.c[name] + statement.excluded[name] for name in added}
    )
    for start in range(0, len(rows), 20_000):
        session.execute(statement, rows[start : start + 20_000])


def _frame(session: Session, query: Select, columns: list[str]) -> pd.DataFrame:
    """Rows of ``query`` as a frame, straight from the DBAPI cursor (plain tuples, no per-row processing).

    Millions of rows pass through here during a refresh; SQLAlchemy's Row objects cost ~3× the fetch
    itself. Typed conversions are therefore not applied: hours come back as text (SQLite) or naive UTC
    datetimes (PostgreSQL) and are parsed column-wise with :func:`_as_hours`; booleans may be 0/1.
    """
    result = session.connection().execute(query)
    try:
        rows = result.cursor.fetchall() if result.cursor is not None else []
    finally:
        result.close()
    return pd.DataFrame.from_records(rows, columns=columns, coerce_float=False)


def _state(session: Session, name: str) -> RollupState:
    state = session.get(RollupState, name)
    if state is None:
        state = RollupState(name=name, last_id=0)
        session.add(state)
        session.flush()
    return state


def _lock(session: Session) -> None:
    # SQLite transactions already hold the write lock (BEGIN IMMEDIATE); PostgreSQL needs one.
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_ROLLUP_LOCK})


def refresh_rollups(
    session: Session,
    *,
    binning: BinningSource,
    chunk_rows: int = CHUNK_ROWS,
    progress: Callable[[str], None] | None = None,
) -> RefreshResult:
    """Add everything logged since the last refresh to the roll-ups (idempotent; flushed, not committed)."""
    _lock(session)
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

    def add_predictions(low: int, high: int) -> np.ndarray:
        return _add_predictions(session, low, high, binning_for, feedback_seen)

    def add_rejections(low: int, high: int) -> np.ndarray:
        return _add_rejections(session, low, high)

    result.predictions += _revisit_gaps(session, "predictions", add_predictions, now)
    state = _state(session, "predictions")
    newest = newest_prediction = session.scalar(select(func.max(Prediction.id))) or 0
    for low, high in _id_chunks(session, Prediction.id, state.last_id, newest, chunk_rows):
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
    for low, high in _id_chunks(session, Rejection.id, state.last_id, newest, chunk_rows):
        found = add_rejections(low, high)
        result.rejections += len(found)
        _record_gaps(session, "rejections", _missing_ranges(found, low, high), now)
        state.last_id = high
    state.refreshed_at = now

    state = _state(session, "feedback")
    newest_time = session.scalar(select(func.max(Feedback.received_at)))
    if newest_time is not None and (state.last_time is None or newest_time > state.last_time):
        result.feedback += _add_feedback(session, state.last_time, newest_time, newest_prediction)
        for model_name, hour in _hours_with_replaced_feedback(session, state.last_time, newest_time, newest_prediction):
            _recount_errors(session, model_name, hour, newest_time, newest_prediction)
            result.recounted_hours += 1
        state.last_time = newest_time
    state.refreshed_at = now
    session.flush()
    return result


def _id_chunks(session: Session, column: Any, last: int, newest: int, size: int) -> Iterator[tuple[int, int]]:
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
        session.execute(RollupGap.__table__.insert(), rows)


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
) -> np.ndarray:
    """Roll up the predictions with ids in (``low``, ``high``]; returns the ids found."""
    query = select(
        Prediction.id,
        _hour_of(session, Prediction.created_at),
        Prediction.model_name,
        Prediction.model_version,
        Prediction.is_shadow,
        Prediction.latency_ms,
        Prediction.prediction,
        Prediction.is_ood,
    ).where(Prediction.id > low, Prediction.id <= high)
    columns = ["id", "hour", "model_name", "model_version", "is_shadow", "latency_ms", "prediction", "is_ood"]
    rows = _frame(session, query.order_by(Prediction.id), columns)
    if rows.empty:
        return np.empty(0, dtype=np.int64)
    rows["hour"] = _as_hours(rows["hour"])
    rows["is_shadow"] = rows["is_shadow"].astype(bool)
    rows["is_ood"] = rows["is_ood"].astype(bool)
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
    _upsert(session, RollupHour, _records(summary, keys + added), added=added)

    buckets = [
        _bucket_rows(rows, groups, "latency", latency_bucket(rows["latency_ms"].to_numpy())),
        _bucket_rows(rows, groups, "prediction", signed_log_bucket(rows["prediction"].to_numpy())),
    ]
    _upsert(session, RollupBucket, [row for part in buckets for row in part], added=["count"])
    _upsert(
        session,
        RollupFeature,
        _feature_rows(session, rows, groups, low, high, binning_for),
        added=["count", "value_sum"],
    )
    if feedback_seen is not None and rows["is_shadow"].any():
        # Feedback is given for the answer; a shadow row logged after it was rolled up scores against it here.
        shadow = Prediction.__table__.alias("shadow")
        query = (
            select(shadow.c.id, Feedback.actual)
            .select_from(shadow)
            .join(Feedback, Feedback.prediction_id == shadow.c.shadow_of)
            .where(shadow.c.id > low, shadow.c.id <= high, Feedback.received_at <= feedback_seen)
        )
        known = _frame(session, query, ["id", "actual"])
        if not known.empty:
            labelled = rows.merge(known, on="id")
            _add_errors(session, labelled[["model_name", "hour", "model_version", "is_shadow", "prediction", "actual"]])
    return rows["id"].to_numpy(dtype=np.int64)


def _records(frame: pd.DataFrame, columns: list[str]) -> list[dict[str, Any]]:
    records = frame[columns].to_dict("records")
    for record in records:
        record["hour"] = record["hour"].to_pydatetime()
        record["model_version"] = int(record["model_version"])
        record["is_shadow"] = bool(record["is_shadow"])
    return records


def _bucket_rows(rows: pd.DataFrame, groups: pd.DataFrame, metric: str, bucket: np.ndarray) -> list[dict[str, Any]]:
    counts = pd.DataFrame({"group": rows["group"].to_numpy(), "bucket": bucket}).value_counts().rename("count")
    frame = counts.reset_index().join(groups, on="group")
    frame["metric"] = metric
    return _records(frame, ["model_name", "metric", "hour", "model_version", "is_shadow", "bucket", "count"])


def _feature_rows(
    session: Session,
    rows: pd.DataFrame,
    groups: pd.DataFrame,
    low: int,
    high: int,
    binning_for: Callable[[str, int], FeatureBinning | None],
) -> list[dict[str, Any]]:
    query = select(
        PredictionFeature.prediction_id,
        PredictionFeature.feature,
        PredictionFeature.num_value,
        PredictionFeature.cat_value,
    ).where(PredictionFeature.prediction_id > low, PredictionFeature.prediction_id <= high)
    columns = ["prediction_id", "feature", "num_value", "cat_value"]
    values = _frame(session, query, columns)
    if rows["is_shadow"].any():
        # Shadow predictions carry no inputs of their own: theirs are the answer's (``shadow_of``).
        shadow_query = (
            select(Prediction.id, PredictionFeature.feature, PredictionFeature.num_value, PredictionFeature.cat_value)
            .select_from(Prediction)
            .join(PredictionFeature, PredictionFeature.prediction_id == Prediction.shadow_of)
            .where(Prediction.id > low, Prediction.id <= high, Prediction.shadow_of.is_not(None))
        )
        borrowed = _frame(session, shadow_query, columns)
        if not borrowed.empty:
            values = pd.concat([values, borrowed], ignore_index=True) if not values.empty else borrowed
    if values.empty:
        return []
    ids = rows["id"].to_numpy()
    position = np.clip(np.searchsorted(ids, values["prediction_id"].to_numpy()), 0, len(ids) - 1)
    known = ids[position] == values["prediction_id"].to_numpy()  # the foreign key makes this all-true
    values = values[known].assign(group=rows["group"].to_numpy()[position[known]])
    versions = groups[["model_name", "model_version"]].drop_duplicates()
    out: list[pd.DataFrame] = []
    for model_name, version in versions.itertuples(index=False):
        binning = binning_for(model_name, int(version))
        if binning is None:
            continue
        version_groups = groups.index[(groups["model_name"] == model_name) & (groups["model_version"] == version)]
        of_version = values[values["group"].isin(version_groups)]
        for feature, edges in binning.items():
            of_feature = of_version[of_version["feature"] == feature]
            if of_feature.empty:
                continue
            if edges is None:
                levels = of_feature.dropna(subset=["cat_value"])
                counted = levels.groupby(["group", "cat_value"]).size().rename("count").reset_index()
                counted = counted.rename(columns={"cat_value": "bucket"}).assign(value_sum=0.0)
            else:
                numbers = of_feature.dropna(subset=["num_value"])
                number = numbers["num_value"].to_numpy(dtype=float)
                bucket = np.clip(np.searchsorted(edges, number, side="right") - 1, 0, len(edges) - 2)
                keyed = pd.DataFrame({"group": numbers["group"].to_numpy(), "bucket": bucket, "value": number})
                counted = keyed.groupby(["group", "bucket"]).agg(count=("value", "size"), value_sum=("value", "sum"))
                counted = counted.reset_index()
                counted["bucket"] = counted["bucket"].astype(str)
            out.append(counted.assign(feature=feature))
    if not out:
        return []
    frame = pd.concat(out, ignore_index=True).join(groups, on="group")
    columns = ["model_name", "model_version", "hour", "is_shadow", "feature", "bucket", "count", "value_sum"]
    return _records(frame, columns)


def _add_rejections(session: Session, low: int, high: int) -> np.ndarray:
    """Roll up the rejections with ids in (``low``, ``high``]; returns the ids found."""
    query = select(
        Rejection.id,
        _hour_of(session, Rejection.created_at),
        Rejection.model_name,
        Rejection.field,
        Rejection.rule,
        Rejection.request_id,
        Rejection.row_number,
    ).where(Rejection.id > low, Rejection.id <= high)
    rows = _frame(session, query, ["id", "hour", "model_name", "field", "rule", "request_id", "row_number"])
    if rows.empty:
        return np.empty(0, dtype=np.int64)
    rows["hour"] = _as_hours(rows["hour"])
    by_rule = rows.groupby(["model_name", "hour", "field", "rule"]).size().rename("count").reset_index()
    distinct = rows.drop_duplicates(["model_name", "hour", "request_id", "row_number"])
    by_row = distinct.groupby(["model_name", "hour"]).size().rename("count").reset_index().assign(field=ALL, rule=ALL)
    records = pd.concat([by_rule, by_row], ignore_index=True).to_dict("records")
    for record in records:
        record["hour"] = record["hour"].to_pydatetime()
    _upsert(session, RollupRejection, records, added=["count"])
    return rows["id"].to_numpy(dtype=np.int64)


def _labelled_rows(
    session: Session,
    *,
    after: datetime | None,
    until: datetime,
    newest_prediction: int,
    made_in: tuple[str, datetime] | None = None,
) -> tuple[pd.DataFrame, int]:
    """Predictions with their true value received in (``after``, ``until``], and how many were answers.

    Each true value counts for its prediction and for that prediction's shadow rows up to
    ``newest_prediction`` (later shadow rows pick it up when they are rolled up). ``made_in`` keeps
    predictions of one model made in one hour.
    """
    columns = ["hour", "model_name", "model_version", "is_shadow", "prediction", "actual"]
    direct, shadow = Prediction.__table__, Prediction.__table__.alias("shadow")
    frames = []
    for made, joined_on in ((direct, direct.c.id), (shadow, shadow.c.shadow_of)):
        query = (
            select(
                _hour_of(session, made.c.created_at),
                made.c.model_name,
                made.c.model_version,
                made.c.is_shadow,
                made.c.prediction,
                Feedback.actual,
            )
            .select_from(Feedback)
            .join(made, joined_on == Feedback.prediction_id)
            .where(Feedback.received_at <= until)
        )
        if made is shadow:
            query = query.where(shadow.c.id <= newest_prediction)
        if after is not None:
            query = query.where(Feedback.received_at > after)
        if made_in is not None:
            model_name, hour = made_in
            query = query.where(
                made.c.model_name == model_name,
                made.c.created_at >= hour,
                made.c.created_at < hour + timedelta(hours=1),
            )
        frames.append(_frame(session, query, columns))
    rows = pd.concat([frame for frame in frames if not frame.empty] or frames[:1], ignore_index=True)
    if not rows.empty:
        rows["hour"] = _as_hours(rows["hour"])
    return rows, len(frames[0])


def _add_feedback(session: Session, after: datetime | None, until: datetime, newest_prediction: int) -> int:
    rows, answered = _labelled_rows(session, after=after, until=until, newest_prediction=newest_prediction)
    if not rows.empty:
        _add_errors(session, rows)
    return answered


def _hours_with_replaced_feedback(
    session: Session, after: datetime | None, until: datetime, newest_prediction: int
) -> set[tuple[str, datetime]]:
    """(model, UTC hour) of every prediction, and shadow row, whose true value was replaced in the window."""
    replaced = select(Feedback.prediction_id).where(Feedback.revision > 1, Feedback.received_at <= until)
    if after is not None:
        replaced = replaced.where(Feedback.received_at > after)
    touched = select(Prediction.model_name, Prediction.created_at).where(
        Prediction.id.in_(replaced) | (Prediction.shadow_of.in_(replaced) & (Prediction.id <= newest_prediction))
    )
    return {
        (model_name, created_at.replace(minute=0, second=0, microsecond=0))
        for model_name, created_at in session.execute(touched)
    }


def _recount_errors(session: Session, model_name: str, hour: datetime, until: datetime, newest_prediction: int) -> None:
    """Replace one hour's realised-error counters with a recount from the raw log."""
    zeroed = {"feedback": 0, "error_sum": 0.0, "abs_error_sum": 0.0, "sq_error_sum": 0.0}
    session.execute(
        update(RollupHour).where(RollupHour.model_name == model_name, RollupHour.hour == hour).values(zeroed)
    )
    session.execute(
        delete(RollupBucket).where(
            RollupBucket.model_name == model_name, RollupBucket.metric == "residual", RollupBucket.hour == hour
        )
    )
    rows, _ = _labelled_rows(
        session, after=None, until=until, newest_prediction=newest_prediction, made_in=(model_name, hour)
    )
    if not rows.empty:
        _add_errors(session, rows)


def _add_errors(session: Session, rows: pd.DataFrame) -> None:
    """Add realised-error sums and residual buckets for rows of (keys, prediction, actual)."""
    rows = rows.assign(is_shadow=rows["is_shadow"].astype(bool), error=rows["actual"] - rows["prediction"])
    rows["abs_error"] = rows["error"].abs()
    rows["sq_error"] = rows["error"] ** 2
    keys = ["model_name", "hour", "model_version", "is_shadow"]
    rows["group"] = rows.groupby(keys, sort=False).ngroup()
    groups = rows.drop_duplicates("group").set_index("group")[keys].sort_index()
    grouped = rows.groupby("group")
    summary = pd.DataFrame(
        {
            "feedback": grouped.size(),
            "error_sum": grouped["error"].sum(),
            "abs_error_sum": grouped["abs_error"].sum(),
            "sq_error_sum": grouped["sq_error"].sum(),
        }
    ).join(groups)
    added = ["feedback", "error_sum", "abs_error_sum", "sq_error_sum"]
    _upsert(session, RollupHour, _records(summary, keys + added), added=added)
    residuals = _bucket_rows(rows, groups, "residual", signed_log_bucket(rows["error"].to_numpy()))
    _upsert(session, RollupBucket, residuals, added=["count"])


def rebuild_rollups(session: Session, *, binning: BinningSource) -> RefreshResult:
    """Drop every roll-up and read the whole log again (after changing bins, or to repair)."""
    _lock(session)
    for table in (RollupHour, RollupBucket, RollupFeature, RollupRejection, RollupState, RollupGap):
        session.execute(delete(table))
    return refresh_rollups(session, binning=binning)


# --- references ---------------------------------------------------------------------------------


def save_reference(
    session: Session,
    *,
    model_name: str,
    model_version: int,
    run_id: str | None,
    profile_json: str,
    holdout_mae: float | None = None,
) -> None:
    """Keep the profile a version is binned with (first one wins: the bins must not change)."""
    if session.get(RollupReference, (model_name, model_version)) is None:
        session.add(
            RollupReference(
                model_name=model_name,
                model_version=model_version,
                run_id=run_id,
                profile_json=profile_json,
                holdout_mae=holdout_mae,
            )
        )
        session.flush()


def load_reference(session: Session, *, model_name: str, model_version: int) -> RollupReference | None:
    """The stored reference of a version (profile JSON, holdout MAE), if any."""
    return session.get(RollupReference, (model_name, model_version))


# --- reads --------------------------------------------------------------------------------------


def _with_hours(frame: pd.DataFrame) -> pd.DataFrame:
    if "hour" in frame:
        frame["hour"] = _as_hours(frame["hour"])
    return frame


def _total(column: Any) -> Any:
    # PostgreSQL sums BIGINT into NUMERIC (Decimal in Python); keep counts integral everywhere.
    return cast(func.sum(column), BigInteger)


def hour_totals(session: Session, *, model_name: str, start: datetime, end: datetime) -> pd.DataFrame:
    """Hourly counts and sums in ``[start, end)`` for every version and shadow flag."""
    columns = [
        "hour",
        "model_version",
        "is_shadow",
        "predictions",
        "ood",
        "latency_sum",
        "prediction_sum",
        "prediction_sq_sum",
        "feedback",
        "error_sum",
        "abs_error_sum",
        "sq_error_sum",
    ]
    query = select(*(getattr(RollupHour, name) for name in columns)).where(
        RollupHour.model_name == model_name, RollupHour.hour >= start, RollupHour.hour < end
    )
    return _with_hours(_frame(session, query, columns))


def bucket_counts(
    session: Session, *, model_name: str, metric: str, start: datetime, end: datetime, by_hour: bool = False
) -> pd.DataFrame:
    """Histogram buckets of ``metric`` summed over ``[start, end)``, per version and shadow flag (and hour)."""
    keys = [RollupBucket.model_version, RollupBucket.is_shadow, RollupBucket.bucket]
    if by_hour:
        keys.insert(0, RollupBucket.hour)
    query = (
        select(*keys, _total(RollupBucket.count))
        .where(
            RollupBucket.model_name == model_name,
            RollupBucket.metric == metric,
            RollupBucket.hour >= start,
            RollupBucket.hour < end,
        )
        .group_by(*keys)
    )
    return _with_hours(_frame(session, query, [key.key for key in keys] + ["count"]))


def feature_counts(
    session: Session, *, model_name: str, model_version: int, start: datetime, end: datetime, include_shadow: bool
) -> pd.DataFrame:
    """Per feature and bucket: count and value sum over ``[start, end)`` for one version."""
    query = select(
        RollupFeature.feature,
        RollupFeature.bucket,
        _total(RollupFeature.count),
        cast(func.sum(RollupFeature.value_sum), Float),
    ).where(
        RollupFeature.model_name == model_name,
        RollupFeature.model_version == model_version,
        RollupFeature.hour >= start,
        RollupFeature.hour < end,
    )
    if not include_shadow:
        query = query.where(RollupFeature.is_shadow.is_(False))
    query = query.group_by(RollupFeature.feature, RollupFeature.bucket)
    return _frame(session, query, ["feature", "bucket", "count", "value_sum"])


def rejection_counts(session: Session, *, model_name: str, start: datetime, end: datetime) -> pd.DataFrame:
    """Rejections per hour, field and rule in ``[start, end)`` (field ``*``: distinct rejected rows)."""
    query = select(RollupRejection.hour, RollupRejection.field, RollupRejection.rule, RollupRejection.count).where(
        RollupRejection.model_name == model_name, RollupRejection.hour >= start, RollupRejection.hour < end
    )
    return _with_hours(_frame(session, query, ["hour", "field", "rule", "count"]))


def logged_versions(session: Session, *, model_name: str) -> list[int]:
    """Versions with rolled-up predictions, newest first."""
    query = select(RollupHour.model_version).where(RollupHour.model_name == model_name).distinct()
    return sorted((int(version) for version in session.scalars(query)), reverse=True)


def last_refresh(session: Session) -> datetime | None:
    """When the roll-ups last read the log."""
    state = session.get(RollupState, "predictions")
    return None if state is None else state.refreshed_at
