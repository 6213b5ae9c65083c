"""A bounded sample of a reference's rows, kept in its profile, and simulated traffic bootstrapped from it.

Drawing each feature on its own from its histogram breaks every relation between features (carat and
x, y, z; a segment's own mix of values): multivariate drift then flags unshifted simulated traffic, and
every segment drifts against its own reference. Whole rows drawn from the reference keep those relations,
so only a requested :class:`~core.monitoring.traffic.Shift` shows as drift.

The sample is plain JSON in :attr:`core.profile.TrainingProfile.sample`: each column one compact JSON
list (numbers, or level texts as the profile writes them; ``null`` for missing), so it stays one line
each in the profile file. At most :data:`SAMPLE_ROWS` rows and :data:`SAMPLE_CELLS` values (a wide
reference keeps fewer rows), so the profile stays small whatever the reference.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from core.errors import InvalidInput
from core.monitoring.multivariate import reconstruction_errors
from core.monitoring.traffic import Shift, Traffic, sample_traffic
from core.profile import TrainingProfile
from storage.base import utcnow

SAMPLE_ROWS = 10_000  # enough that its mean reconstruction error sits well inside the reference's band
SAMPLE_CELLS = 400_000  # rows × columns kept at most (a 100-column reference keeps 4,000 rows)
MIN_SAMPLE_ROWS = 1_000
DRAW_CHUNK = 50_000  # rows drawn at a time by :func:`traffic_chunks`


def sample_of(
    frame: pd.DataFrame,
    features: Mapping[str, Any],
    *,
    multivariate: Mapping[str, Any] | None = None,
    seed: int = 0,
) -> dict[str, Any] | None:
    """A seeded sample of the reference rows ``frame`` for the profiled ``features``; ``None`` without rows.

    ``features`` are the profile's features (a ``kind`` of ``numeric`` or ``categorical`` each). With the
    reference's PCA fit (``multivariate``) the rows are taken evenly along their reconstruction errors
    (a systematic sample of the rows sorted by error), so the sample's mean error is the reference's: a
    plain random sample's mean could sit a band's width away, and unshifted traffic drawn from it would
    be flagged by multivariate drift for the sample's luck, not for any change.
    """
    names = [name for name in features if name in frame.columns]
    if frame.empty or not names:
        return None
    keep = min(len(frame), max(MIN_SAMPLE_ROWS, min(SAMPLE_ROWS, SAMPLE_CELLS // len(names))))
    rng = np.random.default_rng(seed)
    if multivariate is not None and keep < len(frame):
        order = np.argsort(reconstruction_errors(multivariate, frame), kind="stable")
        positions = ((np.arange(keep) + rng.random()) * len(frame) / keep).astype(int)
        chosen = np.sort(order[np.minimum(positions, len(frame) - 1)])
    else:
        chosen = np.sort(rng.choice(len(frame), keep, replace=False))
    rows = frame.iloc[chosen]
    columns: dict[str, str] = {}
    for name in names:
        if getattr(features[name], "kind", "") == "numeric":
            values = pd.to_numeric(rows[name], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
            listed: list[Any] = [float(value) if math.isfinite(value) else None for value in values.tolist()]
        else:  # level texts, as the profile counts them (a boolean True is the level "True")
            listed = [None if pd.isna(value) else str(value) for value in rows[name].tolist()]
        columns[name] = json.dumps(listed, separators=(",", ":"))
    return {"rows": keep, "of": len(frame), "columns": columns}


def sample_rows(profile: TrainingProfile) -> pd.DataFrame | None:
    """The profile's sampled reference rows (numbers as floats, levels as text); ``None`` if it kept none."""
    sample = profile.sample
    if not sample or not sample.get("columns"):
        return None
    columns: dict[str, Any] = {}
    for name, text in sample["columns"].items():
        values = json.loads(text)
        feature = profile.features.get(name)
        if getattr(feature, "kind", "") == "numeric":
            columns[name] = np.array([np.nan if value is None else value for value in values], dtype=float)
        else:
            columns[name] = pd.Series(values, dtype=object)
    return pd.DataFrame(columns)


def draw_rows(
    rows: pd.DataFrame, *, count: int, rng: np.random.Generator, complete: Sequence[str] = ()
) -> pd.DataFrame:
    """``count`` whole rows drawn with replacement (a bootstrap), preferring rows with every ``complete`` column.

    A reference with missing values in inputs the model requires would otherwise make simulated rows
    that serving rejects; invalid rows are the simulator's ``invalid_share``, not an accident of the data.
    """
    needed = [name for name in complete if name in rows.columns]
    pool = rows.dropna(subset=needed) if needed else rows
    if pool.empty:
        pool = rows
    picked = rng.integers(0, len(pool), count)
    return pool.iloc[picked].reset_index(drop=True)


def _timestamps(rows: int, *, days: float, end: pd.Timestamp, rng: np.random.Generator) -> np.ndarray:
    # Sorted offsets into the past: the oldest row first, as a log fills up.
    offsets = np.sort(rng.random(rows)) * days * 86_400
    return (end - pd.to_timedelta(offsets[::-1], unit="s")).to_numpy()


def traffic_chunks(
    profile: TrainingProfile,
    *,
    rows: int,
    days: float,
    shifts: tuple[Shift, ...] = (),
    seed: int = 0,
    now: datetime | None = None,
    complete: Sequence[str] = (),
    chunk: int = DRAW_CHUNK,
) -> Iterator[Traffic]:
    """Traffic in chunks of at most ``chunk`` rows, oldest first, spread over the past ``days``.

    Whole reference rows (a bootstrap of the profile's sample), then the ``shifts``; a profile without a
    sample (written before it kept one) falls back to drawing each feature on its own. Memory stays
    bounded by the chunk whatever ``rows`` is: each chunk covers its own slice of the time span.
    """
    if rows <= 0:
        raise InvalidInput("--rows must be a positive number")
    if days <= 0:
        raise InvalidInput("--days must be a positive number")
    reference = sample_rows(profile)
    rng = np.random.default_rng(seed)
    end = pd.Timestamp(now or utcnow())
    for shift in shifts:  # a bad shift is said before anything is drawn or logged
        shift.apply((reference if reference is not None else _columns_of(profile)).iloc[:0], rng=rng)
    chunks = math.ceil(rows / chunk)
    for number in range(chunks):
        size = min(chunk, rows - number * chunk)
        # Chunk k covers the k-th slice of the span (oldest first), in proportion to its rows.
        older = days * (rows - number * chunk) / rows
        newer = days * (rows - number * chunk - size) / rows
        if reference is None:
            part = sample_traffic(profile, rows=size, days=older - newer, shifts=shifts, seed=seed + number)
            stamps = _timestamps(size, days=older - newer, end=end - pd.Timedelta(days=newer), rng=rng)
            yield Traffic(drawn=part.drawn, features=part.features, timestamps=stamps)
            continue
        drawn = draw_rows(reference, count=size, rng=rng, complete=complete)
        features = drawn
        for shift in shifts:
            features = shift.apply(features, rng=rng)
        stamps = _timestamps(size, days=older - newer, end=end - pd.Timedelta(days=newer), rng=rng)
        yield Traffic(drawn=drawn, features=features, timestamps=stamps)


def _columns_of(profile: TrainingProfile) -> pd.DataFrame:
    # An empty frame with the profile's columns and kinds, for checking a shift against.
    return pd.DataFrame(
        {
            name: pd.Series(dtype=float if getattr(feature, "kind", "") == "numeric" else object)
            for name, feature in profile.features.items()
        }
    )


def keeps_relations(profile: TrainingProfile) -> bool:
    """Whether traffic drawn for this profile keeps the relations between features (it kept a sample)."""
    return bool(profile.sample and profile.sample.get("columns"))
