"""Page actors: the signed-in user (Streamlit authentication) is recorded, not a typed name; else the typed name."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from core import mlflow_io
from tests.ledger_rows import ledger_rows
from tests.pages.helpers import open_page
from ui.actor import signed_in_actor


def test_the_signed_in_users_email_then_name_is_the_actor() -> None:
    # The shapes st.user has: authentication configured and a user logged in, with the provider's claims.
    google = {"is_logged_in": True, "email": "ana@example.com", "name": "Ana Lima", "sub": "10769150350006150715"}
    nameless = {"is_logged_in": True, "name": " Bo Chen ", "sub": "auth0|42"}
    subject_only = {"is_logged_in": True, "sub": "auth0|42"}

    assert signed_in_actor(google) == "ana@example.com"
    assert signed_in_actor(nameless) == "Bo Chen"
    assert signed_in_actor(subject_only) == "auth0|42"


def test_nobody_is_signed_in_without_authentication_or_a_login() -> None:
    assert signed_in_actor({}) is None  # authentication not configured: no is_logged_in at all
    assert signed_in_actor({"email": "test@example.com"}) is None  # a host's user info, not a login
    assert signed_in_actor({"is_logged_in": False}) is None  # configured, nobody logged in
    assert signed_in_actor({"is_logged_in": True, "email": "  "}) is None  # logged in, but nothing names them
    assert signed_in_actor({"is_logged_in": "yes", "email": "x@example.com"}) is None  # only a real True counts


def _promote(app: AppTest) -> AppTest:
    app.selectbox(key="promote_version").select(2)
    app.radio(key="promote_alias_choice").set_value("champion")
    app.text_area(key="promote_reason").input("rf holds up")
    app.run()
    asked = [radio for radio in app.radio if radio.key == "promote_challenger_choice"]
    if asked:  # version 2 holds challenger: keep it there
        asked[0].set_value("keep")
        app.run()
    app.button(key="promote_button").click().run()
    return app


def test_a_signed_in_user_moves_an_alias_under_their_own_name(registry_home) -> None:
    app = open_page("pages/3_Registry.py")
    app.user = {"is_logged_in": True, "email": "ana@example.com", "name": "Ana Lima"}
    app.run()

    shown = app.text_input(key="operator_signed_in")
    assert shown.value == "ana@example.com" and shown.disabled
    assert not [widget for widget in app.text_input if widget.key == "operator"]  # nothing to type a name into

    _promote(app)

    assert not app.exception
    assert mlflow_io.alias_map(registry_home)["champion"] == 2
    assert ledger_rows(registry_home)[-1][:4] == ("champion", 1, 2, "ana@example.com")


def test_without_a_login_the_typed_name_is_the_actor(registry_home) -> None:
    app = open_page("pages/3_Registry.py")
    app.user = {"is_logged_in": False}
    app.run()
    assert not [widget for widget in app.text_input if widget.key == "operator_signed_in"]

    app.text_input(key="operator").input("bo")
    _promote(app)

    assert not app.exception
    assert ledger_rows(registry_home)[-1][:4] == ("champion", 1, 2, "bo")
