"""Pre-flight checks for moving an alias: signature, holdout metric, validation tag, live evidence, drift.

``fail`` blocks a move (unless overridden with a reason); ``warn`` and ``unknown`` inform. Whether the
versions are compared as regressors or classifiers is worked out without loading a model
(:func:`core.registry.version_task.version_task`); the live checks are in :mod:`core.registry.live_checks`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Protocol

from sqlalchemy.orm import Session

from core import mlflow_io
from core.errors import ArtifactMissing, VersionNotFound, first_line
from core.mlflow_io import DIGEST_TAG, VersionInfo
from core.monitoring.references import refresh
from core.registry.checks import FAIL, PASS, UNKNOWN, WARN, Check
from core.registry.guards import InvalidRequest, PromotionRefused, valid_alias
from core.registry.holdout import primary_holdout, same_measure
from core.registry.live_checks import live_checks, task_check
from core.registry.version_task import pair_task, version_task
from core.settings import Settings
from core.task import Task
from storage import evidence
from storage.db import Sessions, reading

VALIDATION_STATUS_TAG = "validation_status"
VALIDATION_STATUSES = ("pending", "validated", "rejected")


class PreflightBlocked(PromotionRefused):
    """At least one pre-flight check failed and the operator did not override."""

    def __init__(self, preflight: Preflight) -> None:
        self.preflight = preflight
        failed = "; ".join(f"{check.name}: {check.detail}" for check in preflight.failed)
        super().__init__(
            f"moving {preflight.alias} to version {preflight.candidate} is blocked by failed checks — {failed}. "
            "Override with a written reason to move it anyway."
        )


class DriftLike(Protocol):
    """Anything that reports input drift: a verdict (``None``: cannot tell) and one line to show.

    ``core.monitoring.window_drift.DriftStatus`` fits as it is, so the pre-flight does not depend on Monitoring.
    """

    @property
    def drifted(self) -> bool | None: ...

    @property
    def detail(self) -> str: ...


@dataclass(frozen=True)
class Preflight:
    """The checks for moving ``alias`` from ``holder`` to ``candidate``."""

    alias: str
    candidate: int
    holder: int | None
    checks: tuple[Check, ...]

    @property
    def failed(self) -> tuple[Check, ...]:
        return tuple(check for check in self.checks if check.blocks)

    @property
    def passed(self) -> bool:
        return not self.failed

    def to_json(self) -> str:
        """The form stored in the ledger."""
        return json.dumps(
            {
                "alias": self.alias,
                "candidate": self.candidate,
                "holder": self.holder,
                "checks": [asdict(check) for check in self.checks],
            }
        )


def existing_version(settings: Settings, version: int) -> VersionInfo:
    """The registered version, or :class:`InvalidRequest` saying it does not exist."""
    try:
        return mlflow_io.get_version(settings, version=version)
    except VersionNotFound as error:
        raise InvalidRequest(str(error)) from error


def changed_files_digest(settings: Settings, candidate: VersionInfo) -> str | None:
    """The digest of a version's model files now, when they differ from those Loupe last promoted; else ``None``.

    Promoting the holder of an alias again is how such files are accepted back into service.
    """
    recorded = candidate.tags.get(DIGEST_TAG)
    if recorded is None:
        return None
    now = mlflow_io.version_digest(settings, version=candidate.version)
    return now if now != recorded else None


def preflight(
    settings: Settings, *, sessions: Sessions, version: int, alias: str, drift: DriftLike | None = None
) -> Preflight:
    """Check moving ``alias`` to ``version`` against the alias's current holder."""
    alias = valid_alias(alias)
    refresh(settings, sessions=sessions)  # the latency check reads the roll-ups
    candidate = existing_version(settings, version)
    holder_version = mlflow_io.alias_map(settings).get(alias)
    if holder_version == version and changed_files_digest(settings, candidate) is None:
        raise InvalidRequest(f"version {version} already holds {alias}")
    holder = None if holder_version is None else mlflow_io.get_version(settings, version=holder_version)
    with reading(sessions) as session:
        return run_checks(settings, session, alias=alias, candidate=candidate, holder=holder, drift=drift)


def run_checks(
    settings: Settings,
    session: Session,
    *,
    alias: str,
    candidate: VersionInfo,
    holder: VersionInfo | None,
    drift: DriftLike | None,
) -> Preflight:
    """Every check of moving ``alias`` from ``holder`` to ``candidate``, inside the caller's session."""
    if holder is not None and holder.version == candidate.version:
        holder = None  # promoted again for changed files (the caller checked): judged as a first promotion
    model = settings.model_name
    new = evidence.version_evidence(session, model_name=model, version=candidate.version)
    old = None if holder is None else evidence.version_evidence(session, model_name=model, version=holder.version)
    new_task = version_task(candidate, new)
    old_task = None if holder is None else version_task(holder, old)
    task = pair_task(new_task, old_task)  # compare answers as numbers (regression) or as classes
    # Only listed when the two versions do different jobs: callers of the alias would break.
    mismatch = None if holder is None else task_check(candidate, holder, new=new_task, old=old_task)
    checks = [
        _signature_check(settings, candidate, holder),
        *([] if mismatch is None else [mismatch]),
        _holdout_check(settings, candidate, holder, task=task),
        _validation_check(candidate),
        *live_checks(settings, session, candidate=candidate, holder=holder, new=new, old=old, task=task),
        _drift_check(drift),
    ]
    return Preflight(
        alias=alias,
        candidate=candidate.version,
        holder=None if holder is None else holder.version,
        checks=tuple(checks),
    )


def _signature_check(settings: Settings, candidate: VersionInfo, holder: VersionInfo | None) -> Check:
    name = "signature"
    try:
        new = mlflow_io.input_schema(settings, version=candidate.version)
    except ArtifactMissing as error:  # e.g. the model's artifacts were deleted; the version entry remains
        return Check(name, FAIL, f"version {candidate.version}'s model cannot be read: {first_line(error, limit=200)}")
    if new is None:
        # Without a signature, serving takes the inputs from the version's reference data; with neither it cannot.
        if candidate.tags.get(mlflow_io.REFERENCE_TAG):
            return Check(
                name, WARN, f"version {candidate.version} has no signature: its inputs come from its reference data"
            )
        return Check(
            name,
            FAIL,
            f"version {candidate.version} has no model signature and no reference data, so nothing can tell its "
            "inputs: attach reference data (Registry page) or log the model with a signature",
        )
    if holder is None:
        return Check(name, PASS, f"{len(new)} inputs; no version holds the alias, so nothing to stay compatible with")
    try:
        old = mlflow_io.input_schema(settings, version=holder.version)
    except ArtifactMissing as error:
        return Check(name, UNKNOWN, f"version {holder.version}'s model cannot be read: {first_line(error, limit=200)}")
    if old is None:
        return Check(name, UNKNOWN, f"version {holder.version} has no signature to compare with")
    problems = signature_differences(old=old, new=new)
    if problems:
        return Check(name, FAIL, "; ".join(problems))
    return Check(name, PASS, f"same {len(new)} inputs (names and types) as version {holder.version}")


def signature_differences(*, old: list[dict], new: list[dict]) -> list[str]:
    """Why callers of the ``old`` inputs could not call ``new`` (empty when they can)."""
    old_types = {column.get("name"): column.get("type") for column in old}
    new_types = {column.get("name"): column.get("type") for column in new}
    problems = [f"input {name!r} is gone" for name in old_types if name not in new_types]
    problems += [
        f"input {name!r} changed type {old_types[name]} → {new_types[name]}"
        for name in old_types
        if name in new_types and new_types[name] != old_types[name]
    ]
    problems += [
        f"new required input {column.get('name')!r}"
        for column in new
        if column.get("name") not in old_types and column.get("required", True)
    ]
    return problems


def _holdout_check(settings: Settings, candidate: VersionInfo, holder: VersionInfo | None, *, task: Task) -> Check:
    chosen = settings.holdout_metric
    new = primary_holdout(candidate.metrics, chosen=chosen, task=task)
    old = None
    if holder is not None:
        old = (
            same_measure(holder.metrics, new)
            if new is not None
            else primary_holdout(holder.metrics, chosen=chosen, task=task)
        )
    shown = new or old
    name = "holdout metric" if shown is None else f"holdout {shown.measures}"
    wanted = chosen or (
        "holdout metric (roc_auc, f1, accuracy, log_loss, precision or recall under a usual name)"
        if task == "classification"
        else "holdout metric (rmse, mae, mse, r2 or mape under a usual name)"
    )
    if new is None:
        if holder is None or old is None:
            return Check(name, UNKNOWN, f"version {candidate.version} has no {wanted}")
        return Check(
            name,
            FAIL,
            f"version {candidate.version} has no holdout {old.label}, so nothing shows it is no worse "
            f"than version {holder.version} ({old.value:,.4g})",
        )
    if holder is None:
        return Check(name, PASS, f"{new.label} {new.value:,.4g}; no holder to compare with")
    if old is None:
        return Check(name, UNKNOWN, f"version {holder.version} has no holdout {new.label} to compare with")
    tolerance = settings.promotion_tolerance
    change = (new.value - old.value) / abs(old.value) if old.value else 0.0
    worse = change > tolerance if new.lower_is_better else change < -tolerance
    direction = "lower" if new.lower_is_better else "higher"
    detail = (
        f"{new.label} {new.value:,.4g} vs {old.value:,.4g} for version {holder.version} ({change:+.1%}; "
        f"{direction} is better, tolerance {tolerance:.0%})"
    )
    return Check(name, FAIL if worse else PASS, detail)


def _validation_check(candidate: VersionInfo) -> Check:
    name = VALIDATION_STATUS_TAG
    status = candidate.tags.get(VALIDATION_STATUS_TAG)
    if status is None:
        return Check(name, UNKNOWN, f"version {candidate.version} has no {VALIDATION_STATUS_TAG} tag")
    verdict = {"validated": PASS, "rejected": FAIL}.get(status, WARN)
    return Check(name, verdict, f"version {candidate.version} is tagged {status!r}")


def _drift_check(drift: DriftLike | None) -> Check:
    if drift is None:
        return Check("input drift", UNKNOWN, "drift status unknown (Monitoring has not reported one)")
    if drift.drifted is None:
        return Check("input drift", UNKNOWN, drift.detail)
    # Drift describes the live inputs, not the candidate: every version faces it, so it informs the
    # operator (the holdout metrics may not hold on this data) without blocking the move.
    return Check("input drift", WARN if drift.drifted else PASS, drift.detail)
