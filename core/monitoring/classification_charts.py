"""Plotly figures for a classifier on the Monitoring page: metrics over time, confusion matrix, calibration."""

from __future__ import annotations

import html

import pandas as pd
import plotly.graph_objects as go

from core.monitoring.charts import PALETTE, _layout
from core.monitoring.classification import LABELS


def metric_over_time_figure(over_time: pd.DataFrame, metric: str) -> go.Figure:
    """One realised metric per UTC day and series (solid), with its label coverage (dotted, right axis)."""
    figure = go.Figure()
    label = LABELS.get(metric, metric)
    for index, (series, rows) in enumerate(over_time.groupby("series")):
        colour = PALETTE[index % len(PALETTE)]
        rows = rows.sort_values("day")
        figure.add_trace(
            go.Scatter(
                x=rows["day"],
                y=rows[metric],
                mode="lines+markers",
                name=f"{series} {label}",
                line={"color": colour},
                customdata=rows[["labelled", "predictions"]].to_numpy(),
                hovertemplate="%{y:.3f} on %{customdata[0]:,} of %{customdata[1]:,} predictions<extra></extra>",
            )
        )
        figure.add_trace(
            go.Scatter(
                x=rows["day"],
                y=rows["coverage"],
                mode="lines",
                name=f"{series} label coverage",
                line={"color": colour, "dash": "dot"},
                yaxis="y2",
            )
        )
    figure.update_layout(
        yaxis2={"title": "label coverage", "overlaying": "y", "side": "right", "range": [0, 1], "tickformat": ".0%"}
    )
    return _layout(figure, title=f"Realised {label} per day", y_title=label, x_title="day (UTC)")


def confusion_figure(matrix: pd.DataFrame) -> go.Figure:
    """True (rows) × predicted (columns) counts as a heatmap, each cell labelled with its count."""
    # Plotly reads a few HTML tags in labels: class names come from data, so they are escaped.
    classes_true = [html.escape(str(name)) for name in matrix.index]
    classes_predicted = [html.escape(str(name)) for name in matrix.columns]
    counts = matrix.to_numpy()
    totals = counts.sum(axis=1, keepdims=True)
    shares = counts / totals.clip(min=1)  # colour by the share of each true class, so rare classes still show
    figure = go.Figure(
        go.Heatmap(
            z=shares,
            x=classes_predicted,
            y=classes_true,
            text=counts,
            texttemplate="%{text:,}",
            colorscale="Blues",
            zmin=0,
            zmax=1,
            colorbar={"title": "share of true class", "tickformat": ".0%"},
            hovertemplate="true %{y}, predicted %{x}: %{text:,}<extra></extra>",
        )
    )
    figure.update_yaxes(autorange="reversed", type="category")
    figure.update_xaxes(type="category")
    return _layout(figure, title="Confusion matrix (labelled predictions)", y_title="true label", x_title="predicted")


def calibration_figure(curve: pd.DataFrame, class_name: str) -> go.Figure:
    """Reliability curve: observed share of ``class_name`` against the mean predicted probability, per bin."""
    class_name = html.escape(class_name)  # shown by plotly, which reads a few HTML tags
    figure = go.Figure()
    figure.add_trace(
        go.Scatter(
            x=[0, 1], y=[0, 1], mode="lines", name="perfectly calibrated", line={"color": "#888", "dash": "dash"}
        )
    )
    figure.add_trace(
        go.Scatter(
            x=curve["mean_score"],
            y=curve["observed"],
            mode="lines+markers",
            name=f"observed share of {class_name}",
            line={"color": PALETTE[0]},
            customdata=curve[["count"]].to_numpy(),
            hovertemplate="predicted %{x:.2f}, observed %{y:.2f} on %{customdata[0]:,} rows<extra></extra>",
        )
    )
    figure.update_xaxes(range=[0, 1])
    figure.update_yaxes(range=[0, 1])
    return _layout(
        figure,
        title=f"Calibration of P({class_name})",
        y_title="observed share",
        x_title=f"mean predicted probability of {class_name}",
    )
