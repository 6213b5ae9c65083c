"""Experiments page (being built)."""

import streamlit as st

from core.ui import page_setup

page_setup("Experiments", "🧪")
st.title("Experiments")
st.info(
    "Compare MLflow runs — params, metrics, charts — and register a run's model. This page is being built.", icon="🚧"
)
