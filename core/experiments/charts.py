"""Plotly figures for comparing runs. They take the Experiments frames; tests read the data back out."""

from __future__ import annotations

import html
import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from core.charts import TEMPLATE, chart_text
from core.experiments.comparison import Holdout, selected
from core.experiments.runs import MISSING, RunSet, lower_is_better
from core.formats import measured
from core.monitoring.classification import sorted_classes
from core.registry.holdout import KNOWN_NAMES
from core.registry.metric_names import direction

BEST_COLOR = "#a78bfa"
OTHER_COLOR = "#475569"
ESTIMATOR_COLORS = ("#7dd3fc", "#a78bfa", "#f472b6", "#fbbf24", "#34d399", "#f87171")
GRID_COLUMNS = 3


def metric_bar_figures(runs: RunSet, *, run_ids: list[str], metrics: list[str] | None = None) -> dict[str, go.Figure]:
    """One bar chart per metric over the chosen runs, the best bar highlighted.

    A metric none of the chosen runs logged (a regressor's RMSE when comparing classifiers in a mixed
    experiment) gets no chart.
    """
    rows = selected(runs, run_ids)
    labels = runs.labels()
    figures = {}
    for metric in metrics or list(runs.metrics):
        values = rows[f"metrics.{metric}"]
        if values.isna().all():
            continue
        lower = lower_is_better(metric)
        best = values.idxmin() if lower else values.idxmax()
        colors = [BEST_COLOR if run_id == best else OTHER_COLOR for run_id in run_ids]
        figure = go.Figure(
            go.Bar(
                x=[chart_text(labels[run_id]) for run_id in run_ids],  # run names from data: Plotly reads tags
                y=values.to_list(),
                marker={"color": colors},
                text=[
                    measured(KNOWN_NAMES.get(metric.lower()), None if pd.isna(value) else float(value))
                    for value in values
                ],
                # Values above the bars, upright: inside a short bar of a zoomed axis they would be cut.
                textposition="outside",
                textangle=0,
                cliponaxis=False,
            )
        )
        figure.update_layout(title=f"{metric} ({direction(metric)})", template=TEMPLATE, height=320, showlegend=False)
        figure.update_yaxes(range=bar_range(values.dropna().astype(float).to_list()))
        figures[metric] = figure
    return figures


def bar_range(values: list[float], *, margin: float = 0.25) -> list[float]:
    """A y range around the data, not from zero: 529 and 543 must not look equal.

    The span between the lowest and the highest value is padded by ``margin`` of itself on each side
    (a single value, or equal values, by 5% of its size); the range starts at 0 only when the data
    crosses or touches it, so a bar never starts below an axis that is not there.
    """
    if not values:
        raise ValueError("values must hold at least one number")
    low, high = min(values), max(values)
    span = high - low
    pad = span * margin if span > 0 else (abs(high) * 0.05 or 1.0)
    bottom, top = low - pad, high + pad
    if low >= 0 > bottom:
        bottom = 0.0
    if high < 0 < top:
        top = 0.0
    return [bottom, top]


def parallel_coordinates_figure(frame: pd.DataFrame, *, params: list[str], metric: str) -> go.Figure:
    """Params → metric: one axis per param (numeric, or categorical with ``—`` for missing), the metric last.

    Runs without the metric are left out; lines are coloured by the metric, brighter is better.
    """
    rows = frame[frame[f"metrics.{metric}"].notna()]
    dimensions = [_dimension(rows[f"params.{name}"], label=name) for name in params]
    metric_values = rows[f"metrics.{metric}"].astype(float)
    dimensions.append({"label": metric, "values": metric_values.to_list()})
    crowded = len(dimensions) >= 5 or max(len(str(dimension["label"])) for dimension in dimensions) > 14
    figure = go.Figure(
        go.Parcoords(
            line={
                "color": metric_values.to_list(),
                "colorscale": "Viridis",
                "reversescale": lower_is_better(metric),
                "showscale": True,
                "colorbar": {"title": {"text": f"{metric}<br>({direction(metric)})"}},
            },
            dimensions=dimensions,
            # Plotly's default tick labels are 10 px with a dark halo: readable sizes, no halo on the dark theme.
            labelfont={"size": 14},
            # Many or long axis names would run into each other level: tilt them then.
            labelangle=-20 if crowded else 0,
            labelside="top",
            tickfont={"size": 13, "shadow": "none"},
            rangefont={"size": 11, "shadow": "none"},
        )
    )
    figure.update_layout(
        title=f"params → {metric} ({direction(metric)}; {len(rows)} runs)",
        template=TEMPLATE,
        height=500,
        # Room for the outer axes' tick labels, and above the axes for their (tilted) names under the title.
        margin={"l": 70, "r": 40, "t": 150 if crowded else 100, "b": 40},
    )
    return figure


def _dimension(values: pd.Series, *, label: str) -> dict:
    if pd.api.types.is_numeric_dtype(values) and values.notna().all():
        return {"label": label, "values": values.astype(float).to_list()}
    # Text, or numbers with gaps (a param other estimators do not have): one tick per level.
    texts = [MISSING if pd.isna(value) else _text(value) for value in values]
    levels = sorted(set(texts), key=_level_order)
    codes = {level: code for code, level in enumerate(levels)}
    return {
        "label": label,
        "values": [codes[text] for text in texts],
        "tickvals": list(range(len(levels))),
        "ticktext": [chart_text(level) for level in levels],
    }


def _text(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _level_order(level: str) -> tuple[int, float, str]:
    # Numbers in numeric order, then words, then the missing marker.
    if level == MISSING:
        return (2, 0.0, level)
    try:
        return (0, float(level), level)
    except ValueError:
        return (1, 0.0, level)


def param_metric_scatter(runs: RunSet, frame: pd.DataFrame, *, param: str, metric: str) -> go.Figure:
    """Any param against any metric, one trace (colour) per estimator; runs missing either are left out."""
    labels = runs.labels()
    rows = frame[frame[f"params.{param}"].notna() & frame[f"metrics.{metric}"].notna()]
    numeric = pd.api.types.is_numeric_dtype(rows[f"params.{param}"])
    # Param values, run names and estimators are text from data: Plotly reads a few HTML tags in labels.
    x_values = rows[f"params.{param}"].astype(float) if numeric else rows[f"params.{param}"].map(_text).map(chart_text)
    figure = go.Figure()
    for index, (estimator, group) in enumerate(rows.groupby("estimator", sort=True)):
        figure.add_trace(
            go.Scatter(
                x=x_values[group.index].to_list(),
                y=group[f"metrics.{metric}"].astype(float).to_list(),
                mode="markers",
                name=chart_text(estimator),
                text=[chart_text(labels[run_id]) for run_id in group.index],
                hovertemplate=f"%{{text}}<br>{param}=%{{x}}<br>{metric}=%{{y:.4g}}<extra>{chart_text(estimator)}</extra>",
                marker={"size": 9, "color": ESTIMATOR_COLORS[index % len(ESTIMATOR_COLORS)], "opacity": 0.8},
            )
        )
    figure.update_layout(
        title=f"{param} vs {metric} ({len(rows)} runs)",
        xaxis_title=param,
        yaxis_title=f"{metric} ({direction(metric)})",
        template=TEMPLATE,
        height=420,
    )
    if not numeric:
        order = sorted(set(x_values), key=_level_order)
        figure.update_xaxes(type="category", categoryorder="array", categoryarray=order)
    if not rows.empty:
        figure.update_yaxes(range=zoomed_range(rows[f"metrics.{metric}"].astype(float).to_numpy()))
    return figure


def zoomed_range(values: np.ndarray) -> list[float]:
    """An axis range around the data (a tenth of their spread either side), never plotly's ±0.5 around one point.

    ROC AUCs of 0.986 and 0.987 are read apart; one run's 0.987 sits in a band a few hundredths wide.
    """
    low, high = float(np.min(values)), float(np.max(values))
    spread = high - low
    pad = spread * 0.1 if spread > 0 else max(abs(high) * 0.01, 1e-3)
    return [low - pad, high + pad]


def predicted_vs_actual_grid(holdouts: list[Holdout]) -> go.Figure:
    """Each run's holdout predictions against the actual values, side by side on shared axes.

    Only runs whose holdout holds numbers are drawn: class labels get :func:`confusion_grid`.
    """
    shown = [holdout for holdout in holdouts if holdout.holds_numbers]
    count = max(1, len(shown))
    columns = min(GRID_COLUMNS, count)
    rows = math.ceil(count / columns)
    figure = make_subplots(
        rows=rows,
        cols=columns,
        subplot_titles=[chart_text(holdout.label) for holdout in shown] or ["no holdout predictions"],
        shared_xaxes="all",
        shared_yaxes="all",
        horizontal_spacing=0.05,
        vertical_spacing=0.12,
    )
    values = [value for holdout in shown for value in (*holdout.actual, *holdout.predicted)]
    low, high = (float(np.min(values)), float(np.max(values))) if values else (0.0, 1.0)
    for index, holdout in enumerate(shown):
        row, column = index // columns + 1, index % columns + 1
        figure.add_trace(
            go.Scattergl(
                x=holdout.actual,
                y=holdout.predicted,
                mode="markers",
                name=chart_text(holdout.label),
                marker={"size": 3, "opacity": 0.5, "color": ESTIMATOR_COLORS[index % len(ESTIMATOR_COLORS)]},
            ),
            row=row,
            col=column,
        )
        figure.add_trace(
            go.Scatter(
                x=[low, high],
                y=[low, high],
                mode="lines",
                name="perfect",
                showlegend=index == 0,
                line={"dash": "dash", "color": "#aaa"},
            ),
            row=row,
            col=column,
        )
    figure.update_layout(template=TEMPLATE, height=380 * rows, title="predicted vs actual (holdout)")
    figure.update_xaxes(title_text="actual")
    figure.update_yaxes(title_text="predicted")
    return figure


def holdout_confusion(holdout: Holdout) -> pd.DataFrame:
    """Counts of true (rows) × predicted (columns) classes of one run's holdout, in the model's class order."""
    seen = [str(value) for value in (*holdout.actual, *holdout.predicted)]
    classes = list(holdout.classes) or sorted_classes(seen)
    classes += [name for name in sorted_classes(seen) if name not in classes]
    position = {name: index for index, name in enumerate(classes)}
    counts = np.zeros((len(classes), len(classes)), dtype=np.int64)
    for truth, answer in zip(holdout.actual, holdout.predicted, strict=False):
        counts[position[str(truth)], position[str(answer)]] += 1
    return pd.DataFrame(counts, index=pd.Index(classes, name="true"), columns=pd.Index(classes, name="predicted"))


def confusion_grid(holdouts: list[Holdout]) -> go.Figure:
    """Each classifier run's holdout confusion matrix, side by side; cells coloured by the share of the true class."""
    shown = [holdout for holdout in holdouts if holdout.holds_labels]
    count = max(1, len(shown))
    columns = min(GRID_COLUMNS, count)
    rows = math.ceil(count / columns)
    figure = make_subplots(
        rows=rows,
        cols=columns,
        subplot_titles=[html.escape(holdout.label) for holdout in shown] or ["no holdout predictions"],
        horizontal_spacing=0.1,
        vertical_spacing=0.18,
    )
    for index, holdout in enumerate(shown):
        matrix = holdout_confusion(holdout)
        counts = matrix.to_numpy()
        shares = counts / counts.sum(axis=1, keepdims=True).clip(min=1)
        classes = [html.escape(name) for name in matrix.index]  # plotly reads a few HTML tags in labels
        figure.add_trace(
            go.Heatmap(
                z=shares,
                x=classes,
                y=classes,
                text=counts,
                texttemplate="%{text:,}",
                colorscale="Blues",
                zmin=0,
                zmax=1,
                showscale=index == 0,
                colorbar={"title": "share of true class", "tickformat": ".0%"},
                name=html.escape(holdout.label),
                hovertemplate="true %{y}, predicted %{x}: %{text:,}<extra></extra>",
            ),
            row=index // columns + 1,
            col=index % columns + 1,
        )
    figure.update_layout(template=TEMPLATE, height=360 * rows, title="confusion matrices (holdout)")
    figure.update_xaxes(title_text="predicted", type="category")
    figure.update_yaxes(type="category", autorange="reversed")
    figure.update_yaxes(title_text="true", col=1)  # once per row: beside a neighbour's class names it overlaps them
    return figure
