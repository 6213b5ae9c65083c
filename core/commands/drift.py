"""``python -m core drift``."""

from __future__ import annotations

import argparse

HELP = "Print the drift report of live inputs against the training profile (JSON or CSV)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--window", default="7d", help="how far back: 12h, 7d, 2w (default: 7d)")
    parser.add_argument("--version", type=int, help="model version (default: the one that answered most)")
    parser.add_argument("--format", choices=("json", "csv"), default="json", help="default: json")
    parser.add_argument("--include-shadow", action="store_true", help="count shadow predictions' inputs too")


def run(args: argparse.Namespace) -> int:
    from core.commands._console import fail
    from core.monitoring import drift_export
    from core.settings import get_settings
    from storage.db import make_engine, make_sessionmaker, migrate

    settings = get_settings()
    try:
        if settings.database_url.startswith("sqlite"):
            settings.ensure_home()
        engine = make_engine(settings.database_url)
        migrate(engine)
        text = drift_export(
            settings,
            sessions=make_sessionmaker(engine),
            window=args.window,
            version=args.version,
            include_shadow=args.include_shadow,
            fmt=args.format,
        )
    except ValueError as error:
        return fail(str(error))
    print(text, end="" if text.endswith("\n") else "\n")
    return 0
