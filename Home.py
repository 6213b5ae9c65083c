"""Loupe's front door: the live model, its challenger, the backends, and the way to each page."""

import streamlit as st

from core.monitoring.alerts import home_alerts
from core.registry.status import console_status
from core.settings import get_settings
from ui.errors import action
from ui.formats import plain
from ui.page import page_setup
from ui.resources import prediction_log_sessions

with action("Showing the Home page"):
    page_setup("Home")
    settings = get_settings()
    st.title("Loupe")
    st.caption("An operations console for the models you keep in MLflow.")

    with action("Reading the registry", stop=True):
        status = console_status(settings)

    if not status.registry_reachable:
        st.error(f"Registry unreachable. {plain(status.registry_error)}", icon="🚫")
    elif status.version_count == 0:
        st.info(
            f"No version of **{plain(status.model_name)}** is registered yet. Run `make run` (it bootstraps one) "
            "or `python -m core train --alias champion`.",
            icon="ℹ️",
        )

    columns = st.columns(2)
    for column, alias in zip(columns, ("champion", "challenger"), strict=True):
        holder = status.holders.get(alias)
        with column, st.container(border=True):
            st.subheader(alias.capitalize())
            if holder is None:
                st.write(f"No version holds `{alias}`.")
                continue
            st.markdown(f"**Version {holder.version}** · `{holder.estimator}`")
            shown = (("rmse", "${:,.0f}"), ("mae", "${:,.0f}"), ("r2", "{:.4f}"), ("mape", "{:.2%}"))
            for row in (shown[:2], shown[2:]):
                for metric_column, (name, fmt) in zip(st.columns(2), row, strict=True):
                    value = holder.metrics.get(name)
                    metric_column.metric(f"Holdout {name.upper()}", "—" if value is None else fmt.format(value))
            st.caption(f"Registered {holder.created_at:%Y-%m-%d %H:%M} UTC · run `{holder.run_id}`")

    with st.container(border=True):
        st.subheader("Backends")
        reachable = "✅ reachable" if status.registry_reachable else "❌ unreachable"
        st.markdown(
            f"- **MLflow tracking & registry**: `{status.tracking_uri}` — {reachable}\n"
            f"- **Prediction log**: `{status.database_url}`\n"
            f"- **Model**: {plain(status.model_name)} · {status.version_count} version(s) registered"
        )

    st.subheader("Where to go")
    links = st.columns(4)
    links[0].page_link("pages/1_Predict.py", label="Predict", icon="💎", help="Score one case or a CSV batch")
    links[1].page_link("pages/2_Experiments.py", label="Experiments", icon="🧪", help="Compare runs, register a model")
    links[2].page_link("pages/3_Registry.py", label="Registry", icon="🏷️", help="Move aliases behind guardrails")
    links[3].page_link("pages/4_Monitoring.py", label="Monitoring", icon="📈", help="Drift, latency, realised error")

    # Monitoring's alert rules (core/monitoring/alerts.py) over the last day, as banners.
    with action("Checking the prediction log against the alert rules"):
        for alert in home_alerts(settings, open_sessions=lambda: prediction_log_sessions(settings.database_url)):
            (st.error if alert.severity == "error" else st.warning)(
                f"{plain(alert.message)} See **Monitoring**.", icon="🚨"
            )
