import pytest
from sqlalchemy import select

from core.serving.batch import BatchFileError
from core.serving.feedback import attach_feedback, parse_feedback
from storage.base import utcnow
from storage.db import make_engine, make_sessionmaker, migrate
from storage.prediction_log import Feedback, log_predictions


@pytest.fixture
def sessions(settings):
    engine = make_engine(settings.database_url)
    migrate(engine)
    yield make_sessionmaker(engine)
    engine.dispose()


def logged(sessions, count: int) -> list[int]:
    record = {
        "created_at": utcnow(),
        "model_name": "m",
        "model_version": 1,
        "alias": "champion",
        "prediction": 10.0,
        "latency_ms": 1.0,
        "source": "form",
        "request_id": "r",
        "is_ood": False,
        "ood_fields": None,
        "is_shadow": False,
        "shadow_of": None,
    }
    with sessions.begin() as session:
        return log_predictions(session, records=[record] * count)


def test_an_id_given_twice_or_a_shadow_id_is_refused_never_a_silent_last_wins(sessions) -> None:
    answer, other = logged(sessions, 2)
    shadow_record = {
        "created_at": utcnow(),
        "model_name": "m",
        "model_version": 2,
        "alias": "challenger",
        "prediction": 11.0,
        "latency_ms": 1.0,
        "source": "form",
        "request_id": "r",
        "is_ood": False,
        "ood_fields": None,
        "is_shadow": True,
        "shadow_of": answer,
    }
    with sessions.begin() as session:
        (shadow,) = log_predictions(session, records=[shadow_record])
    data = f"prediction_id,actual\n{answer},1\n{other},5\n{answer},2\n{answer},3\n{shadow},4\n".encode()

    result = attach_feedback(data, sessions=sessions)

    assert result.stored == 1  # only the id given once, to an answer
    assert result.rejected.values.tolist() == [
        [1, "prediction_id", f"prediction_id: {answer} is given 3 times; give it once (rule: unique)"],
        [3, "prediction_id", f"prediction_id: {answer} is given 3 times; give it once (rule: unique)"],
        [4, "prediction_id", f"prediction_id: {answer} is given 3 times; give it once (rule: unique)"],
        [
            5,
            "prediction_id",
            f"prediction_id: {shadow} is a shadow answer; give the truth to the answer it shadowed ({answer}) "
            "(rule: not shadow)",
        ],
    ]
    with sessions.begin() as session:
        assert dict(session.execute(select(Feedback.prediction_id, Feedback.actual)).all()) == {other: 5.0}


def test_actuals_are_stored_unknown_ids_reported_bad_rows_refused(sessions) -> None:
    ids = logged(sessions, 4)
    data = (f"prediction_id, actual\n{ids[0]},100.5\n{ids[1]}, 200\n424242,1\n{ids[2]},inf\n{ids[3]},lots\n").encode()

    result = attach_feedback(data, sessions=sessions)

    assert result.stored == 2 and result.unknown_ids == [424242]
    assert result.rejected["message"].tolist() == [
        "actual: 'inf' is not a finite number (rule: finite)",
        "actual: 'lots' is not a number (rule: type)",
    ]
    with sessions.begin() as session:
        assert dict(session.execute(select(Feedback.prediction_id, Feedback.actual)).all()) == {
            ids[0]: 100.5,
            ids[1]: 200.0,
        }


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "the file is empty"),
        (b"id,actual\n1,2\n", "missing column(s): prediction_id"),
        (b"prediction_id,actual\n", "header but no rows"),
        (b"prediction_id,actual\n1,\xe9\n", "not UTF-8"),
    ],
)
def test_bad_feedback_files_get_clear_messages(data: bytes, message: str) -> None:
    with pytest.raises(BatchFileError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_feedback(data)
