"""Plotly figure of estimated performance over time: the estimate with its sampling-error band, and the realised
metric where true values came back."""

from __future__ import annotations

import html

import pandas as pd
import plotly.graph_objects as go

from core.monitoring.charts import BAND_ALPHA, PALETTE, _layout

LABELS = {"mae": "MAE", "rmse": "RMSE", "accuracy": "accuracy", "f1": "F1", "roc_auc": "ROC AUC"}
SHARES = {"accuracy", "f1"}  # drawn in percent, as the realised classifier metrics are


def _rgba(colour: str, alpha: float) -> str:
    red, green, blue = (int(colour[index : index + 2], 16) for index in (1, 3, 5))
    return f"rgba({red},{green},{blue},{alpha})"


def estimated_figure(
    over_time: pd.DataFrame, metric: str, *, unit: str | None = None, daily: bool = False
) -> go.Figure:
    """``metric``'s estimate per period (line), its ± 3 standard-error band (shaded) and the realised value
    (markers) where there is one. ``over_time``: period, metric, value, low, high, realised."""
    rows = over_time[over_time["metric"] == metric].sort_values("period")
    scale = 100.0 if metric in SHARES else 1.0
    label = LABELS.get(metric, metric)
    colour, realised_colour = PALETTE[0], PALETTE[3]
    figure = go.Figure()
    figure.add_trace(
        go.Scatter(
            x=pd.concat([rows["period"], rows["period"][::-1]]),
            y=pd.concat([rows["high"], rows["low"][::-1]]) * scale,
            fill="toself",
            fillcolor=_rgba(colour, BAND_ALPHA),
            line={"width": 0},
            hoverinfo="skip",
            name="± 3 standard errors",
        )
    )
    figure.add_trace(
        go.Scatter(
            x=rows["period"],
            y=rows["value"] * scale,
            mode="lines+markers",
            name=f"estimated {label}",
            line={"color": colour},
        )
    )
    realised = rows[rows["realised"].notna()] if "realised" in rows else rows.iloc[0:0]
    if not realised.empty:
        figure.add_trace(
            go.Scatter(
                x=realised["period"],
                y=realised["realised"] * scale,
                mode="markers",
                name=f"realised {label}",
                marker={"color": realised_colour, "symbol": "diamond", "size": 9},
            )
        )
    # The unit is a version tag (text from MLflow): escaped, since Plotly reads tags such as <b> in titles.
    y_title = f"{label} (%)" if metric in SHARES else (f"{label} ({html.escape(unit)})" if unit else label)
    return _layout(
        figure,
        title=f"Estimated {label} {'per day' if daily else 'per hour'}",
        y_title=y_title,
        x_title="day (UTC)" if daily else "hour (UTC)",
    )
