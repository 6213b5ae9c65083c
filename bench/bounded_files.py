"""Bounded files: peak memory of ``python -m core score`` on a 1 GB file of mostly junk against a one-row file.

The model is a team's diamonds regressor registered with plain MLflow code (as in :mod:`bench.ingest`),
its version given the ``champion`` alias. The big file is written streaming (a ~10 MB block of valid
rows, one-field junk lines, lines with too many fields, lines that are not UTF-8, lines over the 1 MB
line limit and fields over the csv module's limit, repeated to 1 GB). Figures:

- ``peak_rss_one_row_mb`` / ``peak_rss_file_mb``: peak resident memory (``ru_maxrss``) of the CLI in a
  child process, each into a fresh log; ``peak_rss_growth_mb`` is the difference (issue #15: at most 250);
- ``page_peak_rss_mb`` / ``page_peak_rss_growth_mb``: the page's path (:func:`core.serving.batch.score_csv`
  on an upload held in memory, the page's limit in size) in a child process, and its growth over the one-row CLI;
- ``rows_scored``, ``rows_rejected``, ``rejections_logged``, ``rejections_not_logged``: what the big run did
  (the log keeps ``LOUPE_REJECTIONS_PER_BATCH`` refusals and counts the rest); ``score_s``: how long it took;
- ``csv_mb``, ``log_mb``: the file's size and the SQLite log's size after the big run.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from bench.ingest import MODEL, PEAK_SCRIPT, ROOT, _home, _register, _say

TARGET_BYTES = 1024**3
PAGE_UPLOAD_MB = 100  # the page's limit (.streamlit/config.toml server.maxUploadSize)
PAGE_SCRIPT = (
    "import resource, sys\n"
    "from pathlib import Path\n"
    "from core.serving.batch import score_csv\n"
    "from core.settings import get_settings\n"
    "from storage.db import migrated_sessions\n"
    "settings = get_settings()\n"
    "data = Path(sys.argv[1]).read_bytes()\n"
    "with migrated_sessions(settings.database_url) as sessions:\n"
    "    _, outcome = score_csv(settings, data, sessions=sessions, source='batch', max_bytes=len(data))\n"
    "print(f'SCORED {outcome.scored}', file=sys.stderr)\n"
    "print(f'PEAK_KB {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}', file=sys.stderr)\n"
)


def _block(features) -> bytes:
    """~10 MB of lines: valid rows among every kind of junk the issue saw."""
    valid = features.sample(20_000, random_state=1, replace=True).to_csv(index=False, header=False)
    lines = [valid]
    lines += [f"junk line {n} with no commas at all\n" for n in range(20_000)]
    lines += [",".join(["junk"] * 12) + "\n" for _ in range(20_000)]
    lines += ["0.5,Id\xe9al,G,VS2,61.8,57,5.7,5.72,3.53\n" for _ in range(1_000)]
    text = "".join(lines).encode("utf-8").replace("Id\xe9al".encode(), "Id\xe9al".encode("latin-1"))
    oversized = b"0.5," + b"x" * (3 * 1024 * 1024) + b",G,VS2,61.8,57,5.7,5.72,3.53\n"
    wide_field = b"0.5," + b"y" * 150_000 + b",G,VS2,61.8,57,5.7,5.72,3.53\n"
    return text + oversized * 2 + wide_field * 5


def _write_big(path: Path, features, target: int) -> None:
    block = _block(features)
    header = (",".join(features.columns) + "\n").encode()
    with path.open("wb") as handle:
        handle.write(header)
        written = len(header)
        while written < target:
            handle.write(block)
            written += len(block)


def _cut(source: Path, path: Path, megabytes: int) -> None:
    """The first ``megabytes`` of ``source``, ended at a line."""
    with source.open("rb") as handle:
        data = handle.read(megabytes * 1024 * 1024)
    path.write_bytes(data[: data.rfind(b"\n") + 1])


def _child(args: list[str], variables: dict[str, str], database: Path) -> tuple[float, str]:
    env = {**os.environ, **variables, "LOUPE_DATABASE_URL": f"sqlite:///{database}", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", *args], cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{args[1:]} failed: {done.stderr[-2000:]}")
    peak = next(line for line in done.stderr.splitlines() if line.startswith("PEAK_KB"))
    return int(peak.split()[1]) / 1024, done.stderr


def _counts(database: Path) -> dict[str, int]:
    from sqlalchemy import func, select

    from storage.batch_log import BatchRun
    from storage.db import make_engine, make_sessionmaker

    engine = make_engine(f"sqlite:///{database}")
    try:
        with make_sessionmaker(engine)() as session:
            run = session.scalar(select(BatchRun))
            assert run is not None
            return {
                "rows_scored": run.scored,
                "rows_rejected": run.rejected_rows,
                "rejections_logged": run.rejections_logged,
                "rejections_not_logged": run.rejections_not_logged,
                "batches": int(session.scalar(select(func.count()).select_from(BatchRun)) or 0),
            }
    finally:
        engine.dispose()


def run(workdir: Path, *, target: int = TARGET_BYTES) -> dict[str, float | int | str]:
    from core.mlflow_io.connection import client
    from core.settings import get_settings

    with _home(workdir) as variables:
        settings = get_settings()
        settings.ensure_home()
        _say("registering a team's diamonds regressor with plain MLflow, alias champion")
        _, features, _ = _register(settings)
        client(settings).set_registered_model_alias(MODEL, "champion", "1")
        big, one, upload = workdir / "junk.csv", workdir / "one.csv", workdir / "upload.csv"
        started = time.perf_counter()
        _write_big(big, features, target)
        one.write_text(",".join(features.columns) + "\n" + features.head(1).to_csv(index=False, header=False))
        _cut(big, upload, PAGE_UPLOAD_MB)
        _say(f"wrote {big.stat().st_size / 1e6:,.0f} MB in {time.perf_counter() - started:.0f}s")

        cli = [PEAK_SCRIPT, "score", "--input"]
        one_mb, _ = _child([*cli, str(one), "--output", str(workdir / "one.out.csv")], variables, workdir / "one.db")
        started = time.perf_counter()
        big_mb, _ = _child([*cli, str(big), "--output", str(workdir / "big.out.csv")], variables, workdir / "big.db")
        score_s = time.perf_counter() - started
        _say(
            f"peak RSS: {one_mb:.0f} MB on one row, {big_mb:.0f} MB on {big.stat().st_size / 1e6:,.0f} MB ({score_s:.0f}s)"
        )
        page_mb, _ = _child([PAGE_SCRIPT, str(upload)], variables, workdir / "page.db")
        _say(f"page path on a {PAGE_UPLOAD_MB} MB upload: {page_mb:.0f} MB")
        figures: dict[str, float | int | str] = {
            "csv_mb": round(big.stat().st_size / 1e6, 1),
            "peak_rss_one_row_mb": round(one_mb, 1),
            "peak_rss_file_mb": round(big_mb, 1),
            "peak_rss_growth_mb": round(big_mb - one_mb, 1),
            "page_upload_mb": PAGE_UPLOAD_MB,
            "page_peak_rss_mb": round(page_mb, 1),
            "page_peak_rss_growth_mb": round(page_mb - one_mb, 1),
            "score_s": round(score_s, 1),
            "log_mb": round((workdir / "big.db").stat().st_size / 1e6, 1),
        }
        figures.update(_counts(workdir / "big.db"))
        return figures
