"""Percentiles and quantiles read off the roll-ups' histogram buckets."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
from sqlalchemy.orm import Session

from storage import rollups

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
FAR_FUTURE = datetime(9999, 1, 1, tzinfo=UTC)
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


@dataclass(frozen=True)
class VersionLatency:
    """A version's latency over its whole logged life, answered and shadow rows alike (from the roll-ups)."""

    version: int
    samples: int
    p95_ms: float | None
    basis: str = "all answers"  # which requests the figure is read from (one record, batch, …)


def version_latency(session: Session, *, model_name: str, model_version: int) -> VersionLatency:
    """Samples and p95 of one version's latency, read off the hourly buckets as Monitoring reads them."""
    buckets = rollups.bucket_counts(
        session, model_name=model_name, metric="latency", start=EPOCH, end=FAR_FUTURE, model_version=model_version
    )
    if buckets.empty:
        return VersionLatency(version=model_version, samples=0, p95_ms=None)
    merged = buckets.groupby("bucket")["count"].sum()
    p95 = latency_percentiles(merged.index.to_numpy(), merged.to_numpy(), (95,))[95]
    return VersionLatency(version=model_version, samples=int(merged.sum()), p95_ms=p95)


def _kind_latency(session: Session, *, model_name: str, model_version: int, kind: str) -> VersionLatency:
    buckets = rollups.bucket_counts(
        session,
        model_name=model_name,
        metric=rollups.latency_metric(kind),
        start=EPOCH,
        end=FAR_FUTURE,
        model_version=model_version,
    )
    basis = rollups.LATENCY_KIND_NAMES[kind]
    if buckets.empty:
        return VersionLatency(version=model_version, samples=0, p95_ms=None, basis=basis)
    merged = buckets.groupby("bucket")["count"].sum()
    p95 = latency_percentiles(merged.index.to_numpy(), merged.to_numpy(), (95,))[95]
    return VersionLatency(version=model_version, samples=int(merged.sum()), p95_ms=p95, basis=basis)


def paired_latency(
    session: Session, *, model_name: str, candidate: int, holder: int, min_samples: int
) -> tuple[VersionLatency, VersionLatency]:
    """Two versions' p95 read off the same kind of request, like with like.

    The scoring server's answers first (production traffic), then one-record answers, then batch rows
    (each its share of the batch's time), then simulated traffic: the first kind both versions answered
    at least ``min_samples`` times. When none has, the one-record figures are returned (too few
    samples: the check says "unknown").
    """
    pairs = [
        (
            _kind_latency(session, model_name=model_name, model_version=candidate, kind=kind),
            _kind_latency(session, model_name=model_name, model_version=holder, kind=kind),
        )
        for kind in ("server", "one", "batch", "sim")
    ]
    for new, old in pairs:
        if min(new.samples, old.samples) >= min_samples:
            return new, old
    return pairs[1]
