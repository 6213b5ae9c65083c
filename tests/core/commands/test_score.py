"""``python -m core score``: accepted rows to --output, rejected rows beside it, the log, and clean failures."""

import pandas as pd
import pytest
from sqlalchemy import func, select

from core.dataset import load_diamonds
from core.serving.model_cache import clear_memory_caches
from storage.db import make_engine, make_sessionmaker
from storage.prediction_log import Prediction, Rejection
from tests.conftest import use_home

HEADER = "carat,cut,color,clarity,depth,table,x,y,z"
CLOSED_PORT = "http://127.0.0.1:9"


@pytest.fixture(autouse=True)
def fresh_process_caches():
    clear_memory_caches()
    yield
    clear_memory_caches()


def diamonds_file(path, count: int):
    load_diamonds().drop(columns="price").head(count).to_csv(path, index=False)
    return path


def logged(settings) -> dict[str, int]:
    engine = make_engine(settings.database_url)
    try:
        with make_sessionmaker(engine)() as session:
            counts = session.execute(
                select(Prediction.is_shadow, Prediction.source, func.count()).group_by(
                    Prediction.is_shadow, Prediction.source
                )
            ).all()
            rejected = session.scalar(select(func.count()).select_from(Rejection))
    finally:
        engine.dispose()
    return {f"{'shadow' if shadow else 'answer'} {source}": count for shadow, source, count in counts} | {
        "rejected": rejected
    }


def test_score_writes_accepted_rows_and_the_rejected_ones_beside_them(cli, registry_home, tmp_path) -> None:
    source = tmp_path / "in.csv"
    frame = load_diamonds().drop(columns="price").head(20)
    frame["carat"] = frame["carat"].astype(object)
    frame.loc[2, "carat"] = "heavy"
    frame.to_csv(source, index=False)

    ran = cli("score", "--input", str(source), "--output", str(tmp_path / "out" / "scored.csv"))

    assert ran.code == 0, ran.err
    assert "diamond-price v1 (champion) expects: carat, cut, color, clarity, depth, table, x, y, z" in ran.out
    assert "19 rows scored by v1" in ran.out and "1 row rejected" in ran.out
    assert "shadow: challenger v2 scored 19 rows" in ran.out
    output = pd.read_csv(tmp_path / "out" / "scored.csv")
    assert len(output) == 19 and {"prediction", "prediction_id", "model_version"} <= set(output.columns)
    assert set(output["model_version"]) == {1} and output["prediction"].between(100, 30_000).all()
    rejected = pd.read_csv(tmp_path / "out" / "scored.rejected.csv")
    assert rejected[["row", "field", "rule"]].values.tolist() == [[3, "carat", "type"]]
    assert rejected["carat"].tolist() == ["heavy"]
    assert logged(registry_home) == {"answer cli": 19, "shadow cli": 19, "rejected": 1}


def test_another_alias_scores_and_a_missing_one_is_a_clean_error(cli, registry_home, tmp_path) -> None:
    source = diamonds_file(tmp_path / "in.csv", 5)

    challenger = cli("score", "--input", str(source), "--output", str(tmp_path / "c.csv"), "--alias", "challenger")
    missing = cli("score", "--input", str(source), "--output", str(tmp_path / "g.csv"), "--alias", "gold")

    assert challenger.code == 0, challenger.err
    assert "5 rows scored by v2" in challenger.out
    assert set(pd.read_csv(tmp_path / "c.csv")["model_version"]) == {2}
    assert missing.code == 1 and "no version of diamond-price holds the alias 'gold'" in missing.err
    assert not (tmp_path / "g.csv").exists()


def test_unreadable_and_unscorable_files_exit_1_with_the_reason(cli, registry_home, tmp_path) -> None:
    missing = cli("score", "--input", str(tmp_path / "nope.csv"), "--output", str(tmp_path / "o.csv"))
    latin = tmp_path / "latin.csv"
    latin.write_bytes(f"{HEADER}\n0.7,Idéal,G,VS2,61.8,57,5.7,5.72,3.53\n".encode("latin-1"))
    unreadable = cli("score", "--input", str(latin), "--output", str(tmp_path / "o.csv"))
    hopeless = tmp_path / "hopeless.csv"
    hopeless.write_text(f"{HEADER}\n-1,Ideal,G,VS2,61.8,57,5.7,5.72,3.53\n")
    nothing = cli("score", "--input", str(hopeless), "--output", str(tmp_path / "h.csv"))

    assert missing.code == 1 and missing.err.startswith("error: cannot read") and "nope.csv" in missing.err
    assert unreadable.code == 1 and "not UTF-8" in unreadable.err
    assert nothing.code == 1 and "no row could be scored" in nothing.err
    assert (tmp_path / "h.rejected.csv").exists()
    assert not (tmp_path / "o.csv").exists()
    assert logged(registry_home) == {"rejected": 1}


def test_after_a_restart_score_serves_the_local_copy_when_the_registry_is_dead(
    cli, registry_home, tmp_path, monkeypatch
) -> None:
    source = diamonds_file(tmp_path / "in.csv", 10)
    assert cli("score", "--input", str(source), "--output", str(tmp_path / "first.csv")).code == 0  # copies v1
    clear_memory_caches()  # what a restart does: only the copies on disk are left
    use_home(monkeypatch, registry_home.home_dir, MLFLOW_TRACKING_URI=CLOSED_PORT)

    ran = cli("score", "--input", str(source), "--output", str(tmp_path / "out.csv"))

    assert ran.code == 0, ran.err
    assert "registry unreachable — serving cached v1" in ran.out
    scored = pd.read_csv(tmp_path / "out.csv")
    assert len(scored) == 10 and set(scored["model_version"]) == {1}
    assert scored["prediction"].tolist() == pd.read_csv(tmp_path / "first.csv")["prediction"].tolist()


def test_with_the_registry_dead_and_nothing_copied_score_says_so(cli, tmp_path, monkeypatch) -> None:
    use_home(monkeypatch, tmp_path / "home", MLFLOW_TRACKING_URI=CLOSED_PORT)
    source = diamonds_file(tmp_path / "in.csv", 3)

    ran = cli("score", "--input", str(source), "--output", str(tmp_path / "out.csv"))

    assert ran.code == 1
    assert "registry unreachable and no version for 'champion' was ever loaded here" in ran.err
    assert ran.err.count("\n") == 1 and not (tmp_path / "out.csv").exists()
