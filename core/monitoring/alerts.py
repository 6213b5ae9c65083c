"""Alert rules on the monitoring figures: drift share, p95 latency, rejected-input rate, realised MAE,
and a classifier's realised metrics.

Thresholds come from the settings (``LOUPE_ALERT_*``; unset turns a rule off). The MAE rule compares
the realised MAE with the serving version's holdout MAE from training: it fires when the live error
is ``alert_mae_ratio`` times the error the model was promoted on. A classifier's rule compares each
realised metric its run logged a holdout value for (accuracy, precision, recall, F1, ROC AUC, log loss)
with that value: it fires when the live figure is ``alert_metric_margin`` worse (lower, or for log loss
higher), on at least :data:`MIN_LABELLED` labelled answers (fewer are too noisy to judge).

Two warnings need no true values (:func:`early_alerts`): multivariate drift (the inputs leave the
reference's reconstruction-error band; opt-in, ``alert_multivariate_drift``), and estimated performance (DLE /
CBPE) as far from the holdout as the realised rules allow.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Literal

from sqlalchemy.exc import SQLAlchemyError

from core.formats import amount, milliseconds, plural
from core.monitoring.classification import (
    HIGHER_IS_BETTER,
    METRICS,
    SHARE_METRICS,
    ClassifierMetrics,
    difference_text,
    metric_text,
    share_text,
)
from core.monitoring.snapshot import Snapshot, WindowStats, snapshot
from core.monitoring.windows import Window, floor_hour
from core.registry.metric_names import label_of
from core.settings import Settings
from storage.base import utcnow
from storage.db import Sessions

Severity = Literal["warning", "error"]
MIN_LABELLED = 30


@dataclass(frozen=True)
class Alert:
    """One rule that fired."""

    rule: str  # drift_share | p95_latency | rejected_rate | mae | accuracy, f1, … (a classifier's metric)
    severity: Severity
    message: str
    value: float
    threshold: float
    version: int | None = None  # the version it speaks of (None: the model): alert delivery keys incidents by it


def evaluate(
    stats: WindowStats,
    settings: Settings,
    *,
    holdout_mae: float | None = None,
    version: int | None = None,
    window: Window | None = None,
    classifier: ClassifierMetrics | None = None,
    classifier_holdout: Mapping[str, float] | None = None,
    unit: str | None = None,
) -> list[Alert]:
    """The rules that fire on one window's figures; each message names the window it speaks of, and
    errors are in ``unit`` (the version's ``loupe.unit``: ``MAE $412``)."""
    alerts = _rules(stats, settings, holdout_mae=holdout_mae, version=version, unit=unit)
    if classifier is not None:
        alerts += classifier_alerts(classifier, classifier_holdout or {}, settings, version=version)
    alerts = [replace(alert, version=version) for alert in alerts]
    return alerts if window is None else _naming_the_window(alerts, window)


def _naming_the_window(alerts: list[Alert], window: Window) -> list[Alert]:
    span = f"last {window.hours} h" if window.end >= floor_hour(utcnow()) else window.label()
    return [replace(alert, message=f"{alert.message.rstrip('.')} — {span}.") for alert in alerts]


def _rules(
    stats: WindowStats, settings: Settings, *, holdout_mae: float | None, version: int | None, unit: str | None
) -> list[Alert]:
    alerts: list[Alert] = []
    subject = f"version {version}" if version is not None else "the model"
    share = stats.drift_share
    if settings.alert_drift_share is not None and share is not None and share >= settings.alert_drift_share:
        drifted = ", ".join(item.feature for item in stats.drift.features if item.drifted) if stats.drift else ""
        alerts.append(
            Alert(
                "drift_share",
                "error",
                f"Input drift: {share_text(share)} of {subject}'s features drifted from its reference ({drifted}); "
                f"alert at ≥ {share_text(settings.alert_drift_share)}.",
                share,
                settings.alert_drift_share,
            )
        )
    p95 = stats.latency.get(95)
    if settings.alert_p95_latency_ms is not None and p95 is not None and p95 >= settings.alert_p95_latency_ms:
        alerts.append(
            Alert(
                "p95_latency",
                "warning",
                f"Slow answers: p95 latency {milliseconds(p95)}, alert at ≥ {milliseconds(settings.alert_p95_latency_ms)}.",
                p95,
                settings.alert_p95_latency_ms,
            )
        )
    rate = stats.rejected_rate
    if settings.alert_rejected_rate is not None and rate is not None and rate >= settings.alert_rejected_rate:
        alerts.append(
            Alert(
                "rejected_rate",
                "warning",
                f"Rejected inputs: {share_text(rate)} of {subject}'s input rows were refused, "
                f"alert at ≥ {share_text(settings.alert_rejected_rate)}.",
                rate,
                settings.alert_rejected_rate,
            )
        )
    if settings.alert_mae_ratio is not None and stats.mae is not None and holdout_mae:
        limit = holdout_mae * settings.alert_mae_ratio
        if stats.mae >= limit:
            alerts.append(
                Alert(
                    "mae",
                    "error",
                    f"Realised error: MAE {amount(stats.mae, unit)} on {plural(stats.feedback, 'labelled prediction')} "
                    f"is {stats.mae / holdout_mae:.1f}× {subject}'s holdout MAE {amount(holdout_mae, unit)} "
                    f"(alert at ≥ {settings.alert_mae_ratio:g}×).",
                    stats.mae,
                    limit,
                )
            )
    return alerts


def classifier_alerts(
    realised: ClassifierMetrics, holdout: Mapping[str, float], settings: Settings, *, version: int | None
) -> list[Alert]:
    """A classifier's realised metrics that are ``alert_metric_margin`` worse than the version's holdout values."""
    margin = settings.alert_metric_margin
    if margin is None or realised.labelled < MIN_LABELLED:
        return []
    subject = f"version {version}" if version is not None else "the model"
    alerts = []
    for metric in METRICS:
        value, expected = realised.value(metric), holdout.get(metric)
        if value is None or expected is None:
            continue
        higher = metric in HIGHER_IS_BETTER
        limit = expected - margin if higher else expected + margin
        if (higher and value <= limit) or (not higher and value >= limit):
            direction = "below" if higher else "above"
            allowed = f"{margin * 100:g} pp" if metric in SHARE_METRICS else f"{margin:g}"
            alerts.append(
                Alert(
                    metric,
                    "error",
                    f"Realised {label_of(metric)}: {metric_text(metric, value)} on "
                    f"{plural(realised.labelled, 'labelled prediction')} ({share_text(realised.coverage or 0.0)} of them) is {direction} {subject}'s "
                    f"holdout {metric_text(metric, expected)} by {difference_text(metric, abs(value - expected))} "
                    f"(alert at {allowed} or more).",
                    value,
                    limit,
                )
            )
    return alerts


def snapshot_alerts(settings: Settings, view: Snapshot) -> list[Alert]:
    """Alerts on a Monitoring page snapshot (its current window; the rejected rate is the alerted version's)."""
    classified = view.classification
    return evaluate(
        view.alerted or view.current,
        settings,
        holdout_mae=view.holdout_mae,
        version=view.drift_version,
        window=view.window,
        classifier=None if classified is None else classified.serving,
        classifier_holdout=None if classified is None else classified.holdout,
        unit=view.unit,
    ) + _naming_the_window(early_alerts(settings, view), view.window)


def early_alerts(settings: Settings, view: Snapshot) -> list[Alert]:
    """Warnings that need no true values: multivariate drift of the inputs, and estimated performance
    (DLE / CBPE) as far from the holdout as the realised rules allow (``alert_mae_ratio``, ``alert_metric_margin``).

    Judged on at least ``drift_min_rows`` rows, as per-feature drift is: fewer are too noisy to alert on.
    """
    version, subject = (
        view.drift_version,
        "the model" if view.drift_version is None else f"version {view.drift_version}",
    )
    alerts: list[Alert] = []
    moved = view.multivariate
    if (
        settings.alert_multivariate_drift
        and moved is not None
        and moved.drifted
        and moved.mean_error is not None
        and moved.rows >= settings.drift_min_rows
    ):
        edge = moved.upper if moved.mean_error > moved.upper else moved.lower
        alerts.append(
            Alert(
                "multivariate_drift",
                "warning",
                f"Multivariate drift: {subject}'s inputs reconstruct with mean error {moved.mean_error:.3f}, outside "
                f"the reference's band {moved.lower:.3f}–{moved.upper:.3f} (its features no longer vary together "
                "as in training).",
                moved.mean_error,
                edge,
                version=version,
            )
        )
    estimated = view.estimated
    if estimated is None or estimated.method is None or estimated.rows < settings.drift_min_rows:
        return alerts
    method = estimated.method.upper()
    mae = estimated.figure("mae")
    if settings.alert_mae_ratio is not None and view.holdout_mae and mae is not None and mae.value is not None:
        limit = view.holdout_mae * settings.alert_mae_ratio
        if mae.value >= limit:
            alerts.append(
                Alert(
                    "estimated_mae",
                    "warning",
                    f"Estimated error ({method}, before true values): MAE {amount(mae.value, view.unit)} on "
                    f"{plural(estimated.rows, 'prediction')} is {mae.value / view.holdout_mae:.1f}× {subject}'s "
                    f"holdout MAE {amount(view.holdout_mae, view.unit)} (alert at ≥ {settings.alert_mae_ratio:g}×).",
                    mae.value,
                    limit,
                    version=version,
                )
            )
    holdout = {} if view.classification is None else view.classification.holdout
    margin = settings.alert_metric_margin
    for metric in ("accuracy", "f1", "roc_auc"):
        figure, expected = estimated.figure(metric), holdout.get(metric)
        if margin is None or figure is None or figure.value is None or expected is None:
            continue
        if figure.value <= expected - margin:
            alerts.append(
                Alert(
                    f"estimated_{metric}",
                    "warning",
                    f"Estimated {label_of(metric)} ({method}, before true values): {metric_text(metric, figure.value)} "
                    f"on {plural(estimated.rows, 'prediction')} is below {subject}'s holdout "
                    f"{metric_text(metric, expected)} by {difference_text(metric, expected - figure.value)}.",
                    figure.value,
                    expected - margin,
                    version=version,
                )
            )
    return alerts


def active_alerts(settings: Settings, *, sessions: Sessions) -> list[Alert]:
    """Alerts over the last ``alert_window_hours`` for the answering traffic (Home's banner)."""
    window = Window.last(timedelta(hours=settings.alert_window_hours))
    try:
        view = snapshot(settings, sessions=sessions, window=window, include_shadow=False)
    except SQLAlchemyError:
        return []
    return snapshot_alerts(settings, view)


def home_alerts(settings: Settings, *, open_sessions: Callable[[], Sessions]) -> list[Alert]:
    """Alerts for Home's banner; a prediction log that cannot be opened shows none rather than failing."""
    try:
        return active_alerts(settings, sessions=open_sessions())
    except SQLAlchemyError:
        return []
