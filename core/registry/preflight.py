"""Pre-flight checks for moving an alias: signature, holdout metric, validation tag, live evidence, drift.

``fail`` blocks a move (unless overridden with a reason); ``warn`` and ``unknown`` inform.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Protocol

from sqlalchemy.orm import Session

from core import mlflow_io
from core.errors import ArtifactMissing, VersionNotFound, first_line
from core.mlflow_io import VersionInfo
from core.monitoring.percentiles import VersionLatency, version_latency
from core.monitoring.references import refresh
from core.registry.guards import InvalidRequest, PromotionRefused, valid_alias
from core.registry.holdout import primary_holdout, same_measure
from core.settings import Settings
from storage import evidence
from storage.db import Sessions, reading

PASS, FAIL, WARN, UNKNOWN = "pass", "fail", "warn", "unknown"


VALIDATION_STATUS_TAG = "validation_status"


VALIDATION_STATUSES = ("pending", "validated", "rejected")


# Live evidence below these counts is noise, so its check says "unknown" rather than pass or fail.
MIN_FEEDBACK = 20


MIN_LATENCY_SAMPLES = 20


LATENCY_FACTOR = 2.0  # a candidate whose p95 is more than twice the holder's (and over budget) fails


AGREEMENT_TOLERANCE = 0.10  # shadow answers within 10% of the served one "agree"


AGREEMENT_WARN_SHARE = 0.80


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
class Check:
    """One pre-flight check: ``status`` is pass, fail (blocks), warn or unknown (neither blocks)."""

    name: str
    status: str
    detail: str

    @property
    def blocks(self) -> bool:
        return self.status == FAIL


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


def preflight(
    settings: Settings, *, sessions: Sessions, version: int, alias: str, drift: DriftLike | None = None
) -> Preflight:
    """Check moving ``alias`` to ``version`` against the alias's current holder."""
    alias = valid_alias(alias)
    refresh(settings, sessions=sessions)  # the latency check reads the roll-ups
    candidate = existing_version(settings, version)
    holder_version = mlflow_io.alias_map(settings).get(alias)
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
        raise InvalidRequest(f"version {candidate.version} already holds {alias}")
    checks = [
        _signature_check(settings, candidate, holder),
        _holdout_check(settings, candidate, holder),
        _validation_check(candidate),
        *_live_checks(settings, session, candidate, holder),
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


def _holdout_check(settings: Settings, candidate: VersionInfo, holder: VersionInfo | None) -> Check:
    new = primary_holdout(candidate.metrics, chosen=settings.holdout_metric)
    old = None
    if holder is not None:
        old = (
            same_measure(holder.metrics, new)
            if new is not None
            else primary_holdout(holder.metrics, chosen=settings.holdout_metric)
        )
    shown = new or old
    name = "holdout metric" if shown is None else f"holdout {shown.measures}"
    wanted = settings.holdout_metric or "holdout metric (rmse, mae, mse, r2 or mape under a usual name)"
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


def _live_checks(
    settings: Settings, session: Session, candidate: VersionInfo, holder: VersionInfo | None
) -> list[Check]:
    names = ("shadow agreement", "realised error", "latency p95")
    if holder is None:
        return [Check(name, UNKNOWN, "no holder to compare live answers with") for name in names]
    model = settings.model_name
    new = evidence.version_evidence(session, model_name=model, version=candidate.version)
    old = evidence.version_evidence(session, model_name=model, version=holder.version)
    agreed = evidence.agreement(
        session,
        model_name=model,
        reference_version=holder.version,
        candidate_version=candidate.version,
        tolerance=AGREEMENT_TOLERANCE,
    )
    # Latency comes from the roll-ups, as on Monitoring, so both pages show the same p95.
    new_latency = version_latency(session, model_name=model, model_version=candidate.version)
    old_latency = version_latency(session, model_name=model, model_version=holder.version)
    return [
        _agreement_check(names[0], agreed),
        _realised_check(names[1], settings, new, old),
        _latency_check(names[2], settings, new_latency, old_latency),
    ]


def _agreement_check(name: str, agreed: evidence.Agreement) -> Check:
    share = agreed.share_within_tolerance
    if share is None:
        return Check(
            name,
            UNKNOWN,
            f"no request answered by both version {agreed.reference_version} and version "
            f"{agreed.candidate_version} yet (shadow traffic pairs them)",
        )
    detail = (
        f"{share:.0%} of {agreed.pairs:,} shared requests within ±{agreed.tolerance:.0%} of version "
        f"{agreed.reference_version}; mean |difference| {agreed.mean_abs_difference:,.1f}"
    )
    return Check(name, PASS if share >= AGREEMENT_WARN_SHARE else WARN, detail)


def _realised_check(
    name: str, settings: Settings, new: evidence.VersionEvidence, old: evidence.VersionEvidence
) -> Check:
    if min(new.feedback_count, old.feedback_count) < MIN_FEEDBACK:
        return Check(
            name,
            UNKNOWN,
            f"feedback on {new.feedback_count} answers of version {new.version} and {old.feedback_count} of "
            f"version {old.version} (needs {MIN_FEEDBACK} each)",
        )
    assert new.realised_rmse is not None and old.realised_rmse is not None
    detail = (
        f"version {new.version}: MAE {new.realised_mae:,.1f}, RMSE {new.realised_rmse:,.1f} "
        f"({new.feedback_count}); version {old.version}: MAE {old.realised_mae:,.1f}, "
        f"RMSE {old.realised_rmse:,.1f} ({old.feedback_count})"
    )
    worse = new.realised_rmse > old.realised_rmse * (1 + settings.promotion_tolerance)
    return Check(name, FAIL if worse else PASS, detail)


def _latency_check(name: str, settings: Settings, new: VersionLatency, old: VersionLatency) -> Check:
    if min(new.samples, old.samples) < MIN_LATENCY_SAMPLES:
        return Check(
            name,
            UNKNOWN,
            f"{new.samples} logged answers of version {new.version} and {old.samples} of version "
            f"{old.version} (needs {MIN_LATENCY_SAMPLES} each)",
        )
    assert new.p95_ms is not None and old.p95_ms is not None
    budget = settings.alert_p95_latency_ms
    detail = f"{new.p95_ms:,.1f} ms vs {old.p95_ms:,.1f} ms (limit ×{LATENCY_FACTOR:g}"
    detail += ")" if budget is None else f" and over the {budget:,.0f} ms p95 budget)"
    if new.p95_ms <= LATENCY_FACTOR * old.p95_ms:
        return Check(name, PASS, detail)
    # Slower, but a model that still answers within the operators' latency budget only warns: restoring a
    # heavier but better model (a rollback, say) must not be blocked by a lighter one's speed.
    within_budget = budget is not None and new.p95_ms <= budget
    return Check(name, WARN if within_budget else FAIL, detail)


def _drift_check(drift: DriftLike | None) -> Check:
    if drift is None:
        return Check("input drift", UNKNOWN, "drift status unknown (Monitoring has not reported one)")
    if drift.drifted is None:
        return Check("input drift", UNKNOWN, drift.detail)
    # Drift describes the live inputs, not the candidate: every version faces it, so it informs the
    # operator (the holdout metrics may not hold on this data) without blocking the move.
    return Check("input drift", WARN if drift.drifted else PASS, drift.detail)
