"""``python -m core score``."""

from __future__ import annotations

import argparse

from core.formats import plural

HELP = (
    "Score a CSV with the version an alias points to, in bounded chunks; accepted rows to --output, refused rows "
    "beside it. A re-run of the same file (or --key) answers the rows already logged from the log."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--input", required=True, help="CSV with one column per model input (UTF-8, comma-separated)")
    parser.add_argument(
        "--output",
        required=True,
        help="where to write inputs + prediction (a classifier's class, then proba_<class> per class) + prediction id + version",
    )
    parser.add_argument("--alias", default="champion", help="registry alias to score with (default: champion)")
    parser.add_argument(
        "--key",
        default=None,
        help="the batch's idempotency key (1-64 letters, digits, . _ -); default: the file's digest and the alias",
    )


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from core.commands._console import fail, progress
    from core.serving.batch_reader import BatchFileError
    from core.serving.batch_scoring import BatchOutcome, score_file
    from core.serving.model_cache import ServingError, serve
    from core.settings import get_settings
    from storage.db import migrated_sessions

    settings = get_settings()
    source = Path(args.input)
    if not source.is_file():
        return fail(f"cannot read {source}: no such file")
    try:
        source.open("rb").close()
    except OSError as error:
        return fail(f"cannot read {source}: {error.strerror or error}")
    steps = {"last": -1}

    def report(fraction: float) -> None:
        step = int(fraction * 10)
        if step != steps["last"]:
            steps["last"] = step
            progress(f"{fraction:.0%}")

    def written(outcome: BatchOutcome) -> None:
        for notice in outcome.notices:
            progress(notice)
        if outcome.already_logged:
            progress(
                f"{plural(outcome.already_logged, 'row')} already in the log from an earlier run of this batch: "
                "answered from it, with their prediction ids"
            )
        progress(f"{plural(outcome.scored, 'row')} scored by v{outcome.model_version} → {outcome.output}")
        if outcome.rejected_path is not None:
            kept = len(outcome.rejected)
            progress(f"{plural(outcome.rejected_rows, 'row')} rejected → {outcome.rejected_path} ({kept:,} kept)")
        if outcome.rejections_not_kept:
            progress(
                f"{outcome.rejections_not_kept:,} more refusal(s) counted but not kept: the first "
                f"{settings.rejections_per_batch:,} of a batch are kept (LOUPE_REJECTIONS_PER_BATCH)"
            )

    try:
        with migrated_sessions(settings.database_url) as sessions:
            served, resolution = serve(settings, alias=args.alias)
            if resolution.notice:
                progress(resolution.notice)
            progress(
                f"{settings.model_name} v{served.version} ({args.alias}) expects: {', '.join(served.schema.names)}"
            )
            outcome = score_file(
                settings,
                source,
                sessions=sessions,
                output=Path(args.output),
                source_name="cli",
                alias=args.alias,
                key=args.key,
                progress=report,
                on_written=written,
            )
    except (BatchFileError, ServingError) as error:
        return fail(str(error))
    except OSError as error:
        return fail(f"cannot read {source} or write {args.output}: {error.strerror or error}")
    if outcome.shadow is not None and outcome.shadow.version is not None:
        progress(f"shadow: challenger v{outcome.shadow.version} scored {plural(outcome.shadow.scored, 'row')}")
    elif outcome.shadow is not None and outcome.shadow.error:
        progress(f"shadow scoring failed: {outcome.shadow.error}")
    if not outcome.scored:
        return fail("no row could be scored; see the rejected rows for the reasons")
    return 0
