"""A refresh chunk's logged inputs, read and parsed once, and the feature bins counted from them.

The same parsed inputs feed the feature bins (here), estimated performance (:mod:`storage.rollups.estimates`),
multivariate errors and segments (:mod:`storage.rollups.segments`): one query and one JSON parse per chunk.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage.base import table_of
from storage.prediction_log import Prediction
from storage.rollups.buckets import clipped_for_sums
from storage.rollups.sql import to_records

FeatureBinning = Mapping[str, "np.ndarray | None"]  # feature -> numeric bin edges, or None for a categorical


@dataclass(frozen=True)
class ChunkInputs:
    """The logged inputs of a chunk's rows (``rows`` of the refresh, ordered by id)."""

    texts: np.ndarray  # per row: its inputs as logged (JSON text; a shadow borrows its answer's), None if none
    probabilities: np.ndarray | None  # per row: its probabilities as logged (JSON text), when asked for
    wide: pd.DataFrame | None  # the parsed inputs of the rows at ``at`` (numbers as floats); None: no inputs at all
    at: np.ndarray  # the positions in ``rows`` of ``wide``'s rows

    def parsed_for(self, positions: np.ndarray) -> pd.DataFrame | None:
        """``wide``'s rows for the rows at ``positions`` (in that order), or None when some have none parsed."""
        if self.wide is None:
            return None
        row_of = np.full(len(self.texts), -1, dtype=np.int64)
        row_of[self.at] = np.arange(len(self.at))
        chosen = row_of[positions]
        if (chosen < 0).any():
            return None
        return self.wide.iloc[chosen].reset_index(drop=True)


def read_chunk_inputs(session: Session, rows: pd.DataFrame, low: int, high: int, *, probabilities: bool) -> ChunkInputs:
    """The inputs (and, if asked, probabilities) of the predictions with ids in (``low``, ``high``]."""
    answer = table_of(Prediction).alias("answer")
    query = (
        select(Prediction.id, func.coalesce(Prediction.inputs, answer.c.inputs))
        .select_from(Prediction)
        .outerjoin(answer, answer.c.id == Prediction.shadow_of)
        .where(Prediction.id > low, Prediction.id <= high)
        .order_by(Prediction.id)
    )
    if probabilities:
        query = query.add_columns(Prediction.probabilities)
    # Plain tuples from the DBAPI cursor (as read_frame does): SQLAlchemy's Row objects cost seconds a chunk.
    result = session.connection().execute(query)
    try:
        found: list[Any] = list(result.cursor.fetchall()) if result.cursor is not None else []
    finally:
        result.close()
    ids = np.fromiter((row[0] for row in found), dtype=np.int64, count=len(found))
    known_ids = rows["id"].to_numpy()
    position = np.clip(np.searchsorted(known_ids, ids), 0, max(len(known_ids) - 1, 0))
    # A row committed by another writer since ``rows`` was read (PostgreSQL) waits for the next refresh.
    known = known_ids[position] == ids if len(known_ids) else np.zeros(len(ids), dtype=bool)
    at = position[known]
    texts = np.full(len(rows), None, dtype=object)
    texts[at] = np.array([row[1] for row in found], dtype=object)[known] if len(found) else []
    logged = None
    if probabilities:
        logged = np.full(len(rows), None, dtype=object)
        logged[at] = np.array([row[2] for row in found], dtype=object)[known] if len(found) else []
    chosen = texts[at]
    if not any(text for text in chosen):
        return ChunkInputs(texts=texts, probabilities=logged, wide=None, at=at)
    # One json.loads for the chunk (a JSON array of the objects) instead of one per row.
    parsed = json.loads("[" + ",".join(text or "{}" for text in chosen) + "]", parse_int=float)
    return ChunkInputs(texts=texts, probabilities=logged, wide=pd.DataFrame.from_records(parsed), at=at)


def feature_rows(
    rows: pd.DataFrame,
    groups: pd.DataFrame,
    inputs: ChunkInputs,
    binning_for: Callable[[str, int], FeatureBinning | None],
) -> list[dict[str, Any]]:
    """``rollup_features`` rows of the chunk: per group (hour, version, shadow), feature and bin, count and sum."""
    wide = inputs.wide
    if wide is None:
        return []
    group_of = rows["group"].to_numpy()[inputs.at]
    versions = groups[["model_name", "model_version"]].drop_duplicates()
    out: list[pd.DataFrame] = []
    for model_name, version in versions.itertuples(index=False):
        binning = binning_for(model_name, int(version))
        if binning is None:
            continue
        version_groups = groups.index[(groups["model_name"] == model_name) & (groups["model_version"] == version)]
        chosen = np.isin(group_of, version_groups)
        if not chosen.any():
            continue
        for feature, edges in binning.items():
            if feature not in wide.columns:
                continue
            column = wide[feature][chosen]
            values = column.to_numpy(dtype=object)
            # Typed as logged: a level counts only where text was logged, a number only where a number was.
            if edges is None:
                texts_at = logged_texts(column)
                if not texts_at.any():
                    continue
                keyed = pd.DataFrame({"group": group_of[chosen][texts_at], "bucket": values[texts_at]})
                counted = keyed.groupby(["group", "bucket"]).size().rename("count").reset_index().assign(value_sum=0.0)
            else:
                numbers_at = logged_numbers(column)
                if not numbers_at.any():
                    continue
                number = values[numbers_at].astype(float)
                bucket = np.clip(np.searchsorted(edges, number, side="right") - 1, 0, len(edges) - 2)
                # Summed clipped (buckets.SUM_LIMIT): a logged 1e308 or inf cannot overflow the bin's sum.
                value = clipped_for_sums(number)
                keyed = pd.DataFrame({"group": group_of[chosen][numbers_at], "bucket": bucket, "value": value})
                counted = keyed.groupby(["group", "bucket"]).agg(count=("value", "size"), value_sum=("value", "sum"))
                counted = counted.reset_index()
                counted["bucket"] = counted["bucket"].astype(str)
            out.append(counted.assign(feature=feature))
    if not out:
        return []
    frame = pd.concat(out, ignore_index=True).join(groups, on="group")
    columns = ["model_name", "model_version", "hour", "is_shadow", "feature", "bucket", "count", "value_sum"]
    return to_records(frame, columns)


def logged_texts(column: pd.Series) -> np.ndarray:
    """Where text was logged (not a number, not missing)."""
    if isinstance(column.dtype, pd.StringDtype) or (
        column.dtype == object and pd.api.types.infer_dtype(column, skipna=True) == "string"
    ):
        return column.notna().to_numpy()  # all text but the missing: no per-row type check needed
    values = column.to_numpy(dtype=object)
    return np.fromiter((type(value) is str for value in values), dtype=bool, count=len(values))


def logged_numbers(column: pd.Series) -> np.ndarray:
    """Where a number was logged (a key a row lacks reads as NaN, not a number)."""
    if column.dtype == np.float64:  # every value a float (JSON numbers parse as floats) or missing
        return column.notna().to_numpy()
    values = column.to_numpy(dtype=object)
    numbers_at = np.fromiter((type(value) is float for value in values), dtype=bool, count=len(values))
    numbers_at[numbers_at] = ~np.isnan(values[numbers_at].astype(float))
    return numbers_at
