"""Alias moves behind guardrails: pre-flight checks, promotion, removal, rollback and the audit ledger.

Every move runs in one prediction-log transaction that first takes the ledger lock, then reads the
alias holder from the registry, records any change made outside Loupe, re-checks if the holder moved
since the operator's pre-flight, appends the ledger entry and moves the alias. Racing moves are
therefore applied one after the other and each one's ``from_version`` is the version it replaced.
"""

from __future__ import annotations

import getpass
import hmac
import json
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Protocol

from mlflow.exceptions import MlflowException
from sqlalchemy.orm import Session

from core import mlflow_io
from core.mlflow_io import VersionInfo
from core.settings import Settings
from storage import evidence
from storage.db import Sessions, reading
from storage.ledger import (
    AliasChange,
    last_alias_changes,
    list_alias_changes,
    lock_alias_ledger,
    record_alias_change,
)

PASS, FAIL, WARN, UNKNOWN = "pass", "fail", "warn", "unknown"
SUGGESTED_ALIASES = ("champion", "challenger")
HOLDOUT_METRIC = "rmse"
VALIDATION_STATUS_TAG = "validation_status"
VALIDATION_STATUSES = ("pending", "validated", "rejected")
# Live evidence below these counts is noise, so its check says "unknown" rather than pass or fail.
MIN_FEEDBACK = 20
MIN_LATENCY_SAMPLES = 20
LATENCY_FACTOR = 2.0  # a candidate whose p95 is more than twice the holder's (and over budget) fails
AGREEMENT_TOLERANCE = 0.10  # shadow answers within 10% of the served one "agree"
AGREEMENT_WARN_SHARE = 0.80
EXTERNAL_ACTOR = "outside Loupe"
OPERATOR_ORIGINS = ("page", "cli")
# MLflow's own alias rule, checked here so the operator gets a sentence instead of a server error.
ALIAS_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
RESERVED_ALIAS = re.compile(r"^(latest|v\d+)$", re.IGNORECASE)


class PromotionRefused(Exception):
    """An alias move that was not made; the message is for the operator."""


class InvalidRequest(PromotionRefused):
    """A field of the request is missing or breaks a rule."""


class TokenRefused(PromotionRefused):
    """The admin token is set and was not given, or was wrong."""


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

    ``core.monitoring.DriftStatus`` fits as it is, so the pre-flight does not depend on Monitoring.
    """

    @property
    def drifted(self) -> bool | None: ...

    @property
    def detail(self) -> str: ...


@dataclass(frozen=True)
class DriftStatus:
    """A drift verdict built by hand (tests, the command line)."""

    drifted: bool | None
    detail: str


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


@dataclass(frozen=True)
class AliasMove:
    """A move that was made, with the ledger entry that records it."""

    alias: str
    from_version: int | None
    to_version: int | None
    ledger_id: int
    override: bool
    preflight: Preflight | None
    external: tuple[AliasChange, ...] = field(default=())  # outside changes recorded on the way


@dataclass(frozen=True)
class RegistryView:
    """What the Registry page shows: versions, alias holders and the ledger (synchronised on read)."""

    versions: list[VersionInfo]
    holders: dict[str, int]
    ledger: list[AliasChange]
    external: list[AliasChange]  # changes made outside Loupe, recorded during this read


# --- guards -------------------------------------------------------------------------------------


def promotion_is_protected(settings: Settings) -> bool:
    """Whether alias moves need the admin token."""
    return settings.admin_token is not None and bool(settings.admin_token.get_secret_value())


def check_token(settings: Settings, token: str | None) -> None:
    """Raise :class:`TokenRefused` unless promotion is open or ``token`` matches (constant-time)."""
    if not promotion_is_protected(settings):
        return
    if not token:
        raise TokenRefused("the admin token is required (LOUPE_ADMIN_TOKEN is set) and was not given")
    expected = settings.admin_token.get_secret_value().encode()  # type: ignore[union-attr]
    if not hmac.compare_digest(token.encode(), expected):
        raise TokenRefused("the admin token is wrong")


def valid_alias(alias: str | None) -> str:
    """The alias, stripped, or :class:`InvalidRequest` naming the rule it breaks."""
    alias = (alias or "").strip()
    if not ALIAS_PATTERN.match(alias):
        raise InvalidRequest("alias must be 1–64 letters, digits, '_' or '-'")
    if RESERVED_ALIAS.match(alias):
        raise InvalidRequest(f"alias {alias!r} is reserved by MLflow (latest, v1, v2, …)")
    return alias


def _required(value: str | None, field_name: str) -> str:
    value = (value or "").strip()
    if not value:
        raise InvalidRequest(f"{field_name} is required")
    return value


def _operator_origin(origin: str) -> str:
    # "rollback", "external" and "bootstrap" are written by Loupe itself, never claimed by a caller.
    if origin not in OPERATOR_ORIGINS:
        raise ValueError(f"origin must be one of {', '.join(OPERATOR_ORIGINS)}, not {origin!r}")
    return origin


def _existing_version(settings: Settings, version: int) -> VersionInfo:
    try:
        return mlflow_io.get_version(settings, version=version)
    except MlflowException as error:
        raise InvalidRequest(f"version {version} of {settings.model_name} does not exist") from error


# --- pre-flight ---------------------------------------------------------------------------------


def preflight(
    settings: Settings, *, sessions: Sessions, version: int, alias: str, drift: DriftLike | None = None
) -> Preflight:
    """Check moving ``alias`` to ``version`` against the alias's current holder."""
    alias = valid_alias(alias)
    candidate = _existing_version(settings, version)
    holder_version = mlflow_io.alias_map(settings).get(alias)
    holder = None if holder_version is None else mlflow_io.get_version(settings, version=holder_version)
    with reading(sessions) as session:
        return _checks(settings, session, alias=alias, candidate=candidate, holder=holder, drift=drift)


def _checks(
    settings: Settings,
    session: Session,
    *,
    alias: str,
    candidate: VersionInfo,
    holder: VersionInfo | None,
    drift: DriftLike | None,
) -> Preflight:
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
    except MlflowException as error:  # e.g. the model's artifacts were deleted; the version entry remains
        return Check(name, FAIL, f"version {candidate.version}'s model cannot be read: {_first_line(error)}")
    if new is None:
        # Predict builds its form and its input checks from the signature: without one it cannot serve.
        return Check(name, FAIL, f"version {candidate.version} has no model signature")
    if holder is None:
        return Check(name, PASS, f"{len(new)} inputs; no version holds the alias, so nothing to stay compatible with")
    try:
        old = mlflow_io.input_schema(settings, version=holder.version)
    except MlflowException as error:
        return Check(name, UNKNOWN, f"version {holder.version}'s model cannot be read: {_first_line(error)}")
    if old is None:
        return Check(name, UNKNOWN, f"version {holder.version} has no signature to compare with")
    problems = signature_differences(old=old, new=new)
    if problems:
        return Check(name, FAIL, "; ".join(problems))
    return Check(name, PASS, f"same {len(new)} inputs (names and types) as version {holder.version}")


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0][:200] if lines else type(error).__name__


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
    name = f"holdout {HOLDOUT_METRIC}"
    new = candidate.metrics.get(HOLDOUT_METRIC)
    if new is None:
        if holder is None or holder.metrics.get(HOLDOUT_METRIC) is None:
            return Check(name, UNKNOWN, f"version {candidate.version} has no holdout {HOLDOUT_METRIC}")
        return Check(
            name,
            FAIL,
            f"version {candidate.version} has no holdout {HOLDOUT_METRIC}, so nothing shows it is no worse "
            f"than version {holder.version} ({holder.metrics[HOLDOUT_METRIC]:,.1f})",
        )
    if holder is None:
        return Check(name, PASS, f"{new:,.1f}; no holder to compare with")
    old = holder.metrics.get(HOLDOUT_METRIC)
    if old is None:
        return Check(name, UNKNOWN, f"version {holder.version} has no holdout {HOLDOUT_METRIC}")
    limit = old * (1 + settings.promotion_tolerance)
    change = (new - old) / old if old else 0.0
    detail = (
        f"{new:,.1f} vs {old:,.1f} for version {holder.version} ({change:+.1%}; "
        f"tolerance +{settings.promotion_tolerance:.0%})"
    )
    return Check(name, FAIL if new > limit else PASS, detail)


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
    return [
        _agreement_check(names[0], agreed),
        _realised_check(names[1], settings, new, old),
        _latency_check(names[2], settings, new, old),
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


def _latency_check(
    name: str, settings: Settings, new: evidence.VersionEvidence, old: evidence.VersionEvidence
) -> Check:
    if min(new.predictions, old.predictions) < MIN_LATENCY_SAMPLES:
        return Check(
            name,
            UNKNOWN,
            f"{new.predictions} logged answers of version {new.version} and {old.predictions} of version "
            f"{old.version} (needs {MIN_LATENCY_SAMPLES} each)",
        )
    assert new.latency_p95_ms is not None and old.latency_p95_ms is not None
    budget = settings.alert_p95_latency_ms
    detail = f"{new.latency_p95_ms:,.1f} ms vs {old.latency_p95_ms:,.1f} ms (limit ×{LATENCY_FACTOR:g}"
    detail += ")" if budget is None else f" and over the {budget:,.0f} ms p95 budget)"
    if new.latency_p95_ms <= LATENCY_FACTOR * old.latency_p95_ms:
        return Check(name, PASS, detail)
    # Slower, but a model that still answers within the operators' latency budget only warns: restoring a
    # heavier but better model (a rollback, say) must not be blocked by a lighter one's speed.
    within_budget = budget is not None and new.latency_p95_ms <= budget
    return Check(name, WARN if within_budget else FAIL, detail)


def _drift_check(drift: DriftLike | None) -> Check:
    if drift is None:
        return Check("input drift", UNKNOWN, "drift status unknown (Monitoring has not reported one)")
    if drift.drifted is None:
        return Check("input drift", UNKNOWN, drift.detail)
    # Drift describes the live inputs, not the candidate: every version faces it, so it informs the
    # operator (the holdout metrics may not hold on this data) without blocking the move.
    return Check("input drift", WARN if drift.drifted else PASS, drift.detail)


# --- moves --------------------------------------------------------------------------------------


def promote(
    settings: Settings,
    *,
    sessions: Sessions,
    version: int,
    alias: str,
    reason: str,
    actor: str,
    origin: str = "page",
    token: str | None = None,
    override: bool = False,
    drift: DriftLike | None = None,
) -> AliasMove:
    """Point ``alias`` at ``version`` if the pre-flight passes (or is overridden); record it in the ledger."""
    alias, reason, actor = valid_alias(alias), _required(reason, "reason"), _required(actor, "operator name")
    origin = _operator_origin(origin)
    check_token(settings, token)
    checked = preflight(settings, sessions=sessions, version=version, alias=alias, drift=drift)
    return _move(
        settings,
        sessions=sessions,
        alias=alias,
        choose_target=lambda session, holder: version,
        checked=checked,
        drift=drift,
        reason=reason,
        actor=actor,
        origin=origin,
        override=override,
    )


def rollback_target(settings: Settings, *, sessions: Sessions, alias: str) -> tuple[int | None, int]:
    """``(current holder, version a rollback restores)`` from the ledger, or :class:`InvalidRequest`."""
    alias = valid_alias(alias)
    sync_external_changes(settings, sessions=sessions)
    with reading(sessions) as session:
        last = last_alias_changes(session, model_name=settings.model_name).get(alias)
    return _previous(alias, last)


def _previous(alias: str, last: AliasChange | None) -> tuple[int | None, int]:
    if last is None:
        raise InvalidRequest(f"the ledger has no change of {alias} to roll back")
    if last.from_version is None:
        raise InvalidRequest(f"{alias} had no version before version {last.to_version}: nothing to roll back to")
    return last.to_version, last.from_version


def rollback(
    settings: Settings,
    *,
    sessions: Sessions,
    alias: str,
    reason: str,
    actor: str,
    token: str | None = None,
    override: bool = False,
    drift: DriftLike | None = None,
) -> AliasMove:
    """Restore the version ``alias`` had before its last change, with the same guards as a promotion."""
    alias, reason, actor = valid_alias(alias), _required(reason, "reason"), _required(actor, "operator name")
    check_token(settings, token)

    def choose_target(session: Session, holder: int | None) -> int | None:
        del holder
        return _previous(alias, last_alias_changes(session, model_name=settings.model_name).get(alias))[1]

    return _move(
        settings,
        sessions=sessions,
        alias=alias,
        choose_target=choose_target,
        checked=None,
        drift=drift,
        reason=reason,
        actor=actor,
        origin="rollback",
        override=override,
    )


def remove_alias(
    settings: Settings,
    *,
    sessions: Sessions,
    alias: str,
    reason: str,
    actor: str,
    origin: str = "page",
    token: str | None = None,
) -> AliasMove:
    """Delete ``alias`` from the model and record it (``to_version`` is empty in the ledger)."""
    alias, reason, actor = valid_alias(alias), _required(reason, "reason"), _required(actor, "operator name")
    origin = _operator_origin(origin)
    check_token(settings, token)

    def choose_target(session: Session, holder: int | None) -> int | None:
        if holder is None:
            raise InvalidRequest(f"{alias} is not set on {settings.model_name}")
        return None

    return _move(
        settings,
        sessions=sessions,
        alias=alias,
        choose_target=choose_target,
        checked=None,
        drift=None,
        reason=reason,
        actor=actor,
        origin=origin,
        override=False,
    )


def _move(
    settings: Settings,
    *,
    sessions: Sessions,
    alias: str,
    choose_target: Callable[[Session, int | None], int | None],
    checked: Preflight | None,
    drift: DriftLike | None,
    reason: str,
    actor: str,
    origin: str,
    override: bool,
) -> AliasMove:
    refusal: PromotionRefused | None = None
    move: AliasMove | None = None
    # Refusals are raised after the block, so outside changes found on the way are still committed.
    with sessions.begin() as session:
        lock_alias_ledger(session, model_name=settings.model_name)
        holders = mlflow_io.alias_map(settings)
        external = tuple(_record_external(session, settings, holders))
        holder = holders.get(alias)
        try:
            target = choose_target(session, holder)
            if target is not None:
                if target == holder:
                    raise InvalidRequest(f"version {target} already holds {alias}")
                if checked is None or (checked.holder, checked.candidate) != (holder, target):
                    # The alias moved since the operator's pre-flight (or there was none): check again.
                    checked = _checks(
                        settings,
                        session,
                        alias=alias,
                        candidate=_existing_version(settings, target),
                        holder=None if holder is None else mlflow_io.get_version(settings, version=holder),
                        drift=drift,
                    )
                if checked.failed and not override:
                    raise PreflightBlocked(checked)
        except PromotionRefused as refused:
            refusal = refused
        else:
            overridden = bool(target is not None and checked is not None and checked.failed)
            entry = record_alias_change(
                session,
                model_name=settings.model_name,
                alias=alias,
                from_version=holder,
                to_version=target,
                actor=actor,
                reason=reason,
                origin=origin,
                preflight=None if target is None or checked is None else checked.to_json(),
                override=overridden,
            )
            # The ledger row is flushed first: if the registry refuses, the transaction rolls it back.
            if target is None:
                mlflow_io.delete_alias(settings, alias=alias)
            else:
                mlflow_io.set_alias(settings, alias=alias, version=target)
            move = AliasMove(
                alias=alias,
                from_version=holder,
                to_version=target,
                ledger_id=entry.id,
                override=overridden,
                preflight=checked if target is not None else None,
                external=external,
            )
    if refusal is not None:
        raise refusal
    assert move is not None
    return move


def set_validation_status(settings: Settings, *, version: int, status: str, token: str | None = None) -> None:
    """Tag a version's ``validation_status`` (one of :data:`VALIDATION_STATUSES`); guarded like a move."""
    if status not in VALIDATION_STATUSES:
        raise InvalidRequest(f"validation status must be one of {', '.join(VALIDATION_STATUSES)}")
    check_token(settings, token)
    _existing_version(settings, version)
    mlflow_io.set_version_tag(settings, version=version, key=VALIDATION_STATUS_TAG, value=status)


# --- ledger and outside changes -----------------------------------------------------------------


def _differences(holders: dict[str, int], last: dict[str, AliasChange]) -> dict[str, tuple[int | None, int | None]]:
    aliases = set(holders) | {alias for alias, change in last.items() if change.to_version is not None}
    recorded = {alias: change.to_version for alias, change in last.items()}
    return {
        alias: (recorded.get(alias), holders.get(alias))
        for alias in sorted(aliases)
        if recorded.get(alias) != holders.get(alias)
    }


def _record_external(session: Session, settings: Settings, holders: dict[str, int]) -> list[AliasChange]:
    last = last_alias_changes(session, model_name=settings.model_name)
    return [
        record_alias_change(
            session,
            model_name=settings.model_name,
            alias=alias,
            from_version=recorded,
            to_version=current,
            actor=EXTERNAL_ACTOR,
            reason="the registry's alias differed from the ledger's last entry when Loupe read it "
            "(changed by another client or the MLflow UI; the exact time is unknown)",
            origin="external",
        )
        for alias, (recorded, current) in _differences(holders, last).items()
    ]


def sync_external_changes(settings: Settings, *, sessions: Sessions) -> list[AliasChange]:
    """Record as ``external`` every alias whose registry holder differs from the ledger's last entry."""
    holders = mlflow_io.alias_map(settings)
    with reading(sessions) as session:
        if not _differences(holders, last_alias_changes(session, model_name=settings.model_name)):
            return []
    with sessions.begin() as session:
        # Checked again under the lock: a move in flight is not an outside change.
        lock_alias_ledger(session, model_name=settings.model_name)
        return _record_external(session, settings, mlflow_io.alias_map(settings))


def ledger(settings: Settings, *, sessions: Sessions, alias: str | None = None) -> list[AliasChange]:
    """The ledger (oldest first), after recording any outside change."""
    sync_external_changes(settings, sessions=sessions)
    with reading(sessions) as session:
        return list_alias_changes(session, model_name=settings.model_name, alias=alias)


def registry_view(settings: Settings, *, sessions: Sessions) -> RegistryView:
    """Versions, alias holders and the synchronised ledger, in one read."""
    external = sync_external_changes(settings, sessions=sessions)
    versions = mlflow_io.list_versions(settings)
    with reading(sessions) as session:
        entries = list_alias_changes(session, model_name=settings.model_name)
    holders = {alias: version.version for version in versions for alias in version.aliases}
    return RegistryView(versions=versions, holders=holders, ledger=entries, external=external)


# --- outside Streamlit --------------------------------------------------------------------------


def os_user() -> str:
    """Who runs the command line, for the ledger."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name and no USER variable, e.g. in some containers
        return "unknown OS user"
