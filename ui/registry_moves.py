"""The Registry page's Promote and Roll back tabs: alias moves behind the pre-flight, recorded in the ledger.

Promoting the version that holds ``challenger`` to ``champion`` asks what becomes of ``challenger``
(keep it there, clear it, or point it at another version); rolling back steps one version back through
the ledger and shows how far back the history goes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Final

import streamlit as st

from core.mlflow_io import VersionInfo
from core.registry.charts import STATUS_ICONS
from core.registry.guards import SUGGESTED_ALIASES, PromotionRefused
from core.registry.preflight import Check, DriftLike, preflight
from core.registry.promotion import CHALLENGER, CHAMPION, AliasMove, ChallengerChoice, promote, rollback, rollback_path
from core.settings import Settings
from storage.db import Sessions
from ui.errors import action
from ui.formats import plain, plural

KEEP: Final = "keep"
CLEAR: Final = "clear"
ELSEWHERE: Final = "another"


def checklist(checks: Sequence[Check]) -> str:
    """The pre-flight as a Markdown checklist, one line per check; names and details are shown as written."""
    return "\n".join(
        # The status in words too: without an emoji font the icons alone all look the same.
        f"- {STATUS_ICONS[check.status]} {check.status.upper()} · **{plain(check.name)}** — {plain(check.detail)}"
        for check in checks
    )


def preselected(numbers: Sequence[int], holders: dict[str, int]) -> int:
    """Where the Promote tab's version list starts: the challenger's version (what one usually promotes), else the newest."""
    challenger = holders.get(CHALLENGER)
    if challenger is not None and challenger in numbers and challenger != holders.get(CHAMPION):
        return list(numbers).index(challenger)
    return 0


def challenger_question(
    version: int, numbers: Sequence[int], version_label: Callable[[int], str]
) -> ChallengerChoice | None:
    """Ask what becomes of ``challenger`` when its version becomes champion; ``None`` until answered."""
    answers = {
        KEEP: f"Keep it on version {version} (both aliases on one version: shadow scoring is idle)",
        CLEAR: "Clear it (no challenger until you promote one)",
        ELSEWHERE: "Point it at another version",
    }
    answer = st.radio(
        f"Version {version} holds `challenger`. What becomes of `challenger`?",
        list(answers),
        index=None,
        format_func=answers.__getitem__,
        key="promote_challenger_choice",
    )
    if answer == ELSEWHERE:
        others = [number for number in numbers if number != version]
        if not others:
            st.info("There is no other version to point `challenger` at.", icon="ℹ️")
            return None
        target: int = st.selectbox(
            "New challenger", others, format_func=version_label, key="promote_challenger_version"
        )
        st.caption(f"Checked like a promotion of version {target} to `challenger`, in the same move.")
        return target
    if answer is None:
        st.caption("Choose one to promote.")
        return None
    return KEEP if answer == KEEP else CLEAR


def moved(move: AliasMove) -> str:
    """The flash message after a promotion, the challenger's follow-up included."""
    was = "nothing" if move.from_version is None else f"version {move.from_version}"
    said = f"`{move.alias}` → version {move.to_version} (was {was})" + (
        " — failed checks overridden" if move.override else ""
    )
    for also in move.also:
        now = "cleared" if also.to_version is None else f"→ version {also.to_version}"
        said += f"; `{also.alias}` {now} (was version {also.from_version})"
    return said + f". Ledger entry {', '.join(str(entry.ledger_id) for entry in (move, *move.also))}."


def promote_tab(
    settings: Settings,
    *,
    sessions: Sessions,
    by_number: dict[int, VersionInfo],
    holders: dict[str, int],
    operator: str,
    token: str | None,
    drift: DriftLike | None,
    version_label: Callable[[int], str],
) -> None:
    """Choose a version and an alias, read the pre-flight, give a reason, promote."""
    numbers = sorted(by_number, reverse=True)
    version = st.selectbox(
        "Version",
        numbers,
        index=preselected(numbers, holders),
        format_func=version_label,
        key="promote_version",
        help="Starts on the version holding challenger, the usual candidate.",
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
                f"{STATUS_ICONS['fail']} Blocked by {plural(len(checked.failed), 'failed check')}. "
                "Tick the override and give a reason to move the alias anyway.",
            )
    challenger: ChallengerChoice | None = KEEP
    if checked is not None and alias == CHAMPION and holders.get(CHALLENGER) == version:
        challenger = challenger_question(version, numbers, version_label)
    reason = st.text_area("Reason (required)", key="promote_reason")
    override = st.checkbox(
        "Override the failed checks (the reason is recorded as the override's)",
        key="promote_override",
        disabled=checked is None or checked.passed,
    )
    if st.button("Promote", key="promote_button", type="primary", disabled=checked is None or challenger is None):
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
                    challenger=KEEP if challenger is None else challenger,
                )
            except PromotionRefused as refused:
                st.error(plain(refused), icon="⛔")
            else:
                st.session_state["registry_flash"] = moved(move)
                st.rerun()


def rollback_tab(
    settings: Settings,
    *,
    sessions: Sessions,
    history: Sequence[str],
    operator: str,
    token: str | None,
    drift: DriftLike | None,
) -> None:
    """Step an alias one version back through the ledger, with the pre-flight of the version it restores."""
    rollback_alias = st.selectbox(
        "Alias", history, index=history.index(CHAMPION) if CHAMPION in history else 0, key="rollback_alias"
    )
    walked = None
    with action(f"Finding the version {rollback_alias} had before"):
        walked = rollback_path(settings, sessions=sessions, alias=rollback_alias)
    target = None if walked is None else walked.target
    current = "is not set" if walked is None or walked.holder is None else f"is on version {walked.holder}"
    if walked is None:
        pass  # the failure is already said where the block sits
    elif target is None:
        st.info(
            f"`{rollback_alias}` {current} and the ledger holds no earlier version of it: nothing to roll "
            "back to. Promote a version to move it.",
            icon="ℹ️",
        )
    else:
        further = ", ".join(f"v{number}" for number in walked.earlier[1:])
        st.markdown(
            f"`{rollback_alias}` {current}; rolling back restores **version {target}**."
            + (f" Further back on record: {further}." if further else " It is the earliest on record.")
        )
        with action(f"Checking version {target} for {rollback_alias}", version=target):
            try:
                guard = preflight(settings, sessions=sessions, version=target, alias=rollback_alias, drift=drift)
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
