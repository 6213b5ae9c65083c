"""The app's long-lived objects, one ``st.cache_resource`` factory each (the only Streamlit-aware cache).

Everything here is built from :func:`core.settings.get_settings`; the factories take the settings'
relevant values (and the model chosen in the sidebar) as arguments, so a change builds new resources.
"""

from __future__ import annotations

import streamlit as st
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from core.mlflow_io import registered_model_names
from core.monitoring.window_drift import DriftStatus, current_drift_status
from core.settings import get_settings
from storage.db import make_engine, make_sessionmaker, migrate


@st.cache_resource(show_spinner=False)
def prediction_log_engine(database_url: str) -> Engine:
    """The prediction-log engine, migrated to the latest schema once per process."""
    engine = make_engine(database_url)
    migrate(engine)
    return engine


def prediction_log_sessions(database_url: str) -> sessionmaker[Session]:
    """Session factory on the cached engine."""
    return make_sessionmaker(prediction_log_engine(database_url))


@st.cache_resource(ttl=60, show_spinner=False)
def recent_drift_status(database_url: str, model_name: str, model_version: int) -> DriftStatus:
    """Monitoring's drift verdict for a version of a model, recomputed at most once a minute (the Registry reruns often)."""
    settings = get_settings().model_copy(update={"model_name": model_name})
    return current_drift_status(settings, sessions=prediction_log_sessions(database_url), model_version=model_version)


@st.cache_data(ttl=30, show_spinner=False)
def registry_models(tracking_uri: str, limit: int) -> list[str]:
    """The registry's model names for the sidebar, listed at most every 30 s (not on every rerun of every page).

    Keyed by the tracking URI it lists; a failure is not cached, so a registry that comes back shows at once.
    """
    settings = get_settings()
    if settings.tracking_uri != tracking_uri:  # never list another store than the key says
        settings = settings.model_copy(update={"tracking_uri_override": tracking_uri})
    return registered_model_names(settings, limit=limit)
