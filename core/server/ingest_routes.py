"""``POST /predictions``: predictions a team made with its own serving, stored like ``python -m core ingest``.

Body::

    {"model_name": "…" (optional, default LOUPE_MODEL_NAME),
     "predictions": [{"id": "…", "timestamp": "2026-11-30T14:05:00Z", "model_version": 3,
                      "features": {…}, "prediction": …, "probabilities": {class: p} (optional),
                      "actual": … (optional)}]}

A body that is not that shape is a 400 naming the field (nothing stored). Otherwise each prediction goes
through the same checks and store as a file's rows (:func:`core.ingest.service.ingest_frames`): 200 with
the counts (stored, already stored, rejected) and the first refusals with row, field and rule.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pandas as pd
from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from core.errors import LoupeError, first_line
from core.ingest.columns import ACTUAL, CANONICAL, ID, PREDICTION, TIMESTAMP, VERSION
from core.ingest.service import ingest_frames
from core.server.auth import require_write_token
from core.server.protocol import CONTENT_JSON, ProtocolError, dumps, error_body
from core.server.state import ServerState
from core.task import PROBABILITY_PREFIX

# One body carries at most this many predictions (one chunk): a bigger upload goes through ``ingest``.
MAX_ITEMS = 50_000
SCALARS = (str, int, float, bool)

router = APIRouter()


@router.post("/predictions", dependencies=[Depends(require_write_token)])
async def predictions(request: Request) -> Response:
    state: ServerState = request.app.state.loupe
    try:
        model_name, frame = parse_predictions_body(await request.body())
    except ProtocolError as error:
        return Response(dumps(error_body(str(error))), status_code=error.status, media_type=CONTENT_JSON)
    try:
        result = await run_in_threadpool(
            ingest_frames, state.settings, frames=[frame], sessions=state.sessions, model_name=model_name
        )
    except LoupeError as error:  # the registry cannot say what the versions take: nothing was stored
        body = error_body(first_line(error, limit=1000), code="SERVICE_UNAVAILABLE")
        return Response(dumps(body), status_code=503, media_type=CONTENT_JSON)
    return Response(dumps(result.as_dict()), media_type=CONTENT_JSON)


def parse_predictions_body(body: bytes) -> tuple[str | None, pd.DataFrame]:
    """The model name and the predictions as canonical columns; :class:`ProtocolError` names what is malformed."""
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError) as error:
        raise ProtocolError(f"the body is not valid JSON: {error}") from None
    if not isinstance(payload, dict):
        raise ProtocolError('the body must be an object {"model_name": …, "predictions": [...]}')
    model_name = payload.get("model_name")
    if model_name is not None and (not isinstance(model_name, str) or not model_name.strip()):
        raise ProtocolError("model_name must be a registered model's name (text)")
    items = payload.get("predictions")
    if not isinstance(items, list) or not items:
        raise ProtocolError("predictions must be a non-empty list of objects")
    if len(items) > MAX_ITEMS:
        raise ProtocolError(
            f"predictions holds {len(items):,} items, over {MAX_ITEMS:,} per request; split it, or use "
            "python -m core ingest --input FILE"
        )
    return (model_name.strip() if model_name else None), pd.DataFrame(
        [_row(item, number) for number, item in enumerate(items)]
    )


def _row(item: Any, number: int) -> dict[str, Any]:
    where = f"predictions[{number}]"
    if not isinstance(item, dict):
        raise ProtocolError(f"{where} must be an object")
    row: dict[str, Any] = {}
    for name in (ID, TIMESTAMP, VERSION, PREDICTION, ACTUAL):
        value = item.get(name)
        if value is not None and not isinstance(value, SCALARS):
            raise ProtocolError(f"{where}.{name} must be a single value, not {type(value).__name__}")
        row[name] = _kept_visible(value) if name in (PREDICTION, ACTUAL) else value
    features = item.get("features", {})
    if not isinstance(features, dict):
        raise ProtocolError(f"{where}.features must be an object {{feature: value}}")
    for name, value in features.items():
        if name in CANONICAL or name.startswith(PROBABILITY_PREFIX):
            raise ProtocolError(f"{where}.features.{name}: a feature cannot be named like a canonical column")
        if value is not None and not isinstance(value, SCALARS):
            raise ProtocolError(f"{where}.features.{name} must be a single value, not {type(value).__name__}")
        row[name] = value
    probabilities = item.get("probabilities")
    if probabilities is not None:
        if not isinstance(probabilities, dict):
            raise ProtocolError(f"{where}.probabilities must be an object {{class: probability}}")
        for name, value in probabilities.items():
            if value is not None and (isinstance(value, bool) or not isinstance(value, int | float | str)):
                raise ProtocolError(f"{where}.probabilities.{name} must be a number")
            row[f"{PROBABILITY_PREFIX}{name}"] = _kept_visible(value)
    return row


def _kept_visible(value: Any) -> Any:
    """A JSON ``NaN``/``Infinity`` (Python's parser reads them, and ``1e999`` as infinity) as its text: a float
    NaN in a frame reads as a missing cell, so the row would be refused as "missing", not as not a number."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value
