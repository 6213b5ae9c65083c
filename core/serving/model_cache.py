"""Alias → version on every request, each version loaded once, and local copies that outlive the registry.

- The alias is resolved on each request; a local SQLite registry is only re-queried when it has
  committed something since the last resolution (:func:`core.mlflow_io.registry_change_token`).
- Models are cached by version and what the copy holds (its run and its reference profile), never by
  alias: a reference attached to a version after it was first loaded is picked up on the next request,
  without deleting anything by hand.
- Copies live under ``settings.model_cache_dir`` with their reference profile, so with the registry
  unreachable — even after a restart — the last version served for an alias keeps answering, with
  the notice "registry unreachable — serving cached vN".
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

import pandas as pd

from core import mlflow_io
from core.errors import InvalidInput, LoupeError
from core.mlflow_io import AliasTarget, RegistryUnavailable
from core.profile import PROFILE_ARTIFACT, TrainingProfile
from core.serving.answers import detect_task, model_classes
from core.serving.compiled_classifier import compile_verified_classifier
from core.serving.compiled_pipeline import compile_verified
from core.serving.input_schema import build_schema
from core.serving.served_model import ServedModel
from core.settings import Settings
from storage.base import utcnow
from storage.file_lock import exclusive

MODELS_KEPT_IN_MEMORY = 6
# After a failed registry call, serve from the cache for this long before asking again: a dead
# server would otherwise cost every request its connection timeout.
REGISTRY_RETRY_AFTER_S = 15.0
META_FILE = "loupe_version.json"
# Each load of a version into a process, one JSON line per load, next to the model's local copies: a
# load's time is its own figure (Monitoring shows it), never part of a request's latency.
LOADS_FILE = "loads.jsonl"
LOADS_KEPT = 200


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
    reference_run: str | None = None  # the run holding an attached reference profile, if any
    unit: str | None = None  # the version's ``loupe.unit`` tag (e.g. USD), for display
    task_tag: str | None = None  # the version's ``loupe.task`` tag, if it has one
    artifact_digest: str | None = None  # the digest of its model files when Loupe last promoted it, if it did


@dataclass(frozen=True)
class ModelLoad:
    """One load of a version into a process: how long it took and whether it was copied from the registry."""

    model_name: str
    version: int
    seconds: float
    loaded_at: str  # ISO 8601, UTC
    copied: bool  # downloaded from the registry first (a first load on this host), not read from the local copy


_lock = threading.RLock()
_models: OrderedDict[tuple[str, str, int], ServedModel] = OrderedDict()
_resolutions: dict[tuple[str, str, str], tuple[bytes, AliasTarget]] = {}
_registry_down_until: dict[str, float] = {}
_pointers: dict[tuple[str, str, str], AliasTarget] = {}  # what this process last wrote to disk


def _model_folder(settings: Settings) -> Path:
    return settings.model_cache_dir / settings.model_name.replace("/", "_")


def _pointer(settings: Settings, alias: str) -> Path:
    return _model_folder(settings) / f"alias-{alias}.json"


def _read_pointer(settings: Settings, alias: str) -> AliasTarget | None:
    try:
        payload = json.loads(_pointer(settings, alias).read_text())
        return AliasTarget(
            int(payload["version"]),
            payload.get("run_id"),
            payload.get("reference_run"),
            payload.get("unit"),
            payload.get("task_tag"),
            payload.get("artifact_digest"),
        )
    except (OSError, ValueError, KeyError):
        return None


def last_served(settings: Settings, *, alias: str) -> tuple[int, str | None] | None:
    """The version this host last served for ``alias`` and when it first did (ISO 8601), from its pointer file.

    What the Home page can still say about an alias when the registry is unreachable.
    """
    pointer = _read_pointer(settings, alias)
    if pointer is None:
        return None
    try:
        saved_at = json.loads(_pointer(settings, alias).read_text()).get("saved_at")
    except (OSError, ValueError):
        saved_at = None
    return pointer.version, saved_at if isinstance(saved_at, str) else None


def _write_json(path: Path, payload: dict) -> None:
    # Written under a unique name and moved into place: a reader never sees half a file.
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}-{uuid.uuid4().hex[:8]}")
    temporary.write_text(json.dumps(payload))
    temporary.replace(path)


def _write_pointer(settings: Settings, alias: str, target: AliasTarget) -> None:
    _write_json(
        _pointer(settings, alias),
        {
            "version": target.version,
            "run_id": target.run_id,
            "reference_run": target.reference_run,
            "unit": target.unit,
            "task_tag": target.task_tag,
            "artifact_digest": target.artifact_digest,
            "saved_at": utcnow().isoformat(),
        },
    )


def resolve(settings: Settings, *, alias: str) -> Resolution:
    """The version ``alias`` points to now; with the registry unreachable, the last one served here."""
    key = (settings.tracking_uri, settings.model_name, alias)
    token = mlflow_io.registry_change_token(settings)
    remembered = _resolutions.get(key)
    if token is not None and remembered is not None and remembered[0] == token:
        return _resolution(alias, remembered[1], from_cache=False)
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
    if token is not None:
        _resolutions[key] = (token, found)
    return _resolution(alias, found, from_cache=False)


def _resolution(alias: str, target: AliasTarget, *, from_cache: bool, notice: str | None = None) -> Resolution:
    return Resolution(
        alias,
        target.version,
        target.run_id,
        from_cache,
        notice,
        target.reference_run,
        target.unit,
        target.task_tag,
        target.artifact_digest,
    )


def _cached_resolution(settings: Settings, alias: str, *, reason: str, detail: str | None = None) -> Resolution:
    pointer = _read_pointer(settings, alias)
    if pointer is None:
        raise ServingError(
            f"{reason} and no version for '{alias}' was ever loaded here, so there is nothing to serve"
            + (f" ({detail})" if detail else "")
        )
    return _resolution(alias, pointer, from_cache=True, notice=f"{reason} — serving cached v{pointer.version}")


def load_version(settings: Settings, *, target: AliasTarget, offline: bool = False) -> ServedModel:
    """The model for ``target.version``, loaded once per process and copied under the model cache on first use.

    A copy made for another run, or before a reference profile was attached (or replaced), is
    refreshed; offline, whatever copy exists serves.
    """
    key = (str(settings.model_cache_dir), settings.model_name, target.version)
    with _lock:
        served = _models.get(key)
        if served is not None and (offline or _holds(served, target)):
            _models.move_to_end(key)
            return served
        started = time.perf_counter()
        copied = _read_meta(_model_folder(settings) / f"v{target.version}") is None
        served = _load(settings, target=target, offline=offline)
        _record_load(settings, target.version, time.perf_counter() - started, copied=copied)
        _models[key] = served
        while len(_models) > MODELS_KEPT_IN_MEMORY:
            _models.popitem(last=False)
        return served


def _record_load(settings: Settings, version: int, seconds: float, *, copied: bool) -> None:
    load = ModelLoad(settings.model_name, version, seconds, utcnow().isoformat(timespec="seconds"), copied)
    try:
        path = _model_folder(settings) / LOADS_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as lines:
            lines.write(json.dumps(load.__dict__) + "\n")
    except OSError:  # a read-only cache must not stop the model from answering
        pass


def model_loads(settings: Settings) -> list[ModelLoad]:
    """The latest loads of this model's versions on this host (newest last), as processes recorded them."""
    try:
        lines = (_model_folder(settings) / LOADS_FILE).read_text(encoding="utf-8").splitlines()[-LOADS_KEPT:]
    except OSError:
        return []
    loads = []
    for line in lines:
        try:
            loads.append(ModelLoad(**json.loads(line)))
        except (ValueError, TypeError):  # a line cut short by a crash
            continue
    return loads


def _holds(served: ServedModel, target: AliasTarget) -> bool:
    same_run = target.run_id is None or served.run_id in (None, target.run_id)
    same_files = target.artifact_digest is None or served.artifact_digest == target.artifact_digest
    return (
        same_run and same_files and served.reference_run == target.reference_run and served.task_tag == target.task_tag
    )


def _other_run(meta: dict, target: AliasTarget) -> bool:
    """The copy was made for another run, or of files other than those promoted: it must be made again."""
    other_files = target.artifact_digest is not None and meta.get("artifact_digest") != target.artifact_digest
    return other_files or (target.run_id is not None and meta.get("run_id") not in (None, target.run_id))


def _stale(meta: dict | None, target: AliasTarget, *, offline: bool) -> bool:
    """Whether the local copy must be made or refreshed (offline, whatever copy exists serves)."""
    if meta is None:
        return True
    return not offline and (_other_run(meta, target) or meta.get("reference_run") != target.reference_run)


def _load(settings: Settings, *, target: AliasTarget, offline: bool) -> ServedModel:
    folder = _model_folder(settings) / f"v{target.version}"
    meta = _read_meta(folder)
    if _stale(meta, target, offline=offline):
        # One process copies a version at a time (the console, CLI and server workers start together):
        # the others wait, then find the copy made and use it.
        with exclusive(folder.with_name(f".{folder.name}.lock")):
            meta = _read_meta(folder)
            if meta is None or _other_run(meta, target):
                if offline:
                    raise ServingError(
                        f"version {target.version} is not in the local model cache and the registry is unreachable"
                    )
                _copy_version(settings, target=target, folder=folder)
            elif meta.get("reference_run") != target.reference_run:
                _refresh_profile(settings, target=target, folder=folder, meta=meta)
            meta = _read_meta(folder) or {}
    assert meta is not None
    local = mlflow_io.load_local_model(folder / "model")
    profile_path = folder / PROFILE_ARTIFACT
    profile = TrainingProfile.load(profile_path) if profile_path.exists() else None
    try:
        schema = build_schema(local.signature_inputs, profile)
    except ValueError as error:
        raise InvalidInput(
            f"version {target.version} of {settings.model_name}: {error}. Attach the data it was trained or validated "
            f"on as its reference (Registry page, Reference data; or python -m core reference --version "
            f"{target.version} --input FILE --model {settings.model_name})"
        ) from error
    served = ServedModel(
        name=settings.model_name,
        version=target.version,
        run_id=meta.get("run_id") or local.run_id,
        flavor=local.flavor,
        model=local.model,
        predict_method=local.predict_method,
        schema=schema,
        path=folder,
        reference_run=meta.get("reference_run"),
        artifact_digest=meta.get("artifact_digest"),
        profile=profile,
        output_name=local.output_name or (profile.target if profile is not None else None),
        task_tag=target.task_tag,
    )
    served = _with_task(served, profile, local.signature_outputs)
    if served.task == "classification":
        return _with_compiled_classifier(settings, served)
    if not (
        settings.compile_models
        and served.task == "regression"
        and local.flavor == "sklearn"
        and local.predict_method == "predict"
    ):
        return served
    compiled, scoring_path = compile_verified(local.model, served.model_input(schema.probe_frame()))
    return replace(served, compiled=compiled, scoring_path=scoring_path)


def _with_task(
    served: ServedModel, profile: TrainingProfile | None, signature_outputs: list[dict] | None
) -> ServedModel:
    """The served model with its task and classes, read from the model (a probe row when it must be asked)."""
    probe_output = None
    if served.flavor != "sklearn":
        try:
            probe_output = getattr(served.model, served.predict_method)(served.model_input(served.schema.probe_frame()))
        except Exception:  # a model that cannot answer the probe is judged by what else it says
            probe_output = None
    task = detect_task(
        served.model,
        flavor=served.flavor,
        predict_method=served.predict_method,
        tag=served.task_tag,
        probe_output=probe_output,
        signature_outputs=signature_outputs,
    )
    if task == "regression":
        return served
    classes = model_classes(served.model, flavor=served.flavor)
    if not classes and isinstance(probe_output, pd.DataFrame) and probe_output.shape[1] > 1:
        classes = tuple(probe_output.columns)
    if not classes and profile is not None:
        classes = profile.classes
    classifier = replace(served, task="classification", classes=classes)
    asks = (
        "predict_proba" if classes and callable(getattr(served.model, "predict_proba", None)) else served.predict_method
    )
    return replace(classifier, scoring_path=f"{asks}()" if served.flavor == "sklearn" else "pyfunc predict()")


def _with_compiled_classifier(settings: Settings, served: ServedModel) -> ServedModel:
    """A scikit-learn classifier whose probabilities compile (and agree with ``predict_proba``) gets the fast path."""
    if not (
        settings.compile_models
        and served.flavor == "sklearn"
        and served.classes
        and served.predict_method in ("predict", "predict_proba")
        and callable(getattr(served.model, "predict_proba", None))
    ):
        return served
    compiled, scoring_path = compile_verified_classifier(served.model, served.model_input(served.schema.probe_frame()))
    if compiled is None:
        return replace(served, scoring_path=f"predict_proba() ({scoring_path})")
    return replace(served, compiled_classifier=compiled, scoring_path=scoring_path)


def _read_meta(folder: Path) -> dict | None:
    try:
        return json.loads((folder / META_FILE).read_text())
    except (OSError, ValueError):
        return None


def _profile_json(settings: Settings, *, run_id: str | None, reference_run: str | None) -> str | None:
    try:
        profile = mlflow_io.load_version_profile(settings, run_id=run_id, reference_run=reference_run)
    except (ValueError, KeyError):
        return None  # an unreadable profile: the model still serves, with signature-only checks
    return None if profile is None else profile.to_json()


def _copy_version(settings: Settings, *, target: AliasTarget, folder: Path) -> None:
    # Download next to the final place, then rename: a crash never leaves a half copy that looks whole.
    staging = folder.with_name(f".{folder.name}-{uuid.uuid4().hex[:8]}")
    # A copy made for another run is moved aside, not deleted in place: a process still reading it
    # keeps its open files, and the new copy appears in one rename.
    retired = folder.with_name(f".{folder.name}-retired-{uuid.uuid4().hex[:8]}")
    try:
        mlflow_io.download_model_version(settings, version=target.version, destination=staging / "model")
        digest = mlflow_io.folder_digest(staging / "model")
        if target.artifact_digest is not None and digest != target.artifact_digest:
            raise ServingError(
                f"version {target.version} of {settings.model_name} is not served: its model files changed since "
                f"it was promoted (digest {target.artifact_digest[:12]}… then, {digest[:12]}… now). Check what "
                f"changed, then promote it again (Registry page, or python -m core promote --version "
                f"{target.version} --alias …) or point the alias at another version"
            )
        run_id = target.run_id or mlflow_io.load_local_model(staging / "model").run_id
        profile = _profile_json(settings, run_id=run_id, reference_run=target.reference_run)
        if profile is not None:
            (staging / PROFILE_ARTIFACT).write_text(profile)
        meta = {"name": settings.model_name, "version": target.version, "run_id": run_id, "artifact_digest": digest}
        (staging / META_FILE).write_text(json.dumps({**meta, "reference_run": target.reference_run}))
        if folder.exists():
            folder.replace(retired)
        staging.replace(folder)
    finally:
        for leftover in (staging, retired):
            if leftover.exists():
                shutil.rmtree(leftover, ignore_errors=True)


def _refresh_profile(settings: Settings, *, target: AliasTarget, folder: Path, meta: dict) -> None:
    """Replace a cached copy's profile with the one now attached to the version (the model files stay)."""
    profile = _profile_json(settings, run_id=meta.get("run_id"), reference_run=target.reference_run)
    profile_path = folder / PROFILE_ARTIFACT
    if profile is None:
        profile_path.unlink(missing_ok=True)
    else:
        temporary = profile_path.with_name(f".{profile_path.name}-{uuid.uuid4().hex[:8]}")
        temporary.write_text(profile)
        temporary.replace(profile_path)
    _write_json(folder / META_FILE, {**meta, "reference_run": target.reference_run})


def serve(settings: Settings, *, alias: str = "champion") -> tuple[ServedModel, Resolution]:
    """The model answering for ``alias`` right now (resolved, loaded, its local copy remembered)."""
    resolution = resolve(settings, alias=alias)
    target = AliasTarget(
        resolution.version,
        resolution.run_id,
        resolution.reference_run,
        resolution.unit,
        resolution.task_tag,
        resolution.artifact_digest,
    )
    served = load_version(settings, target=target, offline=resolution.from_cache)
    pointer_key = (str(settings.model_cache_dir), settings.model_name, alias)
    if not resolution.from_cache and _pointers.get(pointer_key) != target:
        _write_pointer(settings, alias, target)
        _pointers[pointer_key] = target
    return served, resolution


def clear_memory_caches() -> None:
    """Forget loaded models and resolutions (what a process restart does; the disk copies stay)."""
    with _lock:
        _models.clear()
        _resolutions.clear()
        _registry_down_until.clear()
        _pointers.clear()
