"""An inter-process lock on a file, for work several processes on one host must not do at once.

SQLite migrations and first copies of a model version into the local cache are such work: when a
server's workers, the console and a CLI start together, each would otherwise begin the same job
and trip over the others' half-done files.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def exclusive(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if missing) until the block ends.

    ``flock`` locks belong to the open file: the kernel releases them when the process dies, so a
    crashed holder never leaves the others waiting.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


@contextmanager
def try_exclusive(path: Path) -> Iterator[bool]:
    """Like :func:`exclusive` without waiting: yields ``False`` (holding nothing) when another holds it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+b") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
