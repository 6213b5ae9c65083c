"""Hourly roll-ups of the prediction log, so monitoring reads hundreds of rows instead of millions.

Per (model, version, shadow flag, UTC hour): counts and sums (predictions, OOD, latency, realised
error, log loss, shadow agreement), histograms on fixed buckets (latency: log-spaced; prediction and
residual: signed-log; a classifier's scores: 1,000 bins of [0, 1]), a classifier's predicted labels and
confusion counts, and per-feature counts on the serving version's drift bins (numerics: count and value sum per bin;
categoricals: count per level). Rejections roll up per (model, hour, field, rule).

:func:`refresh_rollups` is incremental and idempotent: it adds the rows that arrived since the last
refresh (predictions and rejections by id, feedback by ``received_at``) to the hours they belong to,
and moves its watermarks in the same transaction. Backfilled timestamps are fine, since rows are
found by id, not by time. The write path is untouched: the still-open hour's new raw rows (a few
thousand an hour at a million a week) are added on every call, so the current hour is always live.
Shadow rows take their answer's inputs and feedback (``shadow_of``). Work is chunked by id, so memory
stays flat on any log size.

Feedback that *replaces* an earlier value (``Feedback.revision`` > 1) cannot be added on top: the
old value's share is already summed. The realised-error columns of the hours it touches (its
prediction's and its shadow rows') are recounted from the raw log instead.

Ids read past but not found (``rollup_gaps``) are looked at again on every refresh: on PostgreSQL a
lower id can commit after a higher one was rolled up. A gap still empty after
:data:`GAP_PATIENCE` belonged to a rolled-back write and is forgotten. (Left open: a late *shadow*
row that becomes visible in the middle of a refresh, while its answer's true value arrives in the
same refresh, could count that value twice; :func:`rebuild_rollups` recomputes everything.)

Modules, one job each:

- :mod:`~storage.rollups.tables`: the ORM tables (importing this package registers them on ``Base.metadata``);
- :mod:`~storage.rollups.buckets`: the fixed histogram buckets;
- :mod:`~storage.rollups.refresh`: refresh and rebuild (id chunks, gaps, predictions, rejections);
- :mod:`~storage.rollups.lock`: one refresher at a time (a waiting one, or one that skips);
- :mod:`~storage.rollups.realised_error`: feedback, added on top or recounted when replaced;
- :mod:`~storage.rollups.classification`: a classifier's labels, scores, log loss and shadow agreement;
- :mod:`~storage.rollups.references`: the training profile each version is binned with;
- :mod:`~storage.rollups.segments` + :mod:`~storage.rollups.segment_queries`: multivariate (PCA) errors and
  segments (figures split by a categorical feature), added from the same parsed inputs;
- :mod:`~storage.rollups.queries`: the reads monitoring uses;
- :mod:`~storage.rollups.sql`: low-level helpers (UTC hours in SQL, fast reads into frames, additive upserts).
"""

from storage.rollups.buckets import (
    LATENCY_BUCKETS,
    LATENCY_FLOOR_MS,
    LATENCY_KIND_NAMES,
    LATENCY_KINDS,
    LATENCY_PER_DECADE,
    SIGNED_LOG_PER_UNIT,
    latency_bounds,
    latency_bucket,
    latency_kind,
    latency_metric,
    signed_log_bounds,
    signed_log_bucket,
)
from storage.rollups.classification import ALL_SCORES, SCORE_BINS, score_bounds, score_bucket
from storage.rollups.queries import (
    bucket_counts,
    feature_counts,
    hour_totals,
    label_counts,
    logged_versions,
    metric_bucket_counts,
    rejection_counts,
    score_counts,
)
from storage.rollups.references import load_reference, save_reference
from storage.rollups.refresh import (
    CHUNK_ROWS,
    GAP_PATIENCE,
    BinningSource,
    FeatureBinning,
    RefreshResult,
    rebuild_rollups,
    refresh_rollups,
)
from storage.rollups.segments import InputPlan, InputPlanSource
from storage.rollups.tables import (
    ALL,
    RollupBucket,
    RollupFeature,
    RollupGap,
    RollupHour,
    RollupLabel,
    RollupReference,
    RollupRejection,
    RollupScore,
    RollupState,
)

__all__ = [
    "ALL",
    "ALL_SCORES",
    "CHUNK_ROWS",
    "GAP_PATIENCE",
    "LATENCY_BUCKETS",
    "LATENCY_FLOOR_MS",
    "LATENCY_KINDS",
    "LATENCY_KIND_NAMES",
    "LATENCY_PER_DECADE",
    "SCORE_BINS",
    "SIGNED_LOG_PER_UNIT",
    "BinningSource",
    "FeatureBinning",
    "InputPlan",
    "InputPlanSource",
    "RefreshResult",
    "RollupBucket",
    "RollupFeature",
    "RollupGap",
    "RollupHour",
    "RollupLabel",
    "RollupReference",
    "RollupRejection",
    "RollupScore",
    "RollupState",
    "bucket_counts",
    "feature_counts",
    "hour_totals",
    "label_counts",
    "latency_bounds",
    "latency_bucket",
    "latency_kind",
    "latency_metric",
    "load_reference",
    "logged_versions",
    "metric_bucket_counts",
    "rebuild_rollups",
    "refresh_rollups",
    "rejection_counts",
    "save_reference",
    "score_bounds",
    "score_bucket",
    "score_counts",
    "signed_log_bounds",
    "signed_log_bucket",
]
