"""Percentiles and quantiles read off the roll-ups' histogram buckets."""

from __future__ import annotations

import numpy as np

from storage import rollups

PERCENTILES = (50, 95, 99)


def latency_percentiles(buckets: np.ndarray, counts: np.ndarray, quantiles=PERCENTILES) -> dict[int, float | None]:
    """Percentiles (ms) from log-spaced latency buckets, interpolated geometrically inside a bucket."""
    counts = np.asarray(counts, dtype=float)
    if counts.sum() <= 0:
        return dict.fromkeys(quantiles)
    order = np.argsort(buckets)
    buckets, counts = np.asarray(buckets)[order], counts[order]
    low, high = rollups.latency_bounds(buckets)
    cumulative = np.cumsum(counts)
    total = cumulative[-1]
    result: dict[int, float | None] = {}
    for quantile in quantiles:
        rank = quantile / 100 * total
        index = int(np.searchsorted(cumulative, rank, side="left"))
        index = min(index, len(counts) - 1)
        before = cumulative[index - 1] if index else 0.0
        fraction = (rank - before) / counts[index] if counts[index] else 0.0
        result[quantile] = float(low[index] * (high[index] / low[index]) ** min(max(fraction, 0.0), 1.0))
    return result


def signed_log_quantiles(buckets: np.ndarray, counts: np.ndarray, quantiles=(10, 50, 90)) -> dict[int, float | None]:
    """Quantiles of a signed-log histogram (prediction or residual), linear inside a bucket."""
    counts = np.asarray(counts, dtype=float)
    if counts.sum() <= 0:
        return dict.fromkeys(quantiles)
    order = np.argsort(buckets)
    buckets, counts = np.asarray(buckets)[order], counts[order]
    low, high = rollups.signed_log_bounds(buckets)
    cumulative = np.cumsum(counts)
    result: dict[int, float | None] = {}
    for quantile in quantiles:
        rank = quantile / 100 * cumulative[-1]
        index = min(int(np.searchsorted(cumulative, rank, side="left")), len(counts) - 1)
        before = cumulative[index - 1] if index else 0.0
        fraction = min(max((rank - before) / counts[index], 0.0), 1.0)
        result[quantile] = float(low[index] + (high[index] - low[index]) * fraction)
    return result
