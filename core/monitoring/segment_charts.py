"""Plotly figures for segments (one bar per segment, worst first) and multivariate drift (error per hour
against the reference's band); tests check the data inside them."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from core.charts import TEMPLATE, chart_text
from core.monitoring.multivariate import MultivariateDrift
from core.monitoring.segments import SegmentView

HEIGHT = 320
BAR = "#7dd3fc"
WORST = "#f87171"
BAND = "rgba(167, 139, 250, 0.18)"
# What each segment figure shows: (column, title, axis title, how values read).
SEGMENT_FIGURES = {
    "predictions": ("Predictions per segment", "predictions", ",~d"),
    "drift_share": ("Drifted share of features per segment", "share of features drifted", ".0%"),
    "mae": ("Realised MAE per segment", "MAE", ",.4~g"),
    "mv_error": ("Multivariate error per segment", "mean reconstruction error", ".4~g"),
    "estimated": ("Estimated error per segment", "estimated error", ",.4~g"),
    # A classifier's: the lowest accuracy is the worst segment (SegmentView.worst puts it first).
    "accuracy": ("Realised accuracy per segment", "accuracy", ".1%"),
    "estimated_accuracy": ("Estimated accuracy per segment (CBPE)", "estimated accuracy", ".1%"),
}


def _layout(figure: go.Figure, *, title: str, x_title: str, y_title: str) -> go.Figure:
    figure.update_layout(
        title=title,
        template=TEMPLATE,
        height=HEIGHT,
        margin={"l": 10, "r": 10, "t": 50, "b": 60},
        xaxis_title=x_title,
        yaxis_title=y_title,
        showlegend=False,
    )
    return figure


def segment_figure(view: SegmentView, column: str, *, unit: str | None = None) -> go.Figure:
    """One bar per segment of ``view`` on ``column``, the worst (largest; an accuracy's smallest) first and marked."""
    title, y_title, tick = SEGMENT_FIGURES[column]
    rows = view.worst(column)
    rows = rows[rows[column].notna()]
    values = rows[column].astype(float).tolist()
    labels = [chart_text(value) for value in rows["value"]]
    colours = [WORST if index == 0 and column != "predictions" else BAR for index in range(len(values))]
    figure = go.Figure(go.Bar(x=labels, y=values, marker={"color": colours}))
    figure.update_yaxes(tickformat=tick)
    if unit and column in ("mae", "estimated"):
        y_title = f"{y_title} ({chart_text(unit)})"
    return _layout(figure, title=title, x_title=chart_text(view.feature), y_title=y_title)


def segment_drift_heatmap(view: SegmentView) -> go.Figure:
    """Segment × feature drift statistic (segments in the table's worst-first order), verdict on hover."""
    cells = view.feature_statistics()
    if cells.empty:
        return _layout(go.Figure(), title="Drift per segment and feature", x_title="feature", y_title="segment")
    order = [value for value in view.table["value"] if value in set(cells["segment"])]
    grid = cells.pivot(index="segment", columns="feature", values="statistic").reindex(order)
    verdicts = cells.pivot(index="segment", columns="feature", values="verdict").reindex(order)
    figure = go.Figure(
        go.Heatmap(
            z=grid.to_numpy(dtype=float),
            x=[chart_text(name) for name in grid.columns],
            y=[chart_text(name) for name in grid.index],
            customdata=verdicts.fillna("").to_numpy(),
            hovertemplate="%{y} · %{x}: %{z:.3f} (%{customdata})<extra></extra>",
            colorscale="Reds",
        )
    )
    figure.update_yaxes(autorange="reversed")
    return _layout(figure, title="Drift statistic per segment and feature", x_title="feature", y_title="segment")


def multivariate_figure(found: MultivariateDrift, hourly: pd.DataFrame) -> go.Figure:
    """Mean reconstruction error per hour against the reference's band (mean ± 3 std of its chunks)."""
    figure = go.Figure()
    if not hourly.empty:
        rows = hourly[hourly["rows"] > 0].sort_values("hour")
        hours = rows["hour"].tolist()
        figure.add_trace(
            go.Scatter(
                x=hours + hours[::-1],
                y=[found.upper] * len(hours) + [found.lower] * len(hours),
                fill="toself",
                fillcolor=BAND,
                line={"width": 0},
                hoverinfo="skip",
                name="reference band",
            )
        )
        figure.add_trace(
            go.Scatter(
                x=hours,
                y=(rows["error_sum"] / rows["rows"]).tolist(),
                mode="lines+markers",
                marker={"size": 4},
                line={"color": BAR},
                name="mean error per hour",
            )
        )
    figure.add_hline(y=found.reference_error, line_dash="dot", line_color="#a78bfa")
    layout = _layout(
        figure, title="Multivariate drift: PCA reconstruction error", x_title="hour (UTC)", y_title="mean error"
    )
    layout.update_layout(showlegend=True, legend={"orientation": "h", "y": -0.3, "yanchor": "top"})
    return layout


def multivariate_text(found: MultivariateDrift, *, version: int | None) -> str:
    """One plain sentence on the window's verdict (no markup: the page shows it as plain text)."""
    if found.mean_error is None:
        return f"No inputs of version {version} in this window to reconstruct."
    return (
        f"Multivariate drift: {found.verdict} — mean reconstruction error {found.mean_error:.4f} over "
        f"{found.rows:,} inputs; the reference's band is {found.lower:.4f} to {found.upper:.4f} (mean "
        f"{found.reference_error:.4f} ± 3 std of its chunks; {found.components} PCA components keep "
        f"{found.explained:.0%} of its variance)."
    )
