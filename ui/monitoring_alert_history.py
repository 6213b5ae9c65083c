"""Monitoring's "Alert history": the messages sent (or not yet) when an alert fired or cleared."""

from __future__ import annotations

import streamlit as st
from sqlalchemy.orm import Session, sessionmaker

from core.monitoring.incidents import alert_history, delivery_configured
from core.settings import Settings
from ui.errors import action

SHOWN = 100

NOT_CONFIGURED = (
    "No alert is delivered yet. Set `LOUPE_ALERT_WEBHOOK_URL` (a JSON body, signed with "
    "`LOUPE_ALERT_WEBHOOK_SECRET`) and/or `LOUPE_ALERT_SLACK_URL` (a Slack incoming webhook), then run "
    "`python -m core watch` (once, or `--every 5m`) — the scoring server also runs it every hour. Each alert "
    "sends one message when it fires and one when it clears."
)
NOTHING_YET = (
    "No alert has fired since delivery was set up: messages appear here when `python -m core watch` or the "
    "scoring server's hourly check finds a rule firing, and again when it clears."
)


def alert_history_section(settings: Settings, sessions: sessionmaker[Session]) -> None:
    """The newest deliveries first; an empty state that says how to configure delivery."""
    st.subheader("Alert history")
    with action("Reading the alert history") as reading:
        history = alert_history(settings, sessions=sessions, limit=SHOWN)
    if reading.failed is not None:
        return
    if history.empty:
        st.info(NOTHING_YET if delivery_configured(settings) else NOT_CONFIGURED, icon="🔔")
        return
    st.caption(f"The {SHOWN} newest messages at most; a failed one is tried again at the next check.")
    st.dataframe(
        history,
        hide_index=True,
        key="monitoring_alert_history",
        column_config={
            "Queued": st.column_config.DatetimeColumn("Queued", format="YYYY-MM-DD HH:mm z"),
            "Sent": st.column_config.DatetimeColumn("Sent", format="YYYY-MM-DD HH:mm z"),
            "Version": st.column_config.NumberColumn("Version", format="%d"),
        },
    )
