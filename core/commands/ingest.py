"""``python -m core ingest``."""

from __future__ import annotations

import argparse

HELP = (
    "Store predictions made elsewhere (CSV, Parquet or JSON lines with id, timestamp, model_version, the "
    "features, prediction, optional proba_<class> and actual); idempotent on the id."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--input", required=True, help="the file of predictions")
    parser.add_argument("--model", help="the registered model they were made with (default: LOUPE_MODEL_NAME)")
    parser.add_argument(
        "--format", choices=("csv", "parquet", "jsonl"), help="the file's format (default: from its extension)"
    )


def run(args: argparse.Namespace) -> int:
    import sys
    import time
    from pathlib import Path

    from core.commands._console import fail
    from core.errors import LoupeError, first_line
    from core.ingest.columns import IngestFileError
    from core.ingest.readers import format_of, read_chunks
    from core.ingest.service import IngestResult, ingest_frames
    from core.settings import get_settings
    from storage.db import migrated_sessions

    settings = get_settings()
    path = Path(args.input)
    started = time.monotonic()

    def progress(result: IngestResult) -> None:
        # On stderr: stdout carries the summary a script may read.
        print(
            f"[{time.monotonic() - started:6.1f}s] {result.rows:,} rows read: {result.stored:,} stored, "
            f"{result.already_stored:,} already stored, {result.rejected:,} rejected",
            file=sys.stderr,
            flush=True,
        )

    seen: list[IngestResult] = []

    def keep(result: IngestResult) -> None:
        seen[:] = [result]
        progress(result)

    try:
        file_format = format_of(path, args.format)
        with migrated_sessions(settings.database_url) as sessions:
            result = ingest_frames(
                settings,
                frames=read_chunks(path, file_format=file_format),
                sessions=sessions,
                model_name=args.model,
                progress=keep,
            )
    except LoupeError as error:
        if not seen:
            return fail(first_line(error, limit=1000))
        # Chunks before the failure are committed: say what landed, and that a re-run skips it.
        _report(seen[0])
        what = "the rest of the file could not be read" if isinstance(error, IngestFileError) else "stopped"
        return fail(f"{what} after row {seen[0].rows:,}: {first_line(error, limit=1000)} (a re-run skips stored ids)")
    _report(result)
    return 0


def _report(result) -> None:
    print(
        f"{result.model_name}: {result.rows:,} row(s) read — {result.stored:,} stored, "
        f"{result.already_stored:,} already stored, {result.rejected:,} rejected; "
        f"{result.feedback:,} true value(s) attached",
        flush=True,
    )
    for note in result.notes:
        print(f"note: {note}", flush=True)
    for item in result.reasons:
        print(f"row {item.row} (id {item.id!r}): {item.message}", flush=True)
    if result.unlisted:
        print(f"… and {result.unlisted:,} more reason(s) not listed", flush=True)
