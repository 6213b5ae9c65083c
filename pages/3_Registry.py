"""Registry page (being built)."""

import streamlit as st

from core.ui import page_setup

page_setup("Registry", "🏷️")
st.title("Registry")
st.info(
    "Move the `champion` and `challenger` aliases behind guardrails, with an audit ledger and rollback. This page is being built.",
    icon="🚧",
)
