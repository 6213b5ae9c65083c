"""Monitoring's estimated performance: DLE (a regressor's MAE, RMSE) or CBPE (a classifier's accuracy, F1,
ROC AUC) for the window and over time, with their bands, next to the realised figures where true values exist.

The figures come from :class:`core.monitoring.estimated_view.EstimatedPerformance` (built by the snapshot).
"""

from __future__ import annotations

import streamlit as st

from core.monitoring.estimated_view import DAILY_AFTER_HOURS, Estimate, EstimatedPerformance
from core.monitoring.estimation import DLE
from core.monitoring.estimation_charts import LABELS, estimated_figure
from ui.formats import amount, classifier_metric, count, number, plain

METHODS = {
    DLE: "direct loss estimation (a model of the absolute and squared error fitted on the reference holdout)",
    "cbpe": "confidence-based estimation (the model's probabilities calibrated on the reference holdout)",
}


def _shown(item: Estimate, value: float | None, unit: str | None) -> str:
    if item.metric in ("mae", "rmse"):
        return plain(amount(value, unit)) if unit else number(value)  # the unit is a version tag: text, not Markdown
    return classifier_metric(item.metric, value)


def estimated_section(estimated: EstimatedPerformance | None, *, hours: int, unit: str | None = None) -> None:
    """The window's estimates as metrics (band and realised below each), then one chart per metric."""
    st.subheader("Estimated performance")
    if estimated is None or estimated.method is None or estimated.empty:
        reason = "estimated performance needs a reference with true values" if estimated is None else estimated.empty
        st.info(
            f"{str(reason).capitalize()}. Attach reference data with its target column on the **Registry** page "
            "(Reference data): the estimator is fitted on those rows and estimates every answer rolled up after.",
            icon="ℹ️",
        )
        return
    st.caption(
        f"Estimated from {count(estimated.rows)} answers by {METHODS[estimated.method]}. The band is ± 3 "
        "standard errors of sampling; the realised figure is shown where true values came back."
    )
    columns = st.columns(len(estimated.figures))
    for column, item in zip(columns, estimated.figures, strict=True):
        with column:
            st.metric(f"Estimated {LABELS.get(item.metric, item.metric)}", _shown(item, item.value, unit))
            band = f"{_shown(item, item.low, unit)} – {_shown(item, item.high, unit)}"
            realised = "no true values yet" if item.realised is None else _shown(item, item.realised, unit)
            st.caption(f"band {band} · realised {realised}")
    daily = hours > DAILY_AFTER_HOURS
    for item in estimated.figures:
        if item.value is None:
            continue
        st.plotly_chart(
            estimated_figure(estimated.over_time, item.metric, unit=unit, daily=daily),
            key=f"monitoring_estimated_{item.metric}",
        )
