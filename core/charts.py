"""Plotly figure builders. Pages only lay these out; tests check the data inside them."""

from __future__ import annotations

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
