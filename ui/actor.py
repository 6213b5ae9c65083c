"""Who a page records as making a change: the signed-in user when Streamlit authentication is on, else a typed name.

With authentication configured (``[auth]`` in ``secrets.toml``, ``st.login()``), ``st.user`` carries
``is_logged_in`` and the identity provider's claims; the ledger then records who is signed in, shown on the
page and not editable, so nobody moves an alias under someone else's name. Without it, ``st.user`` has no
``is_logged_in`` and the page asks for a name, as before.
"""

from __future__ import annotations

from collections.abc import Mapping

import streamlit as st

# The OpenID Connect claims that name a person, most specific first: an email is unique and readable;
# some providers send only a name, a preferred username or the bare subject id.
IDENTITY_CLAIMS = ("email", "name", "preferred_username", "sub")


def signed_in_actor(user: Mapping[str, object]) -> str | None:
    """The signed-in user as the ledger records them (their email, else their name…), or ``None`` when nobody is.

    ``user`` is ``st.user`` (or anything shaped like it): ``None`` when authentication is not configured (no
    ``is_logged_in``), when nobody is logged in, or when the provider sent no claim naming the person.
    """
    if user.get("is_logged_in") is not True:
        return None
    for claim in IDENTITY_CLAIMS:
        value = user.get(claim)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def actor_input(label: str, *, key: str, value: str = "") -> str:
    """The actor for the page's changes: the signed-in user, shown and not editable; else a name typed in ``key``."""
    signed_in = signed_in_actor(st.user)
    if signed_in is None:
        return st.text_input(label, value=value, key=key)
    st.text_input(
        label,
        value=signed_in,
        disabled=True,
        key=f"{key}_signed_in",
        help="You are signed in: changes are recorded under this identity.",
    )
    return signed_in
