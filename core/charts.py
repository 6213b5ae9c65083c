"""Plotly figure builders. Pages only lay these out; tests check the data inside them."""

from __future__ import annotations

import html

import numpy as np
import plotly.graph_objects as go

TEMPLATE = "plotly_dark"


def predicted_vs_actual_figure(actual: np.ndarray, predicted: np.ndarray, *, title: str) -> go.Figure:
    """Scatter of predicted against actual with the identity line."""
    actual = np.asarray(actual, dtype=float)
    predicted = np.asarray(predicted, dtype=float)
    low = float(min(actual.min(), predicted.min())) if len(actual) else 0.0
    high = float(max(actual.max(), predicted.max())) if len(actual) else 1.0
    figure = go.Figure()
    figure.add_trace(
        go.Scattergl(x=actual, y=predicted, mode="markers", name="holdout", marker={"size": 4, "opacity": 0.5})
    )
    figure.add_trace(
        go.Scatter(x=[low, high], y=[low, high], mode="lines", name="perfect", line={"dash": "dash", "color": "#aaa"})
    )
    figure.update_layout(title=title, xaxis_title="actual", yaxis_title="predicted", template=TEMPLATE, height=420)
    return figure


def chart_text(value: object) -> str:
    """Text from data as Plotly shows it literally (Plotly reads a few HTML tags, such as links, in labels)."""
    return html.escape(str(value), quote=False)


def class_probability_figure(probabilities: dict[str, float], *, predicted: str | None = None) -> go.Figure:
    """One horizontal bar per class with its probability (as a percentage); the predicted class stands out."""
    names = list(probabilities)
    values = [float(probabilities[name]) for name in names]
    colours = ["#4c9be8" if name == predicted else "#7f8c9a" for name in names]
    figure = go.Figure(
        go.Bar(
            x=values,
            y=[chart_text(name) for name in names],
            orientation="h",
            marker={"color": colours},
            text=[f"{value:.1%}" for value in values],
            textposition="auto",
            hovertemplate="%{y}: %{x:.1%}<extra></extra>",
        )
    )
    figure.update_layout(
        template=TEMPLATE,
        height=max(160, 48 * len(names) + 80),
        margin={"l": 10, "r": 10, "t": 30, "b": 40},
        xaxis={"range": [0, 1], "tickformat": ".0%", "title": "probability"},
        yaxis={"autorange": "reversed", "type": "category"},
        title="Class probabilities",
        showlegend=False,
    )
    return figure
