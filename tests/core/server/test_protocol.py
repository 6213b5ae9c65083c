"""MLflow's request formats read into rows, and malformed bodies refused naming the field (no server needed)."""

from __future__ import annotations

import json

import pytest

from core.server.protocol import ProtocolError, header_text, problems_error, read_rows, request_token
from core.serving.input_fields import FieldSpec
from core.serving.input_schema import InputSchema

SCHEMA = InputSchema(
    fields=(FieldSpec("carat", "numeric", "float"), FieldSpec("cut", "categorical", "string", levels=("Ideal",)))
)
ROWS = [{"carat": 0.5, "cut": "Ideal"}, {"carat": 1.25, "cut": "Ideal"}]


def read(payload: object) -> list[dict]:
    rows = read_rows(json.dumps(payload).encode(), "application/json; charset=utf-8", schema=SCHEMA)
    assert rows.records is not None
    return rows.records


@pytest.mark.parametrize(
    "payload",
    [
        {"dataframe_split": {"columns": ["carat", "cut"], "data": [[0.5, "Ideal"], [1.25, "Ideal"]]}},
        {"dataframe_records": ROWS},
        {"instances": ROWS},
        {"inputs": ROWS},
        {"inputs": {"carat": [0.5, 1.25], "cut": ["Ideal", "Ideal"]}},
        {"instances": [[0.5, "Ideal"], [1.25, "Ideal"]]},  # positional: the signature's order
    ],
)
def test_every_json_format_reads_to_the_same_rows(payload) -> None:
    assert read(payload) == ROWS


def test_csv_reads_to_a_frame_of_text() -> None:
    rows = read_rows(b"carat,cut\n0.5,Ideal\n1.25,Ideal\n", "text/csv", schema=SCHEMA)
    assert rows.frame is not None and rows.frame.to_dict("records") == [
        {"carat": "0.5", "cut": "Ideal"},
        {"carat": "1.25", "cut": "Ideal"},
    ]


@pytest.mark.parametrize(
    ("payload", "named"),
    [
        ({"dataframe_split": {"columns": ["carat"], "data": [[1, 2]]}}, "dataframe_split.data[0]"),
        ({"dataframe_split": {"columns": "carat", "data": []}}, "dataframe_split.columns"),
        ({"dataframe_records": [{"carat": 1}, 3]}, "dataframe_records[1]"),
        ({"instances": [[1.0]]}, "instances[0]"),
        ({"inputs": {"carat": [1, 2], "cut": ["Ideal"]}}, "same number of values"),
        ({"dataframe_records": []}, "no rows"),
        ({"dataframe_records": ROWS, "instances": ROWS}, "exactly one of"),
        ([1, 2], "JSON object"),
    ],
)
def test_a_malformed_body_is_refused_naming_the_field(payload, named) -> None:
    with pytest.raises(ProtocolError, match=named.replace("[", r"\[").replace("]", r"\]")) as refused:
        read(payload)
    assert refused.value.status == 400


def test_other_content_types_and_charsets_are_unsupported_media() -> None:
    for content_type in ("text/plain", "application/json; charset=latin-1", None):
        with pytest.raises(ProtocolError) as refused:
            read_rows(b"{}", content_type, schema=SCHEMA)
        assert refused.value.status == 415
    with pytest.raises(ProtocolError, match="not valid JSON"):
        read_rows(b"{", "application/json", schema=SCHEMA)


def test_client_tokens_are_plain_and_problems_are_capped_with_a_count() -> None:
    assert request_token("challenger", what="alias") == "challenger" and request_token(None, what="alias") is None
    for bad in ("../x", "a b", "x" * 65, "<b>"):
        with pytest.raises(ProtocolError, match="alias"):
            request_token(bad, what="the alias")
    problems = [
        {"row": n, "field": "carat", "rule": "gt", "message": f"carat: {-n} must be > 0 (rule: gt)"}
        for n in range(1, 31)
    ]
    body = problems_error(problems, rows=40)
    assert len(body["problems"]) == 20 and body["problems_not_shown"] == 10
    assert body["message"].startswith("30 of 40 row(s) refused") and body["message"].endswith("and 10 more problem(s)")
    assert header_text("registry unreachable — serving cached v1") == "registry unreachable - serving cached v1"
