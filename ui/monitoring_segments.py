"""The Monitoring page's segments: each figure split by a categorical feature, the worst segments first."""

from __future__ import annotations

import streamlit as st

from core.monitoring.segment_charts import segment_drift_heatmap, segment_figure
from core.monitoring.snapshot import Snapshot
from ui.formats import COUNT_COLUMN_FORMAT, number_column_format, plain

SPLIT_KEY = "monitoring_split_by"


def chosen_split() -> str | None:
    """The feature chosen in the "Split by" select on an earlier run (read before the snapshot is taken)."""
    value = st.session_state.get(SPLIT_KEY)
    return value if isinstance(value, str) else None


def split_select(view: Snapshot) -> str | None:
    """The "Split by" select over the features the drift version can split by."""
    options: list[str | None] = [None, *view.split_features]
    if st.session_state.get(SPLIT_KEY) not in options:  # another model or version: its features differ
        st.session_state.pop(SPLIT_KEY, None)
    return st.selectbox(
        "Split by",
        options,
        format_func=lambda value: "No split" if value is None else value,
        key=SPLIT_KEY,
        help="A categorical feature of the reference with few values: every figure below per value, worst first.",
        disabled=not view.split_features,
    )


def segments_section(view: Snapshot) -> None:
    """Volume, drift, realised and estimated performance and multivariate error per segment."""
    if not view.split_features:
        st.info(
            "Segments need a reference: the version's reference data names the categorical features (and their "
            "values) the figures can be split by. Attach it on the **Registry** page (Reference data).",
            icon="ℹ️",
        )
        return
    segments = view.segments
    if segments is None:
        st.info("Choose a feature in **Split by** to see every figure per segment.", icon="ℹ️")
        return
    if segments.is_empty:
        st.info(f"No inputs in this window to split by {plain(segments.feature)}.", icon="ℹ️")
        return
    st.caption(
        f"Split by {plain(segments.feature)}: a value outside the reference's counts as (other), none as "
        "(missing). Drift per segment covers the whole UTC days the window touches."
    )
    table = segments.table.assign(drifted=segments.table["drifted"].map(", ".join))
    # A classifier's performance is accuracy (realised and CBPE's estimate), a regressor's error: one or the other.
    hidden = {"mae", "rmse", "estimated"} if segments.classifier else {"accuracy", "estimated_accuracy"}
    st.dataframe(
        table,
        hide_index=True,
        key="monitoring_segments_table",
        column_order=[name for name in table.columns if name not in hidden],
        column_config={
            "value": st.column_config.TextColumn(segments.feature),
            "predictions": st.column_config.NumberColumn("predictions", format=COUNT_COLUMN_FORMAT),
            "share": st.column_config.NumberColumn("share", format="percent"),
            "feedback": st.column_config.NumberColumn("true values", format=COUNT_COLUMN_FORMAT),
            "mae": st.column_config.NumberColumn("MAE", format=number_column_format(table["mae"], view.unit)),
            "rmse": st.column_config.NumberColumn("RMSE", format=number_column_format(table["rmse"], view.unit)),
            "mv_error": st.column_config.NumberColumn("multivariate error", format="%.4f"),
            "estimated": st.column_config.NumberColumn("estimated error", format="%.4f"),
            "accuracy": st.column_config.NumberColumn("accuracy", format="percent"),
            "estimated_accuracy": st.column_config.NumberColumn("estimated accuracy", format="percent"),
            "drift_share": st.column_config.NumberColumn("drifted share", format="percent"),
            "drifted": st.column_config.TextColumn("drifted features"),
        },
    )
    left, right = st.columns(2)
    left.plotly_chart(segment_figure(segments, "predictions"), key="monitoring_segment_volume")
    right.plotly_chart(segment_figure(segments, "drift_share"), key="monitoring_segment_drift")
    st.plotly_chart(segment_drift_heatmap(segments), key="monitoring_segment_heatmap")
    realised, estimated = ("accuracy", "estimated_accuracy") if segments.classifier else ("mae", "estimated")
    left, right = st.columns(2)
    if table[realised].notna().any():
        left.plotly_chart(segment_figure(segments, realised, unit=view.unit), key=f"monitoring_segment_{realised}")
    else:
        left.info("No true values came back in this window: no realised performance per segment.", icon="ℹ️")
    if table["mv_error"].notna().any():
        right.plotly_chart(segment_figure(segments, "mv_error"), key="monitoring_segment_multivariate")
    if table[estimated].notna().any():
        st.plotly_chart(segment_figure(segments, estimated, unit=view.unit), key=f"monitoring_segment_{estimated}")
