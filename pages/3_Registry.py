"""Registry: the versions, alias moves behind pre-flight checks, one-click rollback, the ledger and a timeline."""

from collections.abc import Sequence

import streamlit as st

from core.mlflow_io import REFERENCE_TAG, UNIT_TAG, RegistryUnavailable
from core.monitoring.reference_data import (
    FEW_ROWS,
    attach_logged_reference,
    attach_reference,
    attach_traffic_reference,
    read_table,
)
from core.registry.charts import (
    STATUS_ICONS,
    badge,
    ledger_frame,
    timeline_figure,
    versions_frame,
    versions_styler,
)
from core.registry.guards import SUGGESTED_ALIASES, PromotionRefused, check_token, promotion_is_protected
from core.registry.holdout import primary_holdout
from core.registry.ledger_sync import registry_view
from core.registry.preflight import VALIDATION_STATUS_TAG, VALIDATION_STATUSES, Check, DriftLike, preflight
from core.registry.promotion import promote, remove_alias, rollback, rollback_target, set_validation_status
from ui.errors import action
from ui.formats import code, command, holdout_value, plain
from ui.page import page_setup
from ui.resources import prediction_log_sessions, recent_drift_status

FROM_FILE = "A file (CSV or Parquet)"
FROM_RUN = "What the version's run logged"
FROM_TRAFFIC = "Its own first days of traffic"


def checklist(checks: Sequence[Check]) -> str:
    """The pre-flight as a Markdown checklist, one line per check; names and details are shown as written."""
    return "\n".join(
        # The status in words too: without an emoji font the icons alone all look the same.
        f"- {STATUS_ICONS[check.status]} {check.status.upper()} · **{plain(check.name)}** — {plain(check.detail)}"
        for check in checks
    )


with action("Showing the Registry page"):
    console = page_setup("Registry", "🏷️")
    settings = console.settings
    # Commands act on LOUPE_MODEL_NAME: when another model is chosen in the sidebar, hints set it.
    other_model = None if settings.model_name == console.models.configured else settings.model_name
    with action("Opening the prediction log", stop=True):
        sessions = prediction_log_sessions(settings.database_url)

    st.title("Registry")
    st.caption(
        f"Versions of **{plain(settings.model_name)}**, the aliases that route traffic to them, and every move on record."
    )

    # Notices live in one container that always exists: a message appearing or going away must not shift
    # the widgets below it, or Streamlit re-creates the tabs and the operator is thrown back to the first.
    notices = st.container()
    flash = st.session_state.pop("registry_flash", None)
    if flash:
        notices.success(flash, icon="✅")

    with action("Reading the registry and the alias ledger", stop=True):
        try:
            view = registry_view(settings, sessions=sessions)
        except RegistryUnavailable as error:
            st.error(f"Registry unreachable. {plain(error)}", icon="🚫")
            st.stop()

    if view.external:
        moves = ", ".join(
            f"`{change.alias}` v{change.from_version or '—'} → v{change.to_version or '—'}" for change in view.external
        )
        notices.warning(
            f"Alias changes made outside Loupe were found and recorded in the ledger as external: {moves}.", icon="🕵️"
        )

    if not view.versions:
        if console.models.listed:
            st.info(
                f"No version of **{plain(settings.model_name)}** is registered yet. Register a logged run as its "
                "version on the **Experiments** page (or with `mlflow.register_model`), or choose another model "
                "in the sidebar.",
                icon="ℹ️",
            )
        else:
            st.info(
                "The registry holds no model yet. Register one from your training code (`mlflow.register_model`) "
                "or a logged run on the **Experiments** page. To try Loupe on its demo models instead, run "
                "`python -m core bootstrap` (it trains them into an empty registry only).",
                icon="ℹ️",
            )
        st.stop()

    # Current input drift for the pre-flight (any object with .drifted and .detail); None shows "unknown".
    # Monitoring: live inputs of the last day against the serving champion's training profile.
    drift: DriftLike | None = None
    if "champion" in view.holders:
        with action("Reading the champion's input drift", version=view.holders["champion"]):
            drift = recent_drift_status(settings.database_url, settings.model_name, view.holders["champion"])

    protected = promotion_is_protected(settings)
    if protected:
        st.info("🔒 Alias moves need the admin token (`LOUPE_ADMIN_TOKEN` is set).")
    else:
        st.warning("🔓 Promotion is open: `LOUPE_ADMIN_TOKEN` is not set, so anyone using this page can move aliases.")

    by_number = {version.version: version for version in view.versions}
    holder_columns = st.columns(2)
    for column, alias in zip(holder_columns, SUGGESTED_ALIASES, strict=True):
        holder = by_number.get(view.holders.get(alias, -1))
        with column, st.container(border=True):
            if holder is None:
                st.markdown(f"**{badge(alias)}** — no version holds `{alias}`.")
            else:
                figure = primary_holdout(holder.metrics, chosen=settings.holdout_metric)
                unit = holder.tags.get(UNIT_TAG) or None
                facts = [f"version **{holder.version}**"]
                if holder.estimator != "unknown":
                    facts.append(plain(holder.estimator))
                facts.append(
                    "no holdout metric"
                    if figure is None
                    else f"holdout {plain(figure.label)} {plain(holdout_value(figure, unit))}"
                )
                st.markdown(f"**{badge(alias)}** — " + " · ".join(facts))

    st.subheader("Versions")
    st.dataframe(
        versions_styler(versions_frame(view.versions)), hide_index=True, width="stretch", key="registry_versions"
    )

    st.subheader("Change an alias or a version")
    operator = st.text_input("Your name (recorded in the ledger)", key="operator")
    token = st.text_input("Admin token", type="password", key="admin_token") if protected else None

    promote_tab, rollback_tab, remove_tab, validation_tab, reference_tab = st.tabs(
        ["Promote", "Roll back", "Remove an alias", "Validation status", "Reference data"], key="registry_tabs"
    )

    def version_label(number: int) -> str:
        aliases = by_number[number].aliases
        return f"v{number}" + (f" · {', '.join(aliases)}" if aliases else "")

    with promote_tab:
        numbers = sorted(by_number, reverse=True)
        version = st.selectbox(
            "Version",
            numbers,
            format_func=version_label,
            key="promote_version",
        )
        choice = st.radio("Alias", [*SUGGESTED_ALIASES, "custom"], horizontal=True, key="promote_alias_choice")
        alias = st.text_input("Custom alias", key="promote_custom_alias") if choice == "custom" else choice
        checked = None
        if alias:
            with action(f"Checking version {version} for {alias}", version=version):
                try:
                    checked = preflight(settings, sessions=sessions, version=version, alias=alias, drift=drift)
                except PromotionRefused as refused:
                    st.info(plain(refused), icon="ℹ️")
        if checked is not None:
            current = "nothing" if checked.holder is None else f"version {checked.holder}"
            st.markdown(f"**Pre-flight: `{checked.alias}` {current} → version {checked.candidate}**")
            st.markdown(checklist(checked.checks))
            if checked.failed:
                st.error(
                    f"{STATUS_ICONS['fail']} Blocked by {len(checked.failed)} failed check(s). "
                    "Tick the override and give a reason to move the alias anyway.",
                )
        reason = st.text_area("Reason (required)", key="promote_reason")
        override = st.checkbox(
            "Override the failed checks (the reason is recorded as the override's)",
            key="promote_override",
            disabled=checked is None or checked.passed,
        )
        if st.button("Promote", key="promote_button", type="primary", disabled=checked is None):
            with action(f"Moving {alias} to version {version}", version=version):
                try:
                    move = promote(
                        settings,
                        sessions=sessions,
                        version=version,
                        alias=alias,
                        reason=reason,
                        actor=operator,
                        origin="page",
                        token=token,
                        override=override,
                        drift=drift,
                    )
                except PromotionRefused as refused:
                    st.error(plain(refused), icon="⛔")
                else:
                    was = "nothing" if move.from_version is None else f"version {move.from_version}"
                    st.session_state["registry_flash"] = (
                        f"`{move.alias}` → version {move.to_version} (was {was})"
                        + (" — failed checks overridden" if move.override else "")
                        + f". Ledger entry {move.ledger_id}."
                    )
                    st.rerun()

    with rollback_tab:
        history = sorted({entry.alias for entry in view.ledger})
        if not history:
            st.info("No alias change on record yet. After a promotion, this restores the version it replaced.")
        else:
            rollback_alias = st.selectbox(
                "Alias", history, index=history.index("champion") if "champion" in history else 0, key="rollback_alias"
            )
            target = None
            with action(f"Finding the version {rollback_alias} had before"):
                try:
                    holder_version, target = rollback_target(settings, sessions=sessions, alias=rollback_alias)
                except PromotionRefused as refused:
                    st.info(plain(refused), icon="ℹ️")
            if target is not None:
                current = "nothing" if holder_version is None else f"version {holder_version}"
                st.markdown(f"`{rollback_alias}` is on {current}; rolling back restores **version {target}**.")
                with action(f"Checking version {target} for {rollback_alias}", version=target):
                    try:
                        guard = preflight(
                            settings, sessions=sessions, version=target, alias=rollback_alias, drift=drift
                        )
                        st.markdown(checklist(guard.checks))
                    except PromotionRefused as refused:
                        st.info(plain(refused), icon="ℹ️")
            rollback_reason = st.text_input("Reason (required)", key="rollback_reason")
            rollback_override = st.checkbox("Override failed checks", key="rollback_override")
            label = f"Roll back {rollback_alias}" + ("" if target is None else f" to version {target}")
            if st.button(label, key="rollback_button", disabled=target is None):
                with action(f"Rolling {rollback_alias} back to version {target}", version=target):
                    try:
                        move = rollback(
                            settings,
                            sessions=sessions,
                            alias=rollback_alias,
                            reason=rollback_reason,
                            actor=operator,
                            token=token,
                            override=rollback_override,
                            drift=drift,
                        )
                    except PromotionRefused as refused:
                        st.error(plain(refused), icon="⛔")
                    else:
                        st.session_state["registry_flash"] = (
                            f"`{move.alias}` rolled back: version {move.from_version} → version {move.to_version}. "
                            f"Ledger entry {move.ledger_id}."
                        )
                        st.rerun()

    with remove_tab:
        if not view.holders:
            st.info("No alias is set. Promote a version to give it one.")
        else:
            alias_to_remove = st.selectbox(
                "Alias",
                sorted(view.holders),
                format_func=lambda name: f"{name} (version {view.holders[name]})",
                key="remove_alias",
            )
            if alias_to_remove == "champion":
                st.warning("Without `champion`, Predict has no model to answer with.")
            remove_reason = st.text_input("Reason (required)", key="remove_reason")
            confirmed = st.checkbox(f"Yes, remove `{alias_to_remove}`", key="remove_confirm")
            if st.button("Remove alias", key="remove_button", disabled=not confirmed):
                removed_version = view.holders.get(alias_to_remove)
                with action(f"Removing {alias_to_remove} from version {removed_version}", version=removed_version):
                    try:
                        move = remove_alias(
                            settings,
                            sessions=sessions,
                            alias=alias_to_remove,
                            reason=remove_reason,
                            actor=operator,
                            origin="page",
                            token=token,
                        )
                    except PromotionRefused as refused:
                        st.error(plain(refused), icon="⛔")
                    else:
                        st.session_state["registry_flash"] = (
                            f"`{move.alias}` removed (was version {move.from_version}). Ledger entry {move.ledger_id}."
                        )
                        st.rerun()

    with validation_tab:
        tag_version = st.selectbox(
            "Version", sorted(by_number, reverse=True), format_func=version_label, key="validation_version"
        )
        current_status = by_number[tag_version].tags.get(VALIDATION_STATUS_TAG, "not set")
        st.caption(f"`{VALIDATION_STATUS_TAG}` of version {tag_version}: **{plain(current_status)}**")
        new_status = st.selectbox("Status", VALIDATION_STATUSES, key="validation_status")
        if st.button("Set validation status", key="validation_button"):
            with action(f"Tagging version {tag_version} {new_status}", version=tag_version):
                try:
                    set_validation_status(settings, version=tag_version, status=new_status, token=token)
                except PromotionRefused as refused:
                    st.error(plain(refused), icon="⛔")
                else:
                    st.session_state["registry_flash"] = f"Version {tag_version} tagged `{new_status}`."
                    st.rerun()

    with reference_tab:
        st.caption(
            "The data a version was trained or validated on: what Monitoring compares live inputs with, where the "
            "Predict form takes its ranges and defaults, and what simulated traffic is drawn from. Loupe keeps its "
            "summary in a run of its own; the version's run is left as it is."
        )
        numbers = sorted(by_number, reverse=True)
        champion = view.holders.get("champion")
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
            if table is not None:
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
                        if source == FROM_FILE:
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
                f"{len(result.features):,} input(s) profiled — {plain(', '.join(result.features))}. "
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

    st.subheader("Ledger")
    if not view.ledger:
        st.info(
            "No alias change on record yet. Promote a version above; changes made with other MLflow clients "
            "show up here as external the next time this page loads."
        )
    else:
        shown_aliases = sorted({entry.alias for entry in view.ledger})
        ledger_alias = st.selectbox("Alias", ["all", *shown_aliases], key="ledger_alias")
        shown = [entry for entry in view.ledger if ledger_alias in ("all", entry.alias)]
        ledger_table = ledger_frame(shown)
        st.dataframe(ledger_table, hide_index=True, width="stretch", key="registry_ledger")
        st.download_button(
            "Download the ledger (CSV)",
            ledger_table.to_csv(index=False),
            file_name=f"{settings.model_name}-alias-ledger.csv",
            mime="text/csv",
            key="ledger_download",
        )

    st.subheader("Timeline")
    followable = sorted({"champion", *view.holders})
    timeline_alias = st.selectbox(
        "Alias to follow",
        followable,
        index=followable.index("champion"),
        key="timeline_alias",
        help="shaded: who held it when",
    )
    st.plotly_chart(
        timeline_figure(view.versions, view.ledger, alias=timeline_alias), width="stretch", key="registry_timeline"
    )
