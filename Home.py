"""Loupe's front door: the chosen model's champion and challenger, the backends, and the way to each page."""

import streamlit as st

from core.mlflow_io import UNIT_TAG
from core.monitoring.alerts import home_alerts
from core.registry.holdout import holdout_metrics
from core.registry.status import console_status, last_known_line, shared_alias_note, version_count_line
from ui.errors import action
from ui.formats import code, command, holdout_value, plain, timestamp
from ui.page import page_setup
from ui.resources import prediction_log_sessions

METRICS_SHOWN = 4
SHORT_LABEL = 18  # characters of a metric label that fit a quarter of the page

with action("Showing the Home page"):
    console = page_setup("Home")
    settings = console.settings
    models = console.models
    st.title("Loupe")
    st.caption("An operations console for the models you keep in MLflow.")

    with action("Reading the registry", stop=True):
        status = console_status(settings)

    name = plain(status.model_name)
    # Commands act on LOUPE_MODEL_NAME: when another model is chosen here, the hint sets it.
    other_model = None if settings.model_name == models.configured else settings.model_name
    if not status.registry_reachable:
        st.error(f"Registry unreachable. {plain(status.registry_error)}", icon="🚫")
    elif not models.listed:
        st.info(
            "The registry holds no model yet. Register one from your training code "
            "(`mlflow.register_model(...)`) or a logged run on the **Experiments** page, then point `champion` at "
            "a version on the **Registry** page. To try Loupe on its demo models instead, run "
            "`python -m core bootstrap` (it trains them into an empty registry only).",
            icon="ℹ️",
        )
    else:
        if models.configured_missing:
            st.info(
                f"LOUPE_MODEL_NAME is {code(models.configured)}, which this registry does not hold: showing "
                f"**{name}**. Choose the model to operate in the sidebar.",
                icon="👈",
            )
        if status.version_count == 0:
            st.info(
                f"**{name}** has no version registered. Register a logged run as its version on the "
                "**Experiments** page, or choose another model in the sidebar.",
                icon="ℹ️",
            )
        elif status.holders.get("champion") is None:
            promote = command(
                ["python", "-m", "core", "promote", "--version", "N", "--alias", "champion", "--reason", "…"],
                model=other_model,
            )
            st.info(
                f"No version of **{name}** holds `champion`, so nothing answers on **Predict** yet. Point it at a "
                f"version on the **Registry** page, or run {promote}.",
                icon="ℹ️",
            )

    # Alerts first: what needs attention is read before anything else on the page.
    # Monitoring's alert rules (core/monitoring/alerts.py) over the last day, as banners.
    with action("Checking the prediction log against the alert rules"):
        for alert in home_alerts(settings, open_sessions=lambda: prediction_log_sessions(settings.database_url)):
            (st.error if alert.severity == "error" else st.warning)(
                f"{plain(alert.message)} See **Monitoring**.", icon="🚨"
            )
    shared = shared_alias_note(status.holders)
    if shared is not None:
        st.warning(shared, icon="🪞")

    for alias in ("champion", "challenger"):
        holder = status.holders.get(alias)
        with st.container(border=True):
            st.subheader(alias.capitalize())
            if not status.registry_reachable:  # unknown, not absent: what was last known, and when
                st.markdown(last_known_line(alias, status.last_known))
                continue
            if holder is None:
                st.write(f"No version holds `{alias}`.")
                continue
            estimator = "" if holder.estimator == "unknown" else f" · {plain(holder.estimator)}"
            unit = holder.tags.get(UNIT_TAG) or None
            figures = list(holdout_metrics(holder.metrics).values())[:METRICS_SHOWN]
            measured = " · holdout metrics from its run" if figures else ""
            st.markdown(f"**Version {holder.version}**{estimator}{measured}")
            if not figures:
                st.caption(
                    "No holdout metric on its run (RMSE, MAE, R², or a classifier's ROC AUC, F1, accuracy, log loss "
                    "under a usual name)."
                )
            # Four to a row when the labels are short; two when they carry a long logged name.
            per_row = METRICS_SHOWN if all(len(figure.label) <= SHORT_LABEL for figure in figures) else 2
            for start in range(0, len(figures), per_row):
                row = figures[start : start + per_row]
                for metric_column, figure in zip(st.columns(per_row), row, strict=False):
                    metric_column.metric(plain(figure.label), plain(holdout_value(figure, unit)))
            run = code(holder.run_id) if holder.run_id else "no run"
            answers = f" · answers in {plain(unit)}" if unit else ""
            st.caption(f"Registered {timestamp(holder.created_at)} · run {run}{answers}")

    with st.container(border=True):
        st.subheader("Backends")
        reachable = (
            ":material/check_circle: reachable" if status.registry_reachable else ":material/cancel: unreachable"
        )
        st.markdown(
            f"- **MLflow tracking & registry**: {code(status.tracking_uri)} — {reachable}\n"
            f"- **Prediction log**: {code(status.database_url)}\n"
            f"- **Model**: {name} · {version_count_line(status)}"
        )

    st.subheader("Where to go")
    links = st.columns(4)
    links[0].page_link(
        "pages/1_Predict.py", label="Predict", icon=":material/online_prediction:", help="Score one case or a CSV batch"
    )
    links[1].page_link(
        "pages/2_Experiments.py", label="Experiments", icon=":material/science:", help="Compare runs, register a model"
    )
    links[2].page_link(
        "pages/3_Registry.py",
        label="Registry",
        icon=":material/sell:",
        help="Move aliases behind guardrails, attach reference data",
    )
    links[3].page_link(
        "pages/4_Monitoring.py",
        label="Monitoring",
        icon=":material/monitoring:",
        help="Drift, latency, realised error or classifier metrics",
    )
