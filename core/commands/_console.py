"""Console output shared by the commands: timestamped progress lines and clean error exits."""

from __future__ import annotations

import argparse
import getpass
import sys
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from core.settings import Settings

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


def add_token_arguments(parser: argparse._ActionsContainer) -> None:
    """``--token-stdin`` for commands that move aliases or change versions (the token never on the command line)."""
    parser.add_argument(
        "--token-stdin",
        action="store_true",
        help="read the admin token from standard input (asked for on a terminal); without it the command uses "
        "LOUPE_ADMIN_TOKEN from the environment or .streamlit/secrets.toml",
    )
    # Kept so old scripts still run, hidden: a token in argv shows in the process list and shell history.
    parser.add_argument("--token", help=argparse.SUPPRESS)


def admin_token(args: argparse.Namespace, configured: str | None) -> str | None:
    """The admin token this command presents: ``--token-stdin``, else the configured one (else none)."""
    if args.token is not None:
        print(
            "warning: --token is visible in the process list and shell history; use LOUPE_ADMIN_TOKEN or --token-stdin",
            file=sys.stderr,
            flush=True,
        )
        return str(args.token)
    if args.token_stdin:
        if sys.stdin.isatty():
            return getpass.getpass("admin token: ").strip()
        return sys.stdin.readline().strip()
    return configured


def configured_token(settings: Settings) -> str | None:
    """The admin token from the environment or secrets.toml, as text (``None`` when moves are open)."""
    return None if settings.admin_token is None else settings.admin_token.get_secret_value()
