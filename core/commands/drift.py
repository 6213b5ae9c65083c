"""``python -m core drift``."""

from __future__ import annotations

import argparse

HELP = "Print the drift report of live inputs against the version's reference data (JSON or CSV)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--window", default="7d", help="how far back: 12h, 7d, 2w (default: 7d)")
    parser.add_argument("--version", type=int, help="model version (default: the one that answered most)")
    parser.add_argument("--format", choices=("json", "csv"), default="json", help="default: json")
    parser.add_argument("--include-shadow", action="store_true", help="count shadow predictions' inputs too")


def run(args: argparse.Namespace) -> int:
    from core.commands._console import fail
    from core.monitoring.export import drift_export
    from core.settings import get_settings
    from storage.db import migrated_sessions

    settings = get_settings()
    try:
        with migrated_sessions(settings.database_url) as sessions:
            text = drift_export(
                settings,
                sessions=sessions,
                window=args.window,
                version=args.version,
                include_shadow=args.include_shadow,
                fmt=args.format,
            )
    except ValueError as error:
        return fail(str(error))
    print(text, end="" if text.endswith("\n") else "\n")
    return 0
