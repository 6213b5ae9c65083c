"""Ingest: chunks of predictions made elsewhere checked and stored, one transaction per chunk.

The file path (``python -m core ingest``) and the HTTP path (``POST /predictions``) both end here. Each
chunk commits on its own, so a crash loses at most the chunk in flight and a re-run skips what landed
(ids already in the log are counted as "already stored", never stored twice).

Decisions, said once:
- a row naming a version the registry does not hold is refused (``model_version``, rule ``version``):
  its inputs could not be typed or binned, and the version may be a typo;
- refused rows are reported to the sender, not written to the log's rejections: they are not inputs a
  version refused while serving, and the sender corrects and resends them (idempotently);
- ingested rows carry ``latency_ms = 0`` and source ``ingest``: Loupe did not time them.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import pandas as pd

from core.ingest.columns import REQUIRED
from core.ingest.rows import Rejected, check_chunk
from core.ingest.version_spec import SpecLookup, cached_lookup, model_settings
from core.settings import Settings
from storage.base import utcnow
from storage.db import Sessions
from storage.ingest_log import store_ingested

LISTED = 100  # refusals reported in full; beyond these, only how many more


@dataclass
class IngestResult:
    """What an ingest did: counts, the first :data:`LISTED` refusals in full, and how many more there were."""

    model_name: str
    request_id: str
    rows: int = 0
    stored: int = 0
    already_stored: int = 0
    rejected: int = 0  # rows refused
    feedback: int = 0  # true values attached
    reasons: list[Rejected] = field(default_factory=list)
    unlisted: int = 0  # refusal reasons beyond the first LISTED
    notes: list[str] = field(default_factory=list)

    def add_reasons(self, reasons: list[Rejected]) -> None:
        room = max(LISTED - len(self.reasons), 0)
        self.reasons += reasons[:room]
        self.unlisted += max(len(reasons) - room, 0)

    def as_dict(self) -> dict[str, object]:
        """The result as JSON-ready data (the HTTP answer)."""
        return {
            "model_name": self.model_name,
            "request_id": self.request_id,
            "rows": self.rows,
            "stored": self.stored,
            "already_stored": self.already_stored,
            "rejected": self.rejected,
            "feedback": self.feedback,
            "rejections": [
                {"row": item.row, "id": item.id, "field": item.field, "rule": item.rule, "message": item.message}
                for item in self.reasons
            ],
            "rejections_not_listed": self.unlisted,
            "notes": self.notes,
        }


def ingest_frames(
    settings: Settings,
    *,
    frames: Iterable[pd.DataFrame],
    sessions: Sessions,
    model_name: str | None = None,
    progress: Callable[[IngestResult], None] | None = None,
    specs: SpecLookup | None = None,
) -> IngestResult:
    """Check and store every chunk of ``frames`` for ``model_name`` (default ``settings.model_name``)."""
    owner = model_settings(settings, model_name or settings.model_name)
    lookup = specs or cached_lookup(owner, sessions=sessions)
    result = IngestResult(model_name=owner.model_name, request_id=uuid.uuid4().hex)
    for frame in frames:
        for name in REQUIRED:
            if name not in frame.columns:
                frame[name] = None
        checked = check_chunk(
            frame,
            first_row=result.rows + 1,
            model_name=owner.model_name,
            specs=lookup,
            request_id=result.request_id,
            now=utcnow(),
        )
        with sessions.begin() as session:
            stored = store_ingested(session, model_name=owner.model_name, parts=checked.parts)
        result.rows += len(frame)
        result.stored += stored.stored
        result.already_stored += stored.already_stored
        result.feedback += stored.feedback
        result.rejected += checked.rejected_rows
        result.add_reasons(checked.rejected)
        result.notes += [note for note in checked.notes if note not in result.notes]
        if progress is not None:
            progress(result)
    return result
