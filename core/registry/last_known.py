"""The alias holders as the registry last told them, kept on this host so an outage reads "unknown", never "none".

Every successful read of the aliases (Home, every page's sidebar, the Registry page's ledger sync, a
registry event) refreshes a small JSON file per tracking store and model in the runtime home. With the
registry unreachable, Home shows "champion v1, as of <time> — the registry is unreachable" from it; when
this console never read the registry, the model cache's pointer files (the version this host last
served for an alias) say the same from the serving side.

A JSON file rather than a table in the prediction log: it must answer when the console cannot reach
the registry and perhaps not the database either, it is per host like the model cache whose copies
Predict answers with during the outage, and it is one small record replaced whole (no migration, no
history to keep — the ledger is the history).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from core.serving.model_cache import last_served
from core.settings import Settings, mask_url
from storage.base import utcnow
from storage.file_lock import exclusive

FOLDER = "registry-last-known"
REMEMBERED_ALIASES = ("champion", "challenger")
FROM_REGISTRY = "registry"
FROM_MODEL_CACHE = "model cache"  # the version this host last served for the alias


@dataclass(frozen=True)
class KnownHolder:
    """What an alias pointed to when last known: a version, or ``None`` when it held none then."""

    version: int | None
    as_of: datetime
    source: str  # FROM_REGISTRY or FROM_MODEL_CACHE


@dataclass(frozen=True)
class LastKnown:
    """The last known holders of the remembered aliases, and the last known number of versions."""

    holders: dict[str, KnownHolder]  # only the aliases something is known about
    version_count: int | None = None
    counted_at: datetime | None = None


def _file(settings: Settings) -> Path:
    # One file per store and model; the name is a digest so a password in the URI never reaches a file name.
    key = hashlib.sha256(f"{settings.tracking_uri}\n{settings.model_name}".encode()).hexdigest()[:24]
    return settings.home_dir / FOLDER / f"{key}.json"


def _read(path: Path) -> dict:
    try:
        found = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


def remember(settings: Settings, *, holders: Mapping[str, int | None], version_count: int | None = None) -> None:
    """Record what a successful read of the model's aliases said, as of now.

    ``holders`` maps every alias the registry listed to its version (an absent alias holds nothing);
    only :data:`REMEMBERED_ALIASES` are kept. ``version_count=None`` keeps the count last recorded.
    Never raises: a home that cannot be written only loses this convenience.
    """
    now = utcnow().isoformat()
    path = _file(settings)
    try:
        # Read-modify-write (the count may be kept from the last record): one process at a time.
        with exclusive(path.with_name(path.name + ".lock")):
            record = _read(path)
            aliases: dict[str, dict] = {}
            for alias in REMEMBERED_ALIASES:
                aliases[alias] = {"version": holders.get(alias), "as_of": now}
            record.update(model_name=settings.model_name, tracking_uri=mask_url(settings.tracking_uri), aliases=aliases)
            if version_count is not None:
                record.update(version_count=version_count, counted_at=now)
            # Written under a unique name and moved into place: a reader never sees half a file.
            temporary = path.with_name(f".{path.name}-{uuid.uuid4().hex[:8]}")
            temporary.write_text(json.dumps(record))
            temporary.replace(path)
    except OSError:
        return


def recall(settings: Settings) -> LastKnown:
    """What is known about the aliases without asking the registry: the last read, else what this host served."""
    record = _read(_file(settings))
    holders: dict[str, KnownHolder] = {}
    for alias, entry in (record.get("aliases") or {}).items():
        moment = _moment(entry.get("as_of")) if isinstance(entry, dict) else None
        version = entry.get("version") if isinstance(entry, dict) else None
        if moment is not None and (version is None or isinstance(version, int)):
            holders[alias] = KnownHolder(version=version, as_of=moment, source=FROM_REGISTRY)
    for alias in REMEMBERED_ALIASES:
        if alias in holders:
            continue
        served = last_served(settings, alias=alias)
        moment = _moment(served[1]) if served is not None else None
        if served is not None and moment is not None:
            holders[alias] = KnownHolder(version=served[0], as_of=moment, source=FROM_MODEL_CACHE)
    count = record.get("version_count")
    return LastKnown(
        holders=holders,
        version_count=count if isinstance(count, int) else None,
        counted_at=_moment(record.get("counted_at")),
    )


def _moment(text: object) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None
