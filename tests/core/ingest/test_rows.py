"""core.ingest.rows: a chunk read into log rows and refusals, with a version spec made by hand (no registry)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from core.ingest.rows import check_chunk
from core.ingest.version_spec import UnknownVersion, VersionSpec
from core.profile import build_profile
from core.serving.input_schema import build_schema

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
REFERENCE = pd.DataFrame({"size": np.linspace(1.0, 10.0, 50), "colour": ["red", "blue"] * 25})
SCHEMA = build_schema(
    [{"name": "size", "type": "double"}, {"name": "colour", "type": "string"}],
    build_profile(REFERENCE, rules={"size": [{"rule": "gt", "value": 0.0}]}),
)


def lookup(task, classes=()):
    def specs(version: int):
        if version != 1:
            return UnknownVersion(version, f"version {version} of m is not in the registry")
        return VersionSpec(version=1, task=task, schema=SCHEMA, classes=classes)

    return specs


def rows(**columns) -> pd.DataFrame:
    base = {
        "id": ["a", "b"],
        "timestamp": ["2026-11-30T10:00:00", "2026-11-30T11:30:00+02:00"],
        "model_version": ["1", "1"],
        "size": ["2.5", "15"],
        "colour": ["red", "blue"],
        "prediction": ["3.5", "4"],
    }
    return pd.DataFrame({**base, **columns})


def stored(checked):
    """The rows to store, one at a time (they travel as columns, one part per version)."""
    return [row for part in checked.parts for row in part.rows()]


def check(frame, task="regression", classes=(), first_row=1):
    return check_chunk(frame, first_row=first_row, model_name="m", specs=lookup(task, classes), request_id="r", now=NOW)


def test_rows_become_log_records_naive_times_in_utc_inputs_typed_out_of_range_flagged() -> None:
    checked = check(rows(actual=["3", ""]))

    assert checked.rejected == []
    first, second = stored(checked)
    assert first.record["created_at"] == datetime(2026, 11, 30, 10, 0, tzinfo=UTC)  # naive: UTC
    assert second.record["created_at"] == datetime(2026, 11, 30, 9, 30, tzinfo=UTC)  # +02:00 converted
    assert first.features == {"size": 2.5, "colour": "red"}
    assert (first.record["prediction"], first.record["source"], first.record["client_id"]) == (3.5, "ingest", "a")
    assert first.record["latency_ms"] == 0.0 and first.record["is_ood"] is False
    assert second.record["ood_fields"] == "size"  # 15 is outside the reference's 1–10 (within its plausible 0–19)
    assert (first.actual, second.actual) == (3.0, None)


@pytest.mark.parametrize(
    ("column", "value", "field", "rule"),
    [
        ("id", "x" * 129, "id", "length"),
        ("timestamp", "", "timestamp", "required"),
        ("timestamp", "2026-12-31T00:00:00", "timestamp", "future"),
        ("model_version", "0", "model_version", "version"),
        ("model_version", "2", "model_version", "version"),
        ("model_version", "9223372036854775808", "model_version", "range"),
        ("model_version", "1e30", "model_version", "range"),
        ("size", "-1", "size", "gt"),
        ("size", "1e308", "size", "range"),
        ("size", "19.5", "size", "range"),
        ("size", "1e-320", "size", "subnormal"),
        ("actual", "1e-320", "actual", "subnormal"),
        ("colour", "green", "colour", "category"),
        ("prediction", "nan", "prediction", "type"),
        ("prediction", "-inf", "prediction", "finite"),
        ("actual", "n/a", "actual", "type"),
        ("actual", "inf", "actual", "finite"),
    ],
)
def test_a_refused_row_names_its_row_field_and_rule(column, value, field, rule) -> None:
    frame = rows()
    frame.loc[1, column] = value

    checked = check(frame, first_row=50_001)

    assert [row.record["client_id"] for row in stored(checked)] == ["a"]
    assert checked.rejected_rows == 1
    refused = checked.rejected[0]
    assert (refused.row, refused.id, refused.field, refused.rule) == (
        50_002,
        "b" if column != "id" else "x" * 129,
        field,
        rule,
    )
    assert f"(rule: {rule}" in refused.message and field in refused.message


def test_a_classifiers_probabilities_are_checked_and_scored_on_its_second_class() -> None:
    frame = rows(prediction=["yes", "no"], proba_no=["0.2", "0.7"], proba_yes=["0.8", "0.2"])
    frame = pd.concat([frame, rows(prediction=["yes", "maybe"], proba_no=["", "0.5"], proba_yes=["", "1.5"])])
    frame["id"] = ["a", "b", "c", "d"]

    checked = check(frame, task="classification", classes=("no", "yes"))

    assert [row.record["client_id"] for row in stored(checked)] == ["a", "c"]
    first, without = stored(checked)
    assert first.record["label"] == "yes" and first.record["prediction"] == pytest.approx(0.8)
    assert json.loads(first.record["probabilities"]) == {"no": 0.2, "yes": 0.8}
    assert without.record["prediction"] is None and without.record["probabilities"] is None
    assert [(item.row, item.field, item.rule) for item in checked.rejected] == [
        (2, "proba_no", "sum"),
        (4, "proba_yes", "range"),
        (4, "prediction", "class"),
    ]


def test_a_version_with_no_known_task_is_read_from_its_rows() -> None:
    frame = rows(prediction=["1.0", "0"], proba_0=["0.1", "0.6"], proba_1=["0.9", "0.4"], actual=["1", "0.0"])

    checked = check(frame, task=None)

    assert [(row.record["label"], row.actual_label) for row in stored(checked)] == [("1", "1"), ("0", "0")]


def test_true_values_keep_to_the_targets_sign_and_plausible_range() -> None:
    reference = REFERENCE.assign(price=np.linspace(300.0, 1_200.0, 50))
    profile = build_profile(
        reference[["size", "colour"]], target="price", target_values=reference["price"], categorical_target=False
    )
    schema = build_schema([{"name": "size", "type": "double"}, {"name": "colour", "type": "string"}], profile)
    specs = {1: VersionSpec(version=1, task="regression", schema=schema)}
    frame = pd.concat([rows()] * 3, ignore_index=True).assign(id=list("abcdef"))
    frame["actual"] = ["-5", "500", "1e9", "", "2000", "0"]

    checked = check_chunk(frame, first_row=1, model_name="m", specs=specs.__getitem__, request_id="r", now=NOW)

    assert [(row.id, row.rule) for row in checked.rejected] == [("a", "gt"), ("c", "range"), ("f", "gt")]
    assert checked.rejected[0].message == (
        "actual: must be > 0, got -5 (rule: gt 0; price is never ≤ 0 in the reference data)"
    )
    assert "beyond the plausible range 0 … 2100" in checked.rejected[1].message
    assert [(row.record["client_id"], row.actual) for row in stored(checked)] == [
        ("b", 500.0),
        ("d", None),
        ("e", 2000.0),  # beyond training, within the plausible range
    ]
