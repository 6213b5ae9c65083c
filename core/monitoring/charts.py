"""Plotly figures and display strings for the Monitoring page; tests check the data inside them."""

from __future__ import annotations

import html

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from core.charts import TEMPLATE, chart_text
from core.formats import MISSING, amount, count, milliseconds, number, share
from core.monitoring.drift import DriftReport, FeatureDrift
from core.monitoring.snapshot import Kpi

HEIGHT = 320
BAND_ALPHA = 0.18
# Axis ticks as numbers read everywhere: thousands separators, no SI suffixes ("15,000", not "15k").
AXIS_NUMBERS = ",~g"
PALETTE = ["#7dd3fc", "#a78bfa", "#f472b6", "#fbbf24", "#34d399", "#f87171"]


def _layout(figure: go.Figure, *, title: str, y_title: str, x_title: str = "hour (UTC)") -> go.Figure:
    figure.update_layout(
        title=title,
        template=TEMPLATE,
        height=HEIGHT,
        # Below the axis title (under two-line date ticks), with room to spare, not touching it.
        margin={"l": 10, "r": 10, "t": 50, "b": 95},
        legend={"orientation": "h", "y": -0.42, "yanchor": "top"},
        xaxis_title=x_title,
        yaxis_title=y_title,
    )
    return figure


def latency_figure(frame: pd.DataFrame) -> go.Figure:
    """Hourly latency p50/p95/p99 lines (log scale)."""
    figure = go.Figure()
    for index, column in enumerate(("p50", "p95", "p99")):
        if column in frame:
            figure.add_trace(
                go.Scatter(
                    x=frame["hour"],
                    y=frame[column],
                    mode="lines+markers",
                    name=column,
                    line={"color": PALETTE[index]},
                    marker={"size": 4},
                )
            )
    # Whole decades only: plotly's minor log labels ("2, 5") read as values without their decade.
    figure.update_yaxes(type="log", dtick=1, tickformat=",~g")
    return _layout(figure, title="Latency percentiles", y_title="ms")


def throughput_figure(frame: pd.DataFrame) -> go.Figure:
    """Predictions per hour, stacked by version (shadow separate)."""
    figure = go.Figure()
    for index, (series, rows) in enumerate(frame.groupby("series")):
        figure.add_trace(
            go.Bar(x=rows["hour"], y=rows["predictions"], name=str(series), marker_color=PALETTE[index % len(PALETTE)])
        )
    figure.update_layout(barmode="stack")
    return _layout(figure, title="Throughput", y_title="predictions per hour")


def prediction_figure(frame: pd.DataFrame, *, answer: str = "prediction", unit: str | None = None) -> go.Figure:
    """Median prediction per hour and version with its p10–p90 band.

    ``answer`` names what the logged number is: a regressor's prediction, a classifier's score
    (``P(malignant)``, or the probability of the predicted class).
    """
    figure = go.Figure()
    for index, (series, rows) in enumerate(frame.groupby("series")):
        colour = PALETTE[index % len(PALETTE)]
        rows = rows.sort_values("hour")
        band = _rgba(colour, BAND_ALPHA)
        figure.add_trace(
            go.Scatter(
                x=rows["hour"], y=rows["p90"], mode="lines", line={"width": 0}, showlegend=False, hoverinfo="skip"
            )
        )
        figure.add_trace(
            go.Scatter(
                x=rows["hour"],
                y=rows["p10"],
                mode="lines",
                line={"width": 0},
                fill="tonexty",
                fillcolor=band,
                name=f"{series} p10–p90",
            )
        )
        figure.add_trace(
            go.Scatter(x=rows["hour"], y=rows["p50"], mode="lines", name=f"{series} median", line={"color": colour})
        )
    if answer == "prediction":
        figure.update_yaxes(tickformat=AXIS_NUMBERS)
        return _layout(figure, title="Prediction distribution", y_title=_in_unit("prediction", unit))
    figure.update_yaxes(range=[0, 1])
    return _layout(figure, title=f"Score distribution: {html.escape(answer)}", y_title=html.escape(answer))


def _in_unit(title: str, unit: str | None) -> str:
    """An axis title with the answer's unit when the version names one: ``error (USD)``."""
    return f"{title} ({chart_text(unit.strip())})" if unit and unit.strip() else title


def _rgba(hex_colour: str, alpha: float) -> str:
    red, green, blue = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({red},{green},{blue},{alpha})"


def error_figure(frame: pd.DataFrame, *, unit: str | None = None) -> go.Figure:
    """Realised MAE (solid) and RMSE (dotted) per hour and version."""
    figure = go.Figure()
    for index, (series, rows) in enumerate(frame.groupby("series")):
        colour = PALETTE[index % len(PALETTE)]
        figure.add_trace(
            go.Scatter(
                x=rows["hour"], y=rows["mae"], mode="lines+markers", name=f"{series} MAE", line={"color": colour}
            )
        )
        figure.add_trace(
            go.Scatter(
                x=rows["hour"],
                y=rows["rmse"],
                mode="lines",
                name=f"{series} RMSE",
                line={"color": colour, "dash": "dot"},
            )
        )
    figure.update_yaxes(tickformat=AXIS_NUMBERS)
    return _layout(figure, title="Realised error where feedback exists", y_title=_in_unit("error", unit))


def residual_figure(frame: pd.DataFrame, *, unit: str | None = None) -> go.Figure:
    """Residual (actual − predicted) distribution per version, as shares of each version's feedback."""
    figure = go.Figure()
    for index, (series, rows) in enumerate(frame.groupby("series")):
        share = rows["count"] / rows["count"].sum()
        figure.add_trace(
            go.Bar(
                x=(rows["low"] + rows["high"]) / 2,
                y=share,
                width=(rows["high"] - rows["low"]),
                name=str(series),
                opacity=0.65,
                marker_color=PALETTE[index % len(PALETTE)],
            )
        )
    figure.update_layout(barmode="overlay", yaxis={"tickformat": ".1%"})
    figure.update_xaxes(tickformat=AXIS_NUMBERS)
    return _layout(figure, title="Residuals (actual − predicted)", y_title="share", x_title=_in_unit("residual", unit))


P_VALUE_FLOOR = 1e-4


def statistic_text(drift: FeatureDrift) -> str:
    """A drift statistic as every table, title and sentence shows it: four places (a tiny p-value as
    ``< 0.0001``); from a thousand up, as any large number is shown (``145,700,967``, a distance in a
    feature's own units), never ``145700967.4782``."""
    if drift.rule.startswith("p") and drift.statistic < P_VALUE_FLOOR:
        return f"< {P_VALUE_FLOOR:.4f}"
    return number(drift.statistic) if abs(drift.statistic) >= 1000 else f"{drift.statistic:.4f}"


def drift_test_text(drift: FeatureDrift) -> str:
    """``ks p < 0.0001`` / ``wasserstein 0.1234``: the method and its statistic, a p-value named as one."""
    statistic = statistic_text(drift)
    if drift.rule.startswith("p"):
        return f"{drift.method} p {statistic}" if statistic.startswith("<") else f"{drift.method} p = {statistic}"
    return f"{drift.method} {statistic}"


def drift_overlay_figure(drift: FeatureDrift, *, short_title: bool = False) -> go.Figure:
    """Reference against current distribution for one feature.

    Numeric features are drawn as cumulative shares (an ECDF at each bin's centre): the profile's bins
    are quantile bins of uneven width, and as bars (or even as densities) a wide tail bin reads as a
    peak; a cumulative curve reads the same whatever the widths, and the gap between the two curves is
    what the drift tests measure.
    """
    distribution = drift.distribution
    figure = go.Figure()
    y_title = "share of rows"
    if drift.kind == "numeric" and distribution.centers and len(distribution.centers) > 12:
        x = np.asarray(distribution.centers, dtype=float)
        for name, shares, colour in (
            ("reference", distribution.reference, PALETTE[0]),
            ("current", distribution.current, PALETTE[2]),
        ):
            cumulative = np.minimum(np.cumsum(np.asarray(shares, dtype=float)), 1.0)
            figure.add_trace(
                go.Scatter(x=x, y=cumulative, mode="lines", line_shape="hv", name=name, line={"color": colour})
            )
        figure.update_layout(yaxis={"range": [0, 1.02], "tickformat": ".0%"})
        y_title = f"share of rows with {chart_text(drift.feature)} at or below"
    else:
        levels = [chart_text(label) for label in distribution.labels]  # levels from data: Plotly reads tags in them
        figure.add_trace(go.Bar(x=levels, y=distribution.reference, name="reference", marker_color=PALETTE[0]))
        figure.add_trace(go.Bar(x=levels, y=distribution.current, name="current", marker_color=PALETTE[2]))
        figure.update_layout(barmode="group")
    verdict = drift.verdict
    feature = chart_text(drift.feature)  # a column name from data: Plotly would read tags in it
    # A half-width chart has room for the verdict only; the test and its threshold are in the sentence above it.
    title = (
        f"{feature}: {verdict}"
        if short_title
        else f"{feature}: {drift_test_text(drift)} ({verdict}, threshold {drift.threshold:g})"
    )
    return _layout(figure, title=title, y_title=y_title, x_title=feature)


def drift_table(report: DriftReport) -> pd.DataFrame:
    """The per-feature drift table as shown: feature, method, statistic, rule, threshold, drifted, verdict, PSI, rows.

    The verdict is ``drifted``, ``stable`` or ``not enough data`` (fewer current rows than the minimum).

    The statistic is text (:func:`statistic_text`): a p-value of 1e-106 reads ``< 0.0001``, never ``0.0000``.
    """
    frame = report.to_frame()
    frame["statistic"] = [statistic_text(item) for item in report.features]
    frame.insert(4, "rule", [item.rule for item in report.features])
    return frame.rename(columns={"reference_count": "reference rows", "current_count": "current rows"})


def kpi_display(kpi: Kpi) -> tuple[str, str | None, str]:
    """(value, delta, delta_color) for ``st.metric``: red when the change is for the worse."""
    value = _format(kpi.value, kpi.unit, kpi.answer_unit)
    delta = kpi.delta
    if delta is None:
        return value, None, "off"
    if kpi.unit == "share":
        shown = f"{delta * 100:+.1f} pp"
    elif kpi.unit == "count":
        shown = f"{delta:+,.0f}"
    elif kpi.unit == "ms":
        shown = f"{delta:+,.1f} ms"
    else:
        shown = ("-" if delta < 0 else "+") + amount(abs(delta), kpi.answer_unit)
    if np.isclose(delta, 0.0):
        return value, shown, "off"
    return value, shown, "inverse" if kpi.higher_is_worse else "normal"


def _format(value: float | None, unit: str, answer_unit: str | None = None) -> str:
    if value is None:
        return MISSING
    if unit == "share":
        return share(value)
    if unit == "count":
        return count(round(value))
    if unit == "ms":
        return milliseconds(value)
    return amount(value, answer_unit)


def versions_caption(*, shadow_shown: bool, include_shadow: bool, measure: str) -> str:
    """What the Champion vs challenger tab says about shadow rows, from what its tables actually show."""
    if shadow_shown:
        return (
            "Shadow rows answer the same requests as the champion and are scored against the champion's feedback, "
            f"so their {measure} compare like with like."
        )
    if include_shadow:
        return "No shadow rows in this window: no challenger shadowed the answers."
    return "Only answered rows are shown. Turn on **Include shadow** to compare the challenger's shadow rows."
