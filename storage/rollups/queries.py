"""Reads of the roll-ups over a window: hourly totals, histogram buckets, labels, scores, feature bins, rejections."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import BigInteger, Float, cast, func, select
from sqlalchemy.orm import Session

from storage.rollups.sql import as_hours, day_of, read_frame
from storage.rollups.tables import RollupBucket, RollupFeature, RollupHour, RollupLabel, RollupRejection, RollupScore


def _with_hours(frame: pd.DataFrame) -> pd.DataFrame:
    if "hour" in frame:
        frame["hour"] = as_hours(frame["hour"])
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
        "log_loss_count",
        "log_loss_sum",
        "agreed",
        "compared",
    ]
    query = select(*(getattr(RollupHour, name) for name in columns)).where(
        RollupHour.model_name == model_name, RollupHour.hour >= start, RollupHour.hour < end
    )
    return _with_hours(read_frame(session, query, columns))


def bucket_counts(
    session: Session,
    *,
    model_name: str,
    metric: str,
    start: datetime,
    end: datetime,
    by_hour: bool = False,
    model_version: int | None = None,
) -> pd.DataFrame:
    """Histogram buckets of ``metric`` summed over ``[start, end)``, per version and shadow flag (and hour).

    ``model_version`` keeps one version's buckets only.
    """
    keys: list[Any] = [RollupBucket.model_version, RollupBucket.is_shadow, RollupBucket.bucket]
    if by_hour:
        keys.insert(0, RollupBucket.hour)
    # By hour, each (hour, version, shadow, bucket) is one row already (the primary key): nothing to sum.
    query = select(*keys, RollupBucket.count if by_hour else _total(RollupBucket.count)).where(
        RollupBucket.model_name == model_name,
        RollupBucket.metric == metric,
        RollupBucket.hour >= start,
        RollupBucket.hour < end,
    )
    if model_version is not None:
        query = query.where(RollupBucket.model_version == model_version)
    if not by_hour:
        query = query.group_by(*keys)
    return _with_hours(read_frame(session, query, [key.key for key in keys] + ["count"]))


def metric_bucket_counts(
    session: Session, *, model_name: str, metrics: list[str], start: datetime, end: datetime
) -> pd.DataFrame:
    """Histogram buckets of several metrics summed over ``[start, end)``: metric, version, shadow flag, bucket, count.

    One query for all of them (the latency of each kind of request is a metric of its own).
    """
    keys: list[Any] = [RollupBucket.metric, RollupBucket.model_version, RollupBucket.is_shadow, RollupBucket.bucket]
    query = (
        select(*keys, _total(RollupBucket.count))
        .where(
            RollupBucket.model_name == model_name,
            RollupBucket.metric.in_(metrics),
            RollupBucket.hour >= start,
            RollupBucket.hour < end,
        )
        .group_by(*keys)
    )
    return read_frame(session, query, [key.key for key in keys] + ["count"])


def label_counts(
    session: Session, *, model_name: str, kind: str, start: datetime, end: datetime, by_hour: bool = False
) -> pd.DataFrame:
    """A classifier's label counts over ``[start, end)`` per version and shadow flag (and hour).

    ``kind`` ``predicted``: how often each class was predicted (``actual`` empty); ``confusion``: predicted × true.
    """
    keys: list[Any] = [RollupLabel.model_version, RollupLabel.is_shadow, RollupLabel.predicted, RollupLabel.actual]
    names = ["model_version", "is_shadow", "predicted", "actual"]
    if by_hour:
        keys.insert(0, RollupLabel.hour)
        names.insert(0, "hour")
    query = (
        select(*keys, _total(RollupLabel.count))
        .where(
            RollupLabel.model_name == model_name,
            RollupLabel.kind == kind,
            RollupLabel.hour >= start,
            RollupLabel.hour < end,
        )
        .group_by(*keys)
    )
    return _with_hours(read_frame(session, query, [*names, "count"]))


def score_counts(session: Session, *, model_name: str, start: datetime, end: datetime) -> pd.DataFrame:
    """Score bins over ``[start, end)`` per UTC day, version, shadow flag, class and whether it was the true class
    (class ``""``: every prediction's score).

    Whole days inside the window are read from their day rows, the hours at either end from hour rows, so a
    week costs 7 day rows per bin plus at most 46 hours, whatever the traffic.
    """
    first_day = (start + timedelta(days=1) - timedelta(microseconds=1)).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    last_day = end.replace(hour=0, minute=0, second=0, microsecond=0)
    keys: list[Any] = [RollupScore.model_version, RollupScore.is_shadow, RollupScore.class_name]
    keys += [RollupScore.is_true, RollupScore.bucket]
    columns = ["day", "model_version", "is_shadow", "class_name", "is_true", "bucket", "count"]
    mine = RollupScore.model_name == model_name
    frames = []
    hour_spans = [(start, end)]
    if first_day < last_day:
        days = select(RollupScore.hour, *keys, RollupScore.count).where(
            mine, RollupScore.whole_day.is_(True), RollupScore.hour >= first_day, RollupScore.hour < last_day
        )
        frames.append(read_frame(session, days, columns))
        hour_spans = [(start, first_day), (last_day, end)]
    for low, high in hour_spans:
        if low >= high:
            continue
        day = day_of(session, RollupScore.hour)
        hours = (
            select(day, *keys, _total(RollupScore.count))
            .where(mine, RollupScore.whole_day.is_(False), RollupScore.hour >= low, RollupScore.hour < high)
            .group_by(day, *keys)
        )
        frames.append(read_frame(session, hours, columns))
    # Each read is parsed on its own: SQLite writes stored hours and computed days in different formats.
    kept = [frame.assign(day=as_hours(frame["day"])) for frame in frames if not frame.empty]
    return pd.concat(kept, ignore_index=True) if kept else pd.DataFrame(columns=columns)


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
    return read_frame(session, query, ["feature", "bucket", "count", "value_sum"])


def rejection_counts(
    session: Session, *, model_name: str, start: datetime, end: datetime, model_version: int | None = None
) -> pd.DataFrame:
    """Rejections per hour, version, field and rule in ``[start, end)`` (field ``*``: distinct rejected rows).

    ``model_version`` 0 holds rejections the log could not attribute to a version (logged before 0009).
    """
    query = select(
        RollupRejection.hour,
        RollupRejection.model_version,
        RollupRejection.field,
        RollupRejection.rule,
        RollupRejection.count,
    ).where(RollupRejection.model_name == model_name, RollupRejection.hour >= start, RollupRejection.hour < end)
    if model_version is not None:
        query = query.where(RollupRejection.model_version == model_version)
    return _with_hours(read_frame(session, query, ["hour", "model_version", "field", "rule", "count"]))


def logged_versions(session: Session, *, model_name: str) -> list[int]:
    """Versions with rolled-up predictions, newest first."""
    query = select(RollupHour.model_version).where(RollupHour.model_name == model_name).distinct()
    return sorted((int(version) for version in session.scalars(query)), reverse=True)
