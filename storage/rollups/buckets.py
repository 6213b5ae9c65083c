"""Fixed histogram buckets: log-spaced for latency, signed-log for predictions and residuals.

Buckets are fixed (not fitted to the data) so that hours, versions and windows add up bucket by bucket.
"""

from __future__ import annotations

import numpy as np

# Latency buckets: 40 per decade from 0.01 ms (each ≈ 5.9 % wide), up to 10^6 ms.
LATENCY_FLOOR_MS = 0.01
LATENCY_PER_DECADE = 40
LATENCY_BUCKETS = 8 * LATENCY_PER_DECADE
# Latency per kind of request, kept as metric ``lat_<kind>`` beside the overall ``latency``: a batch row
# carries its per-row share of the batch's time, so it is only compared with other batch rows.
LATENCY_KINDS = {"form": "one", "server": "server", "batch": "batch", "cli": "batch", "simulator": "sim"}
LATENCY_KIND_NAMES = {
    "server": "scoring server",
    "one": "one record",
    "batch": "batch (per-row share)",
    "sim": "simulated",
    "other": "other",
}
# Sources whose rows Loupe did not time: predictions made elsewhere (ingest) carry no latency of ours.
UNTIMED_SOURCES = ("ingest",)
# Prediction and residual buckets: 50 per unit of sign(v)·log10(1 + |v|), any magnitude, either sign.
SIGNED_LOG_PER_UNIT = 50


def latency_bucket(latency_ms: np.ndarray) -> np.ndarray:
    """Log-spaced latency bucket of each value (clipped to the covered range)."""
    scaled = np.log10(np.maximum(np.asarray(latency_ms, dtype=float), LATENCY_FLOOR_MS) / LATENCY_FLOOR_MS)
    return np.clip(np.floor(scaled * LATENCY_PER_DECADE), 0, LATENCY_BUCKETS - 1).astype(np.int64)


def latency_bounds(bucket: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper latency (ms) of each bucket."""
    bucket = np.asarray(bucket, dtype=float)
    return (
        LATENCY_FLOOR_MS * 10 ** (bucket / LATENCY_PER_DECADE),
        LATENCY_FLOOR_MS * 10 ** ((bucket + 1) / LATENCY_PER_DECADE),
    )


# The largest float: an infinite value logged before inputs were checked counts in the outermost bucket.
FLOAT_MAX = float(np.finfo(np.float64).max)
SIGNED_LOG_TOP = float(np.log10(FLOAT_MAX))  # sign(v)·log10(1 + |v|) never exceeds it for a finite v


def signed_log_bucket(values: np.ndarray) -> np.ndarray:
    """Signed-log bucket of each value: ``floor(50 · sign(v) · log10(1 + |v|))`` (±inf: the outermost buckets)."""
    values = np.clip(np.asarray(values, dtype=float), -FLOAT_MAX, FLOAT_MAX)
    return np.floor(np.sign(values) * np.log10(1 + np.abs(values)) * SIGNED_LOG_PER_UNIT).astype(np.int64)


def signed_log_bounds(bucket: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper value of each signed-log bucket."""

    def inverse(scaled: np.ndarray) -> np.ndarray:
        # The outermost bucket ends at the largest float, not at 10^308.26 = inf.
        with np.errstate(over="ignore"):
            size = np.minimum(10 ** np.minimum(np.abs(scaled), SIGNED_LOG_TOP) - 1, FLOAT_MAX)
        return np.sign(scaled) * size

    bucket = np.asarray(bucket, dtype=float)
    return inverse(bucket / SIGNED_LOG_PER_UNIT), inverse((bucket + 1) / SIGNED_LOG_PER_UNIT)


def latency_kind(source: str) -> str:
    """The kind of request a logged ``source`` stands for: ``one`` record, ``batch``, ``sim`` (simulated) or ``other``."""
    return LATENCY_KINDS.get(source, "other")


def latency_metric(kind: str) -> str:
    """The roll-up metric holding the latency buckets of one kind of request."""
    return f"lat_{kind}"


def sum_bounds(edges: np.ndarray) -> tuple[float, float]:
    """The values a feature's bin means may take: its finite edges' range widened by one span each side.

    Values beyond the edges (1e308 or inf, logged before inputs were checked, or ingested from elsewhere)
    still count in the open outer bins; a bin's mean, read back for Wasserstein, is clipped to these bounds
    (see :meth:`core.monitoring.drift_statistics.Histogram.means`), so one absurd value can neither make a
    drift figure infinite nor drag it to 1e30. A reference's drift edges already reach one training range
    beyond it, so a clipped mean is still far out.
    """
    finite = np.asarray(edges, dtype=float)
    finite = finite[np.isfinite(finite)]
    low, high = float(finite.min()), float(finite.max())
    span = (high - low) or max(abs(low), 1.0)
    return low - span, high + span


# Each value is clipped to ±this before it is added to a bin's sum: a billion of them still sum to a finite
# float, so neither pandas (inf) nor PostgreSQL's upsert ("value out of range: overflow") meets an overflow.
# Real inputs are nowhere near it, so roll-up sums stay the exact sums of what was logged.
SUM_LIMIT = 1e250


def clipped_for_sums(values: np.ndarray) -> np.ndarray:
    """``values`` clipped to ±:data:`SUM_LIMIT` (NaN stays NaN)."""
    return np.clip(np.asarray(values, dtype=float), -SUM_LIMIT, SUM_LIMIT)
