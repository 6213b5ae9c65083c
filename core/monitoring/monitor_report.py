"""What Monitoring shows, as plain data for ``python -m core monitor`` (JSON for scripts and CI, or text).

One call reads one :func:`~core.monitoring.snapshot.snapshot` (the roll-ups: cheap whatever the log's
size) and lays it out in a stable order: volume, latency, per-feature and multivariate drift, realised
and estimated performance, segments, active alerts. ``schema`` names the layout's version; a field is
only ever added, never renamed or removed, within one version. Missing figures are ``null`` (never NaN).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import pandas as pd

from core.monitoring.alerts import snapshot_alerts
from core.monitoring.percentiles import PERCENTILES
from core.monitoring.snapshot import Snapshot, WindowStats, snapshot
from core.monitoring.windows import Window
from core.settings import Settings
from storage.db import Sessions

SCHEMA = "loupe.monitor/1"


def monitor_report(
    settings: Settings,
    *,
    sessions: Sessions,
    window: Window,
    version: int | None = None,
    segment: str | None = None,
    include_shadow: bool = False,
) -> dict[str, Any]:
    """The snapshot as JSON-ready data; ``ValueError`` naming ``--segment`` when it cannot split by it."""
    view = snapshot(
        settings, sessions=sessions, window=window, version=version, include_shadow=include_shadow, split_by=segment
    )
    if segment is not None and view.segments is None and view.drift_version is not None:
        allowed = ", ".join(view.split_features) or "none (the reference has no categorical feature with few values)"
        raise ValueError(
            f"--segment must be a categorical input with at most {settings.segment_max_values} values in "
            f"version {view.drift_version}'s reference ({allowed}), not {segment!r}"
        )
    report = {
        "schema": SCHEMA,
        "model_name": settings.model_name,
        "window": {"start": window.start.isoformat(), "end": window.end.isoformat(), "hours": window.hours},
        "version": version,
        "drift_version": view.drift_version,
        "include_shadow": include_shadow,
        "task": "classification" if view.classification is not None else "regression",
        "unit": view.unit,
        "versions_logged": view.versions,
        "volume": _volume(view),
        "latency_ms": _latency(view),
        "drift": None if view.current.drift is None else view.current.drift.to_dict(),
        "multivariate_drift": _multivariate(view),
        "performance": {"realised": _realised(view), "estimated": _estimated(view)},
        "segments": _segments(view, segment),
        "alerts": [
            {
                "rule": alert.rule,
                "severity": alert.severity,
                "version": alert.version,
                "value": alert.value,
                "threshold": alert.threshold,
                "message": alert.message,
            }
            for alert in snapshot_alerts(settings, view)
        ],
    }
    return _plain(report)


def _volume(view: Snapshot) -> dict[str, Any]:
    current, previous = view.current, view.previous
    return {
        "predictions": current.predictions,
        "previous_predictions": previous.predictions,
        "rejected_rows": current.rejected_rows,
        "rejected_rate": current.rejected_rate,
        "previous_rejected_rate": previous.rejected_rate,
        "out_of_distribution": current.ood,
        "ood_share": current.ood_share,
    }


def _latency(view: Snapshot) -> dict[str, Any]:
    def percentiles(stats: WindowStats) -> dict[str, float | None]:
        return {f"p{quantile}": stats.latency.get(quantile) for quantile in PERCENTILES}

    return {**percentiles(view.current), "previous": percentiles(view.previous)}


def _multivariate(view: Snapshot) -> dict[str, Any] | None:
    found = view.multivariate
    if found is None:
        return None
    return {
        "rows": found.rows,
        "mean_error": found.mean_error,
        "reference_error": found.reference_error,
        "lower": found.lower,
        "upper": found.upper,
        "components": found.components,
        "explained_variance": found.explained,
        "drifted": found.drifted,
        "verdict": found.verdict,
    }


def _realised(view: Snapshot) -> dict[str, Any]:
    current = view.current
    figures: dict[str, Any] = {"labelled": current.feedback, "mae": current.mae, "rmse": current.rmse}
    figures["holdout_mae"] = view.holdout_mae
    classified = view.classification
    if classified is not None:
        metrics = classified.current
        figures = {
            "labelled": metrics.labelled,
            "coverage": metrics.coverage,
            "positive": metrics.positive,
            **{name: metrics.value(name) for name in ("accuracy", "precision", "recall", "f1", "roc_auc", "log_loss")},
            "holdout": dict(classified.holdout),
        }
    return figures


def _estimated(view: Snapshot) -> dict[str, Any] | None:
    found = view.estimated
    if found is None:
        return None
    return {
        "method": found.method,
        "rows": found.rows,
        "empty": found.empty,
        "metrics": [
            {"metric": item.metric, "value": item.value, "low": item.low, "high": item.high, "realised": item.realised}
            for item in found.figures
        ],
    }


def _segments(view: Snapshot, segment: str | None) -> dict[str, Any]:
    found = view.segments
    answer: dict[str, Any] = {"split_features": view.split_features, "feature": segment, "rows": []}
    if found is None:
        if segment is not None:
            answer["empty"] = "no predictions in the window to split"
        return answer
    # Rows worst first; a classifier's carry accuracy and estimated_accuracy, a regressor's mae, rmse, estimated.
    answer["performance"] = "accuracy" if found.classifier else "error"
    answer["rows"] = found.table.to_dict(orient="records")
    return answer


def _plain(value: Any) -> Any:
    """JSON-ready: NaN and infinities as ``None``, numpy scalars as Python numbers, times as ISO text."""
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, datetime | pd.Timestamp):
        return value.isoformat()
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        value = value.item()  # a numpy scalar
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def report_json(report: Mapping[str, Any]) -> str:
    return json.dumps(report, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def report_text(report: Mapping[str, Any]) -> str:
    """The same figures for a person at a terminal: one line per section."""
    window, volume, latency = report["window"], report["volume"], report["latency_ms"]
    lines = [
        f"{report['model_name']}: {window['start']} → {window['end']} ({window['hours']} h), "
        + (f"version {report['version']}" if report["version"] is not None else "all versions")
        + (f"; drift measured on version {report['drift_version']}" if report["drift_version"] is not None else ""),
        f"volume: {volume['predictions']:,} predictions (previous window {volume['previous_predictions']:,}), "
        f"rejected rate {_share(volume['rejected_rate'])}, out of distribution {_share(volume['ood_share'])}",
        "latency: " + ", ".join(f"{name} {_ms(value)}" for name, value in latency.items() if name != "previous"),
    ]
    drift = report["drift"]
    if drift is None:
        lines.append("drift: no reference data or no inputs in the window")
    else:
        drifted = [item["feature"] for item in drift["features"] if item["drifted"]]
        lines.append(
            f"drift: {drift['drifted_features']} of {drift['judged_features']} judged features drifted "
            f"({_share(drift['drift_share'])})" + (f": {', '.join(drifted)}" if drifted else "")
        )
    multivariate = report["multivariate_drift"]
    lines.append("multivariate drift: " + ("not available" if multivariate is None else multivariate["verdict"]))
    lines.append("realised: " + _pairs(report["performance"]["realised"]))
    estimated = report["performance"]["estimated"]
    if estimated is None:
        lines.append("estimated: not available")
    elif estimated["empty"]:
        lines.append(f"estimated: {estimated['empty']}")
    else:
        lines.append(
            f"estimated ({estimated['method']}): "
            + ", ".join(f"{item['metric']} {_number(item['value'])}" for item in estimated["metrics"])
        )
    segments = report["segments"]
    if segments["feature"] is not None:
        lines.append(f"segments by {segments['feature']}: {len(segments['rows'])}")
        for row in segments["rows"]:
            if segments.get("performance") == "accuracy":
                performance = f"accuracy {_share(row.get('accuracy'))}, estimated accuracy {_share(row.get('estimated_accuracy'))}"
            else:
                performance = f"MAE {_number(row.get('mae'))}"
            lines.append(
                f"  {row['value']}: {row['predictions']:,} predictions, {performance}, "
                f"drift share {_share(row.get('drift_share'))}"
            )
    elif segments["split_features"]:
        lines.append(f"segments: split with --segment ({', '.join(segments['split_features'])})")
    alerts = report["alerts"]
    lines.append(f"alerts: {len(alerts)} active" + (":" if alerts else ""))
    lines.extend(f"  [{alert['severity']}] {alert['message']}" for alert in alerts)
    return "\n".join(lines) + "\n"


def _share(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f} %"


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f} ms"


def _number(value: object) -> str:
    return "—" if not isinstance(value, int | float) else f"{value:,.4g}"


def _pairs(figures: Mapping[str, Any]) -> str:
    shown = [f"{name} {_number(value)}" for name, value in figures.items() if isinstance(value, int | float)]
    return ", ".join(shown) or "no labelled predictions"
