"""All of Loupe's MLflow access: tracking, registry and artifacts, behind one small module.

Every call is bounded: HTTP retries and timeouts are set from the settings before the first
request, so a dead tracking server fails in seconds with :class:`RegistryUnavailable`.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

import mlflow
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from core.profile import PROFILE_ARTIFACT, TrainingProfile
from core.settings import Settings, mask_url

ESTIMATOR_TAG = "loupe.estimator"
# Errors that are the store's answer to a valid request, not a sign that it is unreachable.
ANSWERED_ERROR_CODES = frozenset(
    {"RESOURCE_DOES_NOT_EXIST", "RESOURCE_ALREADY_EXISTS", "INVALID_PARAMETER_VALUE", "BAD_REQUEST", "INVALID_STATE"}
)


class RegistryUnavailable(RuntimeError):
    """The tracking server or registry could not be reached or answered with an error."""


@dataclass(frozen=True)
class VersionInfo:
    """One registered model version, with what Loupe shows about it."""

    name: str
    version: int
    run_id: str | None
    source: str
    created_at: datetime
    aliases: tuple[str, ...]
    tags: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)

    @property
    def estimator(self) -> str:
        return self.tags.get(ESTIMATOR_TAG) or self.params.get("estimator", "unknown")


def configure(settings: Settings) -> None:
    """Point MLflow at the configured stores and bound its HTTP retries. Safe to call repeatedly."""
    # MLflow reads these on every request; without them a dead server is retried for minutes.
    os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = str(settings.mlflow_max_retries)
    os.environ["MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR"] = "1"  # an integer, in seconds
    os.environ["MLFLOW_HTTP_REQUEST_BACKOFF_JITTER"] = "0"
    os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] = str(int(max(1, settings.mlflow_timeout_s)))
    if settings.tracking_is_local:
        settings.ensure_home()
    mlflow.set_tracking_uri(settings.tracking_uri)
    mlflow.set_registry_uri(settings.tracking_uri)


def client(settings: Settings) -> MlflowClient:
    """A client for the configured tracking server and registry."""
    configure(settings)
    return MlflowClient(tracking_uri=settings.tracking_uri, registry_uri=settings.tracking_uri)


@contextmanager
def unavailable_as_error(settings: Settings) -> Iterator[None]:
    """Turn connection failures and server errors into :class:`RegistryUnavailable` with a clear message."""
    try:
        yield
    except MlflowException as error:
        if error.error_code in ANSWERED_ERROR_CODES:
            raise  # the store answered: the caller decides what "not found" or "invalid" means

        raise RegistryUnavailable(
            f"MLflow at {mask_url(settings.tracking_uri)} is unreachable or failing: {_first_line(error)}"
        ) from error
    except OSError as error:  # requests' ConnectionError and timeouts derive from OSError
        raise RegistryUnavailable(
            f"MLflow at {mask_url(settings.tracking_uri)} is unreachable: {_first_line(error)}"
        ) from error


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0][:300] if text else type(error).__name__


def ensure_experiment(settings: Settings) -> str:
    """The id of Loupe's experiment, created (with artifacts under ``LOUPE_HOME`` when local) if missing."""
    mlflow_client = client(settings)
    with unavailable_as_error(settings):
        experiment = mlflow_client.get_experiment_by_name(settings.experiment_name)
        if experiment is not None:
            return experiment.experiment_id
        artifact_location = settings.artifact_root.as_uri() if settings.tracking_is_local else None
        return mlflow_client.create_experiment(settings.experiment_name, artifact_location=artifact_location)


def _version_info(mlflow_client: MlflowClient, version: ModelVersion) -> VersionInfo:
    metrics: dict[str, float] = {}
    params: dict[str, str] = {}
    if version.run_id:
        try:
            run = mlflow_client.get_run(version.run_id)
            metrics, params = dict(run.data.metrics), dict(run.data.params)
        except MlflowException as error:  # the run was deleted; the version still exists
            if error.error_code != "RESOURCE_DOES_NOT_EXIST":
                raise
    return VersionInfo(
        name=version.name,
        version=int(version.version),
        run_id=version.run_id,
        source=version.source,
        created_at=datetime.fromtimestamp(version.creation_timestamp / 1000, tz=UTC),
        aliases=tuple(sorted(version.aliases or ())),
        tags=dict(version.tags or {}),
        metrics=metrics,
        params=params,
    )


def list_versions(settings: Settings, *, name: str | None = None) -> list[VersionInfo]:
    """Every version of the model, newest first, with its run's metrics and params."""
    name = name or settings.model_name
    mlflow_client = client(settings)
    with unavailable_as_error(settings):
        versions = mlflow_client.search_model_versions(f"name = '{name}'")
        if not versions:
            return []
        # Search results leave aliases out; the registered model lists them all in one call.
        aliases_by_version: dict[int, list[str]] = {}
        for alias, version in alias_map(settings, name=name).items():
            aliases_by_version.setdefault(version, []).append(alias)
        infos = [
            replace(
                _version_info(mlflow_client, version),
                aliases=tuple(sorted(aliases_by_version.get(int(version.version), []))),
            )
            for version in versions
        ]
    return sorted(infos, key=lambda info: info.version, reverse=True)


def alias_map(settings: Settings, *, name: str | None = None) -> dict[str, int]:
    """Every alias of the model and the version it points to (empty if the model does not exist)."""
    mlflow_client = client(settings)
    with unavailable_as_error(settings):
        try:
            model = mlflow_client.get_registered_model(name or settings.model_name)
        except MlflowException as error:
            if error.error_code == "RESOURCE_DOES_NOT_EXIST":
                return {}
            raise
    return {alias: int(version) for alias, version in (model.aliases or {}).items()}


def version_for_alias(settings: Settings, *, alias: str, name: str | None = None) -> VersionInfo | None:
    """The version an alias points to, or ``None`` if the alias (or the model) does not exist."""
    name = name or settings.model_name
    mlflow_client = client(settings)
    with unavailable_as_error(settings):
        try:
            version = mlflow_client.get_model_version_by_alias(name, alias)
        except MlflowException as error:
            if error.error_code in {"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"}:
                return None
            raise
        return _version_info(mlflow_client, version)


def get_version(settings: Settings, *, version: int, name: str | None = None) -> VersionInfo:
    """One version by number."""
    name = name or settings.model_name
    mlflow_client = client(settings)
    with unavailable_as_error(settings):
        return _version_info(mlflow_client, mlflow_client.get_model_version(name, str(version)))


def set_alias(settings: Settings, *, alias: str, version: int, name: str | None = None) -> None:
    """Point ``alias`` at ``version``."""
    mlflow_client = client(settings)
    with unavailable_as_error(settings):
        mlflow_client.set_registered_model_alias(name or settings.model_name, alias, str(version))


def delete_alias(settings: Settings, *, alias: str, name: str | None = None) -> None:
    """Remove ``alias`` from the model."""
    mlflow_client = client(settings)
    with unavailable_as_error(settings):
        mlflow_client.delete_registered_model_alias(name or settings.model_name, alias)


def set_version_tag(settings: Settings, *, version: int, key: str, value: str, name: str | None = None) -> None:
    """Set a tag on one model version."""
    mlflow_client = client(settings)
    with unavailable_as_error(settings):
        mlflow_client.set_model_version_tag(name or settings.model_name, str(version), key, value)


def has_any_version(settings: Settings, *, name: str | None = None) -> bool:
    """Whether the registry holds at least one version of the model."""
    mlflow_client = client(settings)
    with unavailable_as_error(settings):
        return bool(mlflow_client.search_model_versions(f"name = '{name or settings.model_name}'", max_results=1))


def check_reachable(settings: Settings) -> str | None:
    """``None`` when the tracking store answers, else a one-line reason."""
    try:
        mlflow_client = client(settings)
        with unavailable_as_error(settings):
            mlflow_client.search_experiments(max_results=1)
    except RegistryUnavailable as error:
        return str(error)
    return None


def load_profile(settings: Settings, *, run_id: str) -> TrainingProfile:
    """The training profile logged with a run."""
    configure(settings)
    with unavailable_as_error(settings), tempfile.TemporaryDirectory() as folder:
        path = mlflow.artifacts.download_artifacts(
            run_id=run_id, artifact_path=PROFILE_ARTIFACT, dst_path=folder, tracking_uri=settings.tracking_uri
        )
        return TrainingProfile.load(Path(path))


def load_json_artifact(settings: Settings, *, run_id: str, artifact_path: str) -> dict:
    """A JSON artifact of a run, parsed."""
    configure(settings)
    with unavailable_as_error(settings), tempfile.TemporaryDirectory() as folder:
        path = mlflow.artifacts.download_artifacts(
            run_id=run_id, artifact_path=artifact_path, dst_path=folder, tracking_uri=settings.tracking_uri
        )
        return json.loads(Path(path).read_text())


def input_schema(settings: Settings, *, version: int, name: str | None = None) -> list[dict] | None:
    """The version's model-signature inputs as ``[{"name", "type", ...}]``, or ``None`` if it has no signature."""
    source = get_version(settings, version=version, name=name).source
    with unavailable_as_error(settings):
        signature = mlflow.models.get_model_info(source).signature
    if signature is None or signature.inputs is None:
        return None
    return signature.inputs.to_dict()
