"""Alias → version on every request, each version loaded once, and local copies that outlive the registry.

- The alias is resolved on each request; a local SQLite registry is only re-queried when it has
  committed something since the last resolution (:func:`core.mlflow_io.registry_change_token`).
- Models are cached by version, never by alias, and copied under ``settings.model_cache_dir`` with
  their training profile, so with the registry unreachable — even after a restart — the last version
  served for an alias keeps answering, with the notice "registry unreachable — serving cached vN".
"""

from __future__ import annotations

import json
import shutil
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, replace
from pathlib import Path

from core import mlflow_io
from core.errors import ArtifactMissing, LoupeError
from core.mlflow_io import RegistryUnavailable
from core.profile import PROFILE_ARTIFACT, TrainingProfile
from core.serving.compiled_pipeline import compile_verified
from core.serving.input_schema import build_schema
from core.serving.served_model import ServedModel
from core.settings import Settings
from storage.base import utcnow

MODELS_KEPT_IN_MEMORY = 6


# After a failed registry call, serve from the cache for this long before asking again: a dead
# server would otherwise cost every request its connection timeout.
REGISTRY_RETRY_AFTER_S = 15.0


META_FILE = "loupe_version.json"


class ServingError(LoupeError):
    """Nothing can answer: no version holds the alias, or the registry is down and nothing is cached."""


@dataclass(frozen=True)
class Resolution:
    """Which version answers for an alias, and whether the registry was consulted."""

    alias: str
    version: int
    run_id: str | None
    from_cache: bool
    notice: str | None = None


_lock = threading.RLock()


_models: OrderedDict[tuple[str, str, int], ServedModel] = OrderedDict()


_resolutions: dict[tuple[str, str, str], tuple[bytes, int, str | None]] = {}


_registry_down_until: dict[str, float] = {}


_pointers: dict[tuple[str, str, str], tuple[int, str | None]] = {}  # what this process last wrote to disk


def _model_folder(settings: Settings) -> Path:
    return settings.model_cache_dir / settings.model_name.replace("/", "_")


def _pointer(settings: Settings, alias: str) -> Path:
    return _model_folder(settings) / f"alias-{alias}.json"


def _read_pointer(settings: Settings, alias: str) -> tuple[int, str | None] | None:
    try:
        payload = json.loads(_pointer(settings, alias).read_text())
        return int(payload["version"]), payload.get("run_id")
    except (OSError, ValueError, KeyError):
        return None


def _write_pointer(settings: Settings, alias: str, version: int, run_id: str | None) -> None:
    pointer = _pointer(settings, alias)
    pointer.parent.mkdir(parents=True, exist_ok=True)
    temporary = pointer.with_suffix(".tmp")
    temporary.write_text(json.dumps({"version": version, "run_id": run_id, "saved_at": utcnow().isoformat()}))
    temporary.replace(pointer)  # atomic: a reader never sees half a pointer


def resolve(settings: Settings, *, alias: str) -> Resolution:
    """The version ``alias`` points to now; with the registry unreachable, the last one served here."""
    key = (settings.tracking_uri, settings.model_name, alias)
    token = mlflow_io.registry_change_token(settings)
    remembered = _resolutions.get(key)
    if token is not None and remembered is not None and remembered[0] == token:
        return Resolution(alias, remembered[1], remembered[2], from_cache=False)
    if time.monotonic() < _registry_down_until.get(settings.tracking_uri, 0.0):
        return _cached_resolution(settings, alias, reason="registry unreachable")
    try:
        found = mlflow_io.resolve_alias(settings, alias=alias)
    except RegistryUnavailable as error:
        _registry_down_until[settings.tracking_uri] = time.monotonic() + REGISTRY_RETRY_AFTER_S
        return _cached_resolution(settings, alias, reason="registry unreachable", detail=str(error))
    _registry_down_until.pop(settings.tracking_uri, None)
    if found is None:
        raise ServingError(
            f"no version of {settings.model_name} holds the alias '{alias}' — point it at a version on the "
            f"Registry page, or with: python -m core promote --version N --alias {alias} --reason '…'"
        )
    version, run_id = found
    if token is not None:
        _resolutions[key] = (token, version, run_id)
    return Resolution(alias, version, run_id, from_cache=False)


def _cached_resolution(settings: Settings, alias: str, *, reason: str, detail: str | None = None) -> Resolution:
    pointer = _read_pointer(settings, alias)
    if pointer is None:
        raise ServingError(
            f"{reason} and no version for '{alias}' was ever loaded here, so there is nothing to serve"
            + (f" ({detail})" if detail else "")
        )
    version, run_id = pointer
    return Resolution(alias, version, run_id, from_cache=True, notice=f"{reason} — serving cached v{version}")


def load_version(settings: Settings, *, version: int, run_id: str | None, offline: bool = False) -> ServedModel:
    """The model for ``version``, loaded once per process; copied under the model cache on first use."""
    key = (str(settings.model_cache_dir), settings.model_name, version)
    with _lock:
        served = _models.get(key)
        if served is not None and (run_id is None or served.run_id in (None, run_id)):
            _models.move_to_end(key)
            return served
        served = _load(settings, version=version, run_id=run_id, offline=offline)
        _models[key] = served
        while len(_models) > MODELS_KEPT_IN_MEMORY:
            _models.popitem(last=False)
        return served


def _load(settings: Settings, *, version: int, run_id: str | None, offline: bool) -> ServedModel:
    folder = _model_folder(settings) / f"v{version}"
    meta = _read_meta(folder)
    stale = meta is not None and run_id is not None and meta.get("run_id") not in (None, run_id)
    if meta is None or stale:
        if offline:
            raise ServingError(f"version {version} is not in the local model cache and the registry is unreachable")
        _copy_version(settings, version=version, run_id=run_id, folder=folder)
        meta = _read_meta(folder) or {}
    local = mlflow_io.load_local_model(folder / "model")
    profile_path = folder / PROFILE_ARTIFACT
    profile = TrainingProfile.load(profile_path) if profile_path.exists() else None
    schema = build_schema(local.signature_inputs, profile)
    served = ServedModel(
        name=settings.model_name,
        version=version,
        run_id=meta.get("run_id") or local.run_id,
        flavor=local.flavor,
        model=local.model,
        predict_method=local.predict_method,
        schema=schema,
        path=folder,
    )
    if not (settings.compile_models and local.flavor == "sklearn" and local.predict_method == "predict"):
        return served
    compiled, scoring_path = compile_verified(local.model, served.model_input(schema.probe_frame()))
    return replace(served, compiled=compiled, scoring_path=scoring_path)


def _read_meta(folder: Path) -> dict | None:
    try:
        return json.loads((folder / META_FILE).read_text())
    except (OSError, ValueError):
        return None


def _copy_version(settings: Settings, *, version: int, run_id: str | None, folder: Path) -> None:
    # Download next to the final place, then rename: a crash never leaves a half copy that looks whole.
    staging = folder.with_name(f".{folder.name}-{uuid.uuid4().hex[:8]}")
    try:
        mlflow_io.download_model_version(settings, version=version, destination=staging / "model")
        run_id = run_id or mlflow_io.load_local_model(staging / "model").run_id
        if run_id:
            try:
                profile = mlflow_io.load_profile(settings, run_id=run_id)
                (staging / PROFILE_ARTIFACT).write_text(profile.to_json())
            except (ArtifactMissing, ValueError, KeyError):
                pass  # a model logged without (or with an unreadable) profile still serves, with signature-only checks
        (staging / META_FILE).write_text(
            json.dumps({"name": settings.model_name, "version": version, "run_id": run_id})
        )
        if folder.exists():
            shutil.rmtree(folder)
        staging.replace(folder)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def serve(settings: Settings, *, alias: str = "champion") -> tuple[ServedModel, Resolution]:
    """The model answering for ``alias`` right now (resolved, loaded, its local copy remembered)."""
    resolution = resolve(settings, alias=alias)
    served = load_version(settings, version=resolution.version, run_id=resolution.run_id, offline=resolution.from_cache)
    pointer_key = (str(settings.model_cache_dir), settings.model_name, alias)
    if not resolution.from_cache and _pointers.get(pointer_key) != (served.version, served.run_id):
        _write_pointer(settings, alias, served.version, served.run_id)
        _pointers[pointer_key] = (served.version, served.run_id)
    return served, resolution


def clear_memory_caches() -> None:
    """Forget loaded models and resolutions (what a process restart does; the disk copies stay)."""
    with _lock:
        _models.clear()
        _resolutions.clear()
        _registry_down_until.clear()
        _pointers.clear()
