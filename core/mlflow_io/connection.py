"""MLflow set up once per process, one client per store, and MLflow's errors turned into Loupe's.

Every MLflow call is bounded: HTTP retries and timeouts are set from the settings before the first
request, so a dead tracking server fails in seconds with :class:`RegistryUnavailable` instead of
MLflow's default of retrying for about four minutes.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from core.errors import LoupeError, RegistryRefused, RegistryUnavailable, VersionNotFound, first_line
from core.settings import Settings, mask_url

NOT_FOUND = "RESOURCE_DOES_NOT_EXIST"
# Errors that are the store's answer to a valid connection, not a sign that it is unreachable.
REFUSED_CODES = frozenset({"RESOURCE_ALREADY_EXISTS", "INVALID_PARAMETER_VALUE", "BAD_REQUEST", "INVALID_STATE"})

_lock = threading.Lock()
_configured: tuple[str, int, int] | None = None
_clients: dict[str, MlflowClient] = {}


def _http_settings(settings: Settings) -> dict[str, str]:
    return {
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": str(settings.mlflow_max_retries),
        "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",  # an integer, in seconds
        "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "0",
        "MLFLOW_HTTP_REQUEST_TIMEOUT": str(int(max(1, settings.mlflow_timeout_s))),
    }


def configure(settings: Settings) -> None:
    """Point MLflow at the configured stores and bound its HTTP retries; does the work once per configuration.

    MLflow reads its HTTP limits only from environment variables, on every request, so they are
    exported here (the one place Loupe writes ``MLFLOW_*`` variables). A cheap check repeats the work
    if someone else changed them since.
    """
    global _configured
    key = (settings.tracking_uri, settings.mlflow_max_retries, int(max(1, settings.mlflow_timeout_s)))
    limits = _http_settings(settings)
    if _configured == key and _still_configured(settings, limits):
        return
    with _lock:
        os.environ.update(limits)
        if settings.tracking_is_local:
            settings.ensure_home()
        mlflow.set_tracking_uri(settings.tracking_uri)
        mlflow.set_registry_uri(settings.tracking_uri)
        _configured = key


def _still_configured(settings: Settings, limits: dict[str, str]) -> bool:
    return mlflow.get_tracking_uri() == settings.tracking_uri and all(
        os.environ.get(name) == value for name, value in limits.items()
    )


def client(settings: Settings) -> MlflowClient:
    """The client for the configured tracking server and registry (one per store and process)."""
    configure(settings)
    found = _clients.get(settings.tracking_uri)
    if found is None:
        found = _clients[settings.tracking_uri] = MlflowClient(
            tracking_uri=settings.tracking_uri, registry_uri=settings.tracking_uri
        )
    return found


def where(settings: Settings) -> str:
    """The tracking store as shown in messages (password masked)."""
    return f"MLflow at {mask_url(settings.tracking_uri)}"


@contextmanager
def mlflow_errors(settings: Settings, *, not_found: LoupeError | None = None) -> Iterator[None]:
    """Raise Loupe's errors for MLflow's: not found, refused, or unreachable — never ``MlflowException``.

    ``not_found`` is the error to raise when MLflow says the thing does not exist (default: a
    :class:`VersionNotFound` with MLflow's own sentence).
    """
    try:
        yield
    except MlflowException as error:
        if error.error_code == NOT_FOUND:
            raise (not_found or VersionNotFound(first_line(error))) from error
        if error.error_code in REFUSED_CODES:
            raise RegistryRefused(f"{where(settings)} refused the request: {first_line(error)}") from error
        raise RegistryUnavailable(f"{where(settings)} is unreachable or failing: {first_line(error)}") from error
    except OSError as error:  # requests' ConnectionError and timeouts derive from OSError
        raise RegistryUnavailable(f"{where(settings)} is unreachable: {first_line(error)}") from error


def is_missing(error: MlflowException) -> bool:
    """Whether MLflow's error means "no such model, version or alias" (the local store says it two ways)."""
    return error.error_code in {NOT_FOUND, "INVALID_PARAMETER_VALUE"}
