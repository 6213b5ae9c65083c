"""Drift of live inputs against a training profile, with Evidently's default tests and thresholds.

Everything works on histograms — reference counts from the training profile and current counts merged
from the hourly roll-ups — so the cost does not depend on how many predictions were logged.

Method per feature (Evidently's defaults, so the two can be compared):

- reference > ``small_reference_rows`` (1,000): numerics → Wasserstein distance normalised by the
  reference standard deviation, drifted at ≥ 0.1; categoricals and numerics with ≤ 5 distinct
  values → Jensen–Shannon distance, drifted at ≥ 0.1;
- smaller reference: numerics → two-sample Kolmogorov–Smirnov, drifted at p ≤ 0.05; categoricals →
  chi-square, drifted at p < 0.05.

PSI is reported for every feature. The dataset drifts when the share of drifted features ≥ 0.5.

Evidence before verdicts: a feature with fewer than ``min_rows`` (``LOUPE_DRIFT_MIN_ROWS``, 100) current
rows gets no verdict ("not enough data"); it is listed but neither drifted nor counted in the share, and a
report with no feature judged has no dataset verdict at all.

Binned accuracy: numeric bins are the reference's percentiles (≤ 100 bins) plus 20 equal bins on each
side beyond the training range, open-ended at both ends. Each bin keeps its count and the sum of its
values, so the Wasserstein distance is computed by scipy on point masses at the bin means: on the
diamonds data it is within 0.003 (normalised) of scipy on the raw arrays. KS is evaluated at the bin
edges, a lower bound of the raw statistic."""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

import numpy as np
import pandas as pd

from core.csv_export import csv_text
from core.monitoring.drift_statistics import (
    Histogram,
    _finite_edges,
    bin_midpoints,
    bin_values,
    chisquare_counts,
    is_discrete,
    jensenshannon_counts,
    ks_binned,
    numeric_edges,
    population_stability_index,
    reference_histogram,
    wasserstein_binned,
)
from core.profile import CategoricalProfile, FeatureProfile, NumericProfile, TrainingProfile
from core.settings import Settings

Method = Literal["wasserstein", "jensenshannon", "ks", "chisquare"]


NUMERIC_STD_FLOOR = 0.001  # Evidently's floor on the normalising standard deviation


@dataclass(frozen=True)
class DriftThresholds:
    """Per-method thresholds (Evidently's defaults); set them with the ``LOUPE_DRIFT_*`` variables."""

    wasserstein: float = 0.1
    jensenshannon: float = 0.1
    ks_p_value: float = 0.05
    chisquare_p_value: float = 0.05
    dataset_share: float = 0.5
    small_reference_rows: int = 1_000
    low_cardinality: int = 5
    min_rows: int = 100  # fewer current rows than this: "not enough data", no verdict

    @classmethod
    def from_settings(cls, settings: Settings) -> DriftThresholds:
        return cls(
            wasserstein=settings.drift_wasserstein_threshold,
            jensenshannon=settings.drift_jensenshannon_threshold,
            ks_p_value=settings.drift_ks_p_value,
            chisquare_p_value=settings.drift_chisquare_p_value,
            dataset_share=settings.drift_share_threshold,
            small_reference_rows=settings.drift_small_reference_rows,
            min_rows=settings.drift_min_rows,
        )


@dataclass(frozen=True)
class Distribution:
    """Reference and current shares on common bins, for overlays: ``labels`` name the bins."""

    labels: list[str]
    reference: list[float]
    current: list[float]
    centers: list[float] | None = None  # numeric bins only


@dataclass(frozen=True)
class FeatureDrift:
    """The drift verdict for one feature."""

    feature: str
    kind: Literal["numeric", "categorical"]
    method: Method
    statistic: float
    threshold: float
    drifted: bool
    psi: float
    reference_count: int
    current_count: int
    distribution: Distribution = field(repr=False)
    enough_rows: bool = True  # False: fewer current rows than the minimum, so no verdict ("not enough data")

    @property
    def verdict(self) -> str:
        """``drifted``, ``stable`` or ``not enough data``."""
        if not self.enough_rows:
            return "not enough data"
        return "drifted" if self.drifted else "stable"

    @property
    def rule(self) -> str:
        """How the statistic is compared with the threshold, for display."""
        return {"ks": "p ≤", "chisquare": "p <"}.get(self.method, "≥")


@dataclass(frozen=True)
class DriftReport:
    """Per-feature drift plus the dataset verdict."""

    features: list[FeatureDrift]
    reference_rows: int
    current_rows: int
    share_threshold: float
    min_rows: int = 1

    @property
    def judged(self) -> list[FeatureDrift]:
        """The features with enough current rows for a verdict."""
        return [feature for feature in self.features if feature.enough_rows]

    @property
    def not_enough(self) -> list[FeatureDrift]:
        """The features listed without a verdict: fewer current rows than :attr:`min_rows`."""
        return [feature for feature in self.features if not feature.enough_rows]

    @property
    def drifted_count(self) -> int:
        return sum(feature.drifted for feature in self.judged)

    @property
    def share(self) -> float | None:
        """Share of the judged features that drifted; ``None`` when no feature had enough rows to judge."""
        judged = self.judged
        return self.drifted_count / len(judged) if judged else None

    @property
    def dataset_drift(self) -> bool | None:
        share = self.share
        return None if share is None else share >= self.share_threshold

    def to_dict(self) -> dict[str, Any]:
        """The report as plain JSON-ready data (distributions left out)."""
        features = []
        for feature in self.features:
            row = asdict(feature)
            row.pop("distribution")
            row["rule"] = feature.rule
            row["verdict"] = feature.verdict
            features.append(row)
        return {
            "dataset_drift": self.dataset_drift,
            "drift_share": self.share,
            "drifted_features": self.drifted_count,
            "feature_count": len(self.features),
            "judged_features": len(self.judged),
            "min_rows": self.min_rows,
            "share_threshold": self.share_threshold,
            "reference_rows": self.reference_rows,
            "current_rows": self.current_rows,
            "features": features,
        }

    def to_frame(self) -> pd.DataFrame:
        """One row per feature: method, statistic, threshold, drifted, PSI, counts."""
        columns = ["feature", "kind", "method", "statistic", "threshold", "drifted", "verdict", "psi"]
        columns += ["reference_count", "current_count"]
        return pd.DataFrame(
            [{name: getattr(item, name) for name in columns} for item in self.features], columns=columns
        )

    def to_json(self, **extra: Any) -> str:
        return json.dumps({**extra, **self.to_dict()}, indent=2, default=str)

    def to_csv(self) -> str:
        frame = self.to_frame()
        frame["dataset_drift"] = self.dataset_drift
        frame["drift_share"] = self.share
        return csv_text(frame)


def _psi_groups(feature: NumericProfile, edges: np.ndarray) -> np.ndarray:
    # PSI on the profile's 20 quantile bins: each fine bin joins the coarse bin holding its midpoint.
    if is_discrete(feature):
        return np.arange(len(edges) - 1)
    coarse = np.asarray(feature.bin_edges, dtype=float)
    x = _finite_edges(edges)
    middle = (x[:-1] + x[1:]) / 2
    return np.clip(np.searchsorted(coarse, middle, side="right") - 1, 0, len(coarse) - 2)


def _grouped(counts: np.ndarray, groups: np.ndarray) -> np.ndarray:
    return np.bincount(groups, weights=counts, minlength=int(groups.max()) + 1)


def numeric_drift(
    feature: NumericProfile, histogram: Histogram, *, reference_rows: int, thresholds: DriftThresholds
) -> FeatureDrift:
    """Drift of one numeric feature from its current histogram on :func:`numeric_edges`."""
    edges = numeric_edges(feature)
    reference_hist = reference_histogram(feature)
    if not (is_discrete(feature) or feature.drift_edges):  # no reference sums: both sides at bin midpoints
        histogram = Histogram(
            counts=histogram.counts,
            sums=histogram.counts * Histogram(reference_hist.counts * 0, reference_hist.counts * 0).means(edges),
        )
    reference, current = reference_hist.counts, np.asarray(histogram.counts, dtype=float)
    if len(current) != len(reference):
        raise ValueError(f"{feature.name}: {len(current)} current bins for {len(reference)} reference bins")
    small = reference_rows <= thresholds.small_reference_rows
    few_values = feature.unique_count <= thresholds.low_cardinality
    method: Method
    if small:
        if few_values:
            method, threshold = "chisquare", thresholds.chisquare_p_value
            statistic = chisquare_counts(reference, current)
            drifted = statistic < threshold
        else:
            method, threshold = "ks", thresholds.ks_p_value
            statistic = ks_binned(edges, reference, current)[1]
            drifted = statistic <= threshold
    elif few_values:
        method, threshold = "jensenshannon", thresholds.jensenshannon
        statistic = jensenshannon_counts(reference, current)
        drifted = statistic >= threshold
    else:
        method, threshold = "wasserstein", thresholds.wasserstein
        # Evidently divides by np.std (ddof=0); the profile keeps the sample std (ddof=1).
        n = max(feature_count(feature), 2)
        std = max(feature.std * math.sqrt((n - 1) / n), NUMERIC_STD_FLOOR)
        statistic = wasserstein_binned(edges, reference_hist, histogram) / std
        drifted = statistic >= threshold
    groups = _psi_groups(feature, edges)
    psi = population_stability_index(_grouped(reference, groups), _grouped(current, groups))
    return FeatureDrift(
        feature=feature.name,
        kind="numeric",
        method=method,
        statistic=float(statistic),
        threshold=threshold,
        drifted=bool(drifted),
        psi=psi,
        reference_count=int(reference.sum()),
        current_count=int(current.sum()),
        distribution=_numeric_distribution(feature, edges, reference, current),
    )


def feature_count(feature: NumericProfile) -> int:
    """Rows behind a numeric profile."""
    return int(sum(feature.value_counts or feature.drift_counts or feature.bin_counts))


def _numeric_distribution(
    feature: NumericProfile, edges: np.ndarray, reference: np.ndarray, current: np.ndarray
) -> Distribution:
    if is_discrete(feature):
        labels = [f"{value:g}" for value in feature.values]
        centers = list(feature.values)
    else:
        centers = bin_midpoints(edges).tolist()
        labels = [f"[{low:.4g}, {high:.4g})" for low, high in itertools.pairwise(edges)]
    keep = (reference > 0) | (current > 0)
    return Distribution(
        labels=[label for label, kept in zip(labels, keep, strict=True) if kept],
        reference=(reference / max(reference.sum(), 1))[keep].tolist(),
        current=(current / max(current.sum(), 1))[keep].tolist(),
        centers=[center for center, kept in zip(centers, keep, strict=True) if kept],
    )


def categorical_drift(
    feature: CategoricalProfile, current: dict[str, float], *, reference_rows: int, thresholds: DriftThresholds
) -> FeatureDrift:
    """Drift of one categorical feature from its current level counts (unseen levels included)."""
    levels = list(feature.levels) + sorted(level for level in current if level not in set(feature.levels))
    reference = np.array(list(feature.counts) + [0] * (len(levels) - len(feature.levels)), dtype=float)
    observed = np.array([current.get(level, 0) for level in levels], dtype=float)
    method: Method
    if reference_rows <= thresholds.small_reference_rows:
        method, threshold = "chisquare", thresholds.chisquare_p_value
        statistic = chisquare_counts(reference, observed)
        drifted = statistic < threshold
    else:
        method, threshold = "jensenshannon", thresholds.jensenshannon
        statistic = jensenshannon_counts(reference, observed)
        drifted = statistic >= threshold
    return FeatureDrift(
        feature=feature.name,
        kind="categorical",
        method=method,
        statistic=float(statistic),
        threshold=threshold,
        drifted=bool(drifted),
        psi=population_stability_index(reference, observed),
        reference_count=int(reference.sum()),
        current_count=int(observed.sum()),
        distribution=Distribution(
            labels=levels,
            reference=(reference / max(reference.sum(), 1)).tolist(),
            current=(observed / max(observed.sum(), 1)).tolist(),
        ),
    )


CurrentCounts = dict[str, "Histogram | dict[str, float]"]


def drift_report(
    profile: TrainingProfile, current: CurrentCounts, *, thresholds: DriftThresholds | None = None
) -> DriftReport:
    """Drift of every profiled feature that has current values (numeric: bin counts; categorical: level counts)."""
    thresholds = thresholds or DriftThresholds()
    results: list[FeatureDrift] = []
    for name, feature in profile.features.items():
        counts = current.get(name)
        if counts is None or _total(counts) == 0:
            continue
        result = feature_drift(feature, counts, reference_rows=profile.row_count, thresholds=thresholds)
        if result.current_count < thresholds.min_rows:  # evidence before verdicts
            result = replace(result, drifted=False, enough_rows=False)
        results.append(result)
    current_rows = max((result.current_count for result in results), default=0)
    return DriftReport(
        features=results,
        reference_rows=profile.row_count,
        current_rows=current_rows,
        share_threshold=thresholds.dataset_share,
        min_rows=thresholds.min_rows,
    )


def feature_drift(
    feature: FeatureProfile, counts: Histogram | dict[str, float], *, reference_rows: int, thresholds: DriftThresholds
) -> FeatureDrift:
    """Dispatch on the feature's kind."""
    if isinstance(feature, NumericProfile):
        if not isinstance(counts, Histogram):
            raise TypeError(f"{feature.name} is numeric: its current counts must be a Histogram")
        return numeric_drift(feature, counts, reference_rows=reference_rows, thresholds=thresholds)
    if isinstance(counts, Histogram):
        raise TypeError(f"{feature.name} is categorical: its current counts must be a mapping of levels")
    return categorical_drift(feature, dict(counts), reference_rows=reference_rows, thresholds=thresholds)


def current_counts(profile: TrainingProfile, frame: pd.DataFrame) -> CurrentCounts:
    """Current counts from raw values (used for small samples and to check the roll-ups)."""
    counts: CurrentCounts = {}
    for name, feature in profile.features.items():
        if name not in frame:
            continue
        if isinstance(feature, NumericProfile):
            counts[name] = bin_values(
                pd.to_numeric(frame[name], errors="coerce").to_numpy(float), numeric_edges(feature)
            )
        else:
            values = frame[name].dropna().astype(str)
            counts[name] = {str(level): float(count) for level, count in values.value_counts().items()}
    return counts


def _total(counts: Histogram | dict[str, float]) -> float:
    return float(sum(counts.values())) if isinstance(counts, dict) else counts.total
