"""The model registry: versions, aliases and tags of the console's model."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from core.errors import RegistryUnavailable, VersionNotFound
from core.mlflow_io.connection import client, is_missing, mlflow_errors
from core.settings import Settings
from core.task import TASK_TAG

ESTIMATOR_TAG = "loupe.estimator"
# A version tag naming the run that holds the version's reference profile (attached with `core reference`).
REFERENCE_TAG = "loupe.reference_run"
# A version tag giving the unit of its answers (e.g. USD): currency is shown only where a version says so.
UNIT_TAG = "loupe.unit"
# The digest of a version's model files when Loupe last moved an alias to it: a copy that differs is not served.
DIGEST_TAG = "loupe.artifact_digest"


@dataclass(frozen=True)
class AliasTarget:
    """What an alias points to, as one registry call tells: the version, its run and its reference run."""

    version: int
    run_id: str | None
    reference_run: str | None = None
    unit: str | None = None
    task_tag: str | None = None  # the version's ``loupe.task`` tag, for a model that cannot tell its task
    artifact_digest: str | None = None  # the version's ``loupe.artifact_digest`` tag: its files when promoted


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

    @property
    def unit(self) -> str | None:
        """The unit of the version's answers (its ``loupe.unit`` tag), or ``None`` when it says nothing."""
        return self.tags.get(UNIT_TAG) or None


def _version_info(mlflow_client: MlflowClient, version: ModelVersion) -> VersionInfo:
    metrics: dict[str, float] = {}
    params: dict[str, str] = {}
    if version.run_id:
        try:
            run = mlflow_client.get_run(version.run_id)
            metrics, params = dict(run.data.metrics), dict(run.data.params)
        except MlflowException as error:  # the run was deleted; the version still exists
            if not is_missing(error):
                raise
    return VersionInfo(
        name=version.name,
        version=int(version.version),
        run_id=version.run_id,
        source=version.source or "",
        created_at=datetime.fromtimestamp(version.creation_timestamp / 1000, tz=UTC),
        aliases=tuple(sorted(version.aliases or ())),
        tags=dict(version.tags or {}),
        metrics=metrics,
        params=params,
    )


def _name(settings: Settings, name: str | None) -> str:
    return name or settings.model_name


def _missing_version(settings: Settings, version: int, name: str | None) -> VersionNotFound:
    return VersionNotFound(f"version {version} of {_name(settings, name)} does not exist")


def list_versions(settings: Settings, *, name: str | None = None) -> list[VersionInfo]:
    """Every version of the model, newest first, with its run's metrics and params."""
    mlflow_client = client(settings)
    with mlflow_errors(settings):
        versions = mlflow_client.search_model_versions(f"name = '{_name(settings, name)}'")
        if not versions:
            return []
        # Search results leave aliases out; the registered model lists them all in one call.
        aliases_by_version: dict[int, list[str]] = {}
        for alias, number in alias_map(settings, name=name).items():
            aliases_by_version.setdefault(number, []).append(alias)
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
    with mlflow_errors(settings):
        try:
            model = mlflow_client.get_registered_model(_name(settings, name))
        except MlflowException as error:
            if is_missing(error):
                return {}
            raise
    return {alias: int(version) for alias, version in (model.aliases or {}).items()}


def _by_alias(settings: Settings, alias: str, name: str | None) -> ModelVersion | None:
    with mlflow_errors(settings):
        try:
            return client(settings).get_model_version_by_alias(_name(settings, name), alias)
        except MlflowException as error:
            if is_missing(error):
                return None
            raise


def version_for_alias(settings: Settings, *, alias: str, name: str | None = None) -> VersionInfo | None:
    """The version an alias points to, or ``None`` if the alias (or the model) does not exist."""
    version = _by_alias(settings, alias, name)
    if version is None:
        return None
    with mlflow_errors(settings):
        return _version_info(client(settings), version)


def resolve_alias(settings: Settings, *, alias: str, name: str | None = None) -> AliasTarget | None:
    """What the alias points to, in one registry call; ``None`` if the alias does not exist."""
    version = _by_alias(settings, alias, name)
    if version is None:
        return None
    tags = version.tags or {}
    return AliasTarget(
        version=int(version.version),
        run_id=version.run_id,
        reference_run=tags.get(REFERENCE_TAG),
        unit=tags.get(UNIT_TAG),
        task_tag=tags.get(TASK_TAG),
        artifact_digest=tags.get(DIGEST_TAG),
    )


def get_version(settings: Settings, *, version: int, name: str | None = None) -> VersionInfo:
    """One version by number, or :class:`VersionNotFound`."""
    mlflow_client = client(settings)
    with mlflow_errors(settings, not_found=_missing_version(settings, version, name)):
        try:
            found = mlflow_client.get_model_version(_name(settings, name), str(version))
        except MlflowException as error:
            if is_missing(error):
                raise _missing_version(settings, version, name) from error
            raise
        return _version_info(mlflow_client, found)


def set_alias(settings: Settings, *, alias: str, version: int, name: str | None = None) -> None:
    """Point ``alias`` at ``version``."""
    with mlflow_errors(settings, not_found=_missing_version(settings, version, name)):
        client(settings).set_registered_model_alias(_name(settings, name), alias, str(version))


def delete_alias(settings: Settings, *, alias: str, name: str | None = None) -> None:
    """Remove ``alias`` from the model."""
    with mlflow_errors(settings):
        client(settings).delete_registered_model_alias(_name(settings, name), alias)


def set_version_tag(settings: Settings, *, version: int, key: str, value: str, name: str | None = None) -> None:
    """Set a tag on one model version."""
    with mlflow_errors(settings, not_found=_missing_version(settings, version, name)):
        client(settings).set_model_version_tag(_name(settings, name), str(version), key, value)


def registered_model_names(settings: Settings, *, limit: int = 1000) -> list[str]:
    """Names of the registered models in the registry (every model, not only the console's), sorted."""
    names: list[str] = []
    page_token: str | None = None
    with mlflow_errors(settings):
        while len(names) < limit:
            page = client(settings).search_registered_models(max_results=min(1000, limit), page_token=page_token)
            names += [model.name for model in page]
            page_token = page.token
            if not page_token:
                break
    return sorted(names)


def has_any_version(settings: Settings, *, name: str | None = None) -> bool:
    """Whether the registry holds at least one version of the model."""
    with mlflow_errors(settings):
        return bool(client(settings).search_model_versions(f"name = '{_name(settings, name)}'", max_results=1))


def versions_by_run(settings: Settings, *, name: str | None = None) -> dict[str, list[int]]:
    """Registered versions of the model keyed by source run id, from one (paged) search."""
    mlflow_client = client(settings)
    by_run: dict[str, list[int]] = {}
    page_token: str | None = None
    with mlflow_errors(settings):
        while True:
            page = mlflow_client.search_model_versions(
                f"name = '{_name(settings, name)}'", max_results=10_000, page_token=page_token
            )
            for version in page:
                if version.run_id:
                    by_run.setdefault(version.run_id, []).append(int(version.version))
            page_token = page.token
            if not page_token:
                break
    return {run_id: sorted(versions) for run_id, versions in by_run.items()}


def registrations_of_run(settings: Settings, *, run_id: str) -> list[tuple[str, int]]:
    """Every (model name, version) registered from a run, in any model of the registry."""
    with mlflow_errors(settings):
        found = client(settings).search_model_versions(f"run_id = '{run_id}'")
    return sorted((version.name, int(version.version)) for version in found)


def register_model_version(
    settings: Settings, *, model_uri: str, tags: dict[str, str] | None = None, name: str | None = None
) -> int:
    """Register ``model_uri`` as a new version of the model (created if missing); returns the version."""
    import mlflow

    client(settings)  # configures MLflow for the module-level call below
    with mlflow_errors(settings):
        registered = mlflow.register_model(model_uri, _name(settings, name), tags=tags)
    return int(registered.version)


def check_reachable(settings: Settings) -> str | None:
    """``None`` when the tracking store answers, else a one-line reason."""
    try:
        with mlflow_errors(settings):
            client(settings).search_experiments(max_results=1)
    except RegistryUnavailable as error:
        return str(error)
    return None


def registry_change_token(settings: Settings) -> bytes | None:
    """A token that changes whenever a local SQLite registry commits anything; ``None`` when not knowable.

    SQLite bumps the "file change counter" in the database header (bytes 24-27) on every commit in
    rollback-journal mode, which MLflow uses. Reading it costs microseconds against milliseconds for a
    registry query, so serving can skip re-resolving an alias while nothing was written. Remote stores
    and WAL-mode files (whose header lags behind commits) return ``None``: resolve every time.
    """
    uri = settings.tracking_uri
    if not uri.startswith("sqlite:///"):
        return None
    path = Path(uri.removeprefix("sqlite:///").split("?", 1)[0]).expanduser().resolve()
    wal = path.with_name(path.name + "-wal")
    try:
        if wal.exists() and wal.stat().st_size > 0:
            return None
        with path.open("rb") as handle:
            header = handle.read(100)
        status = path.stat()
    except OSError:
        return None
    if len(header) < 100 or header[18] == 2:  # byte 18 == 2: WAL mode
        return None
    return header[24:28] + status.st_size.to_bytes(8, "little") + status.st_mtime_ns.to_bytes(8, "little")
