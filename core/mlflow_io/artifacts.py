"""Artifacts: training profiles, JSON artifacts, model signatures and local copies of model versions."""

from __future__ import annotations

import hashlib
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow

from core.errors import ArtifactMissing
from core.mlflow_io.connection import client, configure, mlflow_errors
from core.mlflow_io.registry import REFERENCE_TAG, get_version, set_version_tag
from core.mlflow_io.runs import ensure_experiment
from core.profile import PROFILE_ARTIFACT, TrainingProfile
from core.settings import Settings

HOLDOUT_ARTIFACT = "holdout_predictions.json"  # a sample of holdout answers Loupe's training logs


@dataclass(frozen=True)
class LocalModel:
    """A model loaded from a local copy: the object to call and what describes it."""

    model: Any
    flavor: str  # "sklearn" (its own method called directly) or "pyfunc" (``predict`` as MLflow serves it)
    signature_inputs: list[dict] | None
    run_id: str | None
    predict_method: str = "predict"  # the method MLflow's pyfunc calls (``pyfunc_predict_fn`` when logged)
    output_name: str | None = None  # the signature's name for the answer, when it has one
    signature_outputs: list[dict] | None = None  # the signature's outputs as MLflow writes them, if any


def _download(settings: Settings, *, run_id: str, artifact_path: str, folder: str) -> Path:
    configure(settings)
    missing = ArtifactMissing(f"run {run_id} has no artifact {artifact_path}")
    with mlflow_errors(settings, not_found=missing):
        try:
            path = mlflow.artifacts.download_artifacts(
                run_id=run_id, artifact_path=artifact_path, dst_path=folder, tracking_uri=settings.tracking_uri
            )
        except FileNotFoundError as error:  # a local artifact store says "missing" with the OS's error
            raise missing from error
    return Path(path)


def load_profile(settings: Settings, *, run_id: str) -> TrainingProfile:
    """The training profile logged with a run (:class:`ArtifactMissing` when it has none)."""
    with tempfile.TemporaryDirectory() as folder:
        return TrainingProfile.load(_download(settings, run_id=run_id, artifact_path=PROFILE_ARTIFACT, folder=folder))


def load_version_profile(
    settings: Settings, *, run_id: str | None, reference_run: str | None
) -> TrainingProfile | None:
    """A version's reference profile: the one attached to it (``reference_run``), else its own run's.

    ``None`` when neither holds one (a team's model logged without Loupe); an unreadable profile is an error.
    """
    for source in (reference_run, run_id):
        if source:
            try:
                return load_profile(settings, run_id=source)
            except ArtifactMissing:
                continue
    return None


def attach_reference_profile(settings: Settings, *, version: int, profile: TrainingProfile, note: str) -> str:
    """Store ``profile`` as ``version``'s reference: a run of Loupe's experiment holds it, a version tag names it.

    The team's own training run is never written to. Returns the reference run's id.
    """
    experiment_id = ensure_experiment(settings)
    configure(settings)
    with (
        mlflow_errors(settings),
        mlflow.start_run(experiment_id=experiment_id, run_name=f"reference {settings.model_name} v{version}") as run,
    ):
        mlflow.set_tags({"loupe.reference_for": f"{settings.model_name}/{version}", "mlflow.note.content": note})
        mlflow.log_text(profile.to_json(), PROFILE_ARTIFACT)
        run_id = run.info.run_id
    set_version_tag(settings, version=version, key=REFERENCE_TAG, value=run_id)
    return run_id


def logged_dataset_file(settings: Settings, *, run_id: str, destination: Path) -> tuple[Path, str] | None:
    """A copy of a run's logged dataset input held in a local file (training context first), and its name.

    ``None`` when the run logged no dataset, or none whose source is a local file Loupe can read
    (no network is ever used to fetch one).
    """
    from mlflow.data import get_source
    from mlflow.data.filesystem_dataset_source import FileSystemDatasetSource

    with mlflow_errors(settings):
        run = client(settings).get_run(run_id)
    inputs = list(run.inputs.dataset_inputs) if run.inputs is not None else []

    def context(item: Any) -> str:
        return next((tag.value for tag in item.tags if tag.key == "mlflow.data.context"), "")

    for item in sorted(inputs, key=lambda item: context(item) not in ("train", "training")):
        if item.dataset.source_type != "local":
            continue
        try:
            source = get_source(item)
            if not isinstance(source, FileSystemDatasetSource):
                continue
            path = Path(source.load(dst_path=str(destination)))
        except Exception:  # a source that moved or cannot be read: try the next one
            continue
        if path.is_file():
            return path, item.dataset.name
    return None


def input_example(settings: Settings, *, version: int, name: str | None = None) -> Any | None:
    """The input example logged with a version's model (a few rows at most), or ``None``."""
    from mlflow.models import Model

    with tempfile.TemporaryDirectory() as folder:
        path = download_model_version(settings, version=version, destination=Path(folder) / "model", name=name)
        try:
            return Model.load(str(path)).load_input_example(str(path))
        except Exception:  # an example MLflow cannot read back is no example
            return None


def load_json_artifact(settings: Settings, *, run_id: str, artifact_path: str) -> Any:
    """A JSON artifact of a run, parsed."""
    with tempfile.TemporaryDirectory() as folder:
        return json.loads(_download(settings, run_id=run_id, artifact_path=artifact_path, folder=folder).read_text())


def load_json_artifact_if_present(settings: Settings, *, run_id: str, artifact_path: str) -> Any | None:
    """A run's JSON artifact, parsed, or ``None`` when the run has no such artifact."""
    folder = artifact_path.rpartition("/")[0] or None
    with mlflow_errors(settings):
        present = any(artifact.path == artifact_path for artifact in client(settings).list_artifacts(run_id, folder))
    if not present:
        return None
    return load_json_artifact(settings, run_id=run_id, artifact_path=artifact_path)


def input_schema(settings: Settings, *, version: int, name: str | None = None) -> list[dict] | None:
    """The version's model-signature inputs as ``[{"name", "type", ...}]``, or ``None`` if it has no signature.

    :class:`ArtifactMissing` when the version's model files cannot be read (deleted from the store).
    """
    source = get_version(settings, version=version, name=name).source
    missing = ArtifactMissing(f"version {version}'s model cannot be read from {source}")
    with mlflow_errors(settings, not_found=missing):
        try:
            signature = mlflow.models.get_model_info(source).signature
        except FileNotFoundError as error:
            raise missing from error
    if signature is None or signature.inputs is None:
        return None
    return signature.inputs.to_dict()


def download_model_version(settings: Settings, *, version: int, destination: Path, name: str | None = None) -> Path:
    """Copy a registered version's model files into ``destination`` (which must not exist yet)."""
    configure(settings)
    destination.mkdir(parents=True)
    model = name or settings.model_name
    missing = ArtifactMissing(f"version {version} of {model} has no model files to download")
    with mlflow_errors(settings, not_found=missing):
        try:
            path = mlflow.artifacts.download_artifacts(
                artifact_uri=f"models:/{model}/{version}",
                dst_path=str(destination),
                tracking_uri=settings.tracking_uri,
                registry_uri=settings.tracking_uri,
            )
        except FileNotFoundError as error:
            raise missing from error
    return Path(path)


def folder_digest(folder: Path) -> str:
    """SHA-256 over a model folder's files (relative paths and contents, in path order).

    What a version's digest means: the same files, byte for byte, under the same names.
    """
    digest = hashlib.sha256()
    for path in sorted(item for item in folder.rglob("*") if item.is_file()):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
        with path.open("rb") as content:
            for block in iter(lambda: content.read(1 << 20), b""):
                digest.update(block)
        digest.update(b"\0")
    return digest.hexdigest()


def version_digest(settings: Settings, *, version: int, name: str | None = None) -> str:
    """The digest of a registered version's model files as the registry holds them now (downloaded to hash)."""
    with tempfile.TemporaryDirectory(prefix="loupe-digest-") as scratch:
        folder = download_model_version(settings, version=version, destination=Path(scratch) / "model", name=name)
        return folder_digest(folder)


def load_local_model(path: Path) -> LocalModel:
    """Load a model folder the way its MLmodel file says MLflow would serve it.

    A scikit-learn model is loaded natively (no pyfunc wrapper on the answering path) and called with
    the method its ``python_function`` flavor names (``pyfunc_predict_fn`` at logging time, e.g.
    ``predict_proba``); anything else, or a scikit-learn model without a ``python_function`` flavor
    naming a method it has, is loaded as pyfunc.
    """
    from mlflow.models import Model

    metadata = Model.load(str(path))
    signature = metadata.signature
    inputs = signature.inputs.to_dict() if signature is not None and signature.inputs is not None else None
    method = str((metadata.flavors.get("python_function") or {}).get("predict_fn") or "predict")
    outputs = signature.outputs.to_dict() if signature is not None and signature.outputs is not None else []
    output_name = next((str(column["name"]) for column in outputs if column.get("name")), None)
    if "sklearn" in metadata.flavors:
        model = mlflow.sklearn.load_model(str(path))
        if callable(getattr(model, method, None)):
            return LocalModel(
                model,
                "sklearn",
                inputs,
                metadata.run_id,
                predict_method=method,
                output_name=output_name,
                signature_outputs=outputs or None,
            )
    return LocalModel(
        mlflow.pyfunc.load_model(str(path)),
        "pyfunc",
        inputs,
        metadata.run_id,
        output_name=output_name,
        signature_outputs=outputs or None,
    )
