"""``python -m core feedback``: true values attached to logged predictions; bad rows and unknown ids reported."""

from sqlalchemy import select

from core.dataset import load_diamonds
from core.serving.model_cache import clear_memory_caches
from core.serving.scoring import score_frame
from storage.db import make_engine, make_sessionmaker, migrate
from storage.prediction_log import Feedback


def logged_predictions(settings, count: int) -> list[int]:
    """``count`` predictions scored and logged the way the batch path does; their ids."""
    frame = load_diamonds().drop(columns="price").head(count).astype({"cut": str, "color": str, "clarity": str})
    engine = make_engine(settings.database_url)
    migrate(engine)
    clear_memory_caches()
    try:
        result = score_frame(settings, frame, sessions=make_sessionmaker(engine), source="batch", shadow=False)
    finally:
        clear_memory_caches()
        engine.dispose()
    return result.accepted["prediction_id"].tolist()


def stored_feedback(settings) -> dict[int, float]:
    engine = make_engine(settings.database_url)
    try:
        with make_sessionmaker(engine)() as session:
            return {
                row.prediction_id: row.actual
                for row in session.execute(select(Feedback.prediction_id, Feedback.actual))
            }
    finally:
        engine.dispose()


def test_feedback_stores_known_ids_and_reports_unknown_ids_and_bad_rows(cli, registry_home, tmp_path) -> None:
    ids = logged_predictions(registry_home, 8)
    feedback = tmp_path / "feedback.csv"
    feedback.write_text(
        "prediction_id,actual\n" + "".join(f"{i},{1000 + i}\n" for i in ids[:5]) + "99999999,5\nabc,1\n"
    )

    ran = cli("feedback", "--input", str(feedback))

    assert ran.code == 0, ran.err
    assert "5 actual values stored" in ran.out
    assert "1 unknown prediction id, not stored: 99999999" in ran.out
    assert "row 7: prediction_id: 'abc' is not a whole number (rule: type)" in ran.out
    assert stored_feedback(registry_home) == {i: 1000.0 + i for i in ids[:5]}


def test_feedback_again_replaces_the_true_value(cli, registry_home, tmp_path) -> None:
    (first, *_) = logged_predictions(registry_home, 2)
    feedback = tmp_path / "feedback.csv"
    feedback.write_text(f"prediction_id,actual\n{first},100\n")
    assert cli("feedback", "--input", str(feedback)).code == 0
    feedback.write_text(f"prediction_id,actual\n{first},250.5\n")

    ran = cli("feedback", "--input", str(feedback))

    assert ran.code == 0, ran.err
    assert "1 actual value stored" in ran.out
    assert stored_feedback(registry_home) == {first: 250.5}


def test_nothing_stored_or_nothing_readable_exits_1(cli, registry_home, tmp_path) -> None:
    unknown = tmp_path / "unknown.csv"
    unknown.write_text("prediction_id,actual\n424242,5\n")
    wrong_columns = tmp_path / "wrong.csv"
    wrong_columns.write_text("id,price\n1,5\n")

    nothing = cli("feedback", "--input", str(unknown))
    missing = cli("feedback", "--input", str(tmp_path / "nope.csv"))
    unusable = cli("feedback", "--input", str(wrong_columns))

    assert nothing.code == 1 and "no actual value could be stored" in nothing.err
    assert "1 unknown prediction id, not stored: 424242" in nothing.out
    assert missing.code == 1 and missing.err.startswith("error: cannot read") and "nope.csv" in missing.err
    assert unusable.code == 1 and unusable.err.startswith("error: ") and "prediction_id" in unusable.err
    assert stored_feedback(registry_home) == {}
