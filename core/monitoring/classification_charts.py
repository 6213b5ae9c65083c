"""Plotly figures for a classifier on the Monitoring page: metrics over time, confusion matrix, calibration."""

from __future__ import annotations

import html

import pandas as pd
import plotly.graph_objects as go

from core.monitoring.charts import HEIGHT, PALETTE, _layout
from core.monitoring.classification import LABELS, SHARE_METRICS
from core.registry.metric_names import label_of

SYMBOLS = ("circle", "square", "diamond", "triangle-up", "x", "star")
DASHES = ("dot", "dash", "dashdot", "longdash")


def metric_over_time_figure(over_time: pd.DataFrame, metric: str) -> go.Figure:
    """One realised metric per UTC day and series (solid, a marker shape per series), with its label coverage
    (dotted, right axis 0–100%).

    Series whose coverage is the same every day (a shadow is scored on the answers' feedback, so it has the
    answer's coverage) share one coverage line named after all of them, instead of hiding one under another.
    The legend sits above the plot, clear of both axis titles.
    """
    figure = go.Figure()
    label = LABELS.get(metric, metric)
    share = metric in SHARE_METRICS
    coverage_lines: dict[tuple, list[str]] = {}
    colours: dict[tuple, str] = {}
    for index, (series, rows) in enumerate(over_time.groupby("series")):
        colour = PALETTE[index % len(PALETTE)]
        rows = rows.sort_values("day")
        figure.add_trace(
            go.Scatter(
                x=rows["day"],
                y=rows[metric] * 100 if share else rows[metric],
                mode="lines+markers",
                name=f"{html.escape(str(series))} {label}",
                line={"color": colour},
                marker={"symbol": SYMBOLS[index % len(SYMBOLS)], "size": 8},
                customdata=rows[["labelled", "predictions"]].to_numpy(),
                hovertemplate=("%{y:.1f}%" if share else "%{y:.3f}")
                + " on %{customdata[0]:,} of %{customdata[1]:,} predictions<extra></extra>",
            )
        )
        key = tuple(zip(rows["day"], rows["coverage"].round(6), strict=True))
        coverage_lines.setdefault(key, []).append(html.escape(str(series)))
        colours.setdefault(key, colour)
    for index, (key, names) in enumerate(coverage_lines.items()):
        days, coverage = zip(*key, strict=True) if key else ((), ())
        figure.add_trace(
            go.Scatter(
                x=list(days),
                y=[value * 100 for value in coverage],
                mode="lines",
                name=f"{', '.join(names)} label coverage",
                line={"color": colours[key], "dash": DASHES[index % len(DASHES)]},
                yaxis="y2",
                hovertemplate="label coverage %{y:.1f}%<extra></extra>",
            )
        )
    figure.update_layout(
        yaxis2={
            "title": "label coverage",
            "overlaying": "y",
            "side": "right",
            "range": [0, 100],
            "autorange": False,
            "tickmode": "array",
            "tickvals": [0, 25, 50, 75, 100],
            "ticktext": ["0%", "25%", "50%", "75%", "100%"],
            "showgrid": False,
        }
    )
    if share:
        figure.update_layout(yaxis={"ticksuffix": "%"})
    _layout(figure, title=f"Realised {label_of(metric)} per day", y_title=label, x_title="day (UTC)")
    figure.update_layout(
        height=HEIGHT + 60,
        margin={"l": 10, "r": 10, "t": 90, "b": 60},
        legend={"orientation": "h", "x": 0, "y": 1.02, "xanchor": "left", "yanchor": "bottom"},
        # One point per day: ticks on days (never 03:00, 06:00… that suggest finer data).
        xaxis={"dtick": 86_400_000, "tickformat": "%b %d"},
    )
    return figure


def score_distribution_figure(shares: pd.DataFrame, score_name: str, *, drifted: bool | None = None) -> go.Figure:
    """Reference against current scores as shares of rows on equal-width bins of [0, 1], side by side."""
    name = html.escape(score_name)  # a class name from data; plotly reads a few HTML tags
    middle = ((shares["low"] + shares["high"]) / 2).to_numpy()
    width = float((shares["high"] - shares["low"]).iloc[0]) if not shares.empty else 0.05
    figure = go.Figure()
    for column, colour in (("reference", PALETTE[0]), ("current", PALETTE[2])):
        figure.add_trace(
            go.Bar(
                x=middle,
                y=shares[column],
                width=width * 0.45,
                offset=-width * 0.45 if column == "reference" else 0,
                name=column,
                marker_color=colour,
                customdata=shares[["low", "high"]].to_numpy(),
                hovertemplate=f"{column}: %{{y:.1%}} of rows with {name} in [%{{customdata[0]:.2f}}, "
                "%{customdata[1]:.2f})<extra></extra>",
            )
        )
    figure.update_xaxes(range=[0, 1], dtick=0.1)
    figure.update_yaxes(tickformat=".0%", rangemode="tozero")
    verdict = "" if drifted is None else f" ({'drifted' if drifted else 'stable'})"
    return _layout(figure, title=f"Scores: {name}{verdict}", y_title="share of rows", x_title=name)


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
