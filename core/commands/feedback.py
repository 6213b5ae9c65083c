"""``python -m core feedback``."""

from __future__ import annotations

import argparse

from core.formats import plural

HELP = (
    "Attach true values (numbers, or a classifier's classes) to logged predictions from a CSV of prediction_id,actual."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--input", required=True, help="CSV with the columns prediction_id,actual")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from core.commands._console import fail, progress
    from core.serving.batch import BatchFileError
    from core.serving.feedback import attach_feedback, registry_profiles
    from core.settings import get_settings
    from storage.db import migrated_sessions

    settings = get_settings()
    try:
        data = Path(args.input).read_bytes()
    except OSError as error:
        return fail(f"cannot read {args.input}: {error.strerror or error}")
    try:
        with migrated_sessions(settings.database_url) as sessions:
            result = attach_feedback(data, sessions=sessions, profiles=registry_profiles(settings))
    except BatchFileError as error:
        return fail(str(error))
    progress(f"{plural(result.stored, 'actual value')} stored")
    for row, _field, message in result.rejected.itertuples(index=False, name=None):
        progress(f"row {row}: {message}")
    if result.unknown_ids:
        shown = ", ".join(str(prediction_id) for prediction_id in result.unknown_ids[:20])
        more = f" (+{len(result.unknown_ids) - 20} more)" if len(result.unknown_ids) > 20 else ""
        progress(f"{plural(len(result.unknown_ids), 'unknown prediction id')}, not stored: {shown}{more}")
    return 0 if result.stored else fail("no actual value could be stored")
