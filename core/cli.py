"""``python -m core COMMAND``: the project's one command line.

Command modules import their heavy dependencies inside ``run``, so ``--help`` stays fast. Whatever a
model, a file or a backend can raise ends as one line on stderr and exit code 1, never a traceback;
``--traceback`` shows the trace (for bug reports).
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence
from pathlib import Path

COMMANDS_PACKAGE = Path(__file__).parent / "commands"


def command_modules() -> dict[str, str]:
    """Command name -> module, one per file in ``core/commands`` (files starting with ``_`` are helpers).

    Each module defines ``HELP``, ``add_arguments(parser)`` and ``run(args) -> int``.
    """
    names = sorted(info.name for info in pkgutil.iter_modules([str(COMMANDS_PACKAGE)]) if not info.name.startswith("_"))
    return {name.replace("_", "-"): f"core.commands.{name}" for name in names}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m core", description="Loupe's command line.")
    parser.add_argument("--traceback", action="store_true", help="on an error, print the full Python trace too")
    subcommands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module_name in command_modules().items():
        module = importlib.import_module(module_name)
        sub = subcommands.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(sub)
        sub.set_defaults(run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and run the command; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr, flush=True)
        return 130
    except Exception as error:
        if args.traceback:
            raise
        print(f"error: {describe(error)}", file=sys.stderr, flush=True)
        return 1


def describe(error: BaseException) -> str:
    """One line for a person: Loupe's errors as they are written, anything else with its type."""
    from pydantic import ValidationError

    from core.errors import LoupeError, first_line

    if isinstance(error, ValidationError):  # the settings: name the variable and the rule
        from core.settings import settings_problems

        return settings_problems(error)
    if isinstance(error, LoupeError):
        return first_line(error, limit=1000)
    if isinstance(error, OSError) and error.filename is not None:
        return f"{error.strerror or type(error).__name__}: {error.filename}"
    return f"{type(error).__name__}: {first_line(error, limit=1000)} (run with --traceback for the details)"


if __name__ == "__main__":
    sys.exit(main())
