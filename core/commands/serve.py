"""``python -m core serve``."""

from __future__ import annotations

import argparse

HELP = (
    "Serve the model over HTTP with MLflow's scoring protocol (POST /invocations), every request logged; "
    "POST /feedback takes true values."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default=None, help="address to listen on (default: LOUPE_SERVER_HOST, 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help="port (default: LOUPE_SERVER_PORT, 5050)")
    parser.add_argument("--workers", type=int, default=None, help="worker processes (default: LOUPE_SERVER_WORKERS, 1)")


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from core.commands._console import fail, progress
    from core.settings import get_settings

    settings = get_settings()
    host = args.host or settings.server_host
    port = settings.server_port if args.port is None else args.port
    workers = settings.server_workers if args.workers is None else args.workers
    if not 1 <= port <= 65535:
        return fail(f"--port must be between 1 and 65535; got {port}")
    if workers < 1:
        return fail(f"--workers must be at least 1; got {workers}")
    progress(
        f"serving {settings.model_name} on http://{host}:{port} with {workers} worker(s): "
        "POST /invocations, POST /feedback, GET /ping"
    )
    # Each worker process builds its own app (and its own log writer) through the factory.
    uvicorn.run(
        "core.server.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        access_log=False,
        log_level="warning",
    )
    return 0
