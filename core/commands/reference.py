"""``python -m core reference``."""

from __future__ import annotations

import argparse

HELP = "Attach a version's reference data (what drift, ranges and form defaults compare with) in MLflow."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--version", type=int, required=True, help="the model version the reference is for")
    parser.add_argument(
        "--input",
        help="CSV or Parquet with the data the version was trained or validated on (one column per input); "
        "without it, the run's logged dataset (local source) or the model's input example is used",
    )
    parser.add_argument("--model", help="registered model name (default: LOUPE_MODEL_NAME)")
    parser.add_argument("--target", help="the target column in the file, left out of the inputs")
    parser.add_argument("--token", help="the admin token, required when LOUPE_ADMIN_TOKEN is set")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from core.commands._console import progress
    from core.monitoring.reference_data import FEW_ROWS, attach_logged_reference, attach_reference_file
    from core.settings import get_settings

    settings = get_settings()
    if args.model:
        settings = settings.model_copy(update={"model_name": args.model})
    if args.input:
        result = attach_reference_file(
            settings, version=args.version, path=Path(args.input), target=args.target, token=args.token
        )
    else:
        result = attach_logged_reference(settings, version=args.version, token=args.token)
    progress(
        f"{settings.model_name} v{result.version}: reference from {result.source}, {result.rows:,} rows, "
        f"{len(result.features)} inputs ({', '.join(result.features[:8])}{' …' if len(result.features) > 8 else ''})"
    )
    for skipped in result.skipped:
        progress(f"not profiled: {skipped}")
    if result.thin:
        progress(
            f"only {result.rows:,} rows (fewer than {FEW_ROWS}): drift tests will say little; "
            "attach the training or validation data with --input FILE"
        )
    progress(f"stored in run {result.run_id}; serving and Monitoring pick it up on their next request")
    return 0
