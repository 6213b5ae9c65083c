"""The Registry page's "Reference data" tab: attach the data a version was trained or validated on."""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from core.mlflow_io import REFERENCE_TAG, VersionInfo
from core.monitoring.reference_data import (
    FEW_ROWS,
    attach_logged_reference,
    attach_reference,
    attach_traffic_reference,
    read_table,
)
from core.registry.guards import PromotionRefused, check_token
from core.settings import Settings
from storage.db import Sessions
from ui.errors import action
from ui.formats import code, command, plain, plural
from ui.resources import recent_drift_status

FROM_FILE = "A file (CSV or Parquet)"
FROM_RUN = "What the version's run logged"
FROM_TRAFFIC = "Its own first days of traffic"


def reference_tab(
    settings: Settings,
    *,
    sessions: Sessions,
    by_number: dict[int, VersionInfo],
    holders: dict[str, int],
    token: str | None,
    other_model: str | None,
    version_label: Callable[[int], str],
) -> None:
    """Choose a version and a source (a file, the run's logged data, its first days of traffic) and attach it."""
    st.caption(
        "The data a version was trained or validated on: what Monitoring compares live inputs with, where the "
        "Predict form takes its ranges and defaults, and what simulated traffic is drawn from. Loupe keeps its "
        "summary in a run of its own; the version's run is left as it is."
    )
    numbers = sorted(by_number, reverse=True)
    champion = holders.get("champion")
    reference_version = st.selectbox(
        "Version",
        numbers,
        index=numbers.index(champion) if champion in numbers else 0,
        format_func=version_label,
        key="reference_version",
    )
    attached = by_number[reference_version].tags.get(REFERENCE_TAG)
    if attached:
        st.caption(
            f"Version {reference_version} has a reference attached (run {code(attached)}); attaching again replaces it."
        )
    source = st.radio("From", [FROM_FILE, FROM_RUN, FROM_TRAFFIC], horizontal=True, key="reference_source")
    traffic_days = 3.0
    upload = None
    table = None
    target = None
    if source == FROM_FILE:
        upload = st.file_uploader(
            "Reference data",
            type=["csv", "parquet", "pq"],
            key="reference_upload",
            help="One column per model input, one row per case; other columns are left out.",
        )
        if upload is not None:
            with action(f"Reading {upload.name}"):
                read = st.session_state.get("reference_table")
                if read is None or read[0] != upload.file_id:  # read once per upload, not on every rerun
                    read = st.session_state["reference_table"] = (
                        upload.file_id,
                        read_table(upload.name, data=upload.getvalue()),
                    )
                table = read[1]
        if table is not None and upload is not None:
            st.caption(f"{plain(upload.name)}: {len(table):,} rows, {len(table.columns):,} columns.")
            target = st.selectbox(
                "Target column (left out of the inputs)",
                [None, *map(str, table.columns)],
                format_func=lambda column: "none" if column is None else column,
                key="reference_target",
                help="The answer the model was trained to give; it also names the Predict page's answer.",
            )
    elif source == FROM_RUN:
        st.caption(
            "A dataset the run logged with a local source (mlflow.log_input), else the model's input example "
            "(a few rows: thin, and said so)."
        )
    else:
        traffic_days = float(
            st.number_input("Days from its first answer", 0.5, 90.0, 3.0, step=0.5, key="reference_traffic_days")
        )
        st.caption(
            "The inputs this version answered in its first days, as logged: when nobody kept its training data. "
            "Drift then means “moved away from how it started”, and the reference says so."
        )
    if st.button(
        f"Attach as the reference of version {reference_version}",
        key="reference_attach",
        type="primary",
        disabled=source == FROM_FILE and table is None,
    ):
        with action(f"Attaching reference data to version {reference_version}", version=reference_version):
            try:
                check_token(settings, token)
            except PromotionRefused as refused:
                st.error(plain(refused), icon="⛔")
            else:
                with st.spinner("Profiling and attaching…"):
                    if source == FROM_FILE and upload is not None:
                        result = attach_reference(
                            settings,
                            version=reference_version,
                            data=table,
                            source=upload.name,
                            target=target,
                            token=token,
                        )
                    elif source == FROM_RUN:
                        result = attach_logged_reference(settings, version=reference_version, token=token)
                    else:
                        result = attach_traffic_reference(
                            settings, sessions=sessions, version=reference_version, days=traffic_days, token=token
                        )
                st.session_state["reference_result"] = (settings.model_name, result)
                recent_drift_status.clear()  # the pre-flight's drift verdict must see the new reference now
                st.rerun()
    done = st.session_state.pop("reference_result", None)
    if done is not None and done[0] == settings.model_name:
        result = done[1]
        st.success(
            f"Version {result.version} now has a reference: {result.rows:,} rows from {plain(result.source)}, "
            f"{plural(len(result.features), 'input')} profiled — {plain(', '.join(result.features))}. "
            "Predict and Monitoring use it from their next request.",
            icon="✅",
        )
        if result.skipped:
            st.info(f"Not profiled: {plain('; '.join(result.skipped))}.", icon="ℹ️")
        if result.thin:
            st.warning(
                f"Only {result.rows:,} rows: with fewer than {FEW_ROWS:,}, drift tests can hardly tell a change "
                "from chance. Attach more of the data the version was trained on when you can.",
                icon="⚠️",
            )
    st.caption(
        "From a shell: "
        + command(
            ["python", "-m", "core", "reference", "--version", str(reference_version), "--input", "FILE"]
            + (["--model", other_model] if other_model else [])
        )
    )
