"""MLflow set up once per process, one client per store, and MLflow's errors turned into Loupe's.

Every MLflow call is bounded: HTTP retries and timeouts are set from the settings before the first
request, so a dead tracking server fails in seconds with :class:`RegistryUnavailable` instead of
MLflow's default of retrying for about four minutes.

Against a tracking *server* two more bounds hold, because a hung server (accepting connections,
never answering) otherwise costs a timeout per attempt per call — a page making three reads took
15 s: the quick metadata reads (versions, aliases, runs) answer within ``mlflow_timeout_s`` in all,
retries included, and once the server failed, calls for the next :data:`REMEMBER_DOWN_S` seconds
fail at once with the same reason instead of each waiting out its own timeout.
"""

from __future__ import annotations

import contextvars
import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import contextmanager
from typing import Any, TypeVar

import mlflow
from mlflow.exceptions import MlflowException, RestException
from mlflow.tracking import MlflowClient

from core.errors import LoupeError, RegistryRefused, RegistryUnavailable, VersionNotFound, first_line
from core.settings import Settings, mask_url

NOT_FOUND = "RESOURCE_DOES_NOT_EXIST"
# Errors that are the store's answer to a valid connection, not a sign that it is unreachable.
REFUSED_CODES = frozenset({"RESOURCE_ALREADY_EXISTS", "INVALID_PARAMETER_VALUE", "BAD_REQUEST", "INVALID_STATE"})

# How long a tracking server that just failed is taken as down: long enough that one page (or one
# batch of requests) waits for it once, short enough that its return shows within seconds.
REMEMBER_DOWN_S = 10.0

_lock = threading.Lock()
_configured: tuple[str, int, int] | None = None
_clients: dict[str, MlflowClient] = {}
_down: dict[str, tuple[float, str]] = {}  # tracking URI -> (monotonic time it is asked again, the failure)
_T = TypeVar("_T")


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


def is_remote(tracking_uri: str) -> bool:
    """Whether the store is a tracking server reached over HTTP (not a local database or folder)."""
    return tracking_uri.split(":", 1)[0].lower() in {"http", "https"}


class _BoundedClient(MlflowClient):
    """A client whose quick metadata reads give up after ``deadline_s`` in all, retries included.

    MLflow's HTTP timeout bounds one attempt, and it retries a read that timed out: against a hung
    server one read took twice the timeout. Writes and artifact transfers are left to MLflow's own
    timeout (they can legitimately take long).
    """

    def __init__(self, *, tracking_uri: str, deadline_s: float) -> None:
        super().__init__(tracking_uri=tracking_uri, registry_uri=tracking_uri)
        self._deadline_s = deadline_s

    def _bounded(self, call: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
        context = contextvars.copy_context()  # MLflow keeps some state in context variables
        future: Future[_T] = Future()

        def read() -> None:
            try:
                future.set_result(context.run(call, *args, **kwargs))
            except BaseException as error:  # handed to the caller, whatever it is
                future.set_exception(error)

        # A daemon thread per read (a tenth of a millisecond against a request's ten): the caller can stop
        # waiting, and a read left behind on a hung server (ended by MLflow's own timeout) never holds up exit.
        threading.Thread(target=read, name="loupe-mlflow-read", daemon=True).start()
        try:
            return future.result(timeout=self._deadline_s)
        except FutureTimeout:
            # An OSError, as requests' own timeouts: mlflow_errors reports it as unreachable.
            raise TimeoutError(f"no answer within {self._deadline_s:g} s (LOUPE_MLFLOW_TIMEOUT_S)") from None

    def get_registered_model(self, *args: Any, **kwargs: Any) -> Any:
        return self._bounded(super().get_registered_model, *args, **kwargs)

    def search_registered_models(self, *args: Any, **kwargs: Any) -> Any:
        return self._bounded(super().search_registered_models, *args, **kwargs)

    def search_model_versions(self, *args: Any, **kwargs: Any) -> Any:
        return self._bounded(super().search_model_versions, *args, **kwargs)

    def get_model_version(self, *args: Any, **kwargs: Any) -> Any:
        return self._bounded(super().get_model_version, *args, **kwargs)

    def get_model_version_by_alias(self, *args: Any, **kwargs: Any) -> Any:
        return self._bounded(super().get_model_version_by_alias, *args, **kwargs)

    def get_run(self, *args: Any, **kwargs: Any) -> Any:
        return self._bounded(super().get_run, *args, **kwargs)

    def search_experiments(self, *args: Any, **kwargs: Any) -> Any:
        return self._bounded(super().search_experiments, *args, **kwargs)


def client(settings: Settings) -> MlflowClient:
    """The client for the configured tracking server and registry (one per store and process)."""
    configure(settings)
    found = _clients.get(settings.tracking_uri)
    if found is None:
        found = _clients[settings.tracking_uri] = (
            _BoundedClient(tracking_uri=settings.tracking_uri, deadline_s=settings.mlflow_timeout_s)
            if is_remote(settings.tracking_uri)
            else MlflowClient(tracking_uri=settings.tracking_uri, registry_uri=settings.tracking_uri)
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

    A tracking server that could not be reached (no answer, a refused connection, a timeout, a
    gateway's 5xx after retries) less than :data:`REMEMBER_DOWN_S` ago is not asked again: the same
    reason is raised at once. An error the server itself answered is never remembered.
    """
    remote = is_remote(settings.tracking_uri)
    if remote:
        until, reason = _down.get(settings.tracking_uri, (0.0, ""))
        if time.monotonic() < until:
            raise RegistryUnavailable(reason)
    try:
        yield
    except MlflowException as error:
        if error.error_code == NOT_FOUND:
            raise (not_found or VersionNotFound(first_line(error))) from error
        if error.error_code in REFUSED_CODES:
            raise RegistryRefused(f"{where(settings)} refused the request: {first_line(error)}") from error
        # A RestException is the server's own answer (it is up): only a failure to get one is remembered.
        raise _remember_down(
            settings,
            remote and not isinstance(error, RestException),
            f"{where(settings)} is unreachable or failing: {first_line(error)}",
        ) from error
    except OSError as error:  # requests' ConnectionError and timeouts derive from OSError
        raise _remember_down(settings, remote, f"{where(settings)} is unreachable: {first_line(error)}") from error
    if remote:
        _down.pop(settings.tracking_uri, None)


def _remember_down(settings: Settings, remember: bool, reason: str) -> RegistryUnavailable:
    if remember:
        _down[settings.tracking_uri] = (time.monotonic() + REMEMBER_DOWN_S, reason)
    return RegistryUnavailable(reason)


def is_missing(error: MlflowException) -> bool:
    """Whether MLflow's error means "no such model, version or alias" (the local store says it two ways)."""
    return error.error_code in {NOT_FOUND, "INVALID_PARAMETER_VALUE"}
