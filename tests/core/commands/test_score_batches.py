"""``python -m core score`` on files that used to hurt: killed mid-way and run again, oversized headers, junk.

The kills are real: ``python -m core score`` in a child process, SIGKILLed once the log holds the rows
we wait for (polled, never timed).
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import func, select

from core.dataset import load_diamonds
from core.serving.model_cache import clear_memory_caches
from storage.batch_log import BatchRun
from storage.db import make_engine, make_sessionmaker
from storage.prediction_log import Prediction, Rejection

ROOT = Path(__file__).resolve().parents[3]
HEADER = "carat,cut,color,clarity,depth,table,x,y,z"
ROWS = 110_000  # three chunks of at most 50k rows: a kill after the first commit leaves work to do
WAIT_S = 600  # an upper bound for a stuck child, not a timing


@pytest.fixture(autouse=True)
def fresh_process_caches():
    clear_memory_caches()
    yield
    clear_memory_caches()


def database_of(settings) -> Path:
    return Path(settings.database_url.removeprefix("sqlite:///"))


def count(database: Path, where: str) -> int:
    try:
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30) as connection:
            return int(connection.execute(f"SELECT count(*) FROM predictions WHERE {where}").fetchone()[0])
    except sqlite3.Error:  # not created or not migrated yet
        return 0


def kill_when(settings, arguments: list[str], *, where: str, at_least: int) -> None:
    """Run ``python -m core score ...`` and SIGKILL it once ``at_least`` rows match ``where``; it must not finish first."""
    child = subprocess.Popen(
        [sys.executable, "-m", "core", "score", *arguments],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + WAIT_S
    try:
        while count(database_of(settings), where) < at_least:
            assert child.poll() is None, f"score ended before it could be killed: {child.stderr.read()[-2000:]!r}"  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "the log never reached the rows to wait for"
            time.sleep(0.05)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == -signal.SIGKILL


def logged(settings) -> dict[str, int]:
    engine = make_engine(settings.database_url)
    try:
        with make_sessionmaker(engine)() as session:
            answers = select(func.count()).where(Prediction.is_shadow.is_(False))
            return {
                "answers": session.scalar(answers) or 0,
                "distinct keys": session.scalar(select(func.count(func.distinct(Prediction.client_id)))) or 0,
                "shadows": session.scalar(select(func.count()).where(Prediction.is_shadow.is_(True))) or 0,
                "shadowed answers": session.scalar(select(func.count(func.distinct(Prediction.shadow_of)))) or 0,
                "rejections": session.scalar(select(func.count()).select_from(Rejection)) or 0,
                "batches": session.scalar(select(func.count()).select_from(BatchRun)) or 0,
            }
    finally:
        engine.dispose()


def first_ids(settings) -> dict[str, int]:
    with sqlite3.connect(database_of(settings)) as connection:
        return dict(connection.execute("SELECT client_id, id FROM predictions WHERE client_id IS NOT NULL"))


@pytest.mark.slow
def test_a_score_killed_twice_then_run_again_logs_every_row_and_shadow_once(cli, registry_home, tmp_path) -> None:
    frame = load_diamonds().drop(columns="price")
    frame = pd.concat([frame, frame, frame], ignore_index=True).head(ROWS - 1)
    source = tmp_path / "big.csv"
    frame.to_csv(source, index=False)
    with source.open("a") as handle:
        handle.write("-1,Ideal,G,VS2,61.8,57,5.7,5.72,3.53\n")  # one refused row: its rejection is logged once
    output = tmp_path / "scored.csv"
    arguments = ["--input", str(source), "--output", str(output)]

    # Killed while answering: the first chunk is committed, the output is not written.
    kill_when(registry_home, arguments, where="is_shadow = 0", at_least=1)
    before = first_ids(registry_home)
    assert 0 < len(before) < ROWS - 1 and not output.exists()
    # Killed while the challenger shadow-scores: every answer is logged and the output is complete already.
    kill_when(registry_home, arguments, where="is_shadow = 1", at_least=1)
    assert len(pd.read_csv(output)) == ROWS - 1
    assert logged(registry_home)["answers"] == ROWS - 1

    ran = cli("score", *arguments)

    assert ran.code == 0, ran.err
    assert f"{ROWS - 1:,} rows already in the log from an earlier run" in ran.out
    assert logged(registry_home) == {
        "answers": ROWS - 1,
        "distinct keys": ROWS - 1,
        "shadows": ROWS - 1,
        "shadowed answers": ROWS - 1,
        "rejections": 1,
        "batches": 1,
    }
    scored = pd.read_csv(output)
    assert len(scored) == ROWS - 1 and scored["prediction_id"].is_unique
    by_row = dict(zip(range(1, ROWS), scored["prediction_id"], strict=True))
    assert all(by_row[int(key.rsplit(":", 1)[1])] == prediction_id for key, prediction_id in before.items())


def test_an_oversized_header_or_bad_key_is_one_clear_line(cli, registry_home, tmp_path) -> None:
    header = tmp_path / "header.csv"
    header.write_text(HEADER.replace("z", "z" * 140_000) + "\n0.7,Ideal,G,VS2,61.8,57,5.7,5.72,3.53\n")
    good = tmp_path / "good.csv"
    good.write_text(f"{HEADER}\n0.7,Ideal,G,VS2,61.8,57,5.7,5.72,3.53\n")

    oversized = cli("score", "--input", str(header), "--output", str(tmp_path / "o.csv"))
    bad_key = cli("score", "--input", str(good), "--output", str(tmp_path / "k.csv"), "--key", "no spaces here")

    assert oversized.code == 1 and oversized.err.count("\n") == 1
    assert "a header field is over 131,072 characters" in oversized.err
    assert bad_key.code == 1 and "--key 'no spaces here' must be 1–64 characters" in bad_key.err
    assert not (tmp_path / "o.csv").exists() and not (tmp_path / "k.csv").exists()


def test_malformed_lines_are_refused_by_line_and_the_rest_scored(cli, registry_home, tmp_path) -> None:
    lines = load_diamonds().drop(columns="price").head(20).to_csv(index=False).splitlines()
    lines[15] += ",7,8"  # line 16 of the file: 11 fields where the header has 9
    source = tmp_path / "in.csv"
    source.write_text("\n".join(lines) + "\n")

    ran = cli("score", "--input", str(source), "--output", str(tmp_path / "out.csv"))

    assert ran.code == 0, ran.err
    assert "19 rows scored by v1" in ran.out and "1 row rejected" in ran.out
    rejected = pd.read_csv(tmp_path / "out.rejected.csv")
    assert rejected[["row", "field", "rule", "message"]].values.tolist() == [
        [15, "(line)", "fields", "line 16: 11 fields where the header has 9 (rule: fields)"]
    ]
    assert len(pd.read_csv(tmp_path / "out.csv")) == 19


@pytest.mark.slow
def test_a_twenty_megabyte_junk_file_leaves_the_cap_of_refusals_and_a_count(cli, registry_home, tmp_path) -> None:
    good = load_diamonds().drop(columns="price").head(2_000).to_csv(index=False, header=False).splitlines()
    junk = [f"junk {n} ;; {'#' * 40}" for n in range(400)]
    source = tmp_path / "junk.csv"
    with source.open("w") as handle:
        handle.write(HEADER + "\n")
        for block in range(1_000):
            handle.write("\n".join([*junk, good[block % len(good)]]) + "\n")
    assert source.stat().st_size > 20_000_000

    ran = cli("score", "--input", str(source), "--output", str(tmp_path / "out.csv"))

    assert ran.code == 0, ran.err
    assert "1,000 rows scored" in ran.out and "400,000 rows rejected" in ran.out
    engine = make_engine(registry_home.database_url)
    try:
        with make_sessionmaker(engine)() as session:
            run = session.scalar(select(BatchRun))
            rejections = session.scalar(select(func.count()).select_from(Rejection))
    finally:
        engine.dispose()
    assert rejections == 1_000 and run is not None and run.rejections_logged == 1_000
    assert run.rejections_not_logged == 400_000 * 9 - 1_000  # every junk line refuses its 9 fields
    assert len(pd.read_csv(tmp_path / "out.rejected.csv")) == 1_000
    assert f"{400_000 * 9 - 1_000:,} more refusal(s) counted but not kept" in ran.out
