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


# --- Experiments page: run search, experiment list, registering a run's model -------------------


class InvalidSearchFilter(ValueError):
    """MLflow rejected a run search filter; ``reason`` is MLflow's one-line explanation."""

    def __init__(self, filter_string: str, reason: str) -> None:
        super().__init__(f"{reason} (filter: {filter_string})")
        self.filter_string = filter_string
        self.reason = reason


@dataclass(frozen=True)
class ExperimentInfo:
    """An active MLflow experiment."""

    experiment_id: str
    name: str


@dataclass(frozen=True)
class RunRecord:
    """One run as the search returned it: no further call is needed to show it."""

    run_id: str
    run_name: str
    experiment_id: str
    status: str
    start_ms: int | None
    end_ms: int | None
    params: dict[str, str]
    metrics: dict[str, float]
    tags: dict[str, str]
    model_ids: tuple[str, ...]  # MLflow 3 logged models this run produced


@dataclass(frozen=True)
class RunSearch:
    """The runs matching a search, newest first; ``truncated`` when more matched than the limit."""

    runs: list[RunRecord]
    truncated: bool


def list_experiments(settings: Settings) -> list[ExperimentInfo]:
    """Every active experiment, by name."""
    from mlflow.entities import ViewType

    mlflow_client = client(settings)
    experiments: list[ExperimentInfo] = []
    page_token: str | None = None
    with unavailable_as_error(settings):
        while True:
            page = mlflow_client.search_experiments(
                view_type=ViewType.ACTIVE_ONLY, max_results=1000, page_token=page_token
            )
            experiments += [ExperimentInfo(experiment.experiment_id, experiment.name) for experiment in page]
            page_token = page.token
            if not page_token:
                break
    return sorted(experiments, key=lambda experiment: experiment.name.lower())


def search_runs(
    settings: Settings, *, experiment_id: str, filter_string: str = "", limit: int = 10_000, page_size: int = 1_000
) -> RunSearch:
    """Active runs of one experiment with params, metrics, tags and logged models, a page per call.

    An invalid ``filter_string`` raises :class:`InvalidSearchFilter` with MLflow's reason.
    """
    from mlflow.entities import ViewType

    mlflow_client = client(settings)
    records: list[RunRecord] = []
    page_token: str | None = None
    try:
        with unavailable_as_error(settings):
            while len(records) < limit:
                page = mlflow_client.search_runs(
                    [experiment_id],
                    filter_string=filter_string,
                    run_view_type=ViewType.ACTIVE_ONLY,
                    max_results=min(page_size, limit - len(records)),
                    order_by=["attributes.start_time DESC"],
                    page_token=page_token,
                )
                records += [_run_record(run) for run in page]
                page_token = page.token
                if not page_token:
                    break
    except MlflowException as error:
        if filter_string and error.error_code in {"INVALID_PARAMETER_VALUE", "BAD_REQUEST"}:
            # Over REST the message carries the code as a prefix; the local store's does not.
            reason = _first_line(error).removeprefix(f"{error.error_code}: ")
            raise InvalidSearchFilter(filter_string, reason) from error
        raise
    return RunSearch(runs=records, truncated=bool(page_token))


def _run_record(run: mlflow.entities.Run) -> RunRecord:
    outputs = run.outputs.model_outputs if run.outputs is not None else []
    return RunRecord(
        run_id=run.info.run_id,
        run_name=run.info.run_name or run.info.run_id[:8],
        experiment_id=run.info.experiment_id,
        status=run.info.status,
        start_ms=run.info.start_time,
        end_ms=run.info.end_time,
        params=run.data.params,
        metrics=run.data.metrics,
        tags=run.data.tags,
        model_ids=tuple(output.model_id for output in outputs),
    )


def versions_by_run(settings: Settings, *, name: str | None = None) -> dict[str, list[int]]:
    """Registered versions of the model keyed by source run id, from one (paged) search."""
    mlflow_client = client(settings)
    by_run: dict[str, list[int]] = {}
    page_token: str | None = None
    with unavailable_as_error(settings):
        while True:
            page = mlflow_client.search_model_versions(
                f"name = '{name or settings.model_name}'", max_results=10_000, page_token=page_token
            )
            for version in page:
                if version.run_id:
                    by_run.setdefault(version.run_id, []).append(int(version.version))
            page_token = page.token
            if not page_token:
                break
    return {run_id: sorted(versions) for run_id, versions in by_run.items()}


def logged_model_uri(settings: Settings, *, run_id: str) -> str | None:
    """``models:/<model_id>`` of the model a run logged, or ``None`` for a run with params and metrics only.

    MLflow 3 records each ``log_model`` as a run output; with several, the one of the latest step wins.
    """
    mlflow_client = client(settings)
    with unavailable_as_error(settings):
        run = mlflow_client.get_run(run_id)
    outputs = run.outputs.model_outputs if run.outputs is not None else []
    if not outputs:
        return None
    return f"models:/{max(outputs, key=lambda output: output.step).model_id}"


def register_model_version(
    settings: Settings, *, model_uri: str, tags: dict[str, str] | None = None, name: str | None = None
) -> int:
    """Register ``model_uri`` as a new version of the model (created if missing); returns the version."""
    configure(settings)
    with unavailable_as_error(settings):
        registered = mlflow.register_model(model_uri, name or settings.model_name, tags=tags)
    return int(registered.version)


def load_json_artifact_if_present(settings: Settings, *, run_id: str, artifact_path: str) -> dict | None:
    """A run's JSON artifact, parsed, or ``None`` when the run has no such artifact."""
    mlflow_client = client(settings)
    folder = artifact_path.rpartition("/")[0] or None
    with unavailable_as_error(settings):
        present = any(artifact.path == artifact_path for artifact in mlflow_client.list_artifacts(run_id, folder))
    if not present:
        return None
    return load_json_artifact(settings, run_id=run_id, artifact_path=artifact_path)


# --- Serving (Predict page): cheap alias resolution, local model copies -------------------------


@dataclass(frozen=True)
class LocalModel:
    """A model loaded from a local copy: the object to call ``predict`` on and what describes it."""

    model: object
    flavor: str  # "sklearn" (called directly) or "pyfunc"
    signature_inputs: list[dict] | None
    run_id: str | None


def resolve_alias(settings: Settings, *, alias: str, name: str | None = None) -> tuple[int, str | None] | None:
    """``(version, run_id)`` the alias points to, in one registry call; ``None`` if the alias does not exist."""
    mlflow_client = client(settings)
    with unavailable_as_error(settings):
        try:
            version = mlflow_client.get_model_version_by_alias(name or settings.model_name, alias)
        except MlflowException as error:
            if error.error_code in {"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"}:
                return None
            raise
    return int(version.version), version.run_id


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


def download_model_version(settings: Settings, *, version: int, destination: Path, name: str | None = None) -> Path:
    """Copy a registered version's model files into ``destination`` (which must not exist yet)."""
    configure(settings)
    destination.mkdir(parents=True)
    with unavailable_as_error(settings):
        path = mlflow.artifacts.download_artifacts(
            artifact_uri=f"models:/{name or settings.model_name}/{version}",
            dst_path=str(destination),
            tracking_uri=settings.tracking_uri,
            registry_uri=settings.tracking_uri,
        )
    return Path(path)


def load_local_model(path: Path) -> LocalModel:
    """Load a model folder: scikit-learn models natively (fast ``predict``), anything else as pyfunc."""
    from mlflow.models import Model

    metadata = Model.load(str(path))
    signature = metadata.signature
    inputs = signature.inputs.to_dict() if signature is not None and signature.inputs is not None else None
    if "sklearn" in metadata.flavors:
        return LocalModel(mlflow.sklearn.load_model(str(path)), "sklearn", inputs, metadata.run_id)
    return LocalModel(mlflow.pyfunc.load_model(str(path)), "pyfunc", inputs, metadata.run_id)
