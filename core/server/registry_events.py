"""``POST /registry-events``: the tracking server's webhook, so alias changes made outside Loupe enter the ledger at once.

MLflow signs each delivery as Standard Webhooks do: ``X-MLflow-Signature: v1,<base64 HMAC-SHA256>`` of
``"<X-MLflow-Delivery-Id>.<X-MLflow-Timestamp>.<body>"`` with the webhook's secret. A delivery is taken
only with ``LOUPE_REGISTRY_WEBHOOK_SECRET`` set, a matching signature and a timestamp within
:data:`TOLERANCE_S` of now (an old delivery replayed is refused); anything else is answered 401 and
changes nothing.

An accepted alias or version event runs the ledger's own reconciliation for the event's model
(:func:`core.registry.ledger_sync.sync_external_changes`): the registry is read, and whatever differs
from the ledger is recorded as a change made outside Loupe, with the event's time. The next read of
the ledger finds nothing left to record, so nothing is recorded twice, and deliveries arriving out of
order (MLflow sends them from a thread pool) cannot record a stale holder. A move Loupe itself makes
is reported too and recorded as nothing: its own entry already matches.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from core.errors import LoupeError
from core.registry.ledger_sync import event_reason, sync_external_changes
from core.server.protocol import CONTENT_JSON, dumps, error_body
from core.server.state import ServerState
from core.settings import Settings

SIGNATURE_HEADER = "x-mlflow-signature"
TIMESTAMP_HEADER = "x-mlflow-timestamp"
DELIVERY_HEADER = "x-mlflow-delivery-id"
SIGNATURE_VERSION = "v1"
TOLERANCE_S = 300  # Standard Webhooks' window: MLflow retries a delivery for well under a minute
MAX_BODY_BYTES = 64 * 1024  # an event is a few hundred bytes
LEDGER_ENTITIES = frozenset({"model_version_alias", "model_version"})

logger = logging.getLogger("loupe.server")


def signature_problem(
    *, secret: str, delivery_id: str | None, timestamp: str | None, body: bytes, signature: str | None, now: float
) -> str | None:
    """Why a delivery is not authentic, or ``None`` when its signature and timestamp check out."""
    if not delivery_id or not timestamp or not signature:
        return "the X-MLflow-Delivery-Id, X-MLflow-Timestamp and X-MLflow-Signature headers are all required"
    try:
        sent_at = int(timestamp)
    except ValueError:
        return "X-MLflow-Timestamp must be whole seconds since 1970"
    if abs(now - sent_at) > TOLERANCE_S:
        return f"X-MLflow-Timestamp is more than {TOLERANCE_S} s from now (an old delivery, or a wrong clock)"
    try:
        signed = f"{delivery_id}.{timestamp}.{body.decode('utf-8')}".encode()
    except UnicodeDecodeError:
        return "the body is not UTF-8"
    expected = base64.b64encode(hmac.new(secret.encode(), signed, hashlib.sha256).digest()).decode()
    # Several space-separated signatures may be sent (a secret being rotated): one match is enough.
    for candidate in signature.split():
        version, _, value = candidate.partition(",")
        if version == SIGNATURE_VERSION and hmac.compare_digest(value.encode(), expected.encode()):
            return None
    return "X-MLflow-Signature does not match the body signed with LOUPE_REGISTRY_WEBHOOK_SECRET"


async def registry_events(request: Request) -> Response:
    state: ServerState = request.app.state.loupe
    settings = state.settings
    if settings.registry_webhook_secret is None:
        return _answer(404, "registry events are off: set LOUPE_REGISTRY_WEBHOOK_SECRET to receive them")
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        return _answer(413, f"an event body is at most {MAX_BODY_BYTES:,} bytes")
    problem = signature_problem(
        secret=settings.registry_webhook_secret.get_secret_value(),
        delivery_id=request.headers.get(DELIVERY_HEADER),
        timestamp=request.headers.get(TIMESTAMP_HEADER),
        body=body,
        signature=request.headers.get(SIGNATURE_HEADER),
        now=time.time(),
    )
    if problem is not None:
        return _answer(401, problem)
    try:
        event = json.loads(body)
        entity, action = str(event["entity"]), str(event["action"])
        model_name, alias = event["data"]["name"], event["data"].get("alias")
        delivered_at = str(event.get("timestamp") or "")
    except (ValueError, KeyError, TypeError):
        return _answer(400, "the event must be JSON with 'entity', 'action' and 'data.name'")
    if entity not in LEDGER_ENTITIES or not isinstance(model_name, str) or not model_name:
        return Response(dumps({"recorded": 0, "ignored": f"{entity}.{action}"}), media_type=CONTENT_JSON)
    reported = (alias, event_reason(f"{entity}.{action}", delivered_at)) if isinstance(alias, str) else None
    try:
        recorded = await run_in_threadpool(_record, settings, state, model_name=model_name, reported=reported)
    except LoupeError as error:
        # 503: MLflow retries the delivery (and the next read of the ledger records the change regardless).
        logger.warning("registry event %s.%s for %s not recorded: %s", entity, action, model_name, error)
        return _answer(503, f"not recorded now: {error}")
    return Response(dumps({"recorded": recorded}), media_type=CONTENT_JSON)


def _record(settings: Settings, state: ServerState, *, model_name: str, reported: tuple[str, str] | None) -> int:
    model_settings = settings.model_copy(update={"model_name": model_name})
    return len(sync_external_changes(model_settings, sessions=state.sessions, reported=reported))


def _answer(status: int, message: str) -> Response:
    return Response(dumps(error_body(message)), status_code=status, media_type=CONTENT_JSON)
