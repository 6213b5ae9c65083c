"""Time series and comparisons for the Monitoring charts, from snapshot frames."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from core.monitoring.percentiles import PERCENTILES, latency_percentiles, signed_log_quantiles
from core.monitoring.rollup_frames import in_window, select_rows
from core.monitoring.snapshot import Snapshot
from core.monitoring.windows import Window
from storage import rollups


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
    frame = in_window(totals, window)
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
    frame = in_window(totals, window)
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
    totals = in_window(snapshot.totals, snapshot.window)
    columns = ["version", "role", "predictions", "latency_p95_ms", "mean_prediction", "feedback", "mae", "rmse"]
    if totals.empty:
        return pd.DataFrame(columns=columns)
    rows = []
    latency = snapshot.latency_by_hour
    for (version, shadow), group in totals.groupby(["model_version", "is_shadow"]):
        count = int(group["predictions"].sum())
        feedback = int(group["feedback"].sum())
        buckets = select_rows(latency, version=int(version), include_shadow=True)
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


def latency_by_kind(snapshot: Snapshot) -> pd.DataFrame:
    """Latency per kind of request in the window: one record, batch (each row's share of its batch), simulated.

    Rows logged before the roll-ups kept the kind are in the overall figures only.
    """
    columns = ["requests", "answers", "p50_ms", "p95_ms", "p99_ms"]
    frame = snapshot.latency_by_kind
    if frame.empty:
        return pd.DataFrame(columns=columns)
    rows = []
    for kind, name in rollups.LATENCY_KIND_NAMES.items():
        merged = frame[frame["kind"] == kind].groupby("bucket")["count"].sum()
        if merged.empty or merged.sum() <= 0:
            continue
        figures = latency_percentiles(merged.index.to_numpy(), merged.to_numpy())
        rows.append(
            {
                "requests": name,
                "answers": int(merged.sum()),
                "p50_ms": figures[50],
                "p95_ms": figures[95],
                "p99_ms": figures[99],
            }
        )
    return pd.DataFrame(rows, columns=columns)
