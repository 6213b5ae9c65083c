"""Registry: the versions, alias moves behind pre-flight checks, one-click rollback, the ledger and a timeline."""

import streamlit as st

from core.csv_export import csv_text
from core.mlflow_io import UNIT_TAG, RegistryUnavailable
from core.registry.charts import (
    NOT_SET,
    REMOVED,
    badge,
    ledger_frame,
    timeline_figure,
    versions_frame,
    versions_styler,
)
from core.registry.guards import SUGGESTED_ALIASES, PromotionRefused, promotion_is_protected
from core.registry.holdout import primary_holdout
from core.registry.ledger_sync import registry_view
from core.registry.preflight import VALIDATION_STATUS_TAG, VALIDATION_STATUSES, DriftLike
from core.registry.promotion import remove_alias, set_validation_status
from core.registry.status import shared_alias_note
from ui.actor import actor_input
from ui.errors import action
from ui.formats import TIMESTAMP_COLUMN_FORMAT, holdout_value, plain
from ui.page import page_setup
from ui.registry_moves import promote_tab as promote_tab_body
from ui.registry_moves import rollback_tab as rollback_tab_body
from ui.registry_reference import reference_tab as reference_tab_body
from ui.registry_versions import versions_column_config
from ui.resources import prediction_log_sessions, recent_drift_status


def held(version: int | None, nobody: str) -> str:
    """A version in a ledger move, or what its absence means, in words (``none``, ``removed``)."""
    return nobody if version is None else f"v{version}"


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
            f"`{change.alias}` {held(change.from_version, NOT_SET)} → {held(change.to_version, REMOVED)}"
            for change in view.external
        )
        notices.warning(
            f"Alias changes made outside Loupe were found and recorded in the ledger as external: {moves}.", icon="🕵️"
        )

    shared = shared_alias_note(view.holders)
    if shared is not None:
        notices.warning(shared, icon="🪞")

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
        versions_styler(versions_frame(view.versions)),
        hide_index=True,
        width="stretch",
        column_config=versions_column_config(),
        key="registry_versions",
    )

    st.subheader("Change an alias or a version")
    # Signed in (Streamlit authentication): the ledger records who is, not a typed name.
    operator = actor_input("Your name (recorded in the ledger)", key="operator")
    token = st.text_input("Admin token", type="password", key="admin_token") if protected else None

    promote_tab, rollback_tab, remove_tab, validation_tab, reference_tab = st.tabs(
        ["Promote", "Roll back", "Remove an alias", "Validation status", "Reference data"], key="registry_tabs"
    )

    def version_label(number: int) -> str:
        aliases = by_number[number].aliases
        return f"v{number}" + (f" · {', '.join(aliases)}" if aliases else "")

    with promote_tab:
        promote_tab_body(
            settings,
            sessions=sessions,
            by_number=by_number,
            holders=view.holders,
            operator=operator,
            token=token,
            drift=drift,
            version_label=version_label,
        )

    with rollback_tab:
        history = sorted({entry.alias for entry in view.ledger})
        if not history:
            st.info("No alias change on record yet. After a promotion, this restores the version it replaced.")
        else:
            rollback_tab_body(settings, sessions=sessions, history=history, operator=operator, token=token, drift=drift)

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
        reference_tab_body(
            settings,
            sessions=sessions,
            by_number=by_number,
            holders=view.holders,
            token=token,
            other_model=other_model,
            version_label=version_label,
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
        st.dataframe(
            ledger_table,
            hide_index=True,
            width="stretch",
            key="registry_ledger",
            column_config={"when (UTC)": st.column_config.DatetimeColumn("when (UTC)", format=TIMESTAMP_COLUMN_FORMAT)},
        )
        st.download_button(
            "Download the ledger (CSV)",
            csv_text(ledger_table),
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
