"""The scoring server's application: ``create_app()`` for uvicorn (``python -m core serve``).

Each worker process builds its own app: it migrates the log (serialised across processes), starts
its group-commit writer and shadow thread, loads the champion before the first request, and, when
the retention module is present, runs the hourly maintenance (roll-up refresh and pruning, which
takes its own lock so one process at a time does the work) and the alert cycle (messages when an
alert fires or clears, :mod:`core.monitoring.incidents`).

Routes: ``POST /invocations`` (MLflow's protocol, :mod:`core.server.invocations`), ``GET /ping``,
``/health``, ``/version`` (as MLflow's server answers them), ``POST /feedback``
(:mod:`core.server.feedback_routes`), ``POST /predictions`` (predictions made elsewhere,
:mod:`core.server.ingest_routes`) and ``POST /registry-events`` (the tracking server's signed webhook,
:mod:`core.server.registry_events`).
"""

from __future__ import annotations

import gc
import importlib.util
import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError, version

from fastapi import FastAPI
from starlette.responses import Response

from core.server.feedback_routes import router as feedback_router
from core.server.invocations import invocations
from core.server.log_writer import LogWriter
from core.server.registry_events import registry_events
from core.server.shadowing import ShadowScorer
from core.server.state import ServerState
from core.serving.shadow import SHADOW_ALIAS
from core.settings import Settings, get_settings
from storage.db import Sessions, make_engine, make_sessionmaker, migrate

MAINTENANCE_EVERY_S = 3600.0
RETENTION_MODULE = "core.monitoring.retention"

logger = logging.getLogger("loupe.server")


def create_app(settings: Settings | None = None) -> FastAPI:
    """The app of one worker process (uvicorn's factory); nothing starts until its lifespan begins."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = _start(settings)
        app.state.loupe = state
        stop_maintenance = _start_maintenance(state)
        try:
            yield
        finally:
            stop_maintenance.set()
            if state.shadow is not None:
                state.shadow.stop()
            state.writer.stop()
            state.engine.dispose()

    app = FastAPI(title="Loupe scoring server", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.settings = settings  # read by core.server.auth.require_write_token
    # A plain Starlette route: no FastAPI body parsing or validation on the hot path.
    app.add_route("/invocations", invocations, methods=["POST"])
    app.add_route("/ping", _ping, methods=["GET"])
    app.add_route("/health", _ping, methods=["GET"])
    app.add_route("/version", _version, methods=["GET"])
    app.add_route("/registry-events", registry_events, methods=["POST"])
    app.include_router(feedback_router)
    if importlib.util.find_spec("core.server.ingest_routes") is not None:
        from core.server.ingest_routes import router as ingest_router

        app.include_router(ingest_router)
    return app


def _start(settings: Settings) -> ServerState:
    settings.ensure_home()
    engine = make_engine(settings.database_url)
    migrate(engine)
    sessions = make_sessionmaker(engine)
    writer = LogWriter(sessions)
    writer.start()
    state = ServerState(settings=settings, engine=engine, sessions=sessions, writer=writer, shadow=None)
    if settings.shadow:
        state.shadow = ShadowScorer(settings, writer, model_for=state.model_for)
        state.shadow.start()
    # Load the champion (and the challenger that shadows it) now: a load holds the model cache's lock for
    # seconds, and the first requests must not queue behind it.
    for alias in ("champion", SHADOW_ALIAS) if state.shadow is not None else ("champion",):
        try:
            served, resolution = state.model_for(alias)
            logger.warning("%s: %s v%s (%s)", alias, settings.model_name, served.version, served.scoring_path)
            if resolution.notice:
                logger.warning(resolution.notice)
        except Exception as error:  # requests will say why, one by one; the server still starts
            logger.warning("%s not loaded at start: %s", alias, error)
    # Everything loaded so far (MLflow, scikit-learn, the models) lives as long as the process: out of the
    # collector's sight, a full collection no longer walks it, which would stall answers for tens of ms.
    gc.collect()
    gc.freeze()
    return state


def _start_maintenance(state: ServerState) -> threading.Event:
    """:func:`hourly_maintenance` every hour in a daemon thread."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(MAINTENANCE_EVERY_S):
            hourly_maintenance(state.settings, sessions=state.sessions)

    threading.Thread(target=loop, name="loupe-maintenance", daemon=True).start()
    return stop


def hourly_maintenance(settings: Settings, *, sessions: Sessions) -> None:
    """Roll-up refresh and pruning (when the retention module exists), then one alert cycle: incidents opened
    or resolved and their messages delivered (:mod:`core.monitoring.incidents`; the alert lock lets one
    worker at a time do it). Failures are logged: maintenance must never take the answering process down."""
    if importlib.util.find_spec(RETENTION_MODULE) is not None:
        try:
            importlib.import_module(RETENTION_MODULE).maintain(settings, sessions=sessions)
        except Exception:
            logger.exception("hourly maintenance failed")
    try:
        from core.monitoring.incidents import watch_cycle

        for line in watch_cycle(settings, sessions=sessions).failed:
            logger.warning("alert not delivered (tried again next hour): %s", line)
    except Exception:
        logger.exception("hourly alert cycle failed")


async def _ping(request: object) -> Response:
    # As MLflow's server answers: 200 and a newline once the process is up.
    return Response(content="\n", media_type="application/json")


async def _version(request: object) -> Response:
    # MLflow's server answers its MLflow version; clients may check it against theirs.
    try:
        answer = version("mlflow")
    except PackageNotFoundError:
        answer = "unknown"
    return Response(content=answer, media_type="application/json")
