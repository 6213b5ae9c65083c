"""``python -m core reference``."""

from __future__ import annotations

import argparse

from core.commands._console import add_token_arguments, admin_token, configured_token

HELP = "Attach a version's reference data (what drift, ranges and form defaults compare with) in MLflow."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--version", type=int, required=True, help="the model version the reference is for")
    parser.add_argument(
        "--input",
        help="CSV or Parquet with the data the version was trained or validated on (one column per input); "
        "without it, the run's logged dataset (local source) or the model's input example is used",
    )
    parser.add_argument(
        "--from-traffic",
        type=float,
        metavar="DAYS",
        help="use the version's own first DAYS of logged answers instead (when no training data is kept)",
    )
    parser.add_argument("--model", help="registered model name (default: LOUPE_MODEL_NAME)")
    parser.add_argument("--target", help="the target column in the file, left out of the inputs")
    add_token_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from core.commands._console import progress
    from core.errors import InvalidInput
    from core.monitoring.reference_data import (
        FEW_ROWS,
        attach_logged_reference,
        attach_reference_file,
        attach_traffic_reference,
    )
    from core.settings import get_settings
    from storage.db import migrated_sessions

    settings = get_settings()
    if args.model:
        settings = settings.model_copy(update={"model_name": args.model})
    if args.input and args.from_traffic is not None:
        raise InvalidInput("give either --input FILE or --from-traffic DAYS, not both")
    if args.from_traffic is not None:
        with migrated_sessions(settings.database_url) as sessions:
            result = attach_traffic_reference(
                settings,
                sessions=sessions,
                version=args.version,
                days=args.from_traffic,
                token=admin_token(args, configured_token(settings)),
            )
    elif args.input:
        result = attach_reference_file(
            settings,
            version=args.version,
            path=Path(args.input),
            target=args.target,
            token=admin_token(args, configured_token(settings)),
        )
    else:
        result = attach_logged_reference(
            settings, version=args.version, token=admin_token(args, configured_token(settings))
        )
    progress(
        f"{settings.model_name} v{result.version}: reference from {result.source}, {result.rows:,} rows, "
        f"{len(result.features)} inputs ({', '.join(result.features[:8])}{' …' if len(result.features) > 8 else ''})"
    )
    for skipped in result.skipped:
        progress(f"not profiled: {skipped}")
    for note in result.notes:
        progress(note)
    if result.thin:
        progress(
            f"only {result.rows:,} rows (fewer than {FEW_ROWS}): drift tests will say little; "
            "attach the training or validation data with --input FILE"
        )
    progress(f"stored in run {result.run_id}; serving and Monitoring pick it up on their next request")
    return 0
