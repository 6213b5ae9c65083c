"""Files that used to hurt: junk lines, huge cells, malformed lines, an oversized header, and scoring the same file twice.

Scored with :func:`core.serving.batch_scoring.score_file` on the real registry copy and a SQLite log in ``tmp_path``.
"""

from __future__ import annotations

import io
import threading

import pandas as pd
import pytest
from sqlalchemy import func, select

from core.dataset import load_diamonds
from core.serving.batch import score_csv
from core.serving.batch_reader import MAX_LINE_BYTES, BatchFileError
from core.serving.batch_scoring import score_file
from core.serving.feedback import attach_feedback
from core.serving.model_cache import clear_memory_caches
from core.settings import get_settings
from storage.batch_log import BatchRun
from storage.db import make_engine, make_sessionmaker, migrate
from storage.prediction_log import Prediction, Rejection

HEADER = "carat,cut,color,clarity,depth,table,x,y,z"
CAP = 40


@pytest.fixture
def log(registry_home, monkeypatch):
    monkeypatch.setenv("LOUPE_REJECTIONS_PER_BATCH", str(CAP))
    get_settings.cache_clear()
    clear_memory_caches()
    engine = make_engine(registry_home.database_url)
    migrate(engine)
    yield make_sessionmaker(engine)
    engine.dispose()
    get_settings.cache_clear()


def good_lines(count: int) -> list[str]:
    frame = load_diamonds().drop(columns="price").head(count)
    return frame.to_csv(index=False, header=False).splitlines()


def counts(sessions) -> dict[str, int]:
    with sessions() as session:
        return {
            "answers": session.scalar(select(func.count()).where(Prediction.is_shadow.is_(False))) or 0,
            "shadows": session.scalar(select(func.count()).where(Prediction.is_shadow.is_(True))) or 0,
            "rejections": session.scalar(select(func.count()).select_from(Rejection)) or 0,
            "batches": session.scalar(select(func.count()).select_from(BatchRun)) or 0,
        }


def with_cut(line: str, cut: str) -> str:
    cells = line.split(",")
    return ",".join([cells[0], cut, *cells[2:]])


def junk_file(path, *, junk: int) -> bytes:
    """Good rows among junk: malformed lines first (so they are among the kept refusals), then junk lines."""
    good = good_lines(30)
    parts = [
        HEADER,
        good[0],
        good[1] + ",extra,extra",  # line 3: 11 fields
        with_cut(good[2], "x" * (5 * 1024 * 1024)),  # line 4: a 5 MB cell, over the line limit
        with_cut(good[3], "Idéal"),  # line 5: re-encoded as Latin-1 below
        with_cut(good[4], "y" * 200_000),  # line 6: a field over the csv module's limit
        "0.7," + "z" * 5_000 + ",G,VS2,61.8,57,5.7,5.72,3.53",  # line 7: a long bad value in a message
    ]
    parts += [f"junk line {n} ;;; nothing here" for n in range(junk)]
    parts += good[5:]
    data = ("\n".join(parts) + "\n").encode()
    data = data.replace("Idéal".encode(), "Idéal".encode("latin-1"))
    path.write_bytes(data)
    return data


def test_a_junk_file_scores_its_good_rows_and_the_log_keeps_the_cap_and_a_count(registry_home, log, tmp_path) -> None:
    source = tmp_path / "junk.csv"
    junk_file(source, junk=500)
    settings = get_settings()

    outcome = score_file(settings, source, sessions=log, output=tmp_path / "out.csv", source_name="cli", shadow=False)

    good_rows = 1 + 25  # line 2 and the 25 good lines after the junk
    assert outcome.scored == good_rows and outcome.rows_in == good_rows + 5 + 500
    assert outcome.rejected_rows == 5 + 500
    scored = pd.read_csv(tmp_path / "out.csv")
    assert len(scored) == good_rows and scored["prediction_id"].is_unique
    kept = outcome.rejected
    assert len(kept) == CAP
    by_row = kept.drop_duplicates("row").set_index("row")["message"].to_dict()
    assert by_row[2] == "line 3: 11 fields where the header has 9 (rule: fields)"
    assert by_row[3].startswith("line 4: 5,242,") and "over the 1 MB a line may hold (rule: size)" in by_row[3]
    assert by_row[4] == "line 5: not UTF-8 text (byte 0xe9) (rule: encoding)"
    assert by_row[5] == "line 6: a field over 131,072 characters (rule: size)"
    long_value = kept[kept["row"] == 6]["message"].iloc[0]
    assert long_value.startswith("cut: 'zzz") and "(5,000 characters)" in long_value and len(long_value) < 300
    assert kept["message"].str.len().max() <= 400
    logged = counts(log)
    assert logged == {"answers": good_rows, "shadows": 0, "rejections": CAP, "batches": 1}
    with log() as session:
        run = session.scalar(select(BatchRun))
    assert run is not None and run.rejections_logged == CAP and run.scored == good_rows
    # Every refusal counted: a malformed line once, the long value once, a junk line for each of its 9 fields.
    assert run.rejections_logged + run.rejections_not_logged == 4 + 1 + 500 * 9
    rejected_file = pd.read_csv(tmp_path / "out.rejected.csv", dtype=str, keep_default_na=False)
    assert len(rejected_file) == CAP and rejected_file.map(len).max().max() <= 400


def test_a_file_of_only_malformed_lines_is_refused_whole_and_nothing_is_logged(registry_home, log, tmp_path) -> None:
    settings = get_settings()
    wide = tmp_path / "wide.csv"
    wide.write_text(f"{HEADER}\n{good_lines(1)[0]},7,8\n")
    header = tmp_path / "header.csv"
    header.write_text(HEADER.replace("z", "z" * 140_000) + "\n" + good_lines(1)[0] + "\n")
    long_header = tmp_path / "long-header.csv"
    long_header.write_bytes(HEADER.encode() + b"," + b"w" * (MAX_LINE_BYTES + 10) + b"\n1\n")

    messages = []
    for path in (wide, header, long_header):
        with pytest.raises(BatchFileError) as caught:
            score_file(settings, path, sessions=log, output=tmp_path / f"{path.stem}.out.csv", source_name="cli")
        messages.append(str(caught.value))
        assert not (tmp_path / f"{path.stem}.out.csv").exists()

    assert messages[0] == "the file is not a well-formed CSV: line 2: 11 fields where the header has 9"
    assert messages[1].startswith("a header field is over 131,072 characters; the header names the columns: carat")
    assert messages[2].startswith("the header line cannot be read: 1,048,") and "over the 1 MB" in messages[2]
    assert counts(log) == {"answers": 0, "shadows": 0, "rejections": 0, "batches": 0}


def test_the_same_file_twice_is_logged_once_and_answered_with_the_same_ids(registry_home, log, tmp_path) -> None:
    settings = get_settings()
    source = tmp_path / "in.csv"
    source.write_text("\n".join([HEADER, *good_lines(20), "-1,Ideal,G,VS2,61.8,57,5.7,5.72,3.53"]) + "\n")
    seen = {}

    def written(outcome) -> None:  # the output is complete before the challenger shadow-scores a row
        seen["output"] = pd.read_csv(outcome.output)
        seen["counts"] = counts(log)

    first = score_file(
        settings, source, sessions=log, output=tmp_path / "a.csv", source_name="cli", on_written=written, shadow=True
    )
    assert len(seen["output"]) == 20 and seen["counts"]["shadows"] == 0 and seen["counts"]["answers"] == 20
    again = score_file(settings, source, sessions=log, output=tmp_path / "b.csv", source_name="batch", shadow=True)

    assert first.scored == again.scored == 20 and first.already_logged == 0 and again.already_logged == 20
    assert first.shadow is not None and first.shadow.scored == 20
    assert again.shadow is not None and again.shadow.scored == 0
    assert counts(log) == {"answers": 20, "shadows": 20, "rejections": 1, "batches": 1}
    a, b = pd.read_csv(tmp_path / "a.csv"), pd.read_csv(tmp_path / "b.csv")
    assert a["prediction_id"].tolist() == b["prediction_id"].tolist()
    assert a["prediction"].tolist() == pytest.approx(b["prediction"].tolist(), rel=1e-12)
    assert first.request_id == again.request_id

    other = score_file(settings, source, sessions=log, output=tmp_path / "c.csv", source_name="cli", alias="challenger")
    assert other.already_logged == 0 and set(pd.read_csv(tmp_path / "c.csv")["model_version"]) == {2}
    score_file(settings, source, sessions=log, output=tmp_path / "d.csv", source_name="cli", key="mine", shadow=False)
    (tmp_path / "other.csv").write_text(f"{HEADER}\n{good_lines(1)[0]}\n")
    with pytest.raises(BatchFileError, match="the key 'mine' named another file"):
        score_file(
            settings, tmp_path / "other.csv", sessions=log, output=tmp_path / "e.csv", source_name="cli", key="mine"
        )


def test_an_upload_sent_twice_or_by_two_at_once_is_logged_once(registry_home, log, tmp_path) -> None:
    settings = get_settings()
    data = ("\n".join([HEADER, *good_lines(3_000)]) + "\n").encode()
    outcomes = []

    def send() -> None:
        outcomes.append(score_csv(settings, io.BytesIO(data), sessions=log, source="batch", shadow=False)[1])

    workers = [threading.Thread(target=send) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    send()  # and once more, after both

    assert len(outcomes) == 3 and all(outcome.scored == 3_000 for outcome in outcomes)
    assert outcomes[2].already_logged == 3_000
    ids = [pd.read_csv(io.BytesIO(outcome.results_csv or b""))["prediction_id"].tolist() for outcome in outcomes]
    assert ids[0] == ids[1] == ids[2] and len(set(ids[0])) == 3_000
    assert counts(log) == {"answers": 3_000, "shadows": 0, "rejections": 0, "batches": 1}


def test_a_huge_feedback_id_is_quoted_in_part(registry_home, log) -> None:
    data = f"prediction_id,actual\n{'x' * 5_000},500\n".encode()

    result = attach_feedback(data, sessions=log)

    assert result.rejected["message"].tolist() == [f"prediction_id: {'x' * 80!r} is not a whole number (rule: type)"]


@pytest.fixture
def pg_log(registry_home, pg_url):
    clear_memory_caches()
    engine = make_engine(pg_url)
    migrate(engine)
    yield make_sessionmaker(engine)
    engine.dispose()


def test_on_postgresql_two_runs_at_once_log_each_row_and_refusal_once(registry_home, pg_log, tmp_path) -> None:
    settings = get_settings()
    lines = [HEADER, *good_lines(3_000)]
    lines[10] += ",7,8"  # line 11: a malformed line among good rows
    source = tmp_path / "in.csv"
    source.write_text("\n".join(lines) + "\n")
    outcomes = []

    def run(name: str) -> None:
        outcomes.append(
            score_file(settings, source, sessions=pg_log, output=tmp_path / name, source_name="cli", shadow=False)
        )

    workers = [threading.Thread(target=run, args=(f"{n}.csv",)) for n in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()

    assert len(outcomes) == 2 and all(outcome.scored == 2_999 for outcome in outcomes)
    assert outcomes[0].rejected["message"].tolist() == ["line 11: 11 fields where the header has 9 (rule: fields)"]
    ids = [pd.read_csv(tmp_path / f"{n}.csv")["prediction_id"].tolist() for n in range(2)]
    assert ids[0] == ids[1] and len(set(ids[0])) == 2_999
    assert counts(pg_log) == {"answers": 2_999, "shadows": 0, "rejections": 1, "batches": 1}


def test_text_from_the_file_cannot_run_as_a_formula_in_the_output_or_the_rejected_rows(
    registry_home, log, tmp_path
) -> None:
    import csv

    good = good_lines(3)
    lines = [HEADER + ",=note", *(f'{line},=HYPERLINK("http://127.0.0.1/x")' for line in good)]
    lines.append(with_cut(good[0], "@SUM(1)") + ",+cmd")  # an unknown cut: refused, its cells kept beside the reason
    source = tmp_path / "formulas.csv"
    source.write_text("\n".join(lines) + "\n")

    outcome = score_file(
        get_settings(), source, sessions=log, output=tmp_path / "out.csv", source_name="cli", shadow=False
    )

    assert outcome.scored == 3
    written = [tmp_path / "out.csv", tmp_path / "out.rejected.csv"]
    cells = [cell for path in written for row in csv.reader(path.open()) for cell in row]
    assert '\'=HYPERLINK("http://127.0.0.1/x")' in cells and "'@SUM(1)" in cells
    assert not [cell for cell in cells if cell[:1] in {"=", "+", "@"}]
    assert "0.23" in cells  # numbers stay numbers (the first diamond's carat)
