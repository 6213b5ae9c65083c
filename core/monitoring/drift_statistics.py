"""The statistics behind drift, on binned data: Wasserstein, Jensen–Shannon, KS, chi-square and PSI.

Numeric features are compared on the training profile's bins (histograms with per-bin sums), so the
cost does not depend on how many predictions were logged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats
from scipy.spatial import distance

from core.profile import NumericProfile
from storage.rollups.buckets import clipped_for_sums, sum_bounds

PSI_EPSILON = 1e-4  # keeps ln() finite for empty bins, as Evidently and most PSI write-ups do


@dataclass(frozen=True)
class Histogram:
    """Counts and value sums of a numeric feature on :func:`numeric_edges`."""

    counts: np.ndarray
    sums: np.ndarray

    @property
    def total(self) -> float:
        return float(np.sum(self.counts))

    def means(self, edges: np.ndarray) -> np.ndarray:
        """Mean value in each bin (the bin's midpoint where it is empty), always finite.

        A bin beyond the reference may hold 1e308s (or inf, rolled up before sums were clipped): its mean
        is clipped to :func:`storage.rollups.buckets.sum_bounds` (the reference's drift range widened by a
        span), and a NaN one (inf − inf) sits at the bin's midpoint, so Wasserstein and every figure built
        on it stay finite.
        """
        midpoints = bin_midpoints(edges)
        with np.errstate(invalid="ignore", over="ignore"):
            means = np.divide(self.sums, self.counts, out=midpoints.copy(), where=self.counts > 0)
        means = np.where(np.isnan(means), midpoints, means)
        return np.clip(means, *sum_bounds(edges))


def bin_midpoints(edges: np.ndarray) -> np.ndarray:
    """Middle of each bin; the open outer bins sit at the last finite edge."""
    x = _finite_edges(edges)
    return (x[:-1] + x[1:]) / 2


def is_discrete(feature: NumericProfile) -> bool:
    """Whether the numeric feature is compared by its values (few distinct values)."""
    return bool(feature.values)


def numeric_edges(feature: NumericProfile) -> np.ndarray:
    """Bin edges for one numeric feature, open-ended: bin ``i`` is ``[edges[i], edges[i+1])``."""
    if is_discrete(feature):
        values = np.asarray(feature.values, dtype=float)
        inner = (values[:-1] + values[1:]) / 2  # one bin per training value
    elif feature.drift_edges:
        inner = np.asarray(feature.drift_edges, dtype=float)
    else:  # a profile written before drift bins existed: its 20 quantile bins
        inner = np.asarray(feature.bin_edges, dtype=float)
    return np.concatenate([[-np.inf], inner, [np.inf]])


def reference_histogram(feature: NumericProfile) -> Histogram:
    """The training counts and sums on :func:`numeric_edges`."""
    if is_discrete(feature):
        counts = np.asarray(feature.value_counts, dtype=float)
        return Histogram(counts=counts, sums=counts * np.asarray(feature.values, dtype=float))
    if feature.drift_edges:
        counts = np.concatenate([[0.0], np.asarray(feature.drift_counts, dtype=float), [0.0]])
        sums = np.concatenate([[0.0], np.asarray(feature.drift_sums, dtype=float), [0.0]])
        return Histogram(counts=counts, sums=sums)
    # Older profiles: 20 quantile bins without sums, their mass taken at each bin's midpoint.
    counts = np.concatenate([[0.0], np.asarray(feature.bin_counts, dtype=float), [0.0]])
    return Histogram(counts=counts, sums=counts * bin_midpoints(numeric_edges(feature)))


def bin_index(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """The bin of each value: ``i`` such that ``edges[i] <= value < edges[i+1]``."""
    return np.clip(np.searchsorted(edges, values, side="right") - 1, 0, len(edges) - 2)


def bin_values(values: np.ndarray, edges: np.ndarray) -> Histogram:
    """Counts and sums of ``values`` in the bins of ``edges`` (NaN ignored; sums of clipped values, as the roll-ups)."""
    values = np.asarray(values, dtype=float)
    values = values[~np.isnan(values)]
    index = bin_index(values, edges)
    size = len(edges) - 1
    return Histogram(
        counts=np.bincount(index, minlength=size).astype(float),
        sums=np.bincount(index, weights=clipped_for_sums(values), minlength=size),
    )


def _finite_edges(edges: np.ndarray) -> np.ndarray:
    # The open outer bins hold their mass at the last finite edge (documented in the module docstring).
    finite = np.asarray(edges, dtype=float).copy()
    finite[0] = finite[1]
    finite[-1] = finite[-2]
    return finite


def _cdf(counts: np.ndarray) -> np.ndarray:
    total = counts.sum()
    return np.concatenate([[0.0], np.cumsum(counts) / total])


def wasserstein_binned(edges: np.ndarray, reference: Histogram, current: Histogram) -> float:
    """First Wasserstein distance (scipy) between the two histograms' mass at their bin means."""
    reference_kept, current_kept = reference.counts > 0, current.counts > 0
    return float(
        stats.wasserstein_distance(
            reference.means(edges)[reference_kept],
            current.means(edges)[current_kept],
            reference.counts[reference_kept],
            current.counts[current_kept],
        )
    )


def jensenshannon_counts(reference: np.ndarray, current: np.ndarray) -> float:
    """Jensen–Shannon distance (natural log, as Evidently) of two count vectors on the same bins."""
    value = distance.jensenshannon(np.asarray(reference, float), np.asarray(current, float))
    return float(value) if np.isfinite(value) else 0.0


def ks_binned(edges: np.ndarray, reference: np.ndarray, current: np.ndarray) -> tuple[float, float]:
    """Two-sample KS statistic at the bin edges and its asymptotic two-sided p-value."""
    del edges  # the statistic only needs the CDFs at the edges
    reference, current = np.asarray(reference, float), np.asarray(current, float)
    statistic = float(np.max(np.abs(_cdf(reference) - _cdf(current))))
    n, m = reference.sum(), current.sum()
    effective = round(n * m / (n + m))
    return statistic, float(stats.kstwo.sf(statistic, max(effective, 1)))


def chisquare_counts(reference: np.ndarray, current: np.ndarray) -> float:
    """Chi-square p-value of current counts against the reference shares (levels seen in either)."""
    reference, current = np.asarray(reference, float), np.asarray(current, float)
    seen = (reference > 0) | (current > 0)
    reference, current = reference[seen], current[seen]
    expected = reference * current.sum() / reference.sum()
    if np.any(expected == 0):  # a level never seen in training: as far from the reference as it gets
        return 0.0
    return float(stats.chisquare(current, expected).pvalue)


def population_stability_index(reference: np.ndarray, current: np.ndarray) -> float:
    """PSI = Σ (cur% − ref%) · ln(cur% / ref%), empty bins floored at 0.01%."""
    reference_share = np.maximum(np.asarray(reference, float) / max(np.sum(reference), 1), PSI_EPSILON)
    current_share = np.maximum(np.asarray(current, float) / max(np.sum(current), 1), PSI_EPSILON)
    return float(np.sum((current_share - reference_share) * np.log(current_share / reference_share)))
