"""Everything the Monitoring page shows for one window: KPIs with deltas, latency, realised error, drift —
and for a classifier, its realised metrics, labels and scores (:mod:`core.monitoring.classification_view`).

Every figure is computed from :mod:`storage.rollups` (a few hundred rows per window whatever the size
of the prediction log) after one cheap incremental refresh by the caller.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace

import pandas as pd
from sqlalchemy.orm import Session

from core import mlflow_io
from core.errors import LoupeError
from core.monitoring.classification_view import ClassificationView, classification_view, is_classifier
from core.monitoring.drift import DriftReport
from core.monitoring.estimated_view import EstimatedPerformance, window_estimates
from core.monitoring.multivariate import MultivariateDrift
from core.monitoring.percentiles import PERCENTILES, latency_percentiles
from core.monitoring.references import holdout_mae, reference_profile, refresh
from core.monitoring.rollup_frames import answered_count, in_window, select_rows, serving_version
from core.monitoring.segments import SegmentView, segment_view, split_features
from core.monitoring.window_drift import window_drift, window_multivariate
from core.monitoring.windows import Window
from core.settings import Settings
from storage import rollups
from storage.db import Sessions

UNATTRIBUTED = 0  # the roll-ups' version of rejections logged before they carried the refusing version
# A version's unit tag, by (tracking URI, model, version): read once a minute at most, since every Monitoring
# rerun and Home visit asks and a tag is rarely changed. Failures are not kept.
_UNITS: dict[tuple[str, str, int], tuple[float, str | None]] = {}
UNIT_SECONDS = 60.0


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
    # Answered (not shadow) rows the rejected rate is taken over: the chosen version's, or every version's.
    answered: int | None = None
    # Rejected rows logged before rejections carried a version (roll-up version 0): the model's, no version's.
    unattributed_rejections: int = 0

    @property
    def rejected_rate(self) -> float | None:
        """Refused input rows over all input rows sent (answered + refused), for one version or the model."""
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
    answer_unit: str | None = None  # a "value" in the answer's unit (realised MAE): the version's loupe.unit

    @property
    def delta(self) -> float | None:
        if self.value is None or self.previous is None:
            return None
        return self.value - self.previous


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
    rejections: pd.DataFrame  # hour, model_version, field, rule, count (current window, chosen version)
    versions: list[int] = field(default_factory=list)  # every version seen in the log
    holdout_mae: float | None = None  # the drift version's MAE at training, for the MAE alert
    refreshed: rollups.RefreshResult | None = None
    classification: ClassificationView | None = None  # a classifier's metrics, labels, scores (else None)
    # The current window as alerts judge it: the rejected rate is the alerted (serving) version's own.
    alerted: WindowStats | None = None
    unit: str | None = None  # the drift version's loupe.unit: answers and their errors are shown in it
    # kind (one | batch | sim | other), model_version, is_shadow, bucket, count (current window, selected rows)
    latency_by_kind: pd.DataFrame = field(default_factory=pd.DataFrame)
    estimated: EstimatedPerformance | None = None  # estimated performance (DLE / CBPE) and its series
    # Multivariate drift of the drift version's inputs (None: its reference has no PCA) and its hourly sums.
    multivariate: MultivariateDrift | None = None
    multivariate_by_hour: pd.DataFrame = field(default_factory=pd.DataFrame)
    split_features: list[str] = field(default_factory=list)  # what the page can split by (the drift version's)
    segments: SegmentView | None = None  # the window split by ``split_by``, when asked

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
        if self.classification is None:
            figures.append(Kpi("Realised MAE", current.mae, previous.mae, "value", answer_unit=self.unit))
            return figures
        now, before = self.classification.current, self.classification.previous
        figures.append(Kpi("Realised accuracy", now.accuracy, before.accuracy, "share", higher_is_worse=False))
        figures.append(Kpi("Label coverage", now.coverage, before.coverage, "share", higher_is_worse=False))
        return figures


def _stats(
    totals: pd.DataFrame,
    latency: pd.DataFrame,
    rejections: pd.DataFrame,
    drift: DriftReport | None,
    *,
    answered: pd.DataFrame,
    version: int | None,
) -> WindowStats:
    predictions = int(totals["predictions"].sum()) if not totals.empty else 0
    feedback = int(totals["feedback"].sum()) if not totals.empty else 0
    rejected, unattributed, answered_rows = _rejections_of(rejections, answered, version=version)
    merged = latency.groupby("bucket")["count"].sum() if not latency.empty else pd.Series(dtype=float)
    return WindowStats(
        predictions=predictions,
        answered=answered_rows,
        rejected_rows=rejected,
        unattributed_rejections=unattributed,
        ood=int(totals["ood"].sum()) if not totals.empty else 0,
        latency=latency_percentiles(merged.index.to_numpy(), merged.to_numpy()),
        feedback=feedback,
        mae=float(totals["abs_error_sum"].sum() / feedback) if feedback else None,
        rmse=float(math.sqrt(totals["sq_error_sum"].sum() / feedback)) if feedback else None,
        drift=drift,
    )


def _rejections_of(rejections: pd.DataFrame, answered: pd.DataFrame, *, version: int | None) -> tuple[int, int, int]:
    """(rejected rows, unattributed rejected rows, answered rows) for ``version`` (``None``: the model).

    A version's rate counts only the rejections its own input rules made over its own answered rows; the
    rows logged before rejections carried a version (0) belong to the model as a whole, never to a version.
    """
    rows = rejections[rejections["field"] == rollups.ALL] if not rejections.empty else rejections
    by_version = rows.groupby("model_version")["count"].sum() if not rows.empty else pd.Series(dtype=int)
    unattributed = int(by_version.get(UNATTRIBUTED, 0))
    if version is None:
        return int(by_version.sum()), unattributed, answered_count(answered)
    mine = answered[answered["model_version"] == version] if not answered.empty else answered
    return int(by_version.get(version, 0)), unattributed, answered_count(mine)


def _latency_by_kind(session: Session, *, model_name: str, window: Window) -> pd.DataFrame:
    """Latency buckets per kind of request over the window (version, shadow flag, bucket, count, kind): one query."""
    kinds = list(rollups.LATENCY_KIND_NAMES)
    metrics = {rollups.latency_metric(kind): kind for kind in kinds}
    found = rollups.metric_bucket_counts(
        session, model_name=model_name, metrics=list(metrics), start=window.start, end=window.end
    )
    found["kind"] = found["metric"].map(metrics)
    found = found.assign(_order=found["kind"].map(kinds.index)).sort_values(
        ["_order", "model_version", "is_shadow", "bucket"], kind="stable"
    )
    return found[["model_version", "is_shadow", "bucket", "count", "kind"]].reset_index(drop=True)


def snapshot(
    settings: Settings,
    *,
    sessions: Sessions,
    window: Window,
    version: int | None = None,
    include_shadow: bool = False,
    refresh_first: bool = True,
    split_by: str | None = None,
) -> Snapshot:
    """All the page's figures for ``window`` (and the previous window, for deltas); ``split_by`` a feature
    of :attr:`Snapshot.split_features` also splits them into segments."""
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
        by_kind = _latency_by_kind(session, model_name=name, window=window)
        versions = rollups.logged_versions(session, model_name=name)
        totals = select_rows(totals_all, version=version, include_shadow=include_shadow)
        drift_version = version if version is not None else serving_version(in_window(totals, window))
        drifts: list[DriftReport | None] = [None, None]
        training_mae = None
        multivariate, multivariate_by_hour, splits, segments = None, pd.DataFrame(), [], None
        if drift_version is not None:
            multivariate, multivariate_by_hour = window_multivariate(
                settings, session=session, window=window, model_version=drift_version, include_shadow=include_shadow
            )
            profile = reference_profile(settings, session=session, model_version=drift_version)
            splits = split_features(profile, max_values=settings.segment_max_values)
            if split_by is not None and split_by in splits:
                segments = segment_view(
                    settings,
                    session=session,
                    window=window,
                    feature=split_by,
                    version=version,
                    drift_version=drift_version,
                    profile=profile,
                    include_shadow=include_shadow,
                )
            training_mae = holdout_mae(settings, session=session, model_version=drift_version)
            for index, span in enumerate((window, previous_window)):
                drifts[index] = window_drift(
                    settings, session=session, window=span, model_version=drift_version, include_shadow=include_shadow
                )
        classified = None
        if is_classifier(session, model_name=name, window=Window(previous_window.start, window.end)):
            classified = classification_view(
                settings,
                session=session,
                window=window,
                totals=totals_all,
                version=version,
                include_shadow=include_shadow,
                drift_version=drift_version,
            )
        estimated = window_estimates(
            session,
            model_name=name,
            window=window,
            version=version,
            include_shadow=include_shadow,
            drift_version=drift_version,
            totals=totals,
            classification=classified,
        )
    latency = select_rows(latency_all, version=version, include_shadow=include_shadow)
    answered = select_rows(totals_all, version=None, include_shadow=False)
    current = _stats(
        in_window(totals, window),
        in_window(latency, window),
        in_window(rejections, window),
        drifts[0],
        answered=in_window(answered, window),
        version=version,
    )
    before = _stats(
        in_window(totals, previous_window),
        in_window(latency, previous_window),
        in_window(rejections, previous_window),
        drifts[1],
        answered=in_window(answered, previous_window),
        version=version,
    )
    alerted = current
    if version is None and drift_version is not None:
        # Alerts name the serving version: its rejected rate is its own, not the model's.
        rejected, _, answered_rows = _rejections_of(
            in_window(rejections, window), in_window(answered, window), version=drift_version
        )
        alerted = replace(current, rejected_rows=rejected, answered=answered_rows)
    shown_rejections = in_window(rejections, window)
    if version is not None and not shown_rejections.empty:
        shown_rejections = shown_rejections[shown_rejections["model_version"] == version]
    return Snapshot(
        window=window,
        version=version,
        drift_version=drift_version,
        include_shadow=include_shadow,
        current=current,
        previous=before,
        totals=totals,
        latency_by_hour=in_window(latency, window),
        predictions_by_hour=select_rows(predictions, version=version, include_shadow=include_shadow),
        residuals=select_rows(residuals, version=version, include_shadow=include_shadow),
        rejections=shown_rejections,
        alerted=alerted,
        unit=answer_unit(settings, version=drift_version),
        versions=versions,
        holdout_mae=training_mae,
        refreshed=refreshed,
        classification=classified,
        estimated=estimated,
        latency_by_kind=select_rows(by_kind, version=version, include_shadow=include_shadow),
        multivariate=multivariate,
        multivariate_by_hour=multivariate_by_hour,
        split_features=splits,
        segments=segments,
    )


def answer_unit(settings: Settings, *, version: int | None) -> str | None:
    """The unit ``version``'s answers are in (its ``loupe.unit`` tag), ``None`` when it names none or the
    registry cannot say now (figures are then shown as plain numbers)."""
    if version is None:
        return None
    key = (settings.tracking_uri, settings.model_name, int(version))
    found = _UNITS.get(key)
    if found is not None and time.monotonic() - found[0] < UNIT_SECONDS:
        return found[1]
    try:
        unit = mlflow_io.get_version(settings, version=version).unit
    except (LoupeError, ValueError, KeyError):
        return None
    _UNITS[key] = (time.monotonic(), unit)
    return unit


def known_versions(settings: Settings, *, sessions: Sessions) -> list[int]:
    """Versions with logged predictions, newest first (from the roll-ups)."""
    with sessions.begin() as session:
        return rollups.logged_versions(session, model_name=settings.model_name)
