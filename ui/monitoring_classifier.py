"""Monitoring's sections for a classifier: its predicted labels and scores against the reference, realised
metrics with label coverage, confusion and calibration, and the champion against its shadows.

The figures come from :class:`core.monitoring.classification_view.ClassificationView`; numbers are shown
in one format (``ui.formats``): shares as ``81.9%``, ROC AUC and log loss as ``0.983``, counts as ``1,993``.
"""

from __future__ import annotations

import streamlit as st

from core.monitoring import charts, classification_charts
from core.monitoring.classification import LABELS, METRICS, SHARE_METRICS, calibration
from core.monitoring.classification_view import ClassificationView, in_percent
from ui.formats import (
    COUNT_COLUMN_FORMAT,
    METRIC_COLUMN_FORMAT,
    SHARE_COLUMN_FORMAT,
    command,
    count,
    plain,
    plural,
    share,
)


def metric_columns() -> dict:
    """Column formats of a metrics table passed through :func:`in_percent`."""
    return {
        "predictions": st.column_config.NumberColumn("predictions", format=COUNT_COLUMN_FORMAT),
        "labelled": st.column_config.NumberColumn("labelled", format=COUNT_COLUMN_FORMAT),
        "coverage": st.column_config.NumberColumn("label coverage", format=SHARE_COLUMN_FORMAT),
        **{
            name: st.column_config.NumberColumn(
                LABELS[name], format=SHARE_COLUMN_FORMAT if name in SHARE_METRICS else METRIC_COLUMN_FORMAT
            )
            for name in METRICS
        },
    }


def no_labels_yet(other_model: str | None) -> None:
    feedback = command(["python", "-m", "core", "feedback", "--input", "FILE.csv"], model=other_model)
    st.info(
        "No true labels yet for the predictions in this window — upload them on the **Predict** page (Ground "
        f"truth) or with {feedback}.",
        icon="ℹ️",
    )


def output_drift_section(classified: ClassificationView, drift_version: int | None) -> None:
    """The predicted labels' and the scores' drift, each with its chart."""
    st.subheader("Predicted labels and scores")
    shown = [item for item in (classified.label_drift, classified.score_drift) if item is not None]
    if not shown:
        st.info(
            f"Version {drift_version}'s reference data holds neither its label counts nor its scores, so its "
            "answers are not compared for drift. Attach reference data with the target column on the "
            "**Registry** page (Reference data).",
            icon="ℹ️",
        )
        return
    columns = st.columns(len(shown))
    for index, (column, item) in enumerate(zip(columns, shown, strict=True)):
        verdict = "drifted" if item.drifted else "stable"
        what = "Predicted labels" if item.kind == "categorical" else f"Scores ({plain(classified.score_name)})"
        column.markdown(
            f"**{what}**: {verdict} — {plain(charts.drift_test_text(item))} (drifted when {item.rule} "
            f"{item.threshold:g}) over {plural(item.current_count, 'answer')} against "
            f"{plural(item.reference_count, 'reference row')}."
        )
        if item.kind == "numeric" and classified.score_shares is not None:
            figure = classification_charts.score_distribution_figure(
                classified.score_shares, classified.score_name, drifted=item.drifted
            )
        else:
            figure = charts.drift_overlay_figure(item, short_title=True)
        column.plotly_chart(figure, key=f"monitoring_output_drift_{index}")


def performance_section(classified: ClassificationView, *, other_model: str | None) -> None:
    """Realised metrics per version, one metric over time, the confusion matrix and calibration."""
    current = classified.current
    if current.labelled == 0:
        no_labels_yet(other_model)
        return
    about = f" (positive class {plain(current.positive)})" if current.positive is not None else " (macro averages)"
    st.markdown(
        f"Realised metrics{about} on {count(current.labelled)} labelled of {plural(current.predictions, 'prediction')} "
        f"in the window (label coverage {share(current.coverage or 0.0)})."
    )
    st.dataframe(
        in_percent(classified.by_version),
        hide_index=True,
        key="monitoring_classifier_table",
        column_config=metric_columns(),
    )
    available = [name for name in METRICS if classified.over_time[name].notna().any()]
    if available:
        metric = st.selectbox("Metric over time", available, format_func=LABELS.get, key="monitoring_classifier_metric")
        st.plotly_chart(
            classification_charts.metric_over_time_figure(classified.over_time, metric),
            key="monitoring_classifier_over_time",
        )
    left, right = st.columns(2)
    left.plotly_chart(classification_charts.confusion_figure(classified.confusion), key="monitoring_confusion_chart")
    classes = sorted(set(classified.scores["class_name"])) if not classified.scores.empty else []
    if not classes:
        right.info("No class probabilities were logged with these answers: no calibration curve.", icon="ℹ️")
        return
    default = current.positive if current.positive in classes else classes[0]
    chosen = right.selectbox(
        "Calibration of class", classes, index=classes.index(default), key="monitoring_calibration_class"
    )
    right.plotly_chart(
        classification_charts.calibration_figure(calibration(classified.scores, chosen), chosen),
        key="monitoring_calibration_chart",
    )


def versions_section(classified: ClassificationView, *, other_model: str | None) -> None:
    """The champion against its shadows: label agreement, then each version's realised metrics (no regressor table)."""
    shadow_shown = not classified.agreement.empty or "shadow" in set(classified.by_version["role"])
    # These tables hold every role whatever the toggle: without shadow rows, the window has none.
    st.caption(charts.versions_caption(shadow_shown=shadow_shown, include_shadow=True, measure="metrics"))
    if classified.agreement.empty:
        st.info("No shadow answers in this window to compare labels with.", icon="ℹ️")
    else:
        st.dataframe(
            in_percent(classified.agreement),
            hide_index=True,
            key="monitoring_agreement_table",
            column_config={
                "version": st.column_config.NumberColumn("shadow version"),
                "compared": st.column_config.NumberColumn("shadow answers compared", format=COUNT_COLUMN_FORMAT),
                "agreed": st.column_config.NumberColumn("same label as the answer", format=COUNT_COLUMN_FORMAT),
                "agreement": st.column_config.NumberColumn("label agreement", format=SHARE_COLUMN_FORMAT),
            },
        )
    if classified.current.labelled == 0:
        no_labels_yet(other_model)
        return
    st.dataframe(
        in_percent(classified.by_version),
        hide_index=True,
        key="monitoring_classifier_versions",
        column_config=metric_columns(),
    )
