"""A regressor's output drift: its live answers against its reference's predictions (or, failing those, its
target), read off the roll-ups' prediction buckets — next to input drift, as Evidently shows prediction drift."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from core.monitoring.drift import DriftThresholds, FeatureDrift, numeric_drift
from core.monitoring.drift_statistics import Histogram, bin_index, numeric_edges
from core.profile import NumericProfile, TrainingProfile
from storage import rollups


@dataclass(frozen=True)
class OutputDrift:
    """The answers' drift and what they were compared with (``predictions`` or ``target`` of the reference)."""

    drift: FeatureDrift
    against: str


def output_reference(profile: TrainingProfile | None) -> tuple[NumericProfile, str] | None:
    """The reference's predictions when it holds them, else its numeric target, else ``None``."""
    if profile is None:
        return None
    if profile.prediction_profile is not None:
        return profile.prediction_profile, "the reference's predictions"
    if isinstance(profile.target_profile, NumericProfile):
        return profile.target_profile, "the reference's true values"
    return None


def regression_output_drift(
    profile: TrainingProfile | None, buckets: pd.DataFrame, thresholds: DriftThresholds
) -> OutputDrift | None:
    """Drift of the answers in ``buckets`` (signed-log prediction buckets) against the reference's outputs.

    Each bucket's rows sit at its midpoint (buckets are ≈ 2.3 % wide at any magnitude), binned on the
    reference's drift bins; fewer rows than the minimum give "not enough data", as for inputs.
    """
    found = output_reference(profile)
    if found is None or buckets.empty or profile is None:
        return None
    reference, against = found
    merged = buckets.groupby("bucket")["count"].sum()
    merged = merged[merged > 0]
    if merged.empty:
        return None
    low, high = rollups.signed_log_bounds(merged.index.to_numpy())
    middle = (low + high) / 2
    edges = numeric_edges(reference)
    index = bin_index(middle, edges)
    counts = merged.to_numpy(dtype=float)
    size = len(edges) - 1
    histogram = Histogram(
        counts=np.bincount(index, weights=counts, minlength=size),
        sums=np.bincount(index, weights=counts * middle, minlength=size),
    )
    drift = numeric_drift(reference, histogram, reference_rows=profile.row_count, thresholds=thresholds)
    if drift.current_count < thresholds.min_rows:
        drift = replace(drift, drifted=False, enough_rows=False)
    return OutputDrift(drift=drift, against=against)
