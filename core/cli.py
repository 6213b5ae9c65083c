"""``python -m core COMMAND``: the project's one command line.

Command modules import their heavy dependencies inside ``run``, so ``--help`` stays fast.
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
    return int(args.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
