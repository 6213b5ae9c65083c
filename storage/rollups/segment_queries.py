"""Reads of the multivariate and segment roll-ups over a window (a few hundred rows whatever the log size)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import BigInteger, Float, cast, func, select
from sqlalchemy.orm import Session

from storage.rollups.sql import as_hours, read_frame
from storage.rollups.tables import RollupMultivariate, RollupSegment, RollupSegmentFeature

SEGMENT_COLUMNS = ["predictions", "feedback", "error_sum", "abs_error_sum", "sq_error_sum", "correct"]
SEGMENT_COLUMNS += ["mv_rows", "mv_error_sum", "estimated_rows", "estimated_sum"]
COUNTS = {"predictions", "feedback", "correct", "mv_rows", "estimated_rows", "rows", "count"}


def _summed(column: Any, name: str) -> Any:
    # PostgreSQL sums BIGINT into NUMERIC (Decimal in Python); keep counts integral and sums float.
    return cast(func.sum(column), BigInteger if name in COUNTS else Float)


def multivariate_totals(session: Session, *, model_name: str, start: datetime, end: datetime) -> pd.DataFrame:
    """Hourly multivariate error sums in ``[start, end)`` per version and shadow flag."""
    columns = ["hour", "model_version", "is_shadow", "rows", "error_sum", "error_sq_sum"]
    query = select(*(getattr(RollupMultivariate, name) for name in columns)).where(
        RollupMultivariate.model_name == model_name,
        RollupMultivariate.hour >= start,
        RollupMultivariate.hour < end,
    )
    frame = read_frame(session, query, columns)
    frame["hour"] = as_hours(frame["hour"])
    return frame


def segment_totals(session: Session, *, model_name: str, feature: str, start: datetime, end: datetime) -> pd.DataFrame:
    """Per version, shadow flag and value of ``feature``: the segment sums over ``[start, end)``."""
    keys = [RollupSegment.model_version, RollupSegment.is_shadow, RollupSegment.value]
    query = (
        select(*keys, *(_summed(getattr(RollupSegment, name), name) for name in SEGMENT_COLUMNS))
        .where(
            RollupSegment.model_name == model_name,
            RollupSegment.feature == feature,
            RollupSegment.hour >= start,
            RollupSegment.hour < end,
        )
        .group_by(*keys)
    )
    return read_frame(session, query, ["model_version", "is_shadow", "value", *SEGMENT_COLUMNS])


def segment_features(session: Session, *, model_name: str) -> list[str]:
    """The features the model's roll-ups hold segments of."""
    query = select(RollupSegment.feature).where(RollupSegment.model_name == model_name).distinct()
    return sorted(str(name) for name in session.scalars(query))


def segment_feature_counts(
    session: Session,
    *,
    model_name: str,
    model_version: int,
    split_feature: str,
    start: datetime,
    end: datetime,
    include_shadow: bool,
) -> pd.DataFrame:
    """Per segment, feature and bucket: count and value sum over the UTC days from ``start``'s to ``end``'s."""
    first_day = start.replace(hour=0, minute=0, second=0, microsecond=0)
    keys = [RollupSegmentFeature.split_value, RollupSegmentFeature.feature, RollupSegmentFeature.bucket]
    query = select(
        *keys, _summed(RollupSegmentFeature.count, "count"), _summed(RollupSegmentFeature.value_sum, "value_sum")
    ).where(
        RollupSegmentFeature.model_name == model_name,
        RollupSegmentFeature.model_version == model_version,
        RollupSegmentFeature.split_feature == split_feature,
        RollupSegmentFeature.day >= first_day,
        RollupSegmentFeature.day < end,
    )
    if not include_shadow:
        query = query.where(RollupSegmentFeature.is_shadow.is_(False))
    return read_frame(session, query.group_by(*keys), ["split_value", "feature", "bucket", "count", "value_sum"])
