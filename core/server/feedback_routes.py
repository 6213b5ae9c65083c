"""``POST /feedback``: true values for answers the server (or anything else) logged.

Body: ``{"prediction_id": 12, "actual": 410.5}`` or ``{"feedback": [{"prediction_id": …, "actual": …}, …]}``
(a classifier's true class as ``actual``). Each value is checked by the same rules as a feedback file
(:func:`core.serving.feedback.store_truths`); shadow rows are refused (their truth is their answer's),
and an id given twice in one body is refused every time it appears, so nothing ambiguous is stored; an id
beyond 64 bits, or a value outside the target's plausible range or sign, is refused with its reason.
The answer counts what was stored, unknown and refused, with a reason per refusal.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from core.server.auth import require_write_token
from core.server.protocol import CONTENT_JSON, ProtocolError, dumps, error_body
from core.server.state import ServerState
from core.serving.feedback import registry_profiles, store_truths

# One body carries at most this many values: a bigger upload goes through ``python -m core feedback``.
MAX_ITEMS = 10_000
REFUSALS_SHOWN = 50

router = APIRouter()


@router.post("/feedback", dependencies=[Depends(require_write_token)])
async def feedback(request: Request) -> Response:
    state: ServerState = request.app.state.loupe
    try:
        items = parse_feedback_body(await request.body())
    except ProtocolError as error:
        return Response(dumps(error_body(str(error))), status_code=error.status, media_type=CONTENT_JSON)
    result = await run_in_threadpool(store_feedback, state, items)
    return Response(dumps(result), media_type=CONTENT_JSON)


def parse_feedback_body(body: bytes) -> list[tuple[int, int, str]]:
    """``(item number, prediction id, true value as text)`` per item; :class:`ProtocolError` names the field."""
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError) as error:
        raise ProtocolError(f"the body is not valid JSON: {error}") from None
    if isinstance(payload, dict) and "feedback" in payload:
        raw_items, where = payload["feedback"], "feedback"
        if not isinstance(raw_items, list) or not raw_items:
            raise ProtocolError('feedback must be a non-empty list of {"prediction_id": …, "actual": …}')
    elif isinstance(payload, dict):
        raw_items, where = [payload], ""
    else:
        raise ProtocolError('the body must be {"prediction_id": …, "actual": …} or {"feedback": [...]}')
    if len(raw_items) > MAX_ITEMS:
        raise ProtocolError(
            f"feedback holds {len(raw_items):,} items, over {MAX_ITEMS:,} per request; split it, or use "
            "python -m core feedback --input FILE"
        )
    items = []
    for number, item in enumerate(raw_items, start=1):
        prefix = f"{where}[{number - 1}]." if where else ""
        if not isinstance(item, dict):
            raise ProtocolError(f'{where}[{number - 1}] must be an object {{"prediction_id": …, "actual": …}}')
        identifier = item.get("prediction_id")
        if isinstance(identifier, bool) or not isinstance(identifier, int | str):
            raise ProtocolError(f"{prefix}prediction_id must be a whole number")
        try:
            prediction_id = int(identifier)
        except ValueError:
            raise ProtocolError(f"{prefix}prediction_id must be a whole number; got {str(identifier)[:80]!r}") from None
        if "actual" not in item:
            raise ProtocolError(f"{prefix}actual is missing")
        actual = item["actual"]
        if actual is not None and not isinstance(actual, int | float | str | bool):
            raise ProtocolError(f"{prefix}actual must be a number or a class, not {type(actual).__name__}")
        items.append((number, prediction_id, "" if actual is None else str(actual).strip()))
    return items


def store_feedback(state: ServerState, items: list[tuple[int, int, str]]) -> dict[str, Any]:
    """Check and store in one transaction (the rules of :func:`core.serving.feedback.store_truths`)."""
    result = store_truths(items, sessions=state.sessions, profiles=registry_profiles(state.settings))
    ids = {number: prediction_id for number, prediction_id, _ in items}
    refused = [
        {"item": int(number), "prediction_id": ids[int(number)], "field": field, "reason": message}
        for number, field, message in result.rejected.itertuples(index=False, name=None)
    ]
    return {
        "stored": result.stored,
        "unknown": len(result.unknown_ids),
        "refused": len(refused),
        "unknown_ids": result.unknown_ids[:REFUSALS_SHOWN],
        "refusals": refused[:REFUSALS_SHOWN],
    }
