"""``python -m core score``."""

from __future__ import annotations

import argparse

from core.formats import plural

HELP = "Score a CSV with the version an alias points to; accepted rows to --output, rejected rows beside it."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--input", required=True, help="CSV with one column per model input (UTF-8, comma-separated)")
    parser.add_argument(
        "--output",
        required=True,
        help="where to write inputs + prediction (a classifier's class, then proba_<class> per class) + prediction id + version",
    )
    parser.add_argument("--alias", default="champion", help="registry alias to score with (default: champion)")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from core.commands._console import fail, progress
    from core.serving.batch import BatchFileError, read_csv, write_outputs
    from core.serving.model_cache import ServingError, serve
    from core.serving.scoring import score_frame
    from core.settings import get_settings
    from storage.db import migrated_sessions

    settings = get_settings()
    source = Path(args.input)
    try:
        data = source.read_bytes()
    except OSError as error:
        return fail(f"cannot read {source}: {error.strerror or error}")
    try:
        with migrated_sessions(settings.database_url) as sessions:
            served, resolution = serve(settings, alias=args.alias)
            if resolution.notice:
                progress(resolution.notice)
            progress(
                f"{settings.model_name} v{served.version} ({args.alias}) expects: {', '.join(served.schema.names)}"
            )
            batch = read_csv(data, schema=served.schema)
            for notice in batch.notices:
                progress(notice)
            progress(f"scoring {plural(len(batch.frame), 'row')}")
            steps = {"last": -1}

            def report(fraction: float) -> None:
                step = int(fraction * 10)
                if step != steps["last"]:
                    steps["last"] = step
                    progress(f"{fraction:.0%}")

            result = score_frame(
                settings, batch.frame, sessions=sessions, source="cli", alias=args.alias, progress=report
            )
    except (BatchFileError, ServingError) as error:
        return fail(str(error))
    rejected_path = write_outputs(result, batch.frame, output=Path(args.output))
    progress(f"{plural(len(result.accepted), 'row')} scored by v{result.model_version} → {args.output}")
    if result.shadow is not None and result.shadow.version is not None:
        progress(f"shadow: challenger v{result.shadow.version} scored {plural(result.shadow.scored, 'row')}")
    if rejected_path is not None:
        progress(f"{plural(result.rejected_row_count, 'row')} rejected → {rejected_path}")
    if result.accepted.empty:
        return fail("no row could be scored; see the rejected rows for the reasons")
    return 0
