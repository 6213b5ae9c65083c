"""Page set-up shared by every page: page config, theme touches and the sidebar brand."""

from __future__ import annotations

import base64

import streamlit as st

from core.registry.status import LiveAliases, backend_label, live_aliases
from core.settings import get_settings
from ui.formats import plain

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


def page_setup(title: str, icon: str = "🔎") -> LiveAliases:
    """Page config, theme touches and the sidebar brand; call first on every page.

    Returns the sidebar's alias read (which version each alias points to now), for the page to use.
    """
    st.set_page_config(page_title=f"{title} · Loupe", page_icon=icon, layout="wide")
    st.markdown(BRAND_CSS, unsafe_allow_html=True)
    settings = get_settings()
    st.logo(_data_uri(WORDMARK_SVG), size="large", icon_image=_data_uri(LOGO_SVG))
    live = live_aliases(settings)  # one registry call; never cached, so a promotion shows at once
    with st.sidebar:
        st.markdown(f"**{plain(settings.model_name)}**")
        if live.registry_error:
            st.caption("🔴 registry unreachable")
        elif not live.versions:
            st.caption("no alias set yet")
        else:
            st.caption(" · ".join(f"`{alias}` v{version}" for alias, version in sorted(live.versions.items())))
        st.caption(f"tracking: {backend_label(settings.tracking_uri)} · log: {backend_label(settings.database_url)}")
    return live
