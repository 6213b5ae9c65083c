"""What the Home page and sidebar show: the live model, its challenger, and the backends in use."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from core import mlflow_io
from core.formats import plural, timestamp
from core.mlflow_io import RegistryUnavailable, VersionInfo
from core.registry.last_known import FROM_MODEL_CACHE, LastKnown, recall, remember
from core.settings import Settings, mask_url

SHOWN_ALIASES = ("champion", "challenger")


@dataclass(frozen=True)
class ConsoleStatus:
    """A snapshot of the registry and backends for display."""

    model_name: str
    tracking_uri: str  # masked
    database_url: str  # masked
    registry_error: str | None
    holders: dict[str, VersionInfo | None]
    version_count: int  # 0 when the registry is unreachable: read ``last_known`` then, never this
    last_known: LastKnown | None = None  # set when the registry is unreachable: what was last known, and when

    @property
    def registry_reachable(self) -> bool:
        return self.registry_error is None


def console_status(settings: Settings) -> ConsoleStatus:
    """Read the alias holders from the registry; an unreachable registry is reported, not raised.

    A successful read is remembered on this host; with the registry unreachable, the status carries
    what was last known instead (the holders are then unknown, not absent).
    """
    holders: dict[str, VersionInfo | None] = dict.fromkeys(SHOWN_ALIASES)
    error: str | None = None
    version_count = 0
    last_known: LastKnown | None = None
    try:
        versions = mlflow_io.list_versions(settings)
        version_count = len(versions)
        for alias in SHOWN_ALIASES:
            holders[alias] = next((version for version in versions if alias in version.aliases), None)
        remember(
            settings,
            holders={alias: version.version for version in versions for alias in version.aliases},
            version_count=version_count,
        )
    except RegistryUnavailable as unavailable:
        error = str(unavailable)
        last_known = recall(settings)
    return ConsoleStatus(
        model_name=settings.model_name,
        tracking_uri=mask_url(settings.tracking_uri),
        database_url=mask_url(settings.database_url),
        registry_error=error,
        holders=holders,
        version_count=version_count,
        last_known=last_known,
    )


UNREACHABLE = "the registry is unreachable"


def last_known_line(alias: str, last_known: LastKnown | None) -> str:
    """Markdown for an alias's card while the registry is unreachable: what it last held and when, or "unknown".

    Never "no version holds it": with the registry unreachable that is not known.
    """
    holder = (last_known.holders if last_known is not None else {}).get(alias)
    if holder is None:
        return f"`{alias}`: unknown — {UNREACHABLE} and this host has no earlier reading of it."
    as_of = timestamp(holder.as_of)
    if holder.version is None:
        return f"No version held `{alias}` as of {as_of} — {UNREACHABLE}, so whether one holds it now is unknown."
    served = " (the version this host last served for it)" if holder.source == FROM_MODEL_CACHE else ""
    return f"`{alias}` v{holder.version}, as of {as_of}{served} — {UNREACHABLE}."


def version_count_line(status: ConsoleStatus) -> str:
    """How many versions the model has, as the Backends box says it; "unknown" (with the last count) when unreachable."""
    if status.registry_reachable:
        return f"{plural(status.version_count, 'version')} registered"
    known = status.last_known
    if known is None or known.version_count is None:
        return f"number of versions unknown ({UNREACHABLE})"
    return (
        f"number of versions unknown ({UNREACHABLE}); {plural(known.version_count, 'version')} "
        f"as of {timestamp(known.counted_at)}"
    )


@dataclass(frozen=True)
class LiveAliases:
    """Which version each alias points to right now, or why that is unknown."""

    versions: dict[str, int]
    registry_error: str | None = None


def live_aliases(settings: Settings) -> LiveAliases:
    """One cheap registry call for the sidebar: every alias of the model and its version."""
    try:
        versions = mlflow_io.alias_map(settings)
    except RegistryUnavailable as unavailable:
        return LiveAliases(versions={}, registry_error=str(unavailable))
    remember(settings, holders=versions)
    return LiveAliases(versions=versions)


def shared_version(holders: Mapping[str, object]) -> int | None:
    """The version both ``champion`` and ``challenger`` point to, or ``None`` when they differ or one is unset.

    ``holders`` maps alias → version number, or → anything with a ``version`` (a :class:`VersionInfo`).
    """

    def number(holder: object) -> int | None:
        if holder is None or isinstance(holder, int):
            return holder
        found = getattr(holder, "version", None)
        return found if isinstance(found, int) else None

    champion, challenger = number(holders.get("champion")), number(holders.get("challenger"))
    return champion if champion is not None and champion == challenger else None


def shared_alias_note(holders: Mapping[str, object]) -> str | None:
    """A sentence for Home, Registry and Monitoring when both aliases point to one version, else ``None``.

    Shadow scoring answers with the challenger only when it is another version than the champion,
    so with both on one version it is idle: no shadow answers, no comparison, nothing to promote on.
    """
    version = shared_version(holders)
    if version is None:
        return None
    return (
        f"`champion` and `challenger` both point to version {version}: shadow scoring is idle (no second "
        "opinion is logged or compared). Point `challenger` at another version, or remove it, on the Registry page."
    )


def backend_label(url: str) -> str:
    """A short name for a database or tracking URL: SQLite, PostgreSQL, MLflow server, ..."""
    scheme = url.split(":", 1)[0].split("+", 1)[0].lower()
    return {"sqlite": "SQLite", "postgresql": "PostgreSQL", "http": "MLflow server", "https": "MLflow server"}.get(
        scheme, scheme
    )
