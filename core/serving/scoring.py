"""Serving: alias → version on every request, each version loaded once, every answer logged.

- The alias is resolved on each request; a local SQLite registry is only re-queried when it has
  committed something since the last resolution (:func:`mlflow_io.registry_change_token`).
- Models are cached by version, never by alias, and copied under ``settings.model_cache_dir`` with
  their training profile, so with the registry unreachable — even after a restart — the last version
  served for an alias keeps answering, with the notice "registry unreachable — serving cached vN".
- Shadow scoring (the ``challenger``) never sits on the answering path: :func:`score_frame` runs it
  after the answer is committed; the page calls :func:`score_shadow` after rendering the answer.
"""

from __future__ import annotations

import functools
import json
import math
import shutil
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy.orm import Session, sessionmaker
from threadpoolctl import ThreadpoolController

from core import mlflow_io
from core.mlflow_io import RegistryUnavailable
from core.profile import TrainingProfile
from core.serving.compiled_pipeline import CompiledPipeline, compile_verified
from core.serving.input_schema import InputSchema, Problem, build_schema
from core.settings import Settings
from storage.base import utcnow
from storage.prediction_log import log_predictions, log_rejections

SHADOW_ALIAS = "challenger"
PREDICT_CHUNK = 20_000
# Up to this many rows, scoring record by record through the compiled form beats one predict() call
# (demo champion: ~0.7 ms per record against ~13 ms per call).
RECORD_PATH_MAX_ROWS = 16
MODELS_KEPT_IN_MEMORY = 6
# After a failed registry call, serve from the cache for this long before asking again: a dead
# server would otherwise cost every request its connection timeout.
REGISTRY_RETRY_AFTER_S = 15.0
PROFILE_FILE = "training_profile.json"
META_FILE = "loupe_version.json"
REJECTED_COLUMNS = ["row", "field", "rule", "message"]


class ServingError(RuntimeError):
    """Nothing can answer: no version holds the alias, or the registry is down and nothing is cached."""


@dataclass(frozen=True)
class ServedModel:
    """One loaded model version and the schema its inputs are checked against."""

    name: str
    version: int
    run_id: str | None
    flavor: str
    model: Any
    schema: InputSchema
    path: Path
    compiled: CompiledPipeline | None = None  # the one-record fast path, when the pipeline compiles
    scoring_path: str = "predict()"  # how one record is scored, and why (shown on the Predict page)

    def model_input(self, clean: pd.DataFrame) -> pd.DataFrame:
        """Validated values in the signature's column order and types."""
        columns: dict[str, Any] = {}
        for spec in self.schema.fields:
            values = clean[spec.name] if spec.name in clean.columns else pd.Series(np.nan, index=clean.index)
            if spec.dtype == "boolean":
                values = values.map({"True": True, "False": False, True: True, False: False})
            elif spec.dtype == "integer" and values.notna().all():
                values = values.astype("int64")
            elif spec.kind == "numeric":
                values = values.astype("float64")
            columns[spec.name] = values.to_numpy()
        return pd.DataFrame(columns, index=clean.index)

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """Predictions as a flat float array."""
        return np.asarray(self.model.predict(frame), dtype=float).reshape(len(frame), -1)[:, 0]

    def predict_rows(self, clean: pd.DataFrame) -> np.ndarray:
        """Predictions for validated rows; a few rows go record by record through the compiled form."""
        if self.compiled is not None and len(clean) <= RECORD_PATH_MAX_ROWS:
            return np.array([self.predict_record(record) for record in clean.to_dict("records")], dtype=float)
        return self.predict(self.model_input(clean)) if len(clean) else np.empty(0)

    def predict_record(self, values: Mapping[str, object]) -> float:
        """One validated record → one prediction: compiled when possible, else ``predict`` on one thread."""
        row: dict[str, object] = {}
        for spec in self.schema.fields:
            value = values.get(spec.name)
            if value is None or (isinstance(value, float) and math.isnan(value)):
                value = np.nan if spec.kind == "numeric" else None
            elif spec.dtype == "boolean":
                value = value in (True, "True")
            elif spec.dtype == "integer":
                value = int(value)  # type: ignore[call-overload]
            row[spec.name] = value
        if self.compiled is not None:
            answer = self.compiled.predict(row)
            if answer is not None:
                return answer
        frame = pd.DataFrame({name: [value] for name, value in row.items()})
        # One row gains nothing from an OpenMP team; on a busy machine waiting for one costs 10-100 ms.
        with _thread_pools().limit(limits=1, user_api="openmp"):
            return float(self.predict(frame)[0])


@dataclass(frozen=True)
class Resolution:
    """Which version answers for an alias, and whether the registry was consulted."""

    alias: str
    version: int
    run_id: str | None
    from_cache: bool
    notice: str | None = None


@dataclass(frozen=True)
class ShadowResult:
    """What the challenger did with a request: how many rows it scored, or why it did not."""

    version: int | None = None
    scored: int = 0
    skipped: int = 0
    seconds: float = 0.0
    error: str | None = None


@dataclass(frozen=True)
class ScoringResult:
    """A scored frame: accepted rows with predictions, rejected rows with reasons, and who answered."""

    accepted: pd.DataFrame  # inputs + prediction + prediction_id + model_version + ood_fields
    rejected: pd.DataFrame  # row (1-based), field, rule, message
    model_version: int
    served_from_cache: bool
    notice: str | None
    request_id: str
    rows_in: int
    shadow: ShadowResult | None = None

    @property
    def rejected_row_count(self) -> int:
        return int(self.rejected["row"].nunique()) if len(self.rejected) else 0


@dataclass(frozen=True)
class PredictionOutcome:
    """One answered (or refused) form request."""

    prediction: float | None
    version: int | None
    latency_ms: float
    prediction_id: int | None
    request_id: str
    warnings: list[str] = field(default_factory=list)  # out-of-distribution values
    errors: list[Problem] = field(default_factory=list)  # why the input was refused
    notice: str | None = None  # e.g. "registry unreachable — serving cached v1"
    served_from_cache: bool = False
    inputs: dict[str, object] = field(default_factory=dict)

    @property
    def accepted(self) -> bool:
        return self.prediction is not None


@functools.cache
def _thread_pools() -> ThreadpoolController:
    return ThreadpoolController()


# --- resolution and loading -------------------------------------------------------------------------

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
            f"no version of {settings.model_name} holds the alias '{alias}' — set it on the Registry page "
            f"or train one: python -m core train --alias {alias}"
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
    profile_path = folder / PROFILE_FILE
    profile = TrainingProfile.load(profile_path) if profile_path.exists() else None
    schema = build_schema(local.signature_inputs, profile)
    served = ServedModel(
        name=settings.model_name,
        version=version,
        run_id=meta.get("run_id") or local.run_id,
        flavor=local.flavor,
        model=local.model,
        schema=schema,
        path=folder,
    )
    if not (settings.compile_models and local.flavor == "sklearn"):
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
                (staging / PROFILE_FILE).write_text(profile.to_json())
            except Exception:  # a model logged without Loupe's profile still serves, with signature-only checks
                pass
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


# --- scoring ----------------------------------------------------------------------------------------


def _utc_datetimes(timestamps: pd.Series) -> list:
    stamps = pd.to_datetime(timestamps)
    stamps = stamps.dt.tz_localize("UTC") if stamps.dt.tz is None else stamps.dt.tz_convert("UTC")
    return list(stamps.dt.to_pydatetime())


def _rejection_rows(
    problems: pd.DataFrame, *, settings: Settings, source: str, request_id: str, created_at
) -> list[dict]:
    return [
        {
            "created_at": created_at,
            "model_name": settings.model_name,
            "source": source,
            "request_id": request_id,
            "row_number": int(row),
            "field": field_name,
            "rule": rule,
            "message": message,
        }
        for row, field_name, rule, message in problems[REJECTED_COLUMNS].itertuples(index=False)
    ]


def _feature_dicts(clean: pd.DataFrame) -> list[dict[str, float | str | None]]:
    cleaned = clean.astype(object).where(clean.notna(), None)
    return cleaned.to_dict("records")


def score_frame(
    settings: Settings,
    frame: pd.DataFrame,
    *,
    sessions: sessionmaker[Session],
    source: str,
    alias: str = "champion",
    request_id: str | None = None,
    timestamps: pd.Series | None = None,
    progress: Callable[[float], None] | None = None,
    shadow: bool | None = None,
) -> ScoringResult:
    """Validate every row, score the valid ones with ``alias``'s version and log them in one transaction.

    Rejected rows go to the ``rejections`` table in the same transaction. Afterwards (never before the
    answer is committed) the challenger scores the accepted rows as shadow when ``shadow`` (default:
    ``settings.shadow``) is on and ``challenger`` points at another version.
    """
    report = progress or (lambda fraction: None)
    request_id = request_id or uuid.uuid4().hex
    if timestamps is not None and len(timestamps) != len(frame):
        raise ValueError(f"{len(timestamps)} timestamps for {len(frame)} rows")
    served, resolution = serve(settings, alias=alias)
    started = time.perf_counter()
    check = served.schema.validate_frame(frame)
    accepted_positions = np.flatnonzero(check.accepted_mask)
    predictions = np.empty(len(check.clean), dtype=float)
    for start in range(0, len(check.clean), PREDICT_CHUNK):
        stop = start + PREDICT_CHUNK
        predictions[start:stop] = served.predict_rows(check.clean.iloc[start:stop])
        report(0.5 * min(stop, len(check.clean)) / max(len(check.clean), 1))
    latency_ms = (time.perf_counter() - started) * 1000 / max(len(frame), 1)

    now = utcnow()
    if timestamps is not None:
        stamps = _utc_datetimes(timestamps)
        created = [stamps[position] for position in accepted_positions]
    else:
        created = [now] * len(accepted_positions)
    records = [
        {
            "created_at": created_at,
            "model_name": settings.model_name,
            "model_version": served.version,
            "alias": alias,
            "prediction": float(prediction),
            "latency_ms": latency_ms,
            "source": source,
            "request_id": request_id,
            "is_ood": bool(ood),
            "ood_fields": ood or None,
            "is_shadow": False,
            "shadow_of": None,
        }
        for created_at, prediction, ood in zip(created, predictions, check.ood_fields, strict=True)
    ]
    total = max(len(records), 1)
    with sessions.begin() as session:
        ids = log_predictions(
            session,
            records=records,
            features=_feature_dicts(check.clean),
            progress=lambda written: report(0.5 + 0.5 * written / total),
        )
        log_rejections(
            session,
            rows=_rejection_rows(
                check.problems, settings=settings, source=source, request_id=request_id, created_at=now
            ),
        )
    report(1.0)

    accepted = frame.iloc[accepted_positions].copy()
    accepted["prediction"] = predictions
    accepted["prediction_id"] = ids
    accepted["model_version"] = served.version
    accepted["ood_fields"] = check.ood_fields
    result = ScoringResult(
        accepted=accepted,
        rejected=check.problems[REJECTED_COLUMNS],
        model_version=served.version,
        served_from_cache=resolution.from_cache,
        notice=resolution.notice,
        request_id=request_id,
        rows_in=len(frame),
    )
    if (settings.shadow if shadow is None else shadow) and len(ids):
        shadow_result = score_shadow(
            settings,
            check.clean,
            sessions=sessions,
            source=source,
            request_id=request_id,
            shadow_of=ids,
            answer_version=served.version,
            created_at=created,
        )
        result = replace(result, shadow=shadow_result)
    return result


def predict_one(
    settings: Settings,
    features: Mapping[str, object],
    *,
    sessions: sessionmaker[Session],
    source: str = "form",
    alias: str = "champion",
    run_shadow: bool = True,
) -> PredictionOutcome:
    """The answering path for one record: resolve → validate → predict → log (then shadow, unless told not to).

    The page passes ``run_shadow=False`` and calls :func:`score_shadow_for` once the answer is on screen.
    """
    started = time.perf_counter()
    request_id = uuid.uuid4().hex
    served, resolution = serve(settings, alias=alias)
    check = served.schema.validate_record(features)
    common = {
        "version": served.version,
        "request_id": request_id,
        "notice": resolution.notice,
        "served_from_cache": resolution.from_cache,
    }
    if not check.accepted:
        latency_ms = (time.perf_counter() - started) * 1000
        with sessions.begin() as session:
            log_rejections(
                session,
                rows=[
                    {
                        "created_at": utcnow(),
                        "model_name": settings.model_name,
                        "source": source,
                        "request_id": request_id,
                        "row_number": None,
                        "field": problem.field,
                        "rule": problem.rule,
                        "message": problem.message,
                    }
                    for problem in check.problems
                ],
            )
        return PredictionOutcome(
            prediction=None, latency_ms=latency_ms, prediction_id=None, errors=check.problems, **common
        )
    values = check.values or {}
    prediction = served.predict_record(values)
    latency_ms = (time.perf_counter() - started) * 1000
    with sessions.begin() as session:
        (prediction_id,) = log_predictions(
            session,
            records=[
                {
                    "created_at": utcnow(),
                    "model_name": settings.model_name,
                    "model_version": served.version,
                    "alias": alias,
                    "prediction": prediction,
                    "latency_ms": latency_ms,
                    "source": source,
                    "request_id": request_id,
                    "is_ood": bool(check.ood_fields),
                    "ood_fields": ",".join(check.ood_fields) or None,
                    "is_shadow": False,
                    "shadow_of": None,
                }
            ],
            features=[values],
        )
    outcome = PredictionOutcome(
        prediction=prediction,
        latency_ms=latency_ms,
        prediction_id=prediction_id,
        warnings=check.warnings,
        inputs=dict(values),
        **common,
    )
    if run_shadow:
        score_shadow_for(settings, outcome, sessions=sessions, source=source)
    return outcome


def score_shadow_for(
    settings: Settings, outcome: PredictionOutcome, *, sessions: sessionmaker[Session], source: str = "form"
) -> ShadowResult | None:
    """Shadow-score one answered form request (call it after the answer is shown)."""
    if not settings.shadow or outcome.prediction_id is None or outcome.version is None:
        return None
    return score_shadow(
        settings,
        pd.DataFrame([outcome.inputs]),
        sessions=sessions,
        source=source,
        request_id=outcome.request_id,
        shadow_of=[outcome.prediction_id],
        answer_version=outcome.version,
    )


def score_shadow(
    settings: Settings,
    inputs: pd.DataFrame,
    *,
    sessions: sessionmaker[Session],
    source: str,
    request_id: str,
    shadow_of: list[int],
    answer_version: int,
    created_at: list | None = None,
) -> ShadowResult | None:
    """Score answered rows with the challenger and log them as shadow; ``None`` when there is no challenger.

    Never raises: a failing challenger must not disturb the answer, so its error is returned instead.
    """
    started = time.perf_counter()
    try:
        try:
            served, _ = serve(settings, alias=SHADOW_ALIAS)
        except ServingError:
            return None
        if served.version == answer_version:
            return None
        check = served.schema.validate_frame(inputs)
        positions = np.flatnonzero(check.accepted_mask)
        predictions = served.predict_rows(check.clean)
        latency_ms = (time.perf_counter() - started) * 1000 / max(len(inputs), 1)
        now = utcnow()
        records = [
            {
                "created_at": created_at[position] if created_at is not None else now,
                "model_name": settings.model_name,
                "model_version": served.version,
                "alias": SHADOW_ALIAS,
                "prediction": float(prediction),
                "latency_ms": latency_ms,
                "source": source,
                "request_id": request_id,
                "is_ood": bool(ood),
                "ood_fields": ood or None,
                "is_shadow": True,
                "shadow_of": shadow_of[position],
            }
            for position, prediction, ood in zip(positions, predictions, check.ood_fields, strict=True)
        ]
        with sessions.begin() as session:
            log_predictions(session, records=records)
        return ShadowResult(
            version=served.version,
            scored=len(records),
            skipped=len(inputs) - len(records),
            seconds=time.perf_counter() - started,
        )
    except Exception as error:  # the answer is already logged; report the challenger's failure, don't raise
        return ShadowResult(error=f"{type(error).__name__}: {error}", seconds=time.perf_counter() - started)
