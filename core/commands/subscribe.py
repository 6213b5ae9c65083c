"""``python -m core subscribe``: the registry's events to this scoring server."""

from __future__ import annotations

import argparse

HELP = (
    "Register (once; again only updates it) the MLflow tracking server's webhook that posts alias and version "
    "events to this scoring server's POST /registry-events, so changes made outside Loupe enter the ledger "
    "as they happen; needs LOUPE_SERVER_PUBLIC_URL and LOUPE_REGISTRY_WEBHOOK_SECRET."
)

EVENTS_PATH = "/registry-events"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--url",
        help="where the tracking server reaches the scoring server's events route "
        f"(default: LOUPE_SERVER_PUBLIC_URL + {EVENTS_PATH})",
    )


def run(args: argparse.Namespace) -> int:
    from core.commands._console import fail, progress
    from core.mlflow_io.webhooks import REGISTRY_EVENTS, ensure_registry_webhook
    from core.settings import get_settings, mask_url

    settings = get_settings()
    if settings.registry_webhook_secret is None:
        return fail("set LOUPE_REGISTRY_WEBHOOK_SECRET (the scoring server checks each event's signature with it)")
    url = args.url
    if url is None:
        if not settings.server_public_url:
            return fail(
                "set LOUPE_SERVER_PUBLIC_URL to the scoring server's address as the tracking server reaches it "
                f"(e.g. https://loupe.example.com), or pass --url ending in {EVENTS_PATH}"
            )
        url = settings.server_public_url.rstrip("/") + EVENTS_PATH
    if not url.startswith(("http://", "https://")):
        return fail(f"--url / LOUPE_SERVER_PUBLIC_URL must start with http:// or https://; got {url!r}")
    webhook = ensure_registry_webhook(settings, url=url, secret=settings.registry_webhook_secret.get_secret_value())
    done = "registered" if webhook.created else "already registered; updated"
    progress(
        f"{done}: webhook {webhook.webhook_id} on {mask_url(settings.tracking_uri)} posts "
        f"{', '.join(REGISTRY_EVENTS)} to {url}"
    )
    return 0
