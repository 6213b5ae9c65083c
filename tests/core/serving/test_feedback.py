import dataclasses

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


def price_profile(rows: int = 200):
    """A reference whose numeric target ``price`` ran 326 … 18823 (never ≤ 0), as the diamonds' did."""
    import numpy as np
    import pandas as pd

    from core.profile import build_profile

    features = pd.DataFrame({"carat": np.linspace(0.2, 5.0, rows)})
    prices = pd.Series(np.linspace(326.0, 18_823.0, rows), name="price")
    return build_profile(features, target="price", target_values=prices, categorical_target=False)


def keep_reference(sessions, profile, *, model_name: str = "m", version: int = 1) -> None:
    from storage.rollups import save_reference

    with sessions.begin() as session:
        save_reference(
            session, model_name=model_name, model_version=version, run_id=None, profile_json=profile.to_json()
        )


BEYOND = 2**63  # one past the largest 64-bit id


@pytest.fixture(params=["sqlite", "postgresql"])
def any_log(request, settings):
    """The prediction log on SQLite and on the real PostgreSQL."""
    url = settings.database_url if request.param == "sqlite" else request.getfixturevalue("pg_url")
    engine = make_engine(url)
    migrate(engine)
    yield make_sessionmaker(engine)
    engine.dispose()


def test_ids_beyond_64_bits_are_refused_rows_on_sqlite_and_postgresql(any_log) -> None:
    (answer,) = logged(any_log, 1)
    data = f"prediction_id,actual\n{BEYOND},5\n{answer},7\n{-BEYOND - 1},1\n{10**30},2\n".encode()

    result = attach_feedback(data, sessions=any_log)

    assert result.stored == 1 and result.unknown_ids == []
    assert attach_feedback(f"prediction_id,actual\n{'9' * 4000},1\n".encode(), sessions=any_log).rejected[
        "message"
    ].tolist() == [
        f"prediction_id: {'9' * 40}… (4,000 digits) is out of range (rule: range; ids are 64-bit, "
        "-9223372036854775808 … 9223372036854775807)"
    ]
    assert result.rejected.values.tolist() == [
        [
            row,
            "prediction_id",
            f"prediction_id: {value} is out of range (rule: range; ids are 64-bit, "
            "-9223372036854775808 … 9223372036854775807)",
        ]
        for row, value in ((1, BEYOND), (3, -BEYOND - 1), (4, 10**30))
    ]
    with any_log.begin() as session:
        assert dict(session.execute(select(Feedback.prediction_id, Feedback.actual)).all()) == {answer: 7.0}


def test_true_values_keep_to_the_targets_sign_and_plausible_range(sessions) -> None:
    ids = logged(sessions, 7)
    keep_reference(sessions, price_profile())
    values = ["-5", "1e9", "nan", "1e-320", "0", "30000", "412.5"]
    data = ("prediction_id,actual\n" + "".join(f"{i},{v}\n" for i, v in zip(ids, values, strict=True))).encode()

    result = attach_feedback(data, sessions=sessions)

    never = "price is never ≤ 0 in the reference data"
    assert result.rejected["message"].tolist() == [
        f"actual: must be > 0, got -5 (rule: gt 0; {never})",
        "actual: 1000000000 is beyond the plausible range 0 … 37320 (rule: range; training range 326 … 18823 "
        "widened by 1× its span)",
        "actual: 'nan' is not a finite number (rule: finite)",
        "actual: 1e-320 is too close to 0 for the model's 64-bit float input (rule: subnormal; 0, or at least "
        "2.22507e-308 in size)",
        f"actual: must be > 0, got 0 (rule: gt 0; {never})",
    ]
    assert result.rejected["field"].unique().tolist() == ["actual"]
    with sessions.begin() as session:
        stored = dict(session.execute(select(Feedback.prediction_id, Feedback.actual)).all())
    assert stored == {ids[5]: 30_000.0, ids[6]: 412.5}  # 30000: beyond training, within the plausible range


def test_a_version_without_a_profiled_target_only_needs_finite_numbers(sessions) -> None:
    ids = logged(sessions, 3)
    keep_reference(sessions, dataclasses.replace(price_profile(), target=None, target_profile=None))
    data = f"prediction_id,actual\n{ids[0]},-5\n{ids[1]},1e9\n{ids[2]},1e400\n".encode()

    result = attach_feedback(data, sessions=sessions)

    assert result.stored == 2
    assert result.rejected["message"].tolist() == ["actual: '1e400' is not a finite number (rule: finite)"]


def test_the_feedback_command_refuses_huge_ids_and_negative_prices(settings, sessions, tmp_path, capsys) -> None:
    from core.cli import main

    ids = logged(sessions, 2)
    keep_reference(sessions, price_profile())
    path = tmp_path / "truth.csv"
    path.write_text(f"prediction_id,actual\n{BEYOND},5\n{ids[0]},-5\n{ids[1]},500\n")

    code = main(["feedback", "--input", str(path)])

    out = capsys.readouterr()
    text = out.out + out.err
    assert code == 0 and "1 actual value stored" in text
    assert f"row 1: prediction_id: {BEYOND} is out of range (rule: range;" in text
    assert "row 2: actual: must be > 0, got -5 (rule: gt 0; price is never ≤ 0 in the reference data)" in text
    assert "Traceback" not in text
