"""Monitoring: drift, latency, realised error and alerts from the prediction log's hourly roll-ups.

For a classifier: drift of its predicted labels and scores too, realised metrics per version and day with
their label coverage, the confusion matrix, calibration, and shadow label agreement.
"""

from dataclasses import replace
from datetime import UTC, datetime

import streamlit as st

from core.monitoring import alerts, charts
from core.monitoring.drift import DriftThresholds
from core.monitoring.drift_trend import drift_trend, drift_trend_figure
from core.monitoring.export import export_meta, report_csv, report_json
from core.monitoring.output_drift import regression_output_drift
from core.monitoring.references import reference_profile, refresh
from core.monitoring.series import (
    error_over_time,
    latency_by_kind,
    latency_over_time,
    prediction_quantiles_over_time,
    rejection_table,
    residual_histogram,
    throughput,
    version_comparison,
)
from core.monitoring.simulator import Shift, simulate
from core.monitoring.snapshot import Snapshot, known_versions, snapshot
from core.monitoring.window_drift import alert_window_status
from core.monitoring.windows import PRESETS, Window, recent_days
from core.registry.status import shared_alias_note
from core.serving.model_cache import ServingError, model_loads, serve
from ui import monitoring_classifier, monitoring_estimated, monitoring_multivariate, monitoring_segments
from ui.errors import action
from ui.formats import (
    COUNT_COLUMN_FORMAT,
    MS_COLUMN_FORMAT,
    command,
    number_column_format,
    plain,
    plural,
    seconds,
)
from ui.monitoring_alert_history import alert_history_section
from ui.monitoring_lookup import lookup_section
from ui.monitoring_view import drift_sentence, loads_text, refreshed_text, rejections_text, rolled_up_text
from ui.page import page_setup
from ui.resources import prediction_log_sessions

SHIFT_FACTOR = 1.2


def shift_text(feature: str, factor: float) -> str:
    """``feature=factor`` as the Drift field reads it (quoted when the name holds ``=`` or starts with a quote)."""
    if "=" not in feature and feature[:1] not in "\"'":
        return f"{feature}={factor:g}"
    quote = "'" if '"' in feature else '"'
    return f"{quote}{feature}{quote}={factor:g}"


with action("Showing the Monitoring page"):
    console = page_setup("Monitoring", "📈")
    live = console.live
    settings = console.settings
    # Commands act on LOUPE_MODEL_NAME: when another model is chosen in the sidebar, hints set it.
    other_model = None if settings.model_name == console.models.configured else settings.model_name
    with action("Opening the prediction log", stop=True):
        sessions = prediction_log_sessions(settings.database_url)

    st.title("Monitoring")
    st.caption(
        f"Live inputs of **{plain(settings.model_name)}** against its reference data, latency, and realised error "
        "where true values came back. Figures come from hourly roll-ups, so a window costs the same at any log size."
    )

    # --- controls -----------------------------------------------------------------------------------
    # The roll-ups are refreshed once per run: here on a full run (so the version list includes what was
    # just logged), and by the dashboard when its fragment reruns on its own (this part does not rerun then).
    # A full run hands its refresh to the dashboard, which takes it once; a fragment-only rerun finds none.
    with action("Rolling up the prediction log", stop=True):
        handed_over = {"refreshed": refresh(settings, sessions=sessions)}
        versions = known_versions(settings, sessions=sessions)
    controls = st.columns([1.8, 1.8, 1.6, 1.4, 1.1])  # wide enough for "Include shadow" at 1280 px
    preset = controls[0].selectbox("Window", [*PRESETS, "Custom"], index=2, key="monitoring_window")
    version_choice = controls[1].selectbox(
        "Model version",
        [None, *versions],
        format_func=lambda value: "All versions" if value is None else f"Version {value}",
        key="monitoring_version",
    )
    include_shadow = controls[2].toggle("Include shadow", value=False, key="monitoring_shadow")
    auto_refresh = controls[3].toggle("Auto-refresh", value=False, key="monitoring_auto")
    every = controls[4].selectbox(
        "Every",
        [10, 30, 60, 300],
        index=1,
        format_func=lambda s: f"{s} s",
        key="monitoring_every",
        disabled=not auto_refresh,
    )

    if preset == "Custom":
        suggested = recent_days()
        span = st.date_input("Custom window (UTC days)", value=suggested, key="monitoring_custom_range")
        start_day, end_day = (span[0], span[-1]) if isinstance(span, tuple) and span else (suggested[1], suggested[1])
        window = Window.for_days(start_day, end_day)
    else:
        window = Window.last(PRESETS[preset])

    @st.fragment(run_every=every if auto_refresh else None)
    def dashboard() -> None:
        with action(f"Showing the window {window.label()}", version=version_choice):
            refreshed = handed_over.pop("refreshed", None)  # None: this is the fragment's own rerun
            view = snapshot(
                settings,
                sessions=sessions,
                window=window,
                version=version_choice,
                include_shadow=include_shadow,
                refresh_first=refreshed is None,
                split_by=monitoring_segments.chosen_split(),
            )
            window_view(view if refreshed is None else replace(view, refreshed=refreshed))

    def window_view(view: Snapshot) -> None:
        st.caption(
            f"Window {window.label()} ({window.hours} h) · compared with the {window.hours} h before · "
            f"{rolled_up_text(view.refreshed.rows if view.refreshed else 0)} just now · "
            f"{refreshed_text(datetime.now(UTC))}"
        )
        shared = shared_alias_note(live.versions)
        if shared:
            st.info(shared, icon="ℹ️")
        for alert in alerts.snapshot_alerts(settings, view):
            (st.error if alert.severity == "error" else st.warning)(plain(alert.message), icon="🚨")
        # The roll-up covers every model in the log: only this model's versions are this page's concern.
        unbinned = sorted(
            version
            for model, version in (view.refreshed.unbinned_versions if view.refreshed else ())
            if model == settings.model_name
        )
        if unbinned:
            missing = ", ".join(f"v{version}" for version in unbinned)
            st.warning(
                f"No reference data for {missing}: their inputs are not compared for drift. Attach it on the "
                "**Registry** page (Reference data).",
                icon="⚠️",
            )

        if view.is_empty:
            empty_state(has_history=bool(versions))
            return

        kpi_columns = st.columns(4)
        for index, kpi in enumerate(view.kpis()):
            value, delta, colour = charts.kpi_display(kpi)
            kpi_columns[index % 4].metric(kpi.name, value, delta, delta_color=colour, border=True)

        monitoring_segments.split_select(view)
        traffic, drift, performance, versions_tab, segments_tab = st.tabs(
            ["Traffic & latency", "Drift", "Realised performance", "Champion vs challenger", "Segments"],
            key="monitoring_tabs",
        )
        with segments_tab:
            monitoring_segments.segments_section(view)
        with traffic:
            left, right = st.columns(2)
            left.plotly_chart(
                charts.latency_figure(latency_over_time(view.latency_by_hour)), key="monitoring_latency_chart"
            )
            right.plotly_chart(
                charts.throughput_figure(throughput(view.totals, window)), key="monitoring_throughput_chart"
            )
            answer = "prediction" if view.classification is None else view.classification.score_name
            st.plotly_chart(
                charts.prediction_figure(
                    prediction_quantiles_over_time(view.predictions_by_hour), answer=answer, unit=view.unit
                ),
                key="monitoring_prediction_chart",
            )
            latency_kinds_section(view)
            if not view.rejections.empty:
                st.dataframe(rejection_table(view.rejections), hide_index=True, key="monitoring_rejections")
            st.caption(rejections_text(view.current.unattributed_rejections, view.version))
        with drift:
            drift_section(view)
            if view.drift_version is not None:
                monitoring_multivariate.multivariate_section(view)
            if view.classification is not None:
                monitoring_classifier.output_drift_section(view.classification, view.drift_version)
            else:
                regression_output_section(view)
        with performance:
            errors = error_over_time(view.totals, window)
            if view.classification is not None:
                monitoring_classifier.performance_section(view.classification, other_model=other_model)
            elif errors.empty:
                st.info(
                    "No true values came back in this window. Attach them on the **Predict** page (Ground truth) "
                    f"or with {command(['python', '-m', 'core', 'feedback', '--input', 'FILE.csv'], model=other_model)}.",
                    icon="ℹ️",
                )
            else:
                left, right = st.columns(2)
                left.plotly_chart(charts.error_figure(errors, unit=view.unit), key="monitoring_error_chart")
                right.plotly_chart(
                    charts.residual_figure(residual_histogram(view.residuals), unit=view.unit),
                    key="monitoring_residual_chart",
                )
            monitoring_estimated.estimated_section(view.estimated, hours=window.hours, unit=view.unit)
        with versions_tab:
            if view.classification is not None:
                monitoring_classifier.versions_section(view.classification, other_model=other_model)
                return
            compared = version_comparison(view)
            st.caption(
                charts.versions_caption(
                    shadow_shown="shadow" in set(compared["role"]), include_shadow=include_shadow, measure="MAE"
                )
            )
            st.dataframe(
                compared,
                hide_index=True,
                key="monitoring_versions_table",
                column_config={
                    "predictions": st.column_config.NumberColumn("predictions", format=COUNT_COLUMN_FORMAT),
                    "latency_p95_ms": st.column_config.NumberColumn("p95 latency (ms)", format=MS_COLUMN_FORMAT),
                    # Answers and their errors in the version's unit, as the KPIs and alerts say them.
                    "mean_prediction": st.column_config.NumberColumn(
                        "mean prediction", format=number_column_format(compared["mean_prediction"], view.unit)
                    ),
                    "feedback": st.column_config.NumberColumn("feedback", format=COUNT_COLUMN_FORMAT),
                    "mae": st.column_config.NumberColumn(
                        "MAE", format=number_column_format(compared["mae"], view.unit)
                    ),
                    "rmse": st.column_config.NumberColumn(
                        "RMSE", format=number_column_format(compared["rmse"], view.unit)
                    ),
                },
            )

    def latency_kinds_section(view: Snapshot) -> None:
        kinds = latency_by_kind(view)
        if not kinds.empty:
            st.markdown("**Latency per kind of request** (a batch row counts its share of the batch's time)")
            st.dataframe(
                kinds,
                hide_index=True,
                key="monitoring_latency_kinds",
                column_config={
                    "answers": st.column_config.NumberColumn("answers", format=COUNT_COLUMN_FORMAT),
                    "p50_ms": st.column_config.NumberColumn("p50 (ms)", format=MS_COLUMN_FORMAT),
                    "p95_ms": st.column_config.NumberColumn("p95 (ms)", format=MS_COLUMN_FORMAT),
                    "p99_ms": st.column_config.NumberColumn("p99 (ms)", format=MS_COLUMN_FORMAT),
                },
            )
        loads = model_loads(settings)
        if loads:
            st.caption(loads_text(loads))

    def regression_output_section(view: Snapshot) -> None:
        if view.drift_version is None:
            return
        st.subheader("Predictions (output drift)")
        answers = view.predictions_by_hour
        if not answers.empty:
            answers = answers[answers["model_version"] == view.drift_version]
        with sessions.begin() as session:
            profile = reference_profile(settings, session=session, model_version=view.drift_version)
        found = regression_output_drift(profile, answers, DriftThresholds.from_settings(settings))
        if found is None:
            st.info(
                f"Version {view.drift_version}'s reference data holds neither its predictions nor its true values, "
                "so its answers are not compared for drift. Attach reference data with the target column on the "
                "**Registry** page (Reference data).",
                icon="ℹ️",
            )
            return
        item = found.drift
        st.markdown(
            f"**Predictions**: {item.verdict} — {plain(charts.drift_test_text(item))} (drifted when {item.rule} "
            f"{item.threshold:g}) over {plural(item.current_count, 'answer')} against {found.against} "
            f"({plural(item.reference_count, 'row')})."
        )
        st.plotly_chart(charts.drift_overlay_figure(item), key="monitoring_output_drift")

    def drift_section(view: Snapshot) -> None:
        report = view.current.drift
        if report is None or not report.features:
            st.info(
                "No inputs with reference data to compare in this window. Attach the version's reference data on "
                "the **Registry** page (Reference data).",
                icon="ℹ️",
            )
            return
        st.markdown(drift_sentence(report, view.drift_version))
        if view.drift_version is not None:
            with sessions.begin() as session:  # the roll-ups were refreshed for this run already
                status = alert_window_status(settings, session=session, model_version=view.drift_version)
            st.caption(
                f"What the Registry's pre-flight reads (answered inputs, last {settings.alert_window_hours} h): "
                f"{plain(status.detail)}."
            )
        st.dataframe(
            charts.drift_table(report),
            hide_index=True,
            key="monitoring_drift_table",
            column_config={
                "statistic": st.column_config.TextColumn("statistic", help="A p-value below 0.0001 reads < 0.0001"),
                "psi": st.column_config.NumberColumn("PSI", format="%.4f"),
                "reference rows": st.column_config.NumberColumn("reference rows", format=COUNT_COLUMN_FORMAT),
                "current rows": st.column_config.NumberColumn("current rows", format=COUNT_COLUMN_FORMAT),
            },
        )
        names = [item.feature for item in report.features]
        default = next((item.feature for item in report.features if item.drifted), names[0])
        chosen = st.selectbox("Feature", names, index=names.index(default), key="monitoring_drift_feature")
        st.plotly_chart(
            charts.drift_overlay_figure(next(item for item in report.features if item.feature == chosen)),
            key="monitoring_drift_overlay",
        )
        if view.drift_version is not None:
            with sessions.begin() as session:
                trend = drift_trend(
                    settings,
                    session=session,
                    window=view.window,
                    model_version=view.drift_version,
                    feature=chosen,
                    include_shadow=include_shadow,
                )
            st.plotly_chart(drift_trend_figure(trend, chosen), key="monitoring_drift_trend")
        meta = export_meta(settings, window=view.window, version=view.drift_version, include_shadow=include_shadow)
        left, right = st.columns(2)
        left.download_button(
            "Download drift report (JSON)",
            report_json(report, meta),
            file_name=f"drift-v{view.drift_version}.json",
            mime="application/json",
            key="monitoring_download_json",
        )
        right.download_button(
            "Download drift report (CSV)",
            report_csv(report, meta),
            file_name=f"drift-v{view.drift_version}.csv",
            mime="text/csv",
            key="monitoring_download_csv",
        )

    def empty_state(*, has_history: bool) -> None:
        champion = live.versions.get("champion")
        with action("Reading the champion's reference data", version=champion) as reading:
            try:
                served, _ = serve(settings, alias="champion")
            except ServingError as error:
                st.info(f"Nothing can answer, so no traffic can be generated: {plain(error)}", icon="ℹ️")
                return
        if reading.failed is not None:
            return
        if served.profile is None:
            attach = command(
                ["python", "-m", "core", "reference", "--version", str(served.version), "--input", "FILE"]
                + (["--model", other_model] if other_model else [])
            )
            st.info(
                f"{'Nothing was logged in this window. ' if has_history else 'The prediction log is empty. '}"
                f"The champion, version {served.version}, has no reference data: nothing to draw traffic from and "
                f"nothing to compare drift with. Attach its training data as reference data on the **Registry** page "
                f"(Reference data), or with {attach}.",
                icon="📎",
            )
            return
        numeric = [
            spec.name
            for spec in served.schema.fields
            if spec.kind == "numeric" and spec.name in served.profile.features
        ]
        suggested = shift_text(numeric[0], SHIFT_FACTOR) if numeric else ""
        if st.session_state.get("monitoring_sim_for") != (served.name, served.version):
            st.session_state.pop("monitoring_sim_shift", None)  # another model's inputs: start from its suggestion
            st.session_state["monitoring_sim_for"] = (served.name, served.version)
        if has_history:
            st.info("Nothing was logged in this window. Pick a longer window, or generate traffic below.", icon="ℹ️")
        else:
            arguments = ["python", "-m", "core", "simulate", "--rows", "5000", "--days", "7"]
            arguments += ["--shift", suggested] if suggested else []
            st.info(
                "The prediction log is empty. Score inputs on the **Predict** page, run "
                f"{command([*arguments, '--label-share', '0.3'], model=other_model)}, or generate traffic here.",
                icon="ℹ️",
            )
        with st.form("monitoring_simulator_form"):
            st.markdown(
                f"**Generate traffic** drawn from version {served.version}'s reference data, through the real "
                "serving path (champion answers, challenger shadows)"
            )
            columns = st.columns(4)
            rows = columns[0].number_input("Rows", 50, 5_000, 300, step=50, key="monitoring_sim_rows")
            days = columns[1].number_input("Over days", 1, 30, 7, key="monitoring_sim_days")
            shift = columns[2].text_input(
                "Drift",
                suggested,
                key="monitoring_sim_shift",
                help="INPUT=FACTOR multiplies a numeric input; INPUT=LEVEL (or INPUT=LEVEL:SHARE) moves a share "
                "of rows to a level; quote a name that holds '='. Leave empty for no drift.",
            )
            label_share = columns[3].slider("Feedback share", 0.0, 1.0, 0.3, key="monitoring_sim_labels")
            submitted = st.form_submit_button("Generate traffic", type="primary", key="monitoring_sim_run")
        if submitted:
            try:
                shifts = (Shift.parse(shift),) if shift.strip() else ()
            except ValueError as error:
                st.error(f"Drift: {plain(error)}", icon="🚫")
                return
            with action("Generating simulated traffic", version=champion) as generating:
                bar = generating.transient(st.progress(0.0, text="starting…"))
                result = simulate(
                    settings,
                    sessions=sessions,
                    rows=int(rows),
                    days=float(days),
                    shifts=shifts,
                    label_share=float(label_share),
                    progress=lambda fraction, message: bar.progress(min(fraction, 1.0), text=message),
                )
            if generating.failed:
                return
            st.success(
                f"Logged {plural(result.accepted, 'answer')} from v{result.model_version} "
                f"({result.shadow_scored:,} shadow, {result.rejected_rows:,} rejected, "
                f"{result.feedback:,} with feedback) in {seconds(result.seconds)}.",
                icon="✅",
            )
            st.rerun()

    dashboard()
    lookup_section(settings, sessions)
    alert_history_section(settings, sessions)
