"""Low-level helpers shared by refresh and reads: UTC hours in SQL, fast reads into frames, additive upserts."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Select, func
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from storage.base import Base, table_of

ZERO_FILLED = {"predictions", "ood", "latency_sum", "prediction_sum", "prediction_sq_sum", "feedback", "error_sum"}
ZERO_FILLED |= {"abs_error_sum", "sq_error_sum", "count", "value_sum"}
ZERO_FILLED |= {"log_loss_count", "log_loss_sum", "agreed", "compared"}


def hour_of(session: Session, column: Any) -> Any:
    """The UTC hour of a timestamp column, in SQL: text (SQLite) or a naive UTC timestamp (PostgreSQL).

    Both are parsed column-wise by :func:`as_hours`.
    """
    if session.get_bind().dialect.name == "postgresql":
        return func.date_trunc("hour", func.timezone("UTC", column))
    return func.strftime("%Y-%m-%d %H:00:00", column)


def day_of(session: Session, column: Any) -> Any:
    """The UTC day of a roll-up hour column, in SQL (read back like :func:`hour_of`)."""
    if session.get_bind().dialect.name == "postgresql":
        return func.date_trunc("day", func.timezone("UTC", column))
    return func.strftime("%Y-%m-%d 00:00:00", column)


def as_hours(values: pd.Series) -> pd.Series:
    """Hours as read by :func:`read_frame` (text or naive UTC), as tz-aware UTC timestamps."""
    return pd.to_datetime(values, utc=True)


def upsert(session: Session, table: type[Base], rows: list[dict[str, Any]], *, added: list[str]) -> None:
    """Insert rows, or add their ``added`` columns to the rows already there."""
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    core_table = table_of(table)
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


def read_frame(session: Session, query: Select, columns: list[str]) -> pd.DataFrame:
    """Rows of ``query`` as a frame, straight from the DBAPI cursor (plain tuples, no per-row processing).

    Millions of rows pass through here during a refresh; SQLAlchemy's Row objects cost ~3× the fetch
    itself. Typed conversions are therefore not applied: hours come back as text (SQLite) or naive UTC
    datetimes (PostgreSQL) and are parsed column-wise with :func:`as_hours`; booleans may be 0/1.
    """
    result = session.connection().execute(query)
    try:
        rows = result.cursor.fetchall() if result.cursor is not None else []
    finally:
        result.close()
    return pd.DataFrame.from_records(rows, columns=columns, coerce_float=False)


def to_records(frame: pd.DataFrame, columns: list[str]) -> list[dict[str, Any]]:
    """Rows of ``frame`` ready to upsert: hour, version and shadow flag as plain Python values."""
    # Built column-wise (``to_dict("records")`` and a per-record fix-up cost seconds per refresh chunk).
    values: dict[str, list[Any]] = {}
    for name in columns:
        column = frame[name]
        if name == "hour":
            values[name] = list(pd.DatetimeIndex(column).to_pydatetime())
        elif name == "model_version":
            values[name] = [int(value) for value in column.to_numpy()]
        elif name == "is_shadow":
            values[name] = [bool(value) for value in column.to_numpy()]
        else:
            values[name] = column.tolist()
    return [dict(zip(columns, row, strict=True)) for row in zip(*values.values(), strict=True)]


def bucket_rows(rows: pd.DataFrame, groups: pd.DataFrame, metric: str, bucket: np.ndarray) -> list[dict[str, Any]]:
    """Histogram rows of ``metric``: how many of ``rows`` fall in each bucket, per group (hour, version, shadow)."""
    counts = pd.DataFrame({"group": rows["group"].to_numpy(), "bucket": bucket}).value_counts().rename("count")
    frame = counts.reset_index().join(groups, on="group")
    frame["metric"] = metric
    return to_records(frame, ["model_name", "metric", "hour", "model_version", "is_shadow", "bucket", "count"])
