"""``POST /invocations``: resolve the alias → read the body → validate every row → answer → log → shadow.

The hot path (one row) stays on the event loop: the alias resolution on a local registry is a header
read, validation is plain Python, the answer comes from the compiled record path, and the only wait
is for the group commit (:mod:`core.server.log_writer`) that makes the answer's ids real. Bigger
bodies are scored in a worker thread so one 100k-row request does not stall the one-row ones.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from core.errors import LoupeError, first_line
from core.server.protocol import (
    CONTENT_JSON,
    ProtocolError,
    Rows,
    dumps,
    error_body,
    header_text,
    mlflow_predictions,
    predictions_body,
    problems_error,
    read_rows,
    request_token,
)
from core.server.shadowing import ShadowJob
from core.server.state import ServerState
from core.serving.answers import Answers
from core.serving.input_fields import Problem
from core.serving.model_cache import Resolution, ServingError, serve
from core.serving.served_model import ServedModel
from storage.base import utcnow

# Up to this many rows a body is scored on the event loop; more go to a worker thread.
INLINE_MAX_ROWS = 16


@dataclass(frozen=True)
class Scored:
    """A body's rows scored, or refused (``problems``) with nothing scored."""

    answers: Answers | None
    features: list[dict[str, Any]]
    ood_fields: list[str]
    problems: list[Problem] | None = None  # one record's problems
    problem_rows: pd.DataFrame | None = None  # a frame's problems: row, field, rule, message


def score_rows(served: ServedModel, rows: Rows) -> Scored:
    """Validate every row with the served version's schema; if all pass, its answers."""
    if rows.records is not None and len(rows.records) == 1:
        check = served.schema.validate_record(rows.records[0])
        if not check.accepted:
            return Scored(answers=None, features=[], ood_fields=[], problems=list(check.problems))
        values = check.values or {}
        return Scored(answers=served.answer_record(values), features=[values], ood_fields=[",".join(check.ood_fields)])
    frame = rows.as_frame(served.schema)
    checked = served.schema.validate_frame(frame)
    if len(checked.problems):
        return Scored(answers=None, features=[], ood_fields=[], problem_rows=checked.problems)
    clean = checked.clean.astype(object).where(checked.clean.notna(), None)
    return Scored(
        answers=served.answer_rows(checked.clean), features=clean.to_dict("records"), ood_fields=checked.ood_fields
    )


def _json(payload: Mapping[str, Any] | bytes, status: int, headers: dict[str, str] | None = None) -> Response:
    content = payload if isinstance(payload, bytes) else dumps(payload)
    return Response(content=content, status_code=status, media_type=CONTENT_JSON, headers=headers)


def _base_headers(request_id: str, served: ServedModel | None, resolution: Resolution | None) -> dict[str, str]:
    headers = {"X-Request-Id": request_id}
    if served is not None:
        headers["X-Loupe-Model-Version"] = str(served.version)
    if resolution is not None:
        headers["X-Loupe-Alias"] = resolution.alias
        if resolution.from_cache:
            headers["X-Loupe-Served-From-Cache"] = "true"
        if resolution.notice:
            headers["X-Loupe-Notice"] = header_text(resolution.notice)
    return headers


async def invocations(request: Request) -> Response:
    state: ServerState = request.app.state.loupe
    settings = state.settings
    try:
        request_id = request_token(request.headers.get("x-request-id"), what="X-Request-Id") or uuid.uuid4().hex
    except ProtocolError as error:
        return _json(error_body(str(error)), error.status)
    try:
        alias = (
            request_token(request.query_params.get("alias") or request.headers.get("x-loupe-alias"), what="the alias")
            or "champion"
        )
        if settings.tracking_is_local:
            served, resolution = state.model_for(alias)
        else:  # a registry over HTTP is asked on each request: not on the event loop
            served, resolution = await run_in_threadpool(serve, settings, alias=alias)
    except ProtocolError as error:
        return _json(error_body(str(error)), error.status, {"X-Request-Id": request_id})
    except (ServingError, LoupeError) as error:
        return _json(
            error_body(first_line(error, limit=1000), code="SERVICE_UNAVAILABLE"), 503, {"X-Request-Id": request_id}
        )
    headers = _base_headers(request_id, served, resolution)
    try:
        rows = read_rows(await request.body(), request.headers.get("content-type"), schema=served.schema)
        started = time.perf_counter()
        if len(rows) <= INLINE_MAX_ROWS:
            scored = score_rows(served, rows)
        else:
            scored = await run_in_threadpool(score_rows, served, rows)
        latency_ms = (time.perf_counter() - started) * 1000 / len(rows)
    except ProtocolError as error:
        return _json(error_body(str(error)), error.status, headers)
    except LoupeError as error:  # the model's own failure, said in a sentence naming the version
        return _json(error_body(first_line(error, limit=1000), code="INTERNAL_ERROR"), 500, headers)

    now = utcnow()
    if scored.answers is None:
        problems = _all_problems(scored)
        body = problems_error(problems, rows=len(rows))
        rejections = [
            {
                "created_at": now,
                "model_name": settings.model_name,
                "model_version": served.version,
                "source": "server",
                "request_id": request_id,
                "row_number": problem["row"],
                "field": problem["field"],
                "rule": problem["rule"],
                "message": problem["message"],
            }
            for problem in problems
        ]
        await asyncio.wrap_future(state.writer.submit(rejections=rejections))
        return _json(body, 400, headers)

    answers = scored.answers
    records = [
        {
            "created_at": now,
            "model_name": settings.model_name,
            "model_version": served.version,
            "alias": alias,
            **answer,
            "latency_ms": latency_ms,
            "source": "server",
            "request_id": request_id,
            "is_ood": bool(ood),
            "ood_fields": ood or None,
            "is_shadow": False,
            "shadow_of": None,
        }
        for answer, ood in zip(answers.log_columns(), scored.ood_fields, strict=True)
    ]
    try:
        ids = await asyncio.wrap_future(state.writer.submit(records=records, features=scored.features))
    except Exception as error:  # an answer that cannot be logged is not given: every answer is a logged one
        return _json(error_body(str(error), code="INTERNAL_ERROR"), 500, headers)
    probabilities = None
    if answers.probabilities is not None:
        names = answers.class_texts
        probabilities = [
            {name: float(p) for name, p in zip(names, row, strict=True)} for row in answers.probabilities.tolist()
        ]
    headers["X-Loupe-Prediction-Ids"] = ",".join(map(str, ids))
    shadow = None
    if state.shadow is not None:
        job = ShadowJob(
            rows=scored.features, ids=ids, answer_version=served.version, request_id=request_id, created_at=now
        )
        shadow = BackgroundTask(_hand_over, state, job)
    content = predictions_body(
        mlflow_predictions(answers, predict_method=served.predict_method),
        ids=ids,
        version=served.version,
        labels=None if answers.labels is None else answers.labels.tolist(),
        probabilities=probabilities,
    )
    return Response(content=content, media_type=CONTENT_JSON, headers=headers, background=shadow)


async def _hand_over(state: ServerState, job: ShadowJob) -> None:
    # Runs once the response is sent; an async task so it stays on the loop (a queue put, no thread hop).
    if state.shadow is not None:
        state.shadow.submit(job)


def _all_problems(scored: Scored) -> list[dict[str, Any]]:
    if scored.problems is not None:
        return [
            {"row": problem.row, "field": problem.field, "rule": problem.rule, "message": problem.message}
            for problem in scored.problems
        ]
    frame = scored.problem_rows
    if frame is None:
        return []
    return [
        {"row": int(row), "field": str(field), "rule": str(rule), "message": str(message)}
        for row, field, rule, message in frame[["row", "field", "rule", "message"]].itertuples(index=False)
    ]
