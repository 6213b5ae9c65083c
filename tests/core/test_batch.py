import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import func, select

from core.dataset import load_diamonds
from core.serving.batch import read_csv, score_csv, template_csv
from core.serving.input_schema import build_schema
from core.serving.model_cache import clear_memory_caches
from storage.db import make_engine, make_sessionmaker, migrate
from storage.prediction_log import Feedback, Prediction

ROOT = Path(__file__).resolve().parents[2]
COLUMNS = ["carat", "cut", "color", "clarity", "depth", "table", "x", "y", "z"]
SCHEMA = build_schema(
    [{"name": name, "type": "string" if name in ("cut", "color", "clarity") else "double"} for name in COLUMNS], None
)
HEADER = ",".join(COLUMNS)


def diamonds_csv(count: int) -> bytes:
    frame = load_diamonds().drop(columns="price")
    repeats = -(-count // len(frame))
    return pd.concat([frame] * repeats, ignore_index=True).head(count).to_csv(index=False).encode()


def test_quoted_numbers_bom_spaces_short_rows_and_extra_columns() -> None:
    data = f'\ufeff{HEADER},note\n"0.7", Ideal,G,VS2,"61.8",57,5.7,5.72,3.53,keep me\n0.8,Good\n'.encode()

    batch = read_csv(data, schema=SCHEMA)
    check = SCHEMA.validate_frame(batch.frame)

    assert list(batch.frame.columns) == [*COLUMNS, "note"]
    assert batch.notices == ["column(s) not used by the model, passed through to the results: note"]
    assert check.accepted_mask.tolist() == [True, False]
    assert check.clean.iloc[0].tolist() == [0.7, "Ideal", "G", "VS2", 61.8, 57.0, 5.7, 5.72, 3.53]
    assert check.problems["field"].tolist() == ["color", "clarity", "depth", "table", "x", "y", "z"]
    assert set(check.problems["rule"]) == {"required"}


def test_the_template_is_a_header_the_reader_accepts() -> None:
    batch = read_csv(template_csv(SCHEMA), schema=SCHEMA)
    assert list(batch.frame.columns) == COLUMNS


@pytest.fixture
def log(registry_home):
    clear_memory_caches()
    engine = make_engine(registry_home.database_url)
    migrate(engine)
    yield make_sessionmaker(engine)
    engine.dispose()


@pytest.mark.slow
def test_two_hundred_thousand_rows_are_scored_and_logged_whole(registry_home, log, monkeypatch) -> None:
    monkeypatch.setenv("LOUPE_SHADOW", "false")
    from core.settings import get_settings

    get_settings.cache_clear()
    settings = get_settings()
    seen: list[float] = []

    batch, result = score_csv(settings, diamonds_csv(200_500), sessions=log, source="batch", progress=seen.append)

    assert len(batch.frame) == 200_500 and len(result.accepted) == 200_500 and result.rejected.empty
    assert result.accepted["prediction_id"].is_unique
    assert seen == sorted(seen) and seen[-1] == 1.0 and len(seen) > 10
    with log.begin() as session:
        assert session.scalar(select(func.count()).select_from(Prediction)) == 200_500


def run_cli(*args: str, home: Path) -> subprocess.CompletedProcess:
    environment = {"LOUPE_HOME": str(home), "PATH": "/usr/bin:/bin", "LOUPE_SECRETS_FILE": str(home / "none.toml")}
    return subprocess.run(
        [sys.executable, "-m", "core", *args], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=300
    )


@pytest.mark.slow
def test_cli_scores_writes_rejected_rows_beside_the_output_and_takes_feedback(registry_home, tmp_path) -> None:
    home = registry_home.home_dir
    source = tmp_path / "in.csv"
    frame = load_diamonds().drop(columns="price").head(20)
    frame["carat"] = frame["carat"].astype(object)
    frame.loc[2, "carat"] = "heavy"
    frame.to_csv(source, index=False)

    scored = run_cli("score", "--input", str(source), "--output", str(tmp_path / "out" / "scored.csv"), home=home)

    assert scored.returncode == 0, scored.stderr
    assert "19 rows scored by v1" in scored.stdout and "1 rows rejected" in scored.stdout
    output = pd.read_csv(tmp_path / "out" / "scored.csv")
    assert len(output) == 19 and {"prediction", "prediction_id", "model_version"} <= set(output.columns)
    rejected = pd.read_csv(tmp_path / "out" / "scored.rejected.csv")
    assert rejected[["row", "field", "rule"]].values.tolist() == [[3, "carat", "type"]]
    assert rejected["carat"].tolist() == ["heavy"]

    feedback = tmp_path / "feedback.csv"
    ids = output["prediction_id"].tolist()
    feedback.write_text(
        "prediction_id,actual\n" + "".join(f"{i},{1000 + i}\n" for i in ids[:5]) + "99999999,5\nabc,1\n"
    )
    attached = run_cli("feedback", "--input", str(feedback), home=home)

    assert attached.returncode == 0, attached.stderr
    assert "5 actual value(s) stored" in attached.stdout
    assert "1 unknown prediction id(s), not stored: 99999999" in attached.stdout
    assert "row 7: prediction_id: 'abc' is not a whole number (rule: type)" in attached.stdout
    engine = make_engine(registry_home.database_url)
    with make_sessionmaker(engine).begin() as session:
        assert session.scalar(select(func.count()).select_from(Feedback)) == 5
    engine.dispose()


@pytest.mark.slow
def test_cli_exit_codes_for_unreadable_and_unscorable_files(registry_home, tmp_path) -> None:
    home = registry_home.home_dir
    missing = run_cli("score", "--input", str(tmp_path / "nope.csv"), "--output", str(tmp_path / "o.csv"), home=home)
    assert missing.returncode == 1 and "cannot read" in missing.stderr and "Traceback" not in missing.stderr

    latin = tmp_path / "latin.csv"
    latin.write_bytes(f"{HEADER}\n0.7,Idéal,G,VS2,61.8,57,5.7,5.72,3.53\n".encode("latin-1"))
    unreadable = run_cli("score", "--input", str(latin), "--output", str(tmp_path / "o.csv"), home=home)
    assert unreadable.returncode == 1 and "not UTF-8" in unreadable.stderr

    hopeless = tmp_path / "hopeless.csv"
    hopeless.write_text(f"{HEADER}\n-1,Ideal,G,VS2,61.8,57,5.7,5.72,3.53\n")
    nothing = run_cli("score", "--input", str(hopeless), "--output", str(tmp_path / "h.csv"), home=home)
    assert nothing.returncode == 1 and "no row could be scored" in nothing.stderr
    assert (tmp_path / "h.rejected.csv").exists()
