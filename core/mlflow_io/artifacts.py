"""Artifacts: training profiles, JSON artifacts, model signatures and local copies of model versions."""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow

from core.errors import ArtifactMissing
from core.mlflow_io.connection import client, configure, mlflow_errors
from core.mlflow_io.registry import get_version
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
    if "sklearn" in metadata.flavors:
        model = mlflow.sklearn.load_model(str(path))
        if callable(getattr(model, method, None)):
            return LocalModel(model, "sklearn", inputs, metadata.run_id, predict_method=method)
    return LocalModel(mlflow.pyfunc.load_model(str(path)), "pyfunc", inputs, metadata.run_id)
