"""Drift of the inputs a version answered in a window, and the verdict other pages consume."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from core.mlflow_io import RegistryUnavailable
from core.monitoring.drift import DriftReport, DriftThresholds, drift_report
from core.monitoring.drift_statistics import Histogram, numeric_edges
from core.monitoring.multivariate import MultivariateDrift, multivariate_drift
from core.monitoring.references import reference_profile, refresh
from core.monitoring.rollup_frames import select_rows
from core.monitoring.windows import Window
from core.profile import NumericProfile, TrainingProfile
from core.settings import Settings
from storage import rollups
from storage.db import Sessions
from storage.rollups import segment_queries


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


def window_multivariate(
    settings: Settings,
    *,
    session: Session,
    window: Window,
    model_version: int,
    include_shadow: bool = True,
) -> tuple[MultivariateDrift | None, pd.DataFrame]:
    """Multivariate drift of the version's inputs in ``window`` and its hourly error sums (hour, rows, error_sum).

    ``None`` when the version's reference has no PCA (no reference, or one attached before it was fitted).
    """
    profile = reference_profile(settings, session=session, model_version=model_version)
    if profile is None or profile.multivariate is None:
        return None, pd.DataFrame(columns=["hour", "rows", "error_sum"])
    sums = segment_queries.multivariate_totals(
        session, model_name=settings.model_name, start=window.start, end=window.end
    )
    sums = select_rows(sums, version=model_version, include_shadow=include_shadow)
    hourly = sums.groupby("hour", as_index=False)[["rows", "error_sum"]].sum() if not sums.empty else sums
    rows = int(sums["rows"].sum()) if not sums.empty else 0
    error_sum = float(sums["error_sum"].sum()) if not sums.empty else 0.0
    return multivariate_drift(
        profile.multivariate, rows=rows, error_sum=error_sum, min_rows=settings.drift_min_rows
    ), hourly[["hour", "rows", "error_sum"]]


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
    """Dataset drift of the inputs ``model_version`` answered in the alert window (shadow rows left out).

    Monitoring's Drift tab shows this same status for the same window, so the pre-flight and Monitoring
    say the same thing. Fewer than ``LOUPE_DRIFT_MIN_ROWS`` rows for every feature: no verdict.
    """
    try:
        refresh(settings, sessions=sessions)
        with sessions.begin() as session:
            return alert_window_status(settings, session=session, model_version=model_version, now=now)
    except (SQLAlchemyError, RegistryUnavailable, ValueError) as error:  # reported, never raised
        window = Window.last(timedelta(hours=settings.alert_window_hours), now=now)
        return DriftStatus(drifted=None, share=None, detail=f"drift could not be computed: {error}", window=window)


def alert_window_status(
    settings: Settings, *, session: Session, model_version: int, now: datetime | None = None
) -> DriftStatus:
    """:func:`current_drift_status` on roll-ups the caller has just refreshed (Monitoring refreshes once a run)."""
    window = Window.last(timedelta(hours=settings.alert_window_hours), now=now)
    report = window_drift(settings, session=session, window=window, model_version=model_version, include_shadow=False)
    return drift_status(report, model_version=model_version, window=window, hours=settings.alert_window_hours)


def drift_status(report: DriftReport | None, *, model_version: int, window: Window, hours: int) -> DriftStatus:
    """The verdict and its one line for a drift report of ``model_version``'s answered inputs in ``window``."""
    span = f"the last {hours} h"
    if report is None:
        return DriftStatus(None, None, f"version {model_version} has no reference data to compare with", window)
    if not report.features:
        return DriftStatus(None, None, f"no logged inputs for version {model_version} in {span}", window, report)
    if report.share is None:
        inputs = "input" if report.current_rows == 1 else "inputs"
        detail = (
            f"not enough data: {report.current_rows:,} {inputs} of version {model_version} in {span} "
            f"(a drift verdict needs at least {report.min_rows:,} per feature)"
        )
        return DriftStatus(None, None, detail, window, report)
    drifted_names = ", ".join(item.feature for item in report.judged if item.drifted) or "none"
    judged = len(report.judged)
    detail = (
        f"{report.drifted_count} of {judged} features drifted in {span} "
        f"(share {report.share:.0%}, dataset drift at ≥ {report.share_threshold:.0%}; drifted: {drifted_names}) "
        f"over {report.current_rows:,} answered inputs"
    )
    if report.not_enough:
        detail += f"; {len(report.not_enough)} with fewer than {report.min_rows:,} rows not judged"
    return DriftStatus(bool(report.dataset_drift), report.share, detail, window, report)
