"""``python -m core subscribe``: says what is missing before asking the registry anything.

Registering the webhook on a real tracking server, and its events reaching the ledger, is proven in
tests/core/server/test_registry_events.py.
"""

from __future__ import annotations

from core.settings import get_settings
from tests.pages.helpers import closed_port


def test_subscribe_without_a_secret_says_which_setting(cli, monkeypatch) -> None:
    result = cli("subscribe", "--url", "http://127.0.0.1:5050/registry-events")

    assert result.code == 1 and "set LOUPE_REGISTRY_WEBHOOK_SECRET" in result.err


def test_subscribe_without_an_address_says_how_to_give_one(cli, monkeypatch) -> None:
    monkeypatch.setenv("LOUPE_REGISTRY_WEBHOOK_SECRET", "s")
    get_settings.cache_clear()

    result = cli("subscribe")

    assert result.code == 1 and "set LOUPE_SERVER_PUBLIC_URL" in result.err and "--url" in result.err


def test_subscribe_refuses_a_local_store_which_delivers_no_webhooks(cli, monkeypatch) -> None:
    monkeypatch.setenv("LOUPE_REGISTRY_WEBHOOK_SECRET", "s")
    monkeypatch.setenv("LOUPE_SERVER_PUBLIC_URL", "http://127.0.0.1:5050")
    get_settings.cache_clear()

    result = cli("subscribe")

    assert result.code == 1 and "need an MLflow tracking server" in result.err and "sqlite" in result.err
    assert "Traceback" not in result.err


def test_subscribe_with_the_tracking_server_down_says_so_in_a_line(cli, monkeypatch) -> None:
    tracking_uri = f"http://127.0.0.1:{closed_port()}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_uri)
    monkeypatch.setenv("LOUPE_REGISTRY_WEBHOOK_SECRET", "s")
    get_settings.cache_clear()

    result = cli("subscribe", "--url", "http://127.0.0.1:5050/registry-events")

    assert result.code == 1 and tracking_uri in result.err and "unreachable" in result.err
    assert result.err.count("\n") == 1
