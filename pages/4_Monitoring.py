"""Monitoring page (being built)."""

import streamlit as st

from core.ui import page_setup

page_setup("Monitoring", "📈")
st.title("Monitoring")
st.info(
    "Drift of live inputs against the training reference, latency, and realised error once true values arrive. This page is being built.",
    icon="🚧",
)
