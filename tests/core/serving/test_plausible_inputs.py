"""Numbers a model can take: finite, not subnormal, within its type, and within the plausible range of its reference."""

import numpy as np
import pandas as pd
import pytest

from core.profile import build_profile
from core.serving.input_schema import build_schema
from core.settings import get_settings

SIGNATURE = [
    {"name": "carat", "type": "double", "required": True},
    {"name": "depth", "type": "double", "required": True},
    {"name": "shift", "type": "double", "required": True},
    {"name": "weight", "type": "float", "required": True},
    {"name": "count", "type": "long", "required": True},
]
GOOD = {"carat": 1.0, "depth": 60.0, "shift": 0.0, "weight": 2.0, "count": 3}


def reference(rows: int = 40) -> pd.DataFrame:
    # carat 0.2 … 5.0 (never ≤ 0), depth 50 … 70, shift -1 … 1 (both signs), weight 1 … 3, count 0 … 9 (never < 0).
    return pd.DataFrame(
        {
            "carat": np.linspace(0.2, 5.0, rows),
            "depth": np.linspace(50.0, 70.0, rows),
            "shift": np.linspace(-1.0, 1.0, rows),
            "weight": np.linspace(1.0, 3.0, rows),
            "count": np.arange(rows) % 10,
        }
    )


@pytest.fixture
def schema():
    return build_schema(SIGNATURE, build_profile(reference()), range_factor=1.0)


def record_messages(schema, changes: dict) -> list[str]:
    return [problem.message for problem in schema.validate_record(GOOD | changes).problems]


def frame_messages(schema, column: str, cells: list[str]) -> list[str]:
    """The messages of a CSV-like frame (every cell text) with ``cells`` in ``column``, one per row."""
    frame = pd.DataFrame([{name: str(value) for name, value in GOOD.items()}] * len(cells))
    frame[column] = cells
    check = schema.validate_frame(frame)
    assert not check.accepted_mask.any()
    return check.problems.sort_values("row")["message"].tolist()


# (field, value as text, the message), each sent by a form and in a file.
REFUSED = [
    (
        "carat",
        "1e308",
        "carat: 1e+308 is beyond the plausible range 0 … 9.8 (rule: range; training range 0.2 … 5 widened by 1× its span)",
    ),
    (
        "depth",
        "10",
        "depth: 10 is beyond the plausible range 30 … 90 (rule: range; training range 50 … 70 widened by 1× its span)",
    ),
    (
        "carat",
        "1e-320",
        "carat: 1e-320 is too close to 0 for the model's 64-bit float input "
        "(rule: subnormal; 0, or at least 2.22507e-308 in size)",
    ),
    (
        "shift",
        "-1e-320",
        "shift: -1e-320 is too close to 0 for the model's 64-bit float input "
        "(rule: subnormal; 0, or at least 2.22507e-308 in size)",
    ),
    ("carat", "nan", "carat: 'nan' is not a finite number (rule: finite)"),
    ("carat", "-inf", "carat: '-inf' is not a finite number (rule: finite)"),
    ("depth", "1e400", "depth: '1e400' is not a finite number (rule: finite)"),
    ("carat", "-0.5", "carat: must be > 0, got -0.5 (rule: gt 0; carat is never ≤ 0 in the reference data)"),
    ("carat", "0", "carat: must be > 0, got 0 (rule: gt 0; carat is never ≤ 0 in the reference data)"),
    ("count", "-1", "count: must be ≥ 0, got -1 (rule: ge 0; count is never negative in the reference data)"),
    (
        "shift",
        "3.5",
        "shift: 3.5 is beyond the plausible range -3 … 3 (rule: range; training range -1 … 1 widened by 1× its span)",
    ),
    (
        "weight",
        "1e39",
        "weight: 1e+39 is too large for the model's 32-bit float input (rule: magnitude; below 3.40282e+38 in size)",
    ),
]


def test_forms_and_files_refuse_the_same_numbers_with_the_same_messages(schema) -> None:
    by_form = [record_messages(schema, {name: text}) for name, text, _ in REFUSED]
    assert by_form == [[message] for _, _, message in REFUSED]
    for name, text, message in REFUSED:
        assert frame_messages(schema, name, [text]) == [message], (name, text)


def test_numbers_sent_as_numbers_are_refused_like_text(schema) -> None:
    frame = pd.DataFrame([GOOD] * 4)
    frame["carat"] = [1e308, 1e-320, -0.5, 2.5]
    frame["shift"] = [0.0, 0.0, 0.0, -2.9]
    check = schema.validate_frame(frame)
    assert check.accepted_mask.tolist() == [False, False, False, True]
    assert check.problems["rule"].tolist() == ["range", "subnormal", "gt"]
    assert schema.validate_record(GOOD | {"carat": 1e308}).problems[0].rule == "range"


def test_values_between_the_training_and_plausible_ranges_are_accepted_with_a_warning(schema) -> None:
    check = schema.validate_record(GOOD | {"carat": 9.0, "shift": -2.5})
    assert check.accepted and check.ood_fields == ["carat", "shift"]
    assert check.warnings[0] == "carat: 9 is outside the training range 0.2 – 5"
    frame = schema.validate_frame(pd.DataFrame([GOOD | {"carat": 9.79}, GOOD | {"carat": 9.81}]))
    assert frame.accepted_mask.tolist() == [True, False] and frame.ood_fields == ["carat"]


def test_the_factor_widens_the_range_and_the_setting_is_the_default(monkeypatch) -> None:
    profile = build_profile(reference())
    exact = build_schema(SIGNATURE, profile, range_factor=0.0)
    assert (exact.get("depth").plausible_min, exact.get("depth").plausible_max) == (50.0, 70.0)
    assert [problem.rule for problem in exact.validate_record(GOOD | {"depth": 70.5}).problems] == ["range"]
    wide = build_schema(SIGNATURE, profile, range_factor=3.0)
    assert (wide.get("depth").plausible_min, wide.get("depth").plausible_max) == (0.0, 130.0)  # never below 0
    assert wide.validate_record(GOOD | {"depth": 125.0}).accepted

    monkeypatch.setenv("LOUPE_INPUT_RANGE_FACTOR", "0.5")
    get_settings.cache_clear()
    default = build_schema(SIGNATURE, profile)
    monkeypatch.delenv("LOUPE_INPUT_RANGE_FACTOR")
    get_settings.cache_clear()
    assert (default.get("depth").plausible_min, default.get("depth").plausible_max) == (40.0, 80.0)
    assert "widened by 0.5× its span" in default.validate_record(GOOD | {"depth": 81}).problems[0].message


def test_declared_rules_are_kept_and_no_sign_rule_is_inferred_over_them() -> None:
    profile = build_profile(reference(), rules={"carat": [{"rule": "ge", "value": 0.1}]})
    schema = build_schema(SIGNATURE, profile, range_factor=1.0)
    assert schema.get("carat").rules == ({"rule": "ge", "value": 0.1},)
    assert record_messages(schema, {"carat": 0.05}) == ["carat: must be ≥ 0.1, got 0.05 (rule: ge 0.1)"]
    assert schema.get("shift").rules == ()  # both signs seen: no sign rule


def test_without_a_reference_only_what_the_type_holds_is_enforced() -> None:
    schema = build_schema(SIGNATURE, None)
    assert schema.validate_record(GOOD | {"carat": 1e308, "depth": -7.0}).accepted
    assert [problem.rule for problem in schema.validate_record(GOOD | {"carat": 1e-320}).problems] == ["subnormal"]
    assert [problem.rule for problem in schema.validate_record(GOOD | {"carat": "inf"}).problems] == ["finite"]
    assert record_messages(schema, {"count": 1e19}) == [
        "count: 1e+19 is too large for the model's 64-bit integer input (rule: magnitude; below 9.22337e+18 in size)"
    ]
    assert [problem.rule for problem in schema.validate_record(GOOD | {"weight": 1e-40}).problems] == ["subnormal"]
    frame = schema.validate_frame(pd.DataFrame([GOOD | {"carat": 1e308}, GOOD | {"carat": 5e-324}]))
    assert frame.accepted_mask.tolist() == [True, False]


def test_a_thin_reference_sets_no_range_nor_sign_rule() -> None:
    schema = build_schema(SIGNATURE, build_profile(reference(rows=5)), range_factor=1.0)
    assert schema.get("carat").plausible_min is None and schema.get("carat").rules == ()
    assert schema.validate_record(GOOD | {"carat": 1e6, "count": -3}).accepted
    assert not schema.validate_record(GOOD | {"carat": 1e-320}).accepted


def test_a_profile_without_a_signature_gets_the_same_rules() -> None:
    schema = build_schema(None, build_profile(reference()), range_factor=1.0)
    assert [problem.rule for problem in schema.validate_record(GOOD | {"carat": 1e308}).problems] == ["range"]
    assert [problem.rule for problem in schema.validate_record(GOOD | {"count": 1e19}).problems] == ["magnitude"]


@pytest.mark.slow
def test_the_demo_model_refuses_absurd_numbers_from_the_form_and_a_file_without_a_numpy_warning(
    registry_home,
) -> None:
    import warnings

    from sqlalchemy import select

    from core.serving.batch import score_csv
    from core.serving.model_cache import clear_memory_caches
    from core.serving.scoring import predict_one
    from storage.db import make_engine, make_sessionmaker, migrate
    from storage.prediction_log import Prediction, Rejection

    clear_memory_caches()
    engine = make_engine(registry_home.database_url)
    migrate(engine)
    log = make_sessionmaker(engine)
    diamond = {"carat": 0.7, "cut": "Ideal", "color": "G", "clarity": "VS2", "depth": 61.8, "table": 57.0}
    diamond |= {"x": 5.7, "y": 5.72, "z": 3.53}
    header = ",".join(diamond)
    good = ",".join(str(value) for value in diamond.values())
    lines = [header, good.replace("0.7,", "1e308,", 1), good.replace("61.8", "1e-320"), good]
    lines.append(good.replace("5.7,5.72", "1e308,1e308"))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)  # no "overflow encountered in cast" on the way
            form = predict_one(registry_home, diamond | {"carat": 1e308}, sessions=log)
            _, batch = score_csv(registry_home, "\n".join(lines).encode(), sessions=log, source="batch")
        with log.begin() as session:
            rules = sorted(session.scalars(select(Rejection.rule)))
            answered = session.scalar(select(Prediction.id).limit(1))
    finally:
        engine.dispose()

    assert not form.accepted and [problem.rule for problem in form.errors] == ["range"]
    assert form.errors[0].message.startswith("carat: 1e+308 is beyond the plausible range 0 … ")
    assert "(rule: range; training range 0.2 … " in form.errors[0].message
    assert len(batch.accepted) == 1
    refused = batch.rejected.sort_values(["row", "field"])[["row", "field", "rule"]].values.tolist()
    assert refused == [[1, "carat", "range"], [2, "depth", "subnormal"], [4, "x", "range"], [4, "y", "range"]]
    assert rules == ["range", "range", "range", "range", "subnormal"] and answered is not None
