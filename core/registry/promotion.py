"""Alias moves behind guardrails: promotion, removal, rollback and validation tags, each recorded in the ledger.

A move holds the model's move lock from start to end, so racing moves are applied one after the
other and each one's ``from_version`` is the version it replaced. Within it, one transaction takes
the ledger lock, reads the alias holder from the registry, settles what a crashed move left, records
any change made outside Loupe, re-checks if the holder moved since the operator's pre-flight and
commits the entry as *pending* (who, why, checks). Only then does the registry move; the entry is
marked *done* after. A process that dies in between leaves a pending entry that the next read of the
ledger settles (:func:`core.registry.ledger_sync.settle_pending_moves`): the move keeps its actor.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from sqlalchemy.orm import Session

from core import mlflow_io
from core.mlflow_io import DIGEST_TAG
from core.monitoring.references import refresh
from core.registry.guards import (
    InvalidRequest,
    PromotionRefused,
    check_token,
    operator_origin,
    required_text,
    valid_alias,
)
from core.registry.ledger_sync import record_external_changes, settle_pending_moves, sync_external_changes
from core.registry.preflight import (
    VALIDATION_STATUS_TAG,
    VALIDATION_STATUSES,
    DriftLike,
    Preflight,
    PreflightBlocked,
    changed_files_digest,
    existing_version,
    preflight,
    run_checks,
)
from core.settings import Settings
from storage.db import Sessions, reading
from storage.ledger import (
    ABANDONED,
    DONE,
    PENDING,
    AliasChange,
    alias_move_lock,
    list_alias_changes,
    lock_alias_ledger,
    record_alias_change,
    settle_alias_changes,
)

CHAMPION, CHALLENGER = "champion", "challenger"
# What becomes of ``challenger`` when its version is promoted to champion: left where it is, removed,
# or pointed at another version. "keep" is the default: a move changes only the alias it names.
ChallengerChoice = Literal["keep", "clear"] | int


@dataclass(frozen=True)
class _Planned:
    """A move decided and checked, not yet made: what its ledger entry records."""

    alias: str
    holder: int | None
    target: int | None
    checked: Preflight | None
    reason: str
    override: bool  # made although its pre-flight failed
    digest: str | None = None  # SHA-256 of the target's model files, recorded in the ledger and on the version


# (session, registry holders, champion's new version, reason) → the challenger's move to make after it
FollowUp = Callable[[Session, dict[str, int], int, str], _Planned | None]


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
    also: tuple[AliasMove, ...] = field(default=())  # the challenger's move that came with a promotion


def challenger_choice(value: str | int) -> ChallengerChoice:
    """``keep``, ``clear`` or a version number (as the CLI and the page give it), or :class:`InvalidRequest`."""
    if isinstance(value, int):
        return value
    text = str(value).strip().lower()
    if text in ("keep", "clear"):
        return "keep" if text == "keep" else "clear"
    number = text.removeprefix("v")
    if number.isdigit():
        return int(number)
    raise InvalidRequest(f"challenger must be keep, clear or a version number, not {value!r}")


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
    challenger: ChallengerChoice = "keep",
) -> AliasMove:
    """Point ``alias`` at ``version`` if the pre-flight passes (or is overridden); record it in the ledger.

    When ``champion`` moves to the version holding ``challenger``, ``challenger`` is kept there (both
    aliases on one version: shadow scoring is idle), cleared, or moved to the version given, in the
    same transaction and with its own ledger entry and checks.
    """
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
        then=None if alias != CHAMPION else _challenger_follow_up(settings, challenger, drift=drift, override=override),
    )


def _challenger_follow_up(
    settings: Settings, choice: ChallengerChoice, *, drift: DriftLike | None, override: bool
) -> FollowUp:
    """The step that moves ``challenger`` after ``champion`` took its version (nothing if it did not)."""
    choice = challenger_choice(choice)

    def follow(session: Session, holders: dict[str, int], champion: int, reason: str) -> _Planned | None:
        holder = holders.get(CHALLENGER)
        if holder is None:
            return None
        if holder != champion or choice == "keep":
            return None
        target = None if choice == "clear" else int(choice)
        checked = None
        if target is not None:
            if target == champion:
                return None  # the same as keeping it
            checked = run_checks(
                settings,
                session,
                alias=CHALLENGER,
                candidate=existing_version(settings, target),
                holder=mlflow_io.get_version(settings, version=holder),
                drift=drift,
            )
            if checked.failed and not override:
                raise PreflightBlocked(checked)
        what = "cleared" if target is None else f"moved to version {target}"
        return _Planned(
            alias=CHALLENGER,
            holder=holder,
            target=target,
            checked=checked,
            reason=f"{what} as version {champion} became champion: {reason}",
            override=bool(checked is not None and checked.failed),
            digest=None if target is None else mlflow_io.version_digest(settings, version=target),
        )

    return follow


@dataclass(frozen=True)
class RollbackPath:
    """Where an alias stands and the versions a rollback would walk back through, newest first."""

    alias: str
    holder: int | None
    earlier: tuple[int, ...]  # earlier[0] is what the next rollback restores

    @property
    def target(self) -> int | None:
        return self.earlier[0] if self.earlier else None


def walk_back(alias: str, entries: Sequence[AliasChange]) -> RollbackPath:
    """The alias's holders as the ledger tells them (oldest first), with every rollback undoing one step.

    A promotion (or an outside change) pushes the new holder; a rollback pops the version it left; a
    removal keeps the history, so a rollback brings the removed version back, and restoring the same
    version after a removal is no new step. Repeated rollbacks therefore walk v4 → v3 → v2 → v1.
    """
    path: list[int] = []
    holder: int | None = None
    for entry in entries:
        if entry.origin == "rollback" and entry.to_version is not None:
            if path and path[-1] == entry.from_version:
                path.pop()
            if not path or path[-1] != entry.to_version:
                path.append(entry.to_version)
        elif entry.to_version is not None and (not path or path[-1] != entry.to_version):
            path.append(entry.to_version)
        holder = entry.to_version
    # With the alias set, the top of the path is its holder; removed, the top is what a rollback restores.
    earlier = path[:-1] if holder is not None and path and path[-1] == holder else path
    return RollbackPath(alias=alias, holder=holder, earlier=tuple(reversed(earlier)))


def rollback_path(settings: Settings, *, sessions: Sessions, alias: str) -> RollbackPath:
    """The alias's rollback path from the synchronised ledger."""
    alias = valid_alias(alias)
    sync_external_changes(settings, sessions=sessions)
    with reading(sessions) as session:
        return walk_back(alias, list_alias_changes(session, model_name=settings.model_name, alias=alias))


def rollback_target(settings: Settings, *, sessions: Sessions, alias: str) -> tuple[int | None, int]:
    """``(current holder, version a rollback restores)`` from the ledger, or :class:`InvalidRequest`."""
    alias = valid_alias(alias)
    sync_external_changes(settings, sessions=sessions)
    with reading(sessions) as session:
        entries = list_alias_changes(session, model_name=settings.model_name, alias=alias)
    return _previous(alias, entries)


def _previous(alias: str, entries: Sequence[AliasChange]) -> tuple[int | None, int]:
    if not entries:
        raise InvalidRequest(f"the ledger has no change of {alias} to roll back")
    path = walk_back(alias, entries)
    if path.target is None:
        raise InvalidRequest(f"{alias} had no version before version {path.holder} on record: nothing to roll back to")
    return path.holder, path.target


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
        return _previous(alias, list_alias_changes(session, model_name=settings.model_name, alias=alias))[1]

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
    then: FollowUp | None = None,
) -> AliasMove:
    refusal: PromotionRefused | None = None
    planned: list[_Planned] = []
    entries: list[AliasChange] = []
    if checked is None:
        refresh(settings, sessions=sessions)  # a re-check reads latency from the roll-ups, inside the lock below
    with alias_move_lock(sessions, model_name=settings.model_name):
        # Refusals are raised after the block, so outside changes found on the way are still committed.
        with sessions.begin() as session:
            lock_alias_ledger(session, model_name=settings.model_name)
            holders = mlflow_io.alias_map(settings)
            settle_pending_moves(session, settings, holders)  # we hold the move lock: a pending entry is a crash's
            external = tuple(record_external_changes(session, settings, holders))
            holder = holders.get(alias)
            try:
                target = choose_target(session, holder)
                digest = None
                if target is not None:
                    if target == holder:
                        # Promoting the holder again is how changed model files are accepted back into service.
                        digest = changed_files_digest(settings, existing_version(settings, target))
                        if digest is None:
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
                    digest = digest or mlflow_io.version_digest(settings, version=target)
                first = _Planned(
                    alias=alias,
                    holder=holder,
                    target=target,
                    checked=checked if target is not None else None,
                    reason=reason,
                    override=bool(target is not None and checked is not None and checked.failed),
                    digest=digest,
                )
                # The challenger's step is checked before anything moves, and made after the champion's.
                follow_up = None if then is None or target is None else then(session, holders, target, reason)
            except PromotionRefused as refused:
                refusal = refused
            else:
                planned = [first] if follow_up is None else [first, follow_up]
                entries = [_pending_entry(session, settings, plan, actor=actor, origin=origin) for plan in planned]
        if refusal is not None:
            raise refusal
        # Only committed entries move the registry: a crash from here on leaves them pending, never lost.
        _make_in_registry(settings, sessions=sessions, planned=planned, entries=entries)
    moves = [_made(plan, entry) for plan, entry in zip(planned, entries, strict=True)]
    return replace(moves[0], external=external, also=tuple(moves[1:]))


def _pending_entry(session: Session, settings: Settings, plan: _Planned, *, actor: str, origin: str) -> AliasChange:
    return record_alias_change(
        session,
        model_name=settings.model_name,
        alias=plan.alias,
        from_version=plan.holder,
        to_version=plan.target,
        actor=actor,
        reason=plan.reason,
        origin=origin,
        preflight=None if plan.checked is None else plan.checked.to_json(),
        override=plan.override,
        state=PENDING,
        artifact_digest=plan.digest,
    )


def _make_in_registry(
    settings: Settings, *, sessions: Sessions, planned: Sequence[_Planned], entries: Sequence[AliasChange]
) -> None:
    """Move the aliases in the registry, then mark their entries done (abandoned where the registry refused)."""
    made = 0
    try:
        for plan in planned:
            if plan.target is None:
                mlflow_io.delete_alias(settings, alias=plan.alias)
            else:
                if plan.digest is not None:  # serving compares every copy it makes with this
                    mlflow_io.set_version_tag(settings, version=plan.target, key=DIGEST_TAG, value=plan.digest)
                mlflow_io.set_alias(settings, alias=plan.alias, version=plan.target)
            made += 1
    finally:
        with sessions.begin() as session:
            settle_alias_changes(session, ids=[entry.id for entry in entries[:made]], state=DONE)
            settle_alias_changes(session, ids=[entry.id for entry in entries[made:]], state=ABANDONED)


def _made(plan: _Planned, entry: AliasChange) -> AliasMove:
    return AliasMove(
        alias=plan.alias,
        from_version=plan.holder,
        to_version=plan.target,
        ledger_id=entry.id,
        override=plan.override,
        preflight=plan.checked,
    )


def set_validation_status(settings: Settings, *, version: int, status: str, token: str | None = None) -> None:
    """Tag a version's ``validation_status`` (one of :data:`VALIDATION_STATUSES`); guarded like a move."""
    if status not in VALIDATION_STATUSES:
        raise InvalidRequest(f"validation status must be one of {', '.join(VALIDATION_STATUSES)}")
    check_token(settings, token)
    existing_version(settings, version)
    mlflow_io.set_version_tag(settings, version=version, key=VALIDATION_STATUS_TAG, value=status)
