"""One pre-flight check and its statuses: ``fail`` blocks a move (unless overridden); ``warn`` and ``unknown`` inform."""

from __future__ import annotations

from dataclasses import dataclass

PASS, FAIL, WARN, UNKNOWN = "pass", "fail", "warn", "unknown"


@dataclass(frozen=True)
class Check:
    """One pre-flight check: ``status`` is pass, fail (blocks), warn or unknown (neither blocks)."""

    name: str
    status: str
    detail: str

    @property
    def blocks(self) -> bool:
        return self.status == FAIL
