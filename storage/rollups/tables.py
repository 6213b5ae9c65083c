"""The roll-up tables: hourly counts, histogram buckets, labels, scores, feature bins, rejections, references, state."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Float, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from storage.base import Base, BigId, UTCDateTime, utcnow

ALL = "*"  # the rejections row that counts distinct rejected input rows (field = rule = "*")


class RollupHour(Base):
    """Counts and sums for one hour of one model version (shadow or not)."""

    __tablename__ = "rollup_hours"

    model_name: Mapped[str] = mapped_column(String(200), primary_key=True)
    hour: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True)
    model_version: Mapped[int] = mapped_column(Integer, primary_key=True)
    is_shadow: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    predictions: Mapped[int] = mapped_column(BigId, default=0)
    ood: Mapped[int] = mapped_column(BigId, default=0)
    latency_sum: Mapped[float] = mapped_column(Float, default=0.0)
    prediction_sum: Mapped[float] = mapped_column(Float, default=0.0)
    prediction_sq_sum: Mapped[float] = mapped_column(Float, default=0.0)
    feedback: Mapped[int] = mapped_column(BigId, default=0)
    error_sum: Mapped[float] = mapped_column(Float, default=0.0)  # actual − predicted
    abs_error_sum: Mapped[float] = mapped_column(Float, default=0.0)
    sq_error_sum: Mapped[float] = mapped_column(Float, default=0.0)
    # Classifiers: labelled rows with probabilities and their summed −log p(true class); shadow rows
    # compared with the answer they shadow, and how many gave the same label.
    log_loss_count: Mapped[int] = mapped_column(BigId, default=0, server_default="0")
    log_loss_sum: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    agreed: Mapped[int] = mapped_column(BigId, default=0, server_default="0")
    compared: Mapped[int] = mapped_column(BigId, default=0, server_default="0")


class RollupBucket(Base):
    """One histogram bucket of one metric (latency, prediction, residual) for one hour and version."""

    __tablename__ = "rollup_buckets"

    model_name: Mapped[str] = mapped_column(String(200), primary_key=True)
    metric: Mapped[str] = mapped_column(String(16), primary_key=True)
    hour: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True)
    model_version: Mapped[int] = mapped_column(Integer, primary_key=True)
    is_shadow: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    bucket: Mapped[int] = mapped_column(Integer, primary_key=True)
    count: Mapped[int] = mapped_column(BigId, default=0)


class RollupLabel(Base):
    """A classifier's predicted labels (``kind`` = ``predicted``) or predicted × true labels (``confusion``)."""

    __tablename__ = "rollup_labels"

    model_name: Mapped[str] = mapped_column(String(200), primary_key=True)
    hour: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True)
    model_version: Mapped[int] = mapped_column(Integer, primary_key=True)
    is_shadow: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)  # predicted | confusion
    predicted: Mapped[str] = mapped_column(String(256), primary_key=True)
    actual: Mapped[str] = mapped_column(String(256), primary_key=True)  # "" for kind = predicted
    count: Mapped[int] = mapped_column(BigId, default=0)


class RollupScore(Base):
    """Labelled rows' probability of one class on fixed bins of [0, 1], split by whether it is the true class
    (class ``""``: every prediction's score), per hour — and per UTC day (``whole_day``; ``hour`` its start)."""

    __tablename__ = "rollup_scores"

    model_name: Mapped[str] = mapped_column(String(200), primary_key=True)
    hour: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True)
    model_version: Mapped[int] = mapped_column(Integer, primary_key=True)
    is_shadow: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    whole_day: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    class_name: Mapped[str] = mapped_column(String(256), primary_key=True)
    is_true: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    bucket: Mapped[int] = mapped_column(Integer, primary_key=True)
    count: Mapped[int] = mapped_column(BigId, default=0)


class RollupFeature(Base):
    """Inputs of one feature in one bin (numeric: bin index as text) or level, per hour and version."""

    __tablename__ = "rollup_features"

    model_name: Mapped[str] = mapped_column(String(200), primary_key=True)
    model_version: Mapped[int] = mapped_column(Integer, primary_key=True)
    hour: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True)
    is_shadow: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    feature: Mapped[str] = mapped_column(String(128), primary_key=True)
    bucket: Mapped[str] = mapped_column(String(256), primary_key=True)
    count: Mapped[int] = mapped_column(BigId, default=0)
    value_sum: Mapped[float] = mapped_column(Float, default=0.0)  # numerics: for bin means


class RollupRejection(Base):
    """Rejected values per hour, field and rule; field = rule = ``*`` counts distinct rejected rows."""

    __tablename__ = "rollup_rejections"

    model_name: Mapped[str] = mapped_column(String(200), primary_key=True)
    # The version that refused the rows; 0 when the log could not say (rejections logged before 0009).
    model_version: Mapped[int] = mapped_column(Integer, primary_key=True, default=0, server_default="0")
    hour: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True)
    field: Mapped[str] = mapped_column(String(128), primary_key=True)
    rule: Mapped[str] = mapped_column(String(64), primary_key=True)
    count: Mapped[int] = mapped_column(BigId, default=0)


class RollupReference(Base):
    """The training profile a version's features were binned with (kept so drift works offline)."""

    __tablename__ = "rollup_references"

    model_name: Mapped[str] = mapped_column(String(200), primary_key=True)
    model_version: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[str | None] = mapped_column(String(64))
    profile_json: Mapped[str] = mapped_column(Text)
    holdout_mae: Mapped[float | None] = mapped_column(Float)  # training's holdout MAE, for the MAE alert
    holdout_json: Mapped[str | None] = mapped_column(Text)  # classification holdout metrics {measure: value}
    saved_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class RollupState(Base):
    """How far the roll-ups have read: last prediction/rejection id, last feedback time."""

    __tablename__ = "rollup_state"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    last_id: Mapped[int] = mapped_column(BigId, default=0)
    last_time: Mapped[datetime | None] = mapped_column(UTCDateTime())
    refreshed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class RollupGap(Base):
    """A run of ids a refresh read past without finding rows (yet): checked again on the next refresh."""

    __tablename__ = "rollup_gaps"

    source: Mapped[str] = mapped_column(String(32), primary_key=True)  # "predictions" or "rejections"
    first_id: Mapped[int] = mapped_column(BigId, primary_key=True)
    last_id: Mapped[int] = mapped_column(BigId)
    found_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ModelEstimator(Base):
    """A version's performance estimator, fitted on its reference holdout (DLE for a regressor, CBPE for a classifier).

    ``payload_json``: plain JSON (feature encoding, isotonic calibration steps, sampling-error constants);
    ``model_bytes``: a regressor's error models as skops bytes, loaded with an explicit list of trusted types.
    """

    __tablename__ = "model_estimators"

    model_name: Mapped[str] = mapped_column(String(200), primary_key=True)
    model_version: Mapped[int] = mapped_column(Integer, primary_key=True)
    method: Mapped[str] = mapped_column(String(8))  # dle | cbpe
    payload_json: Mapped[str] = mapped_column(Text)
    model_bytes: Mapped[bytes | None] = mapped_column(LargeBinary)
    rows: Mapped[int] = mapped_column(Integer)  # holdout rows it was fitted on
    fitted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class RollupEstimate(Base):
    """Estimated performance sums per hour and version: a regressor's estimated errors, a classifier's expected correctness.

    ``abs_error_sq_sum`` and ``correct_var_sum`` give the per-row spread the sampling-error band is taken from.
    """

    __tablename__ = "rollup_estimates"

    model_name: Mapped[str] = mapped_column(String(200), primary_key=True)
    hour: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True)
    model_version: Mapped[int] = mapped_column(Integer, primary_key=True)
    is_shadow: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    count: Mapped[int] = mapped_column(BigId, default=0)
    abs_error_sum: Mapped[float] = mapped_column(Float, default=0.0)
    abs_error_sq_sum: Mapped[float] = mapped_column(Float, default=0.0)
    sq_error_sum: Mapped[float] = mapped_column(Float, default=0.0)
    correct_sum: Mapped[float] = mapped_column(Float, default=0.0)  # Σ calibrated P(predicted class)
    correct_var_sum: Mapped[float] = mapped_column(Float, default=0.0)  # Σ p(1 − p): Bernoulli variance


class RollupEstimateClass(Base):
    """A classifier's expected true positives, false positives and false negatives of one class, per hour."""

    __tablename__ = "rollup_estimate_classes"

    model_name: Mapped[str] = mapped_column(String(200), primary_key=True)
    hour: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True)
    model_version: Mapped[int] = mapped_column(Integer, primary_key=True)
    is_shadow: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    class_name: Mapped[str] = mapped_column(String(256), primary_key=True)
    tp: Mapped[float] = mapped_column(Float, default=0.0)
    fp: Mapped[float] = mapped_column(Float, default=0.0)
    fn: Mapped[float] = mapped_column(Float, default=0.0)


class RollupEstimateBin(Base):
    """Calibrated P(class) of a classifier's rows on fixed bins of [0, 1] (count and probability sum), per hour.

    Binary: the positive class only; multiclass: each class (one-vs-rest ROC AUC)."""

    __tablename__ = "rollup_estimate_bins"

    model_name: Mapped[str] = mapped_column(String(200), primary_key=True)
    hour: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True)
    model_version: Mapped[int] = mapped_column(Integer, primary_key=True)
    is_shadow: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    class_name: Mapped[str] = mapped_column(String(256), primary_key=True)
    bucket: Mapped[int] = mapped_column(Integer, primary_key=True)
    count: Mapped[int] = mapped_column(BigId, default=0)
    probability_sum: Mapped[float] = mapped_column(Float, default=0.0)


class RollupMultivariate(Base):
    """Summed PCA reconstruction errors (multivariate drift) of one hour of one version (shadow or not)."""

    __tablename__ = "rollup_multivariate"

    model_name: Mapped[str] = mapped_column(String(200), primary_key=True)
    hour: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True)
    model_version: Mapped[int] = mapped_column(Integer, primary_key=True)
    is_shadow: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    rows: Mapped[int] = mapped_column(BigId, default=0)
    error_sum: Mapped[float] = mapped_column(Float, default=0.0)
    error_sq_sum: Mapped[float] = mapped_column(Float, default=0.0)


class RollupSegment(Base):
    """One segment's (a categorical feature's value) hourly counts and sums: volume, realised error,
    multivariate error, estimated performance.

    ``feedback`` counts the labelled rows: a regressor's sum their error (``error_sum``, ``abs_error_sum``,
    ``sq_error_sum``), a classifier's count ``correct`` when the predicted label equals the true one
    (realised accuracy = correct / feedback). ``estimated_sum`` over ``estimated_rows``: for a regressor the
    estimated absolute error (DLE), for a classifier the expected number correct (CBPE: each row's calibrated
    probability of its predicted class), so estimated accuracy = estimated_sum / estimated_rows.
    """

    __tablename__ = "rollup_segments"

    model_name: Mapped[str] = mapped_column(String(200), primary_key=True)
    hour: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True)
    model_version: Mapped[int] = mapped_column(Integer, primary_key=True)
    is_shadow: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    feature: Mapped[str] = mapped_column(String(128), primary_key=True)
    value: Mapped[str] = mapped_column(String(256), primary_key=True)
    predictions: Mapped[int] = mapped_column(BigId, default=0)
    feedback: Mapped[int] = mapped_column(BigId, default=0)
    error_sum: Mapped[float] = mapped_column(Float, default=0.0)
    abs_error_sum: Mapped[float] = mapped_column(Float, default=0.0)
    sq_error_sum: Mapped[float] = mapped_column(Float, default=0.0)
    correct: Mapped[int] = mapped_column(BigId, default=0, server_default="0")
    mv_rows: Mapped[int] = mapped_column(BigId, default=0)
    mv_error_sum: Mapped[float] = mapped_column(Float, default=0.0)
    estimated_rows: Mapped[int] = mapped_column(BigId, default=0)
    estimated_sum: Mapped[float] = mapped_column(Float, default=0.0)


class RollupSegmentFeature(Base):
    """Feature bins per segment and UTC day (``day``: its start), on the same bins as ``rollup_features``."""

    __tablename__ = "rollup_segment_features"

    model_name: Mapped[str] = mapped_column(String(200), primary_key=True)
    model_version: Mapped[int] = mapped_column(Integer, primary_key=True)
    split_feature: Mapped[str] = mapped_column(String(128), primary_key=True)
    day: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True)
    is_shadow: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    split_value: Mapped[str] = mapped_column(String(256), primary_key=True)
    feature: Mapped[str] = mapped_column(String(128), primary_key=True)
    bucket: Mapped[str] = mapped_column(String(256), primary_key=True)
    count: Mapped[int] = mapped_column(BigId, default=0)
    value_sum: Mapped[float] = mapped_column(Float, default=0.0)
