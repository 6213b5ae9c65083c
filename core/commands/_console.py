"""Console output shared by the commands: timestamped progress lines and clean error exits."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable
from typing import Protocol

_START = time.monotonic()


def progress(message: str) -> None:
    """Print one progress line with the seconds since the command started."""
    print(f"[{time.monotonic() - _START:6.1f}s] {message}", flush=True)


def fail(message: str, *, code: int = 1) -> int:
    """Print an error for a person (no traceback) and return the exit code."""
    print(f"error: {message}", file=sys.stderr, flush=True)
    return code


class CheckLine(Protocol):
    """What a pre-flight check shows (``core.registry.preflight.Check`` fits)."""

    @property
    def status(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def detail(self) -> str: ...


def report_checks(checks: Iterable[CheckLine]) -> None:
    """One line per pre-flight check: status, name, detail."""
    for check in checks:
        progress(f"{check.status:>7}  {check.name}: {check.detail}")
