"""The audit ledger as the Registry page reads it: alias changes made outside Loupe are recorded on every read."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from core import mlflow_io
from core.mlflow_io import VersionInfo
from core.settings import Settings
from storage.db import Sessions, reading
from storage.ledger import (
    AliasChange,
    last_alias_changes,
    list_alias_changes,
    lock_alias_ledger,
    record_alias_change,
)

EXTERNAL_ACTOR = "outside Loupe"


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


def record_external_changes(session: Session, settings: Settings, holders: dict[str, int]) -> list[AliasChange]:
    """Ledger entries (origin ``external``) for every alias whose holder differs from the last entry; call under the lock."""
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
        return record_external_changes(session, settings, mlflow_io.alias_map(settings))


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
