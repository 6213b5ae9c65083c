"""Multivariate drift: the reconstruction error of a PCA fitted on the reference (NannyML's method).

A change in how features relate to each other (carat no longer matching x, y, z) leaves every feature's
own distribution as it was, so no per-feature test sees it. A PCA fitted on the reference rows keeps the
directions the reference varies along; rows that no longer follow them are reconstructed badly, and the
mean reconstruction error of a window rises.

- Encoding: numerics as they are (a missing value takes the reference mean), categoricals by the share of
  the reference their level has (frequency encoding, NannyML's choice; an unseen level reads 0), then every
  column standardised with the reference's mean and standard deviation.
- Components: as many as keep ``variance`` (``LOUPE_DRIFT_PCA_VARIANCE``, NannyML's 0.65) of the variance.
- Threshold: the reference, in a seeded shuffled order, is cut into :data:`REFERENCE_CHUNKS` chunks; their
  mean errors give the band mean ± 3 standard deviations (NannyML's default). A window whose mean error leaves it is flagged.

The fit is plain JSON kept in the version's profile (:attr:`core.profile.TrainingProfile.multivariate`). At
refresh each new row's error is computed once and summed per (model, hour, version, shadow) roll-up, so a
window's mean costs the same at any log size (:mod:`storage.rollups.multivariate`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from storage.rollups.buckets import sum_bounds

REFERENCE_CHUNKS = 10  # NannyML's default chunker cuts the reference in ten
THRESHOLD_STDS = 3.0
MIN_ROWS = 50  # fewer reference rows give no usable band
FIT_ROWS = 200_000  # the PCA is fitted on at most this many reference rows (a seeded sample)
SCALE_FLOOR = 1e-9
FALLBACK_REACH = 1e6  # standard deviations: squared and summed over the columns, far from float overflow


def fit_reference_pca(
    frame: pd.DataFrame, features: Mapping[str, Any], *, variance: float = 0.65
) -> dict[str, Any] | None:
    """Fit the PCA on the reference rows ``frame`` for the profiled ``features``; ``None`` if it cannot be.

    ``features`` are the profile's features (a ``kind`` of ``numeric`` or ``categorical`` each).
    """
    numeric = [name for name, item in features.items() if getattr(item, "kind", "") == "numeric"]
    categorical = [name for name, item in features.items() if getattr(item, "kind", "") == "categorical"]
    if len(frame) < MIN_ROWS or len(numeric) + len(categorical) < 2:
        return None
    means = [float(pd.to_numeric(frame[name], errors="coerce").mean()) for name in numeric]
    # Frequency encoding (NannyML's): one column per categorical, so many levels do not swamp the
    # numerics' variance the way one-hot columns would.
    frequency = {name: frame[name].dropna().astype(str).value_counts(normalize=True).to_dict() for name in categorical}
    fit: dict[str, Any] = {
        "numeric": numeric,
        "numeric_means": [0.0 if math.isnan(mean) else mean for mean in means],
        "numeric_bounds": [_widened_range(pd.to_numeric(frame[name], errors="coerce")) for name in numeric],
        "frequency": {name: {str(k): float(v) for k, v in shares.items()} for name, shares in frequency.items()},
    }
    raw = _encode(fit, frame)
    center = raw.mean(axis=0)
    scale = raw.std(axis=0)
    scale[scale < SCALE_FLOOR] = 1.0
    standard = (raw - center) / scale
    sample = standard
    if len(sample) > FIT_ROWS:
        sample = sample[np.random.default_rng(0).choice(len(sample), FIT_ROWS, replace=False)]
    _, singular, vt = np.linalg.svd(sample - sample.mean(axis=0), full_matrices=False)
    explained = singular**2 / max(float((singular**2).sum()), SCALE_FLOOR)
    kept = int(np.searchsorted(np.cumsum(explained), variance - 1e-12) + 1)
    kept = min(max(kept, 1), len(explained))
    fit.update(
        center=center.tolist(),
        scale=scale.tolist(),
        components=vt[:kept].tolist(),
        variance=float(variance),
        explained=float(explained[:kept].sum()),
    )
    errors = _errors_of_standard(fit, standard)
    # Chunks of a seeded shuffle: a reference file is often sorted (by price, by date), and chunks of a
    # sorted file would measure that order, not how much a chunk's mean varies by chance.
    shuffled = errors[np.random.default_rng(0).permutation(len(errors))]
    chunk_means = [float(chunk.mean()) for chunk in np.array_split(shuffled, REFERENCE_CHUNKS) if len(chunk)]
    spread = float(np.std(chunk_means, ddof=1)) if len(chunk_means) > 1 else 0.0
    mean = float(errors.mean())
    fit.update(
        reference_error=mean,
        chunk_errors=chunk_means,
        lower=max(mean - THRESHOLD_STDS * spread, 0.0),
        upper=mean + THRESHOLD_STDS * spread,
        rows=len(frame),
    )
    return fit


def _encode(fit: Mapping[str, Any], frame: pd.DataFrame) -> np.ndarray:
    """The rows of ``frame`` as the PCA's columns (before standardising); absent columns read as missing."""
    rows = len(frame)
    columns: list[np.ndarray] = []
    for name, mean in zip(fit["numeric"], fit["numeric_means"], strict=True):
        values = pd.to_numeric(frame[name], errors="coerce") if name in frame else pd.Series(np.nan, index=frame.index)
        columns.append(values.to_numpy(dtype=float, na_value=np.nan))
        columns[-1] = np.where(np.isnan(columns[-1]), mean, columns[-1])
    # Clipped to the reference's widened range (as the drift bins clip a bin's mean): a logged 1e308 or inf
    # is far out either way, and its error stays finite instead of overflowing to inf/nan with warnings.
    for position, bounds in enumerate(fit.get("numeric_bounds") or []):
        if bounds is not None:
            columns[position] = np.clip(columns[position], bounds[0], bounds[1])
    for name, shares in fit["frequency"].items():
        columns.append(_as_text(frame, name).map(shares).fillna(0.0).to_numpy(dtype=float))
    return np.column_stack(columns) if columns else np.empty((rows, 0))


def _widened_range(values: pd.Series) -> list[float] | None:
    """The finite values' range widened by one span each side (:func:`storage.rollups.buckets.sum_bounds`)."""
    finite = values.to_numpy(dtype=float, na_value=np.nan)
    finite = finite[np.isfinite(finite)]
    return list(sum_bounds(finite.tolist())) if len(finite) else None


def _as_text(frame: pd.DataFrame, name: str) -> pd.Series:
    if name not in frame:
        return pd.Series("", index=frame.index, dtype=object)
    values = frame[name]
    return values.where(values.isna(), values.astype(str)).fillna("")


def _errors_of_standard(fit: Mapping[str, Any], standard: np.ndarray) -> np.ndarray:
    components = np.asarray(fit["components"], dtype=float)
    reconstructed = (standard @ components.T) @ components
    return np.sqrt(((standard - reconstructed) ** 2).sum(axis=1))


def reconstruction_errors(fit: Mapping[str, Any], frame: pd.DataFrame) -> np.ndarray:
    """Each row's reconstruction error (Euclidean, in standardised units) under the reference's PCA."""
    raw = _encode(fit, frame)
    center, scale = np.asarray(fit["center"], dtype=float), np.asarray(fit["scale"], dtype=float)
    # A fit stored before it recorded its bounds: clipped this many standard deviations out, still finite.
    raw = np.clip(raw, center - FALLBACK_REACH * scale, center + FALLBACK_REACH * scale)
    return _errors_of_standard(fit, (raw - center) / scale)


@dataclass(frozen=True)
class MultivariateDrift:
    """A window's mean reconstruction error against the reference's band, widened for a small window."""

    rows: int
    mean_error: float | None  # None: no rows in the window
    reference_error: float
    lower: float
    upper: float
    components: int
    explained: float
    min_rows: int = 1  # below this many rows there is no verdict (as per-feature drift: LOUPE_DRIFT_MIN_ROWS)

    @property
    def drifted(self) -> bool | None:
        if self.mean_error is None or self.rows < self.min_rows:
            return None
        return not (self.lower <= self.mean_error <= self.upper)

    @property
    def verdict(self) -> str:
        if self.mean_error is None:
            return "no inputs"
        if self.drifted is None:
            return "not enough data"
        return "drifted" if self.drifted else "within the reference's band"


def multivariate_drift(fit: Mapping[str, Any], *, rows: int, error_sum: float, min_rows: int = 1) -> MultivariateDrift:
    """The verdict for a window from its summed errors (``rows`` of them).

    The reference's band is drawn from the spread of chunk means (a tenth of the reference each). A window's
    mean over fewer rows varies more by chance, as 1/√rows: its band is widened by √(chunk rows / rows) so
    a quiet hour of unchanged traffic is not flagged; a window of a chunk or more keeps NannyML's band.
    """
    reference = float(fit["reference_error"])
    lower, upper = float(fit["lower"]), float(fit["upper"])
    chunk_rows = float(fit.get("rows", 0)) / REFERENCE_CHUNKS
    if rows and chunk_rows > rows:
        widen = math.sqrt(chunk_rows / rows)
        lower, upper = max(reference - (reference - lower) * widen, 0.0), reference + (upper - reference) * widen
    return MultivariateDrift(
        rows=int(rows),
        mean_error=float(error_sum) / rows if rows else None,
        reference_error=reference,
        lower=lower,
        upper=upper,
        components=len(fit["components"]),
        explained=float(fit["explained"]),
        min_rows=max(int(min_rows), 1),
    )
