"""Page set-up shared by every page: page config, theme touches, the sidebar brand and the model chooser.

The sidebar lists the registry's models; the one chosen there is kept in ``st.session_state`` across
pages, and every page operates it: pages take their settings from :func:`page_setup` (or
:func:`current_settings`), never from ``get_settings()`` directly.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

import streamlit as st

from core.mlflow_io import RegistryUnavailable
from core.registry.status import LiveAliases, backend_label, live_aliases
from core.settings import Settings, get_settings
from ui.formats import code, plain
from ui.resources import registry_models

CHOSEN_MODEL = "loupe_model"  # the model every page operates (kept across pages)
MODEL_WIDGET = "sidebar_model"  # the sidebar's selectbox
MODELS_LISTED = 1000

LOGO_SVG = """<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64" width="40" height="40">
<defs><linearGradient id="g" x1="0" y1="0" x2="1" y2="1">
<stop offset="0" stop-color="#7dd3fc"/><stop offset="1" stop-color="#a78bfa"/></linearGradient></defs>
<circle cx="27" cy="27" r="17" fill="none" stroke="url(#g)" stroke-width="6"/>
<path d="M27 17 l7 8 -7 13 -7 -13 z" fill="url(#g)" opacity="0.9"/>
<line x1="40" y1="40" x2="56" y2="56" stroke="url(#g)" stroke-width="8" stroke-linecap="round"/>
</svg>"""

WORDMARK_SVG = LOGO_SVG.replace(
    'viewBox="0 0 64 64" width="40" height="40"', 'viewBox="0 0 230 64" width="230" height="64"'
).replace(
    "</svg>",
    '<text x="72" y="45" font-family="Helvetica, Arial, sans-serif" font-size="38" font-weight="700" '
    'fill="url(#g)" letter-spacing="1">Loupe</text></svg>',
)


def _data_uri(svg: str) -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


BRAND_CSS = """<style>
[data-testid="stAppViewContainer"] {
  background: radial-gradient(1200px 600px at 10% -10%, #1e1b4b 0%, #0b1020 55%, #070a14 100%);
}
[data-testid="stSidebar"] { background: linear-gradient(180deg, #111634 0%, #0b1020 100%); }
[data-testid="stSidebarHeader"] img { height: 2.6rem; max-width: 100%; }
</style>"""


@dataclass(frozen=True)
class ModelChoice:
    """The models the sidebar offers and the one chosen."""

    chosen: str
    configured: str  # LOUPE_MODEL_NAME
    listed: tuple[str, ...]  # what the selectbox offers (empty: the registry holds no model, or is unreachable)
    more: bool = False  # the registry holds more models than listed
    registry_error: str | None = None

    @property
    def configured_missing(self) -> bool:
        """The registry answered, holds models, and not the configured one."""
        return self.registry_error is None and bool(self.listed) and self.configured not in self.listed


@dataclass(frozen=True)
class Console:
    """What every page works with: the settings of the chosen model, its aliases now, and the sidebar's choice."""

    settings: Settings
    live: LiveAliases
    models: ModelChoice

    @property
    def model_name(self) -> str:
        return self.settings.model_name


def current_settings() -> Settings:
    """The settings with the model chosen in the sidebar (``LOUPE_MODEL_NAME`` until one is chosen)."""
    settings = get_settings()
    chosen = st.session_state.get(CHOSEN_MODEL)
    if not chosen or chosen == settings.model_name:
        return settings
    return settings.model_copy(update={"model_name": chosen})


def page_setup(title: str, icon: str = "🔎") -> Console:
    """Page config, theme touches, the sidebar brand and model chooser; call first on every page.

    Returns the chosen model's settings (use them for every core call) and the sidebar's alias read
    (which version each alias points to now).
    """
    st.set_page_config(page_title=f"{title} · Loupe", page_icon=icon, layout="wide")
    st.markdown(BRAND_CSS, unsafe_allow_html=True)
    st.logo(_data_uri(WORDMARK_SVG), size="large", icon_image=_data_uri(LOGO_SVG))
    configured = get_settings()
    with st.sidebar:
        models = _choose_model(configured)
        settings = current_settings()
        # One cheap registry call, never cached, so a promotion shows at once (none when listing just failed).
        live = (
            LiveAliases(versions={}, registry_error=models.registry_error)
            if models.registry_error
            else live_aliases(settings)
        )
        if live.registry_error:
            st.caption("🔴 registry unreachable")
        elif not live.versions:
            st.caption("no alias set yet")
        else:
            st.caption(" · ".join(f"`{alias}` v{version}" for alias, version in sorted(live.versions.items())))
        st.caption(f"tracking: {backend_label(settings.tracking_uri)} · log: {backend_label(settings.database_url)}")
    return Console(settings=settings, live=live, models=models)


def _remember_choice() -> None:
    st.session_state[CHOSEN_MODEL] = st.session_state[MODEL_WIDGET]


def _choose_model(configured: Settings) -> ModelChoice:
    """The sidebar's model chooser; the choice goes to ``st.session_state[CHOSEN_MODEL]``."""
    previous = st.session_state.get(CHOSEN_MODEL)
    try:
        names = registry_models(configured.tracking_uri, MODELS_LISTED + 1)
    except RegistryUnavailable as error:
        # Keep operating what was chosen (the configured model at first): served copies may still answer.
        chosen = previous or configured.model_name
        st.session_state[CHOSEN_MODEL] = chosen
        st.markdown(f"**{plain(chosen)}**")
        st.caption("The registry's models cannot be listed now; this page keeps to the model above.")
        return ModelChoice(chosen, configured.model_name, (), registry_error=str(error))
    if not names:
        st.session_state[CHOSEN_MODEL] = configured.model_name
        st.markdown(f"**{plain(configured.model_name)}**")
        st.caption("The registry holds no model yet.")
        return ModelChoice(configured.model_name, configured.model_name, ())
    more = len(names) > MODELS_LISTED
    listed = names[:MODELS_LISTED]
    if more and configured.model_name not in listed:
        listed = [configured.model_name, *listed]
    if previous in listed:
        default = previous
    else:
        default = configured.model_name if configured.model_name in listed else listed[0]
    # Each page has its own copy of the sidebar's widget, so its state does not follow a change of page:
    # the choice lives in CHOSEN_MODEL (a choice made in the widget is copied there before the page runs)
    # and every page's widget starts from it.
    st.session_state[CHOSEN_MODEL] = default
    st.session_state[MODEL_WIDGET] = default
    chosen = st.selectbox(
        "Model",
        listed,
        key=MODEL_WIDGET,
        on_change=_remember_choice,
        help="Every page operates the model chosen here. Type to filter.",
    )
    choice = ModelChoice(chosen, configured.model_name, tuple(listed), more=more)
    if more:
        st.caption(f"The first {MODELS_LISTED:,} models (A–Z) of more; for another, set LOUPE_MODEL_NAME to its name.")
    if choice.configured_missing:
        st.caption(f"LOUPE_MODEL_NAME is {code(configured.model_name)}, which this registry does not hold.")
    return choice
