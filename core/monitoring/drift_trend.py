"""A feature's drift statistic per UTC day, with its threshold: is the drift new, growing, or always there?"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pandas as pd
import plotly.graph_objects as go
from sqlalchemy.orm import Session

from core.charts import chart_text
from core.monitoring.charts import _layout
from core.monitoring.drift import DriftThresholds, feature_drift
from core.monitoring.references import reference_profile
from core.monitoring.window_drift import current_from_rollups
from core.monitoring.windows import Window
from core.settings import Settings
from storage import rollups

DAY = timedelta(days=1)
COLUMNS = ["day", "statistic", "threshold", "method", "rule", "verdict", "rows"]


def daily_spans(window: Window) -> list[Window]:
    """The window cut at UTC midnights (the first and last day may be partial)."""
    start = window.start.astimezone(UTC)
    day = datetime(start.year, start.month, start.day, tzinfo=UTC)
    spans = []
    while day < window.end:
        spans.append(Window(max(day, window.start), min(day + DAY, window.end)))
        day += DAY
    return spans


def drift_trend(
    settings: Settings,
    *,
    session: Session,
    window: Window,
    model_version: int,
    feature: str,
    include_shadow: bool = False,
) -> pd.DataFrame:
    """One row per UTC day of ``window``: the feature's drift statistic, its threshold, verdict and rows.

    Each day is judged exactly as the window is (same method, threshold and minimum of rows); a day
    without inputs is left out, a day with too few says "not enough data".
    """
    profile = reference_profile(settings, session=session, model_version=model_version)
    if profile is None or feature not in profile.features:
        return pd.DataFrame(columns=COLUMNS)
    thresholds = DriftThresholds.from_settings(settings)
    rows = []
    for span in daily_spans(window):
        counts = rollups.feature_counts(
            session,
            model_name=settings.model_name,
            model_version=model_version,
            start=span.start,
            end=span.end,
            include_shadow=include_shadow,
        )
        current = current_from_rollups(profile, counts[counts["feature"] == feature] if not counts.empty else counts)
        if feature not in current:
            continue
        result = feature_drift(
            profile.features[feature], current[feature], reference_rows=profile.row_count, thresholds=thresholds
        )
        if result.current_count == 0:
            continue
        if result.current_count < thresholds.min_rows:
            result = replace(result, drifted=False, enough_rows=False)
        rows.append(
            {
                "day": span.start.replace(hour=0),
                "statistic": result.statistic,
                "threshold": result.threshold,
                "method": result.method,
                "rule": result.rule,
                "verdict": result.verdict,
                "rows": result.current_count,
            }
        )
    return pd.DataFrame(rows, columns=COLUMNS)


VERDICT_COLOURS = {"drifted": "#ef4444", "stable": "#22c55e", "not enough data": "#9ca3af"}


def drift_trend_figure(trend: pd.DataFrame, feature: str) -> go.Figure:
    """The daily statistic as a line, each day coloured by its verdict, with the threshold as a dashed line."""
    figure = go.Figure()
    if trend.empty:
        return _layout(
            figure, title=f"{chart_text(feature)}: no inputs by day in this window", y_title="statistic", x_title="day"
        )
    method, threshold, rule = trend["method"].iloc[-1], float(trend["threshold"].iloc[-1]), trend["rule"].iloc[-1]
    p_value = str(rule).startswith("p")
    figure.add_trace(
        go.Scatter(
            x=trend["day"],
            y=trend["statistic"],
            mode="lines+markers",
            name=f"{method} {'p-value' if p_value else 'statistic'}",
            line={"color": "#60a5fa"},
            marker={"size": 10, "color": [VERDICT_COLOURS[verdict] for verdict in trend["verdict"]]},
            customdata=trend[["verdict", "rows"]],
            hovertemplate="%{x|%Y-%m-%d}: %{y:.4f} (%{customdata[0]}, %{customdata[1]:,} rows)<extra></extra>",
        )
    )
    figure.add_trace(
        go.Scatter(
            x=[trend["day"].min(), trend["day"].max()],
            y=[threshold, threshold],
            mode="lines",
            name=f"threshold {rule} {threshold:g}",
            line={"color": "#f59e0b", "dash": "dash"},
        )
    )
    if p_value:
        figure.update_yaxes(type="log", dtick=1, tickformat=",~g")
    figure.update_xaxes(dtick=86_400_000, tickformat="%b %d")
    verdicts = ", ".join(f"{count} {verdict}" for verdict, count in trend["verdict"].value_counts().items())
    return _layout(
        figure,
        title=f"{chart_text(feature)} by day: {method} ({verdicts})",  # a column name from data: Plotly reads tags
        y_title="p-value (log)" if p_value else f"{method} statistic",
        x_title="day (UTC)",
    )
