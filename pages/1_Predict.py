"""Predict page (being built)."""

import streamlit as st

from core.ui import page_setup

page_setup("Predict", "💎")
st.title("Predict")
st.info(
    "Score one case from a form, or a CSV batch, with the version that `champion` points to. Every prediction goes to the prediction log. This page is being built.",
    icon="🚧",
)
