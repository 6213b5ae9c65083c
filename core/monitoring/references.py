"""What a version is monitored against (its training profile, holdout metrics) and the roll-up refresh that bins with it."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from functools import lru_cache

from sqlalchemy.orm import Session

from core import mlflow_io
from core.errors import LoupeError
from core.monitoring.drift_statistics import numeric_edges
from core.monitoring.estimators import estimate_source
from core.profile import NumericProfile, TrainingProfile
from core.registry.holdout import holdout_metrics
from core.settings import Settings
from storage import rollups
from storage.db import Sessions


@lru_cache(maxsize=64)
def _parsed_profile(text: str) -> TrainingProfile:
    return TrainingProfile.from_json(text)


def reference_profile(settings: Settings, *, session: Session, model_version: int) -> TrainingProfile | None:
    """The training profile a version is monitored against: stored with the roll-ups, else from MLflow.

    ``None`` when the version has no profile or the registry cannot be reached for a version not seen before.
    """
    reference = _reference(settings, session=session, model_version=model_version)
    return None if reference is None else _parsed_profile(reference.profile_json)


def holdout_mae(settings: Settings, *, session: Session, model_version: int) -> float | None:
    """The version's holdout MAE from training, as stored with its reference (``None`` if unknown)."""
    reference = _reference(settings, session=session, model_version=model_version)
    return None if reference is None else reference.holdout_mae


# Classification holdout figures of versions without a stored reference, by (tracking URI, model, version):
# a run's metrics do not change, and the Monitoring page asks on every rerun. Failures are not kept.
_HOLDOUT_CACHE: dict[tuple[str, str, int], dict[str, float]] = {}
_HOLDOUT_LOCK = threading.Lock()
CLASSIFICATION_MEASURES = ("accuracy", "precision", "recall", "f1", "roc_auc", "log_loss")


def classification_holdout(settings: Settings, *, session: Session, model_version: int) -> dict[str, float]:
    """The version's classification holdout figures from its run (``accuracy``, ``f1``, … by what they measure).

    Stored with its reference when it has one; else read from the registry once per process. Empty when
    the run logged none or the registry cannot be reached.
    """
    reference = _reference(settings, session=session, model_version=model_version)
    if reference is not None and reference.holdout_json is not None:
        return {str(key): float(value) for key, value in json.loads(reference.holdout_json).items()}
    key = (settings.tracking_uri, settings.model_name, int(model_version))
    with _HOLDOUT_LOCK:
        if key in _HOLDOUT_CACHE:
            return dict(_HOLDOUT_CACHE[key])
    try:
        metrics = mlflow_io.get_version(settings, version=model_version).metrics
    except (LoupeError, ValueError, KeyError):
        return {}
    figures = _classification_figures(metrics)
    with _HOLDOUT_LOCK:
        _HOLDOUT_CACHE[key] = figures
    return dict(figures)


def _classification_figures(metrics: dict[str, float]) -> dict[str, float]:
    found = holdout_metrics(metrics)
    return {name: found[name].value for name in CLASSIFICATION_MEASURES if name in found}


def _reference(settings: Settings, *, session: Session, model_version: int) -> rollups.RollupReference | None:
    stored = rollups.load_reference(session, model_name=settings.model_name, model_version=model_version)
    if stored is not None:
        return stored
    try:
        version = mlflow_io.get_version(settings, version=model_version)
        profile = mlflow_io.load_version_profile(
            settings, run_id=version.run_id, reference_run=version.tags.get(mlflow_io.REFERENCE_TAG)
        )
        if profile is None:
            return None
    except (LoupeError, ValueError, KeyError):
        return None  # unreachable, no such version or profile, or an unreadable one: nothing to compare with
    rollups.save_reference(
        session,
        model_name=settings.model_name,
        model_version=model_version,
        run_id=version.run_id,
        profile_json=profile.to_json(),
        holdout_mae=_holdout_mae(version.metrics),
        holdout_json=json.dumps(_classification_figures(version.metrics)),
    )
    return rollups.load_reference(session, model_name=settings.model_name, model_version=model_version)


def binning_of(profile: TrainingProfile) -> rollups.FeatureBinning:
    """Bin edges per numeric feature (``None`` for categoricals), as the roll-ups store them."""
    return {
        name: numeric_edges(feature) if isinstance(feature, NumericProfile) else None
        for name, feature in profile.features.items()
    }


def refresh(
    settings: Settings,
    *,
    sessions: Sessions,
    progress: Callable[[str], None] | None = None,
    wait: bool = True,
) -> rollups.RefreshResult:
    """Roll up everything logged since the last refresh (cheap when nothing is new).

    ``wait=False``: return at once, ``skipped``, when another process is refreshing.
    """
    with sessions.begin() as session:

        def binning(model_name: str, version: int) -> rollups.FeatureBinning | None:
            # The log holds every model's rows and a refresh reads each row once: every model's rows are
            # binned against their own version's reference, whichever model the caller looks at.
            owner = (
                settings
                if model_name == settings.model_name
                else settings.model_copy(update={"model_name": model_name})
            )
            profile = reference_profile(owner, session=session, model_version=version)
            return None if profile is None else binning_of(profile)

        def plan(model_name: str, version: int) -> rollups.InputPlan | None:
            # Multivariate errors and segments of the same rows (core.monitoring.segments imports this module).
            from core.monitoring.estimators import estimator_of
            from core.monitoring.segments import input_plan

            owner = settings.model_copy(update={"model_name": model_name})
            profile = reference_profile(owner, session=session, model_version=version)
            estimator = estimator_of(session, model_name=model_name, model_version=version)
            return input_plan(owner, profile, estimator=estimator)

        return rollups.refresh_rollups(
            session, binning=binning, progress=progress, wait=wait, plan=plan, estimates=estimate_source(session)
        )


def _holdout_mae(metrics: dict[str, float]) -> float | None:
    found = holdout_metrics(metrics).get("mae")
    return None if found is None else found.value
