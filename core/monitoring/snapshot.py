"""Monitoring from the hourly roll-ups: windows, KPIs with deltas, latency percentiles, realised error, drift.

Every figure here is computed from :mod:`storage.rollups` — a few hundred rows per window whatever the
size of the prediction log — after a cheap incremental :func:`refresh`.

Windows are whole UTC hours: "last day" is the 24 hours before the current one plus the current,
still-open hour (so it always covers at least the last 24 hours). The previous window, for deltas, is
the same number of hours just before it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache

import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from core import mlflow_io
from core.mlflow_io import RegistryUnavailable
from core.monitoring.drift import DriftReport, DriftThresholds, Histogram, drift_report, numeric_edges
from core.profile import NumericProfile, TrainingProfile
from core.settings import Settings
from storage import rollups
from storage.base import utcnow

PRESETS: dict[str, timedelta] = {
    "Last hour": timedelta(hours=1),
    "Last day": timedelta(days=1),
    "Last week": timedelta(days=7),
}
WINDOW_PATTERN = re.compile(r"^\s*(?P<count>\d+)\s*(?P<unit>[hdw])\s*$")
UNIT = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}
PERCENTILES = (50, 95, 99)
HOUR = timedelta(hours=1)

Sessions = sessionmaker[Session]


# --- windows ------------------------------------------------------------------------------------


def floor_hour(moment: datetime) -> datetime:
    """The start of the UTC hour holding ``moment``."""
    return rollups.as_utc(moment).replace(minute=0, second=0, microsecond=0)


@dataclass(frozen=True)
class Window:
    """A half-open span of whole UTC hours, ``[start, end)``."""

    start: datetime
    end: datetime

    @classmethod
    def last(cls, duration: timedelta, *, now: datetime | None = None) -> Window:
        """The hours covering the last ``duration`` up to now, the current open hour included."""
        now = rollups.as_utc(now or utcnow())
        return cls(start=floor_hour(now - duration), end=floor_hour(now) + HOUR)

    @classmethod
    def between(cls, start: datetime, end: datetime) -> Window:
        """Whole hours from the hour holding ``start`` to the end of the hour holding ``end``."""
        start, end = floor_hour(start), floor_hour(end) + HOUR
        if end <= start:
            raise ValueError("the window must end after it starts")
        return cls(start=start, end=end)

    @classmethod
    def for_days(cls, first: date, last: date) -> Window:
        """Whole UTC days from ``first`` to ``last`` inclusive (the page's custom window)."""
        if last < first:
            raise ValueError("the window must end after it starts")
        start = datetime(first.year, first.month, first.day, tzinfo=UTC)
        return cls(start=start, end=datetime(last.year, last.month, last.day, tzinfo=UTC) + timedelta(days=1))

    @property
    def hours(self) -> int:
        return int((self.end - self.start) / HOUR)

    def previous(self) -> Window:
        """The window of the same length just before this one."""
        return Window(start=self.start - (self.end - self.start), end=self.start)

    def label(self) -> str:
        return f"{self.start:%Y-%m-%d %H:%M} → {self.end:%Y-%m-%d %H:%M} UTC"


def parse_duration(text: str) -> timedelta:
    """``12h``, ``7d`` or ``2w`` as a duration."""
    match = WINDOW_PATTERN.match(text or "")
    if not match or int(match["count"]) == 0:
        raise ValueError(f"window must look like 12h, 7d or 2w, not {text!r}")
    return int(match["count"]) * UNIT[match["unit"]]


# --- references and refresh ---------------------------------------------------------------------


@lru_cache(maxsize=64)
def _parsed_profile(text: str) -> TrainingProfile:
    return TrainingProfile.from_json(text)


def reference_profile(settings: Settings, *, session: Session, model_version: int) -> TrainingProfile | None:
    """The training profile a version is monitored against: stored with the roll-ups, else from MLflow.

    ``None`` when the version has no profile or the registry cannot be reached for a version not seen before.
    """
    reference = _reference(settings, session=session, model_version=model_version)
    return None if reference is None else _parsed_profile(reference.profile_json)


def holdout_mae(settings: Settings, *, session: Session, model_version: int) -> float | None:
    """The version's holdout MAE from training, as stored with its reference (``None`` if unknown)."""
    reference = _reference(settings, session=session, model_version=model_version)
    return None if reference is None else reference.holdout_mae


def _reference(settings: Settings, *, session: Session, model_version: int) -> rollups.RollupReference | None:
    stored = rollups.load_reference(session, model_name=settings.model_name, model_version=model_version)
    if stored is not None:
        return stored
    try:
        version = mlflow_io.get_version(settings, version=model_version)
        if not version.run_id:
            return None
        profile = mlflow_io.load_profile(settings, run_id=version.run_id)
    except (RegistryUnavailable, MlflowException, OSError, ValueError, KeyError):
        return None  # unreachable, or no such version / artifact: nothing to compare with
    rollups.save_reference(
        session,
        model_name=settings.model_name,
        model_version=model_version,
        run_id=version.run_id,
        profile_json=profile.to_json(),
        holdout_mae=version.metrics.get("mae"),
    )
    return rollups.load_reference(session, model_name=settings.model_name, model_version=model_version)


def binning_of(profile: TrainingProfile) -> rollups.FeatureBinning:
    """Bin edges per numeric feature (``None`` for categoricals), as the roll-ups store them."""
    return {
        name: numeric_edges(feature) if isinstance(feature, NumericProfile) else None
        for name, feature in profile.features.items()
    }


def refresh(
    settings: Settings, *, sessions: Sessions, progress: Callable[[str], None] | None = None
) -> rollups.RefreshResult:
    """Roll up everything logged since the last refresh (cheap when nothing is new)."""
    with sessions.begin() as session:

        def binning(model_name: str, version: int) -> rollups.FeatureBinning | None:
            if model_name != settings.model_name:
                return None  # another model's rows: counted, not binned against this model's profiles
            profile = reference_profile(settings, session=session, model_version=version)
            return None if profile is None else binning_of(profile)

        return rollups.refresh_rollups(session, binning=binning, progress=progress)


# --- percentiles --------------------------------------------------------------------------------


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


# --- window statistics --------------------------------------------------------------------------


@dataclass(frozen=True)
class WindowStats:
    """What happened in one window (``None`` where there is nothing to measure)."""

    predictions: int
    rejected_rows: int
    ood: int
    latency: dict[int, float | None]
    feedback: int
    mae: float | None
    rmse: float | None
    drift: DriftReport | None = None
    answered: int | None = None  # answered (not shadow) rows of every version: rejections are per model

    @property
    def rejected_rate(self) -> float | None:
        """Refused input rows over all input rows the model was sent (answered + refused)."""
        answered = self.predictions if self.answered is None else self.answered
        seen = answered + self.rejected_rows
        return self.rejected_rows / seen if seen else None

    @property
    def ood_share(self) -> float | None:
        return self.ood / self.predictions if self.predictions else None

    @property
    def drift_share(self) -> float | None:
        return None if self.drift is None else self.drift.share


@dataclass(frozen=True)
class Kpi:
    """One headline figure with the previous window's value."""

    name: str
    value: float | None
    previous: float | None
    unit: str  # count | share | ms | value
    higher_is_worse: bool = True

    @property
    def delta(self) -> float | None:
        if self.value is None or self.previous is None:
            return None
        return self.value - self.previous


def _select(frame: pd.DataFrame, *, version: int | None, include_shadow: bool) -> pd.DataFrame:
    if frame.empty:
        return frame
    mask = np.ones(len(frame), dtype=bool)
    if version is not None:
        mask &= frame["model_version"].to_numpy() == version
    if not include_shadow:
        mask &= ~frame["is_shadow"].astype(bool).to_numpy()
    return frame[mask]


def _hours_in(frame: pd.DataFrame, window: Window) -> pd.DataFrame:
    if frame.empty:
        return frame
    hours = pd.to_datetime(frame["hour"], utc=True)
    return frame[(hours >= window.start) & (hours < window.end)]


@dataclass(frozen=True)
class Snapshot:
    """Everything the Monitoring page shows for one window, version choice and shadow choice."""

    window: Window
    version: int | None  # None: all versions
    drift_version: int | None  # the version whose profile drift was measured against
    include_shadow: bool
    current: WindowStats
    previous: WindowStats
    totals: pd.DataFrame  # hourly, both windows, selected versions
    latency_by_hour: pd.DataFrame  # hour, model_version, is_shadow, bucket, count (current window)
    predictions_by_hour: pd.DataFrame
    residuals: pd.DataFrame  # model_version, is_shadow, bucket, count (current window)
    rejections: pd.DataFrame  # hour, field, rule, count (current window)
    versions: list[int] = field(default_factory=list)  # every version seen in the log
    holdout_mae: float | None = None  # the drift version's MAE at training, for the MAE alert
    refreshed: rollups.RefreshResult | None = None

    @property
    def is_empty(self) -> bool:
        return self.current.predictions == 0 and self.previous.predictions == 0 and self.current.rejected_rows == 0

    def kpis(self) -> list[Kpi]:
        current, previous = self.current, self.previous
        figures = [
            Kpi("Predictions", current.predictions, previous.predictions, "count", higher_is_worse=False),
            Kpi("Rejected inputs", current.rejected_rate, previous.rejected_rate, "share"),
            Kpi("Out of distribution", current.ood_share, previous.ood_share, "share"),
        ]
        for quantile in PERCENTILES:
            figures.append(
                Kpi(f"Latency p{quantile}", current.latency.get(quantile), previous.latency.get(quantile), "ms")
            )
        figures.append(Kpi("Drift share", current.drift_share, previous.drift_share, "share"))
        figures.append(Kpi("Realised MAE", current.mae, previous.mae, "value"))
        return figures


def _stats(
    totals: pd.DataFrame,
    latency: pd.DataFrame,
    rejections: pd.DataFrame,
    drift: DriftReport | None,
    *,
    answered: int | None = None,
) -> WindowStats:
    predictions = int(totals["predictions"].sum()) if not totals.empty else 0
    feedback = int(totals["feedback"].sum()) if not totals.empty else 0
    rejected = rejections[rejections["field"] == rollups.ALL] if not rejections.empty else rejections
    merged = latency.groupby("bucket")["count"].sum() if not latency.empty else pd.Series(dtype=float)
    return WindowStats(
        predictions=predictions,
        answered=answered,
        rejected_rows=int(rejected["count"].sum()) if not rejected.empty else 0,
        ood=int(totals["ood"].sum()) if not totals.empty else 0,
        latency=latency_percentiles(merged.index.to_numpy(), merged.to_numpy()),
        feedback=feedback,
        mae=float(totals["abs_error_sum"].sum() / feedback) if feedback else None,
        rmse=float(math.sqrt(totals["sq_error_sum"].sum() / feedback)) if feedback else None,
        drift=drift,
    )


def window_drift(
    settings: Settings,
    *,
    session: Session,
    window: Window,
    model_version: int,
    include_shadow: bool = True,
    thresholds: DriftThresholds | None = None,
) -> DriftReport | None:
    """Drift of the inputs a version answered in ``window`` against its training profile (``None``: no profile)."""
    profile = reference_profile(settings, session=session, model_version=model_version)
    if profile is None:
        return None
    counts = rollups.feature_counts(
        session,
        model_name=settings.model_name,
        model_version=model_version,
        start=window.start,
        end=window.end,
        include_shadow=include_shadow,
    )
    return drift_report(
        profile, current_from_rollups(profile, counts), thresholds=thresholds or DriftThresholds.from_settings(settings)
    )


def current_from_rollups(profile: TrainingProfile, counts: pd.DataFrame) -> dict[str, Histogram | dict[str, float]]:
    """Roll-up rows (feature, bucket, count, value_sum) as the current side of :func:`core.drift.drift_report`."""
    current: dict[str, Histogram | dict[str, float]] = {}
    if counts.empty:
        return current
    for name, rows in counts.groupby("feature"):
        feature = profile.features.get(str(name))
        if feature is None:
            continue
        if isinstance(feature, NumericProfile):
            size = len(numeric_edges(feature)) - 1
            index = rows["bucket"].astype(int).to_numpy()
            current[str(name)] = Histogram(
                counts=np.bincount(index, weights=rows["count"].to_numpy(float), minlength=size),
                sums=np.bincount(index, weights=rows["value_sum"].to_numpy(float), minlength=size),
            )
        else:
            current[str(name)] = dict(zip(rows["bucket"], rows["count"].astype(float), strict=True))
    return current


def _count(totals: pd.DataFrame) -> int:
    return int(totals["predictions"].sum()) if not totals.empty else 0


def _serving_version(totals: pd.DataFrame) -> int | None:
    # The version that answered most in the window (not shadow): the one whose inputs matter.
    answered = totals[~totals["is_shadow"].astype(bool)] if not totals.empty else totals
    if answered.empty:
        return None
    return int(answered.groupby("model_version")["predictions"].sum().idxmax())


def snapshot(
    settings: Settings,
    *,
    sessions: Sessions,
    window: Window,
    version: int | None = None,
    include_shadow: bool = False,
    refresh_first: bool = True,
) -> Snapshot:
    """All the page's figures for ``window`` (and the previous window, for deltas)."""
    refreshed = refresh(settings, sessions=sessions) if refresh_first else None
    previous_window = window.previous()
    name = settings.model_name
    with sessions.begin() as session:
        totals_all = rollups.hour_totals(session, model_name=name, start=previous_window.start, end=window.end)
        latency_all = rollups.bucket_counts(
            session, model_name=name, metric="latency", start=previous_window.start, end=window.end, by_hour=True
        )
        predictions = rollups.bucket_counts(
            session, model_name=name, metric="prediction", start=window.start, end=window.end, by_hour=True
        )
        residuals = rollups.bucket_counts(
            session, model_name=name, metric="residual", start=window.start, end=window.end
        )
        rejections = rollups.rejection_counts(session, model_name=name, start=previous_window.start, end=window.end)
        versions = rollups.logged_versions(session, model_name=name)
        totals = _select(totals_all, version=version, include_shadow=include_shadow)
        drift_version = version if version is not None else _serving_version(_hours_in(totals, window))
        drifts: list[DriftReport | None] = [None, None]
        training_mae = None
        if drift_version is not None:
            training_mae = holdout_mae(settings, session=session, model_version=drift_version)
            for index, span in enumerate((window, previous_window)):
                drifts[index] = window_drift(
                    settings, session=session, window=span, model_version=drift_version, include_shadow=include_shadow
                )
    latency = _select(latency_all, version=version, include_shadow=include_shadow)
    answered = _select(totals_all, version=None, include_shadow=False)
    current = _stats(
        _hours_in(totals, window),
        _hours_in(latency, window),
        _hours_in(rejections, window),
        drifts[0],
        answered=_count(_hours_in(answered, window)),
    )
    before = _stats(
        _hours_in(totals, previous_window),
        _hours_in(latency, previous_window),
        _hours_in(rejections, previous_window),
        drifts[1],
        answered=_count(_hours_in(answered, previous_window)),
    )
    return Snapshot(
        window=window,
        version=version,
        drift_version=drift_version,
        include_shadow=include_shadow,
        current=current,
        previous=before,
        totals=totals,
        latency_by_hour=_hours_in(latency, window),
        predictions_by_hour=_select(predictions, version=version, include_shadow=include_shadow),
        residuals=_select(residuals, version=version, include_shadow=include_shadow),
        rejections=_hours_in(rejections, window),
        versions=versions,
        holdout_mae=training_mae,
        refreshed=refreshed,
    )


def known_versions(settings: Settings, *, sessions: Sessions) -> list[int]:
    """Versions with logged predictions, newest first (from the roll-ups)."""
    with sessions.begin() as session:
        return rollups.logged_versions(session, model_name=settings.model_name)


# --- time series and comparisons for the charts -------------------------------------------------


def latency_over_time(frame: pd.DataFrame) -> pd.DataFrame:
    """Hourly p50/p95/p99 from hourly latency buckets: columns hour, p50, p95, p99."""
    rows = []
    if not frame.empty:
        for hour, group in frame.groupby("hour"):
            merged = group.groupby("bucket")["count"].sum()
            figures = latency_percentiles(merged.index.to_numpy(), merged.to_numpy())
            rows.append({"hour": pd.Timestamp(hour), **{f"p{q}": figures[q] for q in PERCENTILES}})
    return pd.DataFrame(rows, columns=["hour", *(f"p{q}" for q in PERCENTILES)])


def throughput(totals: pd.DataFrame, window: Window) -> pd.DataFrame:
    """Predictions per hour and version (shadow marked): columns hour, series, predictions."""
    frame = _hours_in(totals, window)
    if frame.empty:
        return pd.DataFrame(columns=["hour", "series", "predictions"])
    frame = frame.assign(series=_series(frame))
    grouped = frame.groupby(["hour", "series"], as_index=False)["predictions"].sum()
    grouped["hour"] = pd.to_datetime(grouped["hour"], utc=True)
    return grouped.sort_values("hour")


def _series(frame: pd.DataFrame) -> pd.Series:
    shadow = frame["is_shadow"].astype(bool)
    return "v" + frame["model_version"].astype(int).astype(str) + np.where(shadow, " (shadow)", "")


def prediction_quantiles_over_time(frame: pd.DataFrame) -> pd.DataFrame:
    """Hourly p10/p50/p90 of the predictions per version: columns hour, series, p10, p50, p90."""
    rows = []
    if not frame.empty:
        frame = frame.assign(series=_series(frame))
        for (hour, series), group in frame.groupby(["hour", "series"]):
            merged = group.groupby("bucket")["count"].sum()
            figures = signed_log_quantiles(merged.index.to_numpy(), merged.to_numpy())
            rows.append({"hour": pd.Timestamp(hour), "series": series, **{f"p{q}": figures[q] for q in (10, 50, 90)}})
    return pd.DataFrame(rows, columns=["hour", "series", "p10", "p50", "p90"])


def error_over_time(totals: pd.DataFrame, window: Window) -> pd.DataFrame:
    """Hourly realised MAE and RMSE per version where feedback exists: hour, series, feedback, mae, rmse."""
    frame = _hours_in(totals, window)
    frame = frame[frame["feedback"] > 0] if not frame.empty else frame
    if frame.empty:
        return pd.DataFrame(columns=["hour", "series", "feedback", "mae", "rmse"])
    frame = frame.assign(series=_series(frame))
    grouped = frame.groupby(["hour", "series"], as_index=False)[["feedback", "abs_error_sum", "sq_error_sum"]].sum()
    grouped["mae"] = grouped["abs_error_sum"] / grouped["feedback"]
    grouped["rmse"] = np.sqrt(grouped["sq_error_sum"] / grouped["feedback"])
    grouped["hour"] = pd.to_datetime(grouped["hour"], utc=True)
    return grouped[["hour", "series", "feedback", "mae", "rmse"]].sort_values("hour")


def residual_histogram(frame: pd.DataFrame) -> pd.DataFrame:
    """Residuals (actual − predicted) per series: columns series, low, high, count."""
    if frame.empty:
        return pd.DataFrame(columns=["series", "low", "high", "count"])
    frame = frame.assign(series=_series(frame))
    grouped = frame.groupby(["series", "bucket"], as_index=False)["count"].sum()
    low, high = rollups.signed_log_bounds(grouped["bucket"].to_numpy())
    return grouped.assign(low=low, high=high)[["series", "low", "high", "count"]]


def rejection_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Rejected values per field and rule in the window, most frequent first."""
    rules = frame[frame["field"] != rollups.ALL] if not frame.empty else frame
    if rules.empty:
        return pd.DataFrame(columns=["field", "rule", "rejected values"])
    table = rules.groupby(["field", "rule"], as_index=False)["count"].sum().sort_values("count", ascending=False)
    return table.rename(columns={"count": "rejected values"})


def version_comparison(snapshot: Snapshot) -> pd.DataFrame:
    """Per version and role (answered or shadow) in the window: volume, latency p95, mean prediction, MAE, RMSE.

    With shadow scoring on, the challenger's shadow rows answer the same requests as the champion,
    and their feedback is the champion's, so the two MAEs compare like with like.
    """
    totals = _hours_in(snapshot.totals, snapshot.window)
    columns = ["version", "role", "predictions", "latency_p95_ms", "mean_prediction", "feedback", "mae", "rmse"]
    if totals.empty:
        return pd.DataFrame(columns=columns)
    rows = []
    latency = snapshot.latency_by_hour
    for (version, shadow), group in totals.groupby(["model_version", "is_shadow"]):
        count = int(group["predictions"].sum())
        feedback = int(group["feedback"].sum())
        buckets = _select(latency, version=int(version), include_shadow=True)
        buckets = buckets[buckets["is_shadow"].astype(bool) == bool(shadow)].groupby("bucket")["count"].sum()
        p95 = latency_percentiles(buckets.index.to_numpy(), buckets.to_numpy(), (95,))[95] if len(buckets) else None
        rows.append(
            {
                "version": int(version),
                "role": "shadow" if shadow else "answered",
                "predictions": count,
                "latency_p95_ms": p95,
                "mean_prediction": float(group["prediction_sum"].sum() / count) if count else None,
                "feedback": feedback,
                "mae": float(group["abs_error_sum"].sum() / feedback) if feedback else None,
                "rmse": float(math.sqrt(group["sq_error_sum"].sum() / feedback)) if feedback else None,
            }
        )
    return pd.DataFrame(rows, columns=columns).sort_values(["version", "role"])


# --- what other pages consume -------------------------------------------------------------------


@dataclass(frozen=True)
class DriftStatus:
    """Whether a version's recent inputs drifted from its training profile (``None``: cannot tell)."""

    drifted: bool | None
    share: float | None
    detail: str
    window: Window | None = None
    report: DriftReport | None = None


def current_drift_status(
    settings: Settings, *, sessions: Sessions, model_version: int, now: datetime | None = None
) -> DriftStatus:
    """Dataset drift of the inputs ``model_version`` saw (answered or shadow) in the alert window."""
    window = Window.last(timedelta(hours=settings.alert_window_hours), now=now)
    try:
        refresh(settings, sessions=sessions)
        with sessions.begin() as session:
            report = window_drift(settings, session=session, window=window, model_version=model_version)
    except (SQLAlchemyError, RegistryUnavailable, ValueError) as error:  # reported, never raised
        return DriftStatus(drifted=None, share=None, detail=f"drift could not be computed: {error}", window=window)
    hours = f"the last {settings.alert_window_hours} h"
    if report is None:
        return DriftStatus(None, None, f"version {model_version} has no training profile to compare with", window)
    if report.share is None:
        return DriftStatus(None, None, f"no logged inputs for version {model_version} in {hours}", window, report)
    drifted_names = ", ".join(item.feature for item in report.features if item.drifted) or "none"
    detail = (
        f"{report.drifted_count} of {len(report.features)} features drifted in {hours} "
        f"(share {report.share:.0%}, dataset drift at ≥ {report.share_threshold:.0%}; drifted: {drifted_names}) "
        f"over {report.current_rows:,} inputs"
    )
    return DriftStatus(bool(report.dataset_drift), report.share, detail, window, report)


def utc_now() -> datetime:
    """Now in UTC (one place, so pages do not import datetime arithmetic)."""
    return datetime.now(UTC)


# --- export -------------------------------------------------------------------------------------


def export_meta(settings: Settings, *, window: Window, version: int, include_shadow: bool) -> dict[str, object]:
    """What a drift report was computed on, written at the top of every export."""
    return {
        "model_name": settings.model_name,
        "model_version": version,
        "window_start": window.start.isoformat(),
        "window_end": window.end.isoformat(),
        "include_shadow": include_shadow,
    }


def report_json(report: DriftReport, meta: dict[str, object]) -> str:
    """The drift report as JSON: the meta fields, dataset drift and share, then one entry per feature."""
    return report.to_json(**meta) + "\n"


def report_csv(report: DriftReport, meta: dict[str, object]) -> str:
    """The drift report as CSV: one row per feature, with the dataset verdict and meta repeated on each row."""
    frame = report.to_frame()
    frame["dataset_drift"] = report.dataset_drift
    frame["drift_share"] = report.share
    for key, value in meta.items():
        frame[key] = value
    return frame.to_csv(index=False)


def drift_export(
    settings: Settings,
    *,
    sessions: Sessions,
    window: str | Window = "7d",
    version: int | None = None,
    include_shadow: bool = False,
    fmt: str = "json",
) -> str:
    """The drift report for the CLI: ``ValueError`` with a clear message when there is nothing to report."""
    if isinstance(window, str):
        window = Window.last(parse_duration(window))
    if fmt not in {"json", "csv"}:
        raise ValueError(f"format must be json or csv, not {fmt!r}")
    refresh(settings, sessions=sessions)
    with sessions.begin() as session:
        if version is None:
            totals = rollups.hour_totals(session, model_name=settings.model_name, start=window.start, end=window.end)
            version = _serving_version(totals)
            if version is None:
                raise ValueError(
                    f"no predictions of {settings.model_name} logged in {window.label()}; "
                    "try a longer --window or generate traffic with `python -m core simulate`"
                )
        report = window_drift(
            settings, session=session, window=window, model_version=version, include_shadow=include_shadow
        )
    if report is None:
        raise ValueError(f"version {version} of {settings.model_name} has no training profile to compare with")
    if not report.features:
        raise ValueError(f"no inputs of version {version} logged in {window.label()}")
    meta = export_meta(settings, window=window, version=version, include_shadow=include_shadow)
    return report_json(report, meta) if fmt == "json" else report_csv(report, meta)


def drift_and_latency(
    settings: Settings, *, sessions: Sessions, window: Window, version: int | None = None
) -> tuple[DriftReport | None, dict[int, float | None]]:
    """The two headline computations on their own (refresh, drift, latency percentiles), as benchmarked."""
    refresh(settings, sessions=sessions)
    with sessions.begin() as session:
        if version is None:
            totals = rollups.hour_totals(session, model_name=settings.model_name, start=window.start, end=window.end)
            version = _serving_version(totals)
        report = (
            None if version is None else window_drift(settings, session=session, window=window, model_version=version)
        )
        latency = rollups.bucket_counts(
            session, model_name=settings.model_name, metric="latency", start=window.start, end=window.end
        )
    latency = _select(latency, version=version, include_shadow=False)
    merged = latency.groupby("bucket")["count"].sum() if not latency.empty else pd.Series(dtype=float)
    return report, latency_percentiles(merged.index.to_numpy(), merged.to_numpy())
