"""``python -m core prune``."""

from __future__ import annotations

import argparse

HELP = (
    "Roll up what is new, then delete raw log rows (predictions with their inputs and true values, "
    "rejections) older than LOUPE_RETENTION_DAYS or --days; the hourly roll-ups, and Monitoring's history, stay."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--days", type=int, help="keep this many days of raw rows (default: LOUPE_RETENTION_DAYS)")


def run(args: argparse.Namespace) -> int:
    from core.commands._console import fail, progress
    from core.monitoring.retention import maintain
    from core.settings import get_settings
    from storage.db import migrated_sessions

    settings = get_settings()
    days = args.days if args.days is not None else settings.retention_days
    if days is None:
        return fail("no retention period: set LOUPE_RETENTION_DAYS or pass --days N")
    if days < 1:
        return fail(f"--days must be at least 1, got {days}")
    with migrated_sessions(settings.database_url) as sessions:
        result = maintain(settings, sessions=sessions, days=days, progress=progress)
    refreshed = result.refresh
    if refreshed.skipped:
        progress("roll-ups: another process is refreshing them; pruning only what they already hold")
    else:
        progress(f"roll-ups: {refreshed.predictions:,} predictions, {refreshed.rejections:,} rejections added")
    pruned = result.pruned
    assert pruned is not None  # days is set
    cut = pruned.before.strftime("%Y-%m-%d %H:%M UTC")
    if pruned.skipped:
        progress(f"another process is pruning rows made before {cut}; nothing removed here")
        return 0
    progress(
        f"removed rows made before {cut}: {pruned.predictions:,} predictions (with their inputs), "
        f"{pruned.feedback:,} true values, {pruned.rejections:,} rejections"
    )
    if pruned.kept_hours:
        progress(f"kept {pruned.kept_hours:,} older model-hours not yet rolled up whole; the next run prunes them")
    return 0
