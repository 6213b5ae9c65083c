"""The tracking server's webhook that tells Loupe of registry changes as they happen (MLflow 3's webhooks).

MLflow delivers each event as a signed POST (``X-MLflow-Signature: v1,<base64 HMAC-SHA256 of
"<delivery id>.<timestamp>.<body>">``); :mod:`core.server.registry_events` receives it. Only a
tracking *server* with a database backend delivers webhooks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.errors import RegistryRefused
from core.mlflow_io.connection import client, is_remote, mlflow_errors
from core.settings import Settings

WEBHOOK_NAME = "loupe-registry-events"
# Alias moves are what the ledger records; a new version is read at once too (Home's last known count).
REGISTRY_EVENTS = ("model_version_alias.created", "model_version_alias.deleted", "model_version.created")


@dataclass(frozen=True)
class RegisteredWebhook:
    webhook_id: str
    url: str
    created: bool  # False: one with this URL existed and was brought up to date


def ensure_registry_webhook(settings: Settings, *, url: str, secret: str) -> RegisteredWebhook:
    """Make the tracking server deliver :data:`REGISTRY_EVENTS` to ``url``, signed with ``secret``: once.

    Idempotent: a webhook already registered for ``url`` is updated (events, secret, active) rather
    than a second one created. Raises :class:`RegistryRefused` when the store is not a tracking server.
    """
    if not is_remote(settings.tracking_uri):
        raise RegistryRefused(
            "registry events need an MLflow tracking server (MLFLOW_TRACKING_URI=http://…); "
            f"the store here is {settings.tracking_uri.split(':', 1)[0]}, which delivers no webhooks"
        )
    mlflow_client = client(settings)
    events: list[Any] = list(REGISTRY_EVENTS)  # MLflow types them as a Literal of its event names
    with mlflow_errors(settings):
        existing = None
        page_token: str | None = None
        while existing is None:
            page = mlflow_client.list_webhooks(max_results=100, page_token=page_token)
            existing = next((webhook for webhook in page if webhook.url == url), None)
            page_token = page.token
            if not page_token:
                break
        if existing is not None:
            updated = mlflow_client.update_webhook(existing.webhook_id, events=events, secret=secret, status="ACTIVE")
            return RegisteredWebhook(webhook_id=updated.webhook_id, url=url, created=False)
        created = mlflow_client.create_webhook(
            name=WEBHOOK_NAME,
            url=url,
            events=events,
            description="Alias and version changes into Loupe's ledger as they happen",
            secret=secret,
        )
        return RegisteredWebhook(webhook_id=created.webhook_id, url=url, created=True)


def registry_webhooks(settings: Settings) -> list[RegisteredWebhook]:
    """Every webhook registered on the tracking server (first 100), for checks and the CLI's report."""
    with mlflow_errors(settings):
        page = client(settings).list_webhooks(max_results=100)
    return [RegisteredWebhook(webhook_id=webhook.webhook_id, url=webhook.url, created=False) for webhook in page]
