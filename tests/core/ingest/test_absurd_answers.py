"""Ingested answers that no model gives: non-finite or beyond ±1e250 predictions, true values and probabilities.

They are refused rows naming row, field and rule, so a logged 1e308 can neither make an RMSE infinite nor overflow
PostgreSQL's upsert of a roll-up's sums. Both ways in are covered: a file's text cells and ``POST /predictions``'s
JSON (whose parser reads ``NaN``, ``Infinity`` and ``1e999``).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from core.ingest.rows import check_chunk
from core.ingest.version_spec import VersionSpec
from core.profile import build_profile
from core.server.ingest_routes import parse_predictions_body
from core.serving.input_schema import build_schema
from storage.rollups.buckets import SUM_LIMIT

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
SCHEMA = build_schema(
    [{"name": "size", "type": "double"}],
    build_profile(pd.DataFrame({"size": np.linspace(1.0, 10.0, 50)})),
)


def check(frame: pd.DataFrame, *, task: str = "regression", classes: tuple[str, ...] = ()):
    spec = VersionSpec(version=1, task=task, schema=SCHEMA, classes=classes)
    return check_chunk(frame, first_row=1, model_name="m", specs={1: spec}.__getitem__, request_id="r", now=NOW)


def frame(**columns: list) -> pd.DataFrame:
    count = len(next(iter(columns.values())))
    base = {
        "id": [f"r{number}" for number in range(count)],
        "timestamp": ["2026-11-30T10:00:00"] * count,
        "model_version": ["1"] * count,
        "size": ["2.5"] * count,
    }
    return pd.DataFrame({**base, **columns})


def refusals(checked) -> list[tuple[int, str, str, str]]:
    return [(item.row, item.id, item.field, item.rule) for item in checked.rejected]


def stored(checked) -> list:
    return [row for part in checked.parts for row in part.rows()]


def test_a_prediction_beyond_the_roll_ups_clip_is_refused_and_one_within_it_is_kept() -> None:
    checked = check(frame(prediction=["1e308", "-1e251", "1e250", "-1e250", "1234.5"]))

    assert refusals(checked) == [(1, "r0", "prediction", "range"), (2, "r1", "prediction", "range")]
    assert checked.rejected[0].message == "prediction: '1e308' is beyond ±1e+250, no model's answer (rule: range)"
    assert [row.record["prediction"] for row in stored(checked)] == [SUM_LIMIT, -SUM_LIMIT, 1234.5]


def test_a_true_value_beyond_the_clip_is_refused_even_without_a_target_profile() -> None:
    checked = check(frame(prediction=["1", "2", "3"], actual=["-1e300", "1e250", "7"]))

    assert refusals(checked) == [(1, "r0", "actual", "range")]
    assert "actual: '-1e300' is beyond ±1e+250 (rule: range)" == checked.rejected[0].message
    assert [(row.record["client_id"], row.actual) for row in stored(checked)] == [("r1", SUM_LIMIT), ("r2", 7.0)]


@pytest.mark.parametrize(
    ("yes", "no", "rule"),
    [("inf", "0", "range"), ("nan", "1", "type"), ("1e308", "0", "range"), ("-inf", "1", "range")],
)
def test_a_non_finite_or_absurd_probability_is_refused(yes: str, no: str, rule: str) -> None:
    checked = check(
        frame(prediction=["yes", "yes"], proba_no=["0.3", no], proba_yes=["0.7", yes]),
        task="classification",
        classes=("no", "yes"),
    )

    assert refusals(checked) == [(2, "r1", "proba_yes", rule)]
    assert "(rule: " + rule in checked.rejected[0].message
    assert [row.record["prediction"] for row in stored(checked)] == [pytest.approx(0.7)]


def test_posted_nan_infinity_and_absurd_numbers_are_refused_by_name_not_read_as_missing() -> None:
    answers = [("NaN", "1"), ("Infinity", "1"), ("-Infinity", "1"), ("1e999", "1"), ("1e308", "1"), ("42.0", "NaN")]
    items = ",".join(
        f'{{"id": "p{number}", "timestamp": "2026-11-30T10:00:00Z", "model_version": 1, '
        f'"features": {{"size": 2.5}}, "prediction": {answer}, "actual": {actual}}}'
        for number, (answer, actual) in enumerate(answers)
    )

    _name, posted = parse_predictions_body(f'{{"predictions": [{items}]}}'.encode())
    checked = check(posted)

    assert refusals(checked) == [
        (1, "p0", "prediction", "type"),
        (2, "p1", "prediction", "finite"),
        (3, "p2", "prediction", "finite"),
        (4, "p3", "prediction", "finite"),
        (5, "p4", "prediction", "range"),
        (6, "p5", "actual", "type"),
    ]
    assert checked.rejected[0].message == "prediction: 'nan' is not a number (rule: type)"
    assert checked.rejected[1].message == "prediction: 'inf' is not a finite number (rule: finite)"
    assert stored(checked) == []


def test_posted_probabilities_that_are_not_finite_are_refused() -> None:
    body = {
        "predictions": [
            {
                "id": f"c{number}",
                "timestamp": "2026-11-30T10:00:00Z",
                "model_version": 1,
                "features": {"size": 2.5},
                "prediction": "yes",
                "probabilities": {"no": 0.5, "yes": value},
            }
            for number, value in enumerate([float("nan"), float("inf"), 0.5])
        ]
    }

    _name, posted = parse_predictions_body(json.dumps(body).encode())  # json writes NaN and Infinity
    checked = check(posted, task="classification", classes=("no", "yes"))

    assert refusals(checked) == [(1, "c0", "proba_yes", "type"), (2, "c1", "proba_yes", "range")]
    assert [row.record["client_id"] for row in stored(checked)] == ["c2"]
