"""The audit ledger as the Registry page reads it: alias changes made outside Loupe are recorded on every read."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from core import mlflow_io
from core.mlflow_io import VersionInfo
from core.registry.last_known import remember
from core.settings import Settings
from storage.db import Sessions, reading
from storage.ledger import (
    ABANDONED,
    DONE,
    AliasChange,
    alias_move_lock,
    last_alias_changes,
    list_alias_changes,
    lock_alias_ledger,
    pending_alias_changes,
    record_alias_change,
    settle_alias_changes,
)

EXTERNAL_ACTOR = "outside Loupe"
READ_REASON = (
    "the registry's alias differed from the ledger's last entry when Loupe read it "
    "(changed by another client or the MLflow UI; the exact time is unknown)"
)


def event_reason(event: str, delivered_at: str) -> str:
    """Why an entry was recorded when the registry's webhook reported the change (so its time is known)."""
    return (
        f"the registry reported {event} at {delivered_at} (its webhook, signature checked): changed by another "
        "client or the MLflow UI"
    )


@dataclass(frozen=True)
class RegistryView:
    """What the Registry page shows: versions, alias holders and the ledger (synchronised on read)."""

    versions: list[VersionInfo]
    holders: dict[str, int]
    ledger: list[AliasChange]
    external: list[AliasChange]  # changes made outside Loupe, recorded during this read


def _differences(holders: dict[str, int], last: dict[str, AliasChange]) -> dict[str, tuple[int | None, int | None]]:
    aliases = set(holders) | {alias for alias, change in last.items() if change.to_version is not None}
    recorded = {alias: change.to_version for alias, change in last.items()}
    return {
        alias: (recorded.get(alias), holders.get(alias))
        for alias in sorted(aliases)
        if recorded.get(alias) != holders.get(alias)
    }


def settle_pending_moves(session: Session, settings: Settings, holders: dict[str, int]) -> list[AliasChange]:
    """Settle the entries of moves cut short between ledger and registry; returns those found done.

    Call under the ledger lock while no move is in flight (the caller holds the move lock, or found it
    free): a pending entry is then a crash's. The registry holding its version means the move happened —
    it stays a Loupe move with its actor, reason and checks; otherwise it never happened.
    """
    pending = pending_alias_changes(session, model_name=settings.model_name)
    happened = [entry for entry in pending if holders.get(entry.alias) == entry.to_version]
    settle_alias_changes(session, ids=[entry.id for entry in happened], state=DONE)
    settle_alias_changes(session, ids=[entry.id for entry in pending if entry not in happened], state=ABANDONED)
    session.flush()
    return happened


def record_external_changes(
    session: Session,
    settings: Settings,
    holders: dict[str, int],
    *,
    moving: frozenset[str] = frozenset(),
    reported: tuple[str, str] | None = None,
) -> list[AliasChange]:
    """Ledger entries (origin ``external``) for every alias whose holder differs from the last entry; call under the lock.

    Aliases in ``moving`` are being moved by Loupe right now (their pending entry says so): not outside changes.
    ``reported`` is ``(alias, reason)`` when the registry's webhook reported that alias's change: its entry
    gives that reason (the time is known); any other difference found gives the read's reason.
    """
    last = last_alias_changes(session, model_name=settings.model_name)
    return [
        record_alias_change(
            session,
            model_name=settings.model_name,
            alias=alias,
            from_version=recorded,
            to_version=current,
            actor=EXTERNAL_ACTOR,
            reason=reported[1] if reported is not None and reported[0] == alias else READ_REASON,
            origin="external",
        )
        for alias, (recorded, current) in _differences(holders, last).items()
        if alias not in moving
    ]


def sync_external_changes(
    settings: Settings, *, sessions: Sessions, reported: tuple[str, str] | None = None
) -> list[AliasChange]:
    """Settle moves a crash cut short, then record as ``external`` every alias whose holder differs from the ledger.

    Called on every read of the ledger and when the registry's webhook reports a change
    (:mod:`core.server.registry_events`, ``reported`` = the event's alias and reason): both compare the registry with the
    ledger's last entries, so a change reported by the webhook is not recorded again at the next read.
    """
    holders = mlflow_io.alias_map(settings)
    remember(settings, holders=holders)
    with reading(sessions) as session:
        last = last_alias_changes(session, model_name=settings.model_name)
        pending = pending_alias_changes(session, model_name=settings.model_name)
        if not pending and not _differences(holders, last):
            return []
    with (
        alias_move_lock(sessions, model_name=settings.model_name, wait=False) as no_move_in_flight,
        sessions.begin() as session,
    ):
        # Checked again under the lock: a move in flight is not an outside change.
        lock_alias_ledger(session, model_name=settings.model_name)
        holders = mlflow_io.alias_map(settings)
        if no_move_in_flight:
            settle_pending_moves(session, settings, holders)
            return record_external_changes(session, settings, holders, reported=reported)
        moving = frozenset(entry.alias for entry in pending_alias_changes(session, model_name=settings.model_name))
        return record_external_changes(session, settings, holders, moving=moving, reported=reported)


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
