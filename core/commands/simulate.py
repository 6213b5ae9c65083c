"""``python -m core simulate``."""

from __future__ import annotations

import argparse

HELP = (
    "Generate traffic of whole rows drawn from the champion's reference data through the serving path "
    "(spread over past days; optional drift and feedback)."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rows", type=int, default=2_000, help="input rows to score (default: 2000)")
    parser.add_argument("--days", type=float, default=7.0, help="spread timestamps over the past D days (default: 7)")
    parser.add_argument(
        "--shift",
        action="append",
        default=[],
        metavar="FEATURE=VALUE",
        help="drift: bmi=1.2 multiplies a numeric input; cut=Fair[:0.4] moves a share (default 0.5) of rows to a "
        'level; quote names with spaces ("body mass=1.2"); repeatable',
    )
    parser.add_argument(
        "--label-share",
        type=float,
        default=0.0,
        help="send true values (a classifier's: true labels) back for this share (0–1)",
    )
    parser.add_argument("--invalid-share", type=float, default=0.01, help="share of rows made invalid (default: 0.01)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument("--model", help="registered model name (default: LOUPE_MODEL_NAME), e.g. tumour-triage")
    parser.add_argument(
        "--bulk",
        action="store_true",
        help="write straight to the log with the champion's predictions (fast, for millions of rows; no shadow)",
    )


def run(args: argparse.Namespace) -> int:
    from core.commands._console import fail, progress
    from core.formats import seconds
    from core.mlflow_io import RegistryUnavailable
    from core.monitoring.simulator import simulate, simulate_bulk
    from core.monitoring.traffic import Shift
    from core.serving.model_cache import ServingError
    from core.settings import get_settings
    from storage.db import migrated_sessions

    settings = get_settings()
    if args.model:
        settings = settings.model_copy(update={"model_name": args.model})
    try:
        shifts = tuple(Shift.parse(text) for text in args.shift)
        if args.rows <= 0 or args.days <= 0:
            raise ValueError("--rows and --days must be positive")
        report = lambda fraction, message: progress(f"{fraction:4.0%} {message}")  # noqa: E731
        with migrated_sessions(settings.database_url) as sessions:
            if args.bulk:
                result = simulate_bulk(
                    settings,
                    sessions=sessions,
                    rows=args.rows,
                    days=args.days,
                    shifts=shifts,
                    label_share=args.label_share,
                    seed=args.seed,
                    progress=report,
                )
            else:
                result = simulate(
                    settings,
                    sessions=sessions,
                    rows=args.rows,
                    days=args.days,
                    shifts=shifts,
                    label_share=args.label_share,
                    invalid_share=args.invalid_share,
                    seed=args.seed,
                    progress=report,
                )
    except (ValueError, RegistryUnavailable, ServingError) as error:
        return fail(str(error))
    if not result.whole_rows:
        progress(
            "note: this version's reference keeps no sample of its rows (attached before references did), so each "
            "input was drawn on its own and relations between inputs are lost: multivariate and segment drift will "
            "flag this traffic. Attach the reference again (python -m core reference) to draw whole rows."
        )
    progress(
        f"done via {result.via}: {result.accepted:,} answered by v{result.model_version}, "
        f"{result.rejected_rows:,} rejected, {result.shadow_scored:,} shadow, {result.feedback:,} with feedback "
        f"in {seconds(result.seconds)}"
    )
    return 0
