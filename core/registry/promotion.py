"""Alias moves behind guardrails: promotion, removal, rollback and validation tags, each recorded in the ledger.

Every move runs in one prediction-log transaction that first takes the ledger lock, then reads the
alias holder from the registry, records any change made outside Loupe, re-checks if the holder moved
since the operator's pre-flight, appends the ledger entry and moves the alias. Racing moves are
therefore applied one after the other and each one's ``from_version`` is the version it replaced.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from core import mlflow_io
from core.monitoring.references import refresh
from core.registry.guards import (
    InvalidRequest,
    PromotionRefused,
    check_token,
    operator_origin,
    required_text,
    valid_alias,
)
from core.registry.ledger_sync import record_external_changes, sync_external_changes
from core.registry.preflight import (
    VALIDATION_STATUS_TAG,
    VALIDATION_STATUSES,
    DriftLike,
    Preflight,
    PreflightBlocked,
    existing_version,
    preflight,
    run_checks,
)
from core.settings import Settings
from storage.db import Sessions, reading
from storage.ledger import (
    AliasChange,
    last_alias_changes,
    lock_alias_ledger,
    record_alias_change,
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
    alias, reason, actor = valid_alias(alias), required_text(reason, "reason"), required_text(actor, "operator name")
    origin = operator_origin(origin)
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
    alias, reason, actor = valid_alias(alias), required_text(reason, "reason"), required_text(actor, "operator name")
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
    alias, reason, actor = valid_alias(alias), required_text(reason, "reason"), required_text(actor, "operator name")
    origin = operator_origin(origin)
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
    if checked is None:
        refresh(settings, sessions=sessions)  # a re-check reads latency from the roll-ups, inside the lock below
    # Refusals are raised after the block, so outside changes found on the way are still committed.
    with sessions.begin() as session:
        lock_alias_ledger(session, model_name=settings.model_name)
        holders = mlflow_io.alias_map(settings)
        external = tuple(record_external_changes(session, settings, holders))
        holder = holders.get(alias)
        try:
            target = choose_target(session, holder)
            if target is not None:
                if target == holder:
                    raise InvalidRequest(f"version {target} already holds {alias}")
                if checked is None or (checked.holder, checked.candidate) != (holder, target):
                    # The alias moved since the operator's pre-flight (or there was none): check again.
                    checked = run_checks(
                        settings,
                        session,
                        alias=alias,
                        candidate=existing_version(settings, target),
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
    existing_version(settings, version)
    mlflow_io.set_version_tag(settings, version=version, key=VALIDATION_STATUS_TAG, value=status)
