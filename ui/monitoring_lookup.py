"""Monitoring's "Look up a prediction" form: one logged prediction by id, with its shadow answer and feedback."""

from __future__ import annotations

import pandas as pd
import streamlit as st
from sqlalchemy.orm import Session, sessionmaker

from core.monitoring.lookup import Answer, PredictionLookup, look_up
from core.settings import Settings
from ui.errors import action
from ui.formats import milliseconds, number, plain, share, timestamp


def cell(value: object) -> str:
    """An input's value in a table cell (no Markdown there): numbers as everywhere, text as it was sent."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return number(float(value))
    return "—" if value is None else str(value)


def answer_text(answer: Answer) -> str:
    """A regressor's number, or a classifier's label with its score."""
    if answer.label is None:
        return number(answer.prediction)
    if answer.prediction is None:
        return plain(answer.label)
    return f"{plain(answer.label)} (score {share(answer.prediction)})"


def lookup_section(settings: Settings, sessions: sessionmaker[Session]) -> None:
    """The form and, once submitted, what the log holds about that prediction."""
    st.subheader("Look up a prediction")
    with st.form("monitoring_lookup_form"):
        left, right = st.columns([3, 1], vertical_alignment="bottom")
        wanted = left.number_input(
            "Prediction id",
            min_value=1,
            value=None,
            step=1,
            placeholder="the id Predict, the CLI or a batch result shows",
            key="monitoring_lookup_id",
        )
        asked = right.form_submit_button("Look up", key="monitoring_lookup_run")
    if not asked or wanted is None:
        return
    with action("Looking up the prediction", stop=False) as reading, sessions.begin() as session:
        found = look_up(session, prediction_id=int(wanted), model_name=settings.model_name)
    if reading.failed is not None:
        return
    if found is None:
        st.warning(f"No prediction of **{plain(settings.model_name)}** has id {int(wanted)}.", icon="🔎")
        return
    show(found)


def show(found: PredictionLookup) -> None:
    answer = found.answer
    if found.asked_for != answer.prediction_id:
        st.caption(
            f"Id {found.asked_for} is a shadow answer: showing the request it shadowed, "
            f"prediction {answer.prediction_id}."
        )
    columns = st.columns(4)
    columns[0].metric("Answer", answer_text(answer), border=True)
    columns[1].metric("Version", f"v{answer.model_version}", border=True)
    columns[2].metric("Latency", milliseconds(answer.latency_ms), border=True)
    truth = "—"
    if found.has_feedback:
        truth = number(found.actual) if found.actual_label is None else plain(found.actual_label)
    columns[3].metric("True value", truth, border=True)
    alias = f" ({plain(answer.alias)})" if answer.alias else ""
    flag = " · out of the training range" if answer.is_ood else ""
    feedback = f" · true value received {timestamp(found.feedback_at)}" if found.feedback_at else " · no feedback yet"
    st.caption(
        f"Answered at {timestamp(answer.created_at)} by v{answer.model_version}{alias} · source {plain(found.source)} · "
        f"request {plain(found.request_id)}{flag}{feedback}"
    )
    inputs = pd.DataFrame(
        {"input": list(found.inputs), "value": [cell(value) for value in found.inputs.values()]},
        columns=["input", "value"],
    )
    st.dataframe(inputs, hide_index=True, key="monitoring_lookup_inputs")
    if not found.shadows:
        st.caption("No shadow answer was logged for this request.")
        return
    shadows = pd.DataFrame(
        [
            {
                "shadow id": shadow.prediction_id,
                "version": f"v{shadow.model_version}",
                "answer": cell(shadow.prediction) if shadow.label is None else shadow.label,
                "latency": milliseconds(shadow.latency_ms),
            }
            for shadow in found.shadows
        ]
    )
    st.markdown("**Shadow answer**")
    st.dataframe(shadows, hide_index=True, key="monitoring_lookup_shadows")
