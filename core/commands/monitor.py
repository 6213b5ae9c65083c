"""``python -m core monitor``."""

from __future__ import annotations

import argparse

HELP = (
    "Print what Monitoring shows for a window — volume, latency, drift, realised and estimated performance, "
    "segments, active alerts — as text or --format json (for scripts and CI)."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--window", default="7d", help="how far back: 24h, 7d, 2w (default: 7d)")
    parser.add_argument("--version", type=int, help="one model version (default: all versions)")
    parser.add_argument("--segment", metavar="FEATURE", help="split the window by this categorical input")
    parser.add_argument("--format", choices=("text", "json"), default="text", help="default: text")
    parser.add_argument("--include-shadow", action="store_true", help="count shadow predictions too")
    parser.add_argument("--model", help="the registered model (default: LOUPE_MODEL_NAME)")


def run(args: argparse.Namespace) -> int:
    from core.commands._console import fail
    from core.monitoring.monitor_report import monitor_report, report_json, report_text
    from core.monitoring.windows import Window, parse_duration
    from core.settings import get_settings
    from storage.db import migrated_sessions

    settings = get_settings()
    if args.model:
        settings = settings.model_copy(update={"model_name": args.model})
    try:
        window = Window.last(parse_duration(args.window))
    except ValueError as error:
        return fail(f"--window: {error}")
    if args.version is not None and args.version < 1:
        return fail(f"--version must be a version number (1 or more), not {args.version}")
    try:
        with migrated_sessions(settings.database_url) as sessions:
            report = monitor_report(
                settings,
                sessions=sessions,
                window=window,
                version=args.version,
                segment=args.segment,
                include_shadow=args.include_shadow,
            )
    except ValueError as error:
        return fail(str(error))
    print(report_json(report) if args.format == "json" else report_text(report), end="")
    return 0
