import math

import pandas as pd
import pytest
from sqlalchemy import func, select

from core.profile import build_profile
from core.serving.batch import BatchFileError, score_csv
from core.serving.input_schema import build_schema
from core.serving.model_cache import clear_memory_caches, serve
from core.serving.scoring import predict_one
from storage.db import make_engine, make_sessionmaker, migrate
from storage.prediction_log import Prediction, Rejection
from tests.conftest import DIABETES_MODEL

SIGNATURE = [
    {"name": "carat", "type": "double", "required": True},
    {"name": "cut", "type": "string", "required": True},
    {"name": "count", "type": "long", "required": True},
]
DIAMOND = {"carat": 0.7, "cut": "Ideal", "color": "G", "clarity": "VS2", "depth": 61.8, "table": 57.0}
DIAMOND |= {"x": 5.7, "y": 5.72, "z": 3.53}
LEVELS = "one of Fair, Good, Very Good, Premium, Ideal"


@pytest.fixture
def small_schema():
    frame = pd.DataFrame(
        {"carat": [0.3, 0.5, 0.5, 2.0], "cut": ["Good", "Ideal", "Ideal", "Fair"], "count": [1, 2, 3, 4]}
    )
    profile = build_profile(frame, rules={"carat": [{"rule": "gt", "value": 0.0}]})
    return build_schema(SIGNATURE, profile)


def test_schema_comes_from_the_signature_and_the_profile(small_schema) -> None:
    assert small_schema.names == ["carat", "cut", "count"]
    carat, cut, count = small_schema.fields
    assert (carat.kind, carat.dtype, carat.train_min, carat.train_max, carat.default) == (
        "numeric",
        "float",
        0.3,
        2.0,
        0.5,
    )
    assert carat.rules == ({"rule": "gt", "value": 0.0},)
    assert (cut.kind, cut.levels, cut.default) == ("categorical", ("Fair", "Good", "Ideal"), "Ideal")
    assert (count.dtype, count.default) == ("integer", 2.0)
    assert small_schema.template_csv() == "carat,cut,count\n0.5,Ideal,2.0\n"


def test_without_a_profile_the_signature_alone_is_enforced() -> None:
    schema = build_schema(SIGNATURE, None)
    assert schema.get("cut").levels is None and schema.get("carat").train_min is None
    check = schema.validate_record({"carat": "x", "cut": "anything", "count": 2})
    assert [problem.rule for problem in check.problems] == ["type"]
    with pytest.raises(ValueError, match="neither a signature nor reference data"):
        build_schema(None, None)


def test_integer_fields_refuse_fractions_and_frames_agree_with_records(small_schema) -> None:
    record = small_schema.validate_record({"carat": 1.0, "cut": "Good", "count": 2.5})
    frame = small_schema.validate_frame(pd.DataFrame({"carat": ["1"], "cut": ["Good"], "count": ["2.5"]}))

    assert record.problems[0].message == "count: 2.5 is not a whole number (rule: integer)"
    assert frame.problems["message"].tolist() == [record.problems[0].message]


def test_probe_rows_cover_the_training_ranges_and_levels_and_pass_validation(small_schema) -> None:
    probe = small_schema.probe_frame(rows=200, seed=3)

    check = small_schema.validate_frame(probe)

    assert list(probe.columns) == small_schema.names and len(probe) == 200
    assert check.accepted_mask.all() and set(check.ood_fields) == {""}
    assert set(probe["cut"]) == {"Fair", "Good", "Ideal"}
    assert probe["carat"].min() < 0.6 and probe["carat"].max() > 1.7
    assert (probe["count"] == probe["count"].round()).all()


def test_probe_rows_without_a_profile_sit_around_zero() -> None:
    probe = build_schema(SIGNATURE, None).probe_frame(rows=50)

    assert probe["carat"].between(-1, 1).all() and probe["count"].between(-1, 1).all()
    assert set(probe["cut"]) == {""}


def test_ood_is_flagged_per_row(small_schema) -> None:
    frame = pd.DataFrame({"carat": [0.1, 0.5, 9.0], "cut": ["Good"] * 3, "count": [1, 99, 2]})

    check = small_schema.validate_frame(frame)

    assert check.accepted_mask.all()
    assert check.ood_fields == ["carat", "count", "carat"]
    assert small_schema.validate_record({"carat": 9.0, "cut": "Good", "count": 2}).warnings == [
        "carat: 9 is outside the training range 0.3 – 2"
    ]


# Bad inputs from the form: (what is sent, the expected messages).
FORM_CASES = [
    ({"carat": None}, ["carat: value is missing (rule: required)"]),
    ({"carat": ""}, ["carat: value is missing (rule: required)"]),
    ({"carat": math.nan}, ["carat: value is missing (rule: required)"]),
    ({"carat": "abc"}, ["carat: 'abc' is not a number (rule: type)"]),
    ({"carat": True}, ["carat: True is not a number (rule: type)"]),
    ({"carat": [1]}, ["carat: '[1]' is not a number (rule: type)"]),
    ({"carat": math.inf}, ["carat: inf is not a finite number (rule: finite)"]),
    ({"carat": -math.inf}, ["carat: -inf is not a finite number (rule: finite)"]),
    ({"carat": 0.0}, ["carat: must be > 0, got 0 (rule: gt 0)"]),
    ({"carat": -0.5}, ["carat: must be > 0, got -0.5 (rule: gt 0)"]),
    ({"depth": 0}, ["depth: must be > 0, got 0 (rule: gt 0)"]),
    ({"table": -5}, ["table: must be > 0, got -5 (rule: gt 0)"]),
    ({"x": -1.0}, ["x: must be ≥ 0, got -1 (rule: ge 0)"]),
    ({"y": -0.01}, ["y: must be ≥ 0, got -0.01 (rule: ge 0)"]),
    ({"z": -3}, ["z: must be ≥ 0, got -3 (rule: ge 0)"]),
    ({"cut": "Superb"}, [f"cut: 'Superb' is not a known level (rule: category; {LEVELS})"]),
    ({"cut": "ideal"}, [f"cut: 'ideal' is not a known level (did you mean 'Ideal'?) (rule: category; {LEVELS})"]),
    ({"cut": None}, ["cut: value is missing (rule: required)"]),
    ({"color": "Z"}, ["color: 'Z' is not a known level (rule: category; one of J, I, H, G, F, E, D)"]),
    ({"clarity": ""}, ["clarity: value is missing (rule: required)"]),
    (
        {"carat": -1, "cut": "Bad"},
        [
            "carat: must be > 0, got -1 (rule: gt 0)",
            f"cut: 'Bad' is not a known level (rule: category; {LEVELS})",
        ],
    ),
]
# Bad cells of a CSV: (column, cell text, the expected message). Each is also typed into the form.
CSV_CASES = [
    ("carat", "abc", "carat: 'abc' is not a number (rule: type)"),
    ("carat", "nan", "carat: 'nan' is not a finite number (rule: finite)"),
    ("carat", "NaN", "carat: 'NaN' is not a finite number (rule: finite)"),
    ("carat", "inf", "carat: 'inf' is not a finite number (rule: finite)"),
    ("carat", "-inf", "carat: '-inf' is not a finite number (rule: finite)"),
    ("carat", "1e400", "carat: '1e400' is not a finite number (rule: finite)"),
    ("carat", "", "carat: value is missing (rule: required)"),
    ("carat", "0", "carat: must be > 0, got 0 (rule: gt 0)"),
    ("depth", '"1,5"', "depth: '1,5' is not a number (rule: type)"),
    ("x", "-2", "x: must be ≥ 0, got -2 (rule: ge 0)"),
    ("table", "   ", "table: value is missing (rule: required)"),
    ("cut", "Bad", f"cut: 'Bad' is not a known level (rule: category; {LEVELS})"),
    ("color", "", "color: value is missing (rule: required)"),
    (
        "clarity",
        "VS3",
        "clarity: 'VS3' is not a known level (rule: category; one of I1, SI2, SI1, VS2, VS1, VVS2, VVS1, IF)",
    ),
]
HEADER = ",".join(DIAMOND)
GOOD_LINE = "0.7,Ideal,G,VS2,61.8,57,5.7,5.72,3.53"
# Files that cannot be scored at all: (bytes, a part of the expected message).
FILE_CASES = [
    (b"", "the file is empty; expected a header row with the columns: carat, cut"),
    (b"\n\n", "the file is empty"),
    (f"{HEADER}\n".encode(), "the file has a header but no data rows"),
    (f"{HEADER.replace(',', ';')}\n0.7;Ideal\n".encode(), "the columns seem to be separated by semicolons"),
    (f"{HEADER.replace(',', chr(9))}\n".encode(), "the columns seem to be separated by tabs"),
    (
        f"{HEADER}\n0.7,Idéal,G,VS2,61.8,57,5.7,5.72,3.53\n".encode("latin-1"),
        "the file is not UTF-8 text (byte 0xe9 on line 2)",
    ),
    (f"{HEADER.replace(',z', '')}\n".encode(), "missing column(s): z; the model needs: carat, cut"),
    (f"{HEADER},carat\n{GOOD_LINE},1\n".encode(), "duplicated column(s) in the header: carat"),
    (f"{HEADER}\n{GOOD_LINE},7,8\n".encode(), "the file is not a well-formed CSV"),
]


@pytest.fixture
def log(registry_home):
    clear_memory_caches()
    engine = make_engine(registry_home.database_url)
    migrate(engine)
    yield make_sessionmaker(engine)
    engine.dispose()


def test_thirty_plus_bad_inputs_are_refused_with_their_messages_and_never_logged(registry_home, log) -> None:
    assert len(FORM_CASES) + 2 * len(CSV_CASES) + len(FILE_CASES) >= 30
    mismatches = []
    for changes, expected in FORM_CASES:
        record = {key: value for key, value in DIAMOND.items()} | changes
        outcome = predict_one(registry_home, record, sessions=log)
        if outcome.accepted or [problem.message for problem in outcome.errors] != expected:
            mismatches.append(("form", changes, [problem.message for problem in outcome.errors]))
    for column, cell, expected in CSV_CASES:  # the same text typed into the form
        outcome = predict_one(registry_home, DIAMOND | {column: cell.strip('"')}, sessions=log)
        if [problem.message for problem in outcome.errors] != [expected]:
            mismatches.append(("form text", cell, [problem.message for problem in outcome.errors]))

    columns = list(DIAMOND)
    lines = [HEADER]
    for column, cell, _ in CSV_CASES:
        values = GOOD_LINE.split(",")
        values[columns.index(column)] = cell
        lines.append(",".join(values))
    _, result = score_csv(registry_home, "\n".join(lines).encode(), sessions=log, source="batch")
    assert result.accepted.empty
    got = result.rejected.groupby("row")["message"].apply(list).to_dict()
    for row, (_, cell, expected) in enumerate(CSV_CASES, start=1):
        if got.get(row) != [expected]:
            mismatches.append(("csv", cell, got.get(row)))

    for data, expected in FILE_CASES:
        try:
            score_csv(registry_home, data, sessions=log, source="batch")
            mismatches.append(("file", data[:40], "accepted"))
        except BatchFileError as error:
            if expected not in str(error):
                mismatches.append(("file", data[:40], str(error)))

    assert mismatches == [], "\n".join(map(str, mismatches))
    with log.begin() as session:
        assert session.scalar(select(func.count()).select_from(Prediction)) == 0
        logged = session.scalar(select(func.count()).select_from(Rejection))
    assert logged == sum(len(expected) for _, expected in FORM_CASES) + 2 * len(CSV_CASES)


def test_a_file_over_the_upload_limit_gets_a_clear_message(registry_home, log) -> None:
    data = (HEADER + "\n" + (GOOD_LINE + "\n") * 2_000).encode()
    with pytest.raises(
        BatchFileError, match=r"over the 0 MB upload limit; split it, or score it from the command line"
    ):
        score_csv(registry_home, data, sessions=log, source="batch", max_bytes=50_000)


def test_a_model_with_another_signature_gets_its_own_schema_without_code_changes(diabetes_registry) -> None:
    settings = diabetes_registry
    clear_memory_caches()
    engine = make_engine(settings.database_url)
    migrate(engine)
    sessions = make_sessionmaker(engine)

    served, _ = serve(settings)
    schema = served.schema
    assert schema.names == ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"]
    assert schema.get("age").dtype == "integer" and schema.get("sex").levels == ("female", "male")
    assert schema.get("bmi").rules == ({"rule": "gt", "value": 0.0},)
    assert served.scoring_path == "compiled: ColumnTransformer → Ridge"  # the form's answer; batch uses predict

    good = schema.defaults()
    answer = predict_one(settings, good, sessions=sessions)
    assert answer.accepted and 25 < answer.prediction < 346  # the dataset's target range
    refused = predict_one(settings, good | {"age": 40.5, "sex": "other", "bmi": -1}, sessions=sessions)
    assert [problem.message for problem in refused.errors] == [
        "age: 40.5 is not a whole number (rule: integer)",
        "sex: 'other' is not a known level (rule: category; one of female, male)",
        "bmi: must be > 0, got -1 (rule: gt 0)",
    ]
    frame = pd.DataFrame([good, good | {"s1": "high"}])
    frame["age"] = frame["age"].astype(int)
    _, batch = score_csv(settings, frame.to_csv(index=False).encode(), sessions=sessions, source="batch")
    assert len(batch.accepted) == 1 and batch.rejected["message"].tolist() == [
        "s1: 'high' is not a number (rule: type)"
    ]
    assert batch.accepted["prediction"].iloc[0] == pytest.approx(answer.prediction, rel=1e-9)
    with sessions.begin() as session:
        assert session.scalar(select(func.count()).select_from(Prediction)) == 2
        assert set(session.scalars(select(Prediction.model_name))) == {DIABETES_MODEL}
    engine.dispose()
