"""MLflow's scoring protocol: request bodies read into rows, answers shaped as MLflow's server shapes them.

Read (never copied) from ``mlflow/pyfunc/scoring_server``: JSON bodies carry exactly one of
``dataframe_split``, ``dataframe_records``, ``instances`` or ``inputs``; ``text/csv`` is a frame with a
header row; errors are ``{"error_code": "BAD_REQUEST", "message": …}``. Answers are
``{"predictions": [...]}`` exactly as MLflow's server writes them for the model (:func:`mlflow_predictions`)
plus Loupe's extras (prediction ids, the version, a classifier's labels and probabilities), which MLflow
clients ignore.

One-row bodies stay plain dicts (no pandas): they take the record path of the served model.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from core.serving.answers import Answers
from core.serving.batch import BatchFileError, read_csv
from core.serving.input_schema import InputSchema

JSON_FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")
CONTENT_JSON = "application/json"
CONTENT_CSV = "text/csv"
# A 400 lists this many problems, then counts the rest: a 100k-row body of bad rows stays readable.
PROBLEMS_SHOWN = 20
# Aliases and request ids end up in file names and log rows: a plain token, never a path or markup.
TOKEN_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class ProtocolError(Exception):
    """A request the protocol cannot read; ``status`` 400 (malformed) or 415 (unsupported content type)."""

    def __init__(self, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


Record = dict[str, Any]


@dataclass(frozen=True)
class Rows:
    """A request's rows: plain records (JSON) or a frame (CSV); exactly one is set."""

    records: list[Record] | None = None
    frame: pd.DataFrame | None = None

    def __len__(self) -> int:
        return len(self.records) if self.records is not None else len(self.frame)  # type: ignore[arg-type]

    def as_frame(self, schema: InputSchema) -> pd.DataFrame:
        if self.frame is not None:
            return self.frame
        records = self.records or []
        # The schema's columns first, so a missing optional input is a column of gaps, not an absent one.
        extra = sorted({key for record in records for key in record} - set(schema.names))
        return pd.DataFrame.from_records(records, columns=[*schema.names, *extra])


def read_rows(body: bytes, content_type: str | None, *, schema: InputSchema) -> Rows:
    """The rows of an ``/invocations`` body, or :class:`ProtocolError` naming what is wrong."""
    mime, _, parameters = (content_type or "").partition(";")
    mime = mime.strip().lower()
    charset = parameters.strip().lower().removeprefix("charset=").strip() or "utf-8"
    if charset not in ("utf-8", "utf8"):
        raise ProtocolError(f"only UTF-8 bodies are read; got charset {charset!r}", status=415)
    if mime == CONTENT_CSV:
        try:
            return Rows(frame=read_csv(body, schema=schema).frame)
        except BatchFileError as error:
            raise ProtocolError(f"text/csv body: {error}") from None
    if mime != CONTENT_JSON:
        raise ProtocolError(
            f"content type {content_type!r} is not read here; send {CONTENT_JSON} (dataframe_split, "
            f"dataframe_records, instances or inputs) or {CONTENT_CSV}",
            status=415,
        )
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError) as error:
        raise ProtocolError(f"the body is not valid JSON: {error}") from None
    if not isinstance(payload, dict):
        raise ProtocolError(f"the body must be a JSON object with one of the keys {', '.join(JSON_FORMATS)}")
    keys = [key for key in JSON_FORMATS if key in payload]
    if len(keys) != 1:
        found = ", ".join(map(str, payload)) or "none"
        raise ProtocolError(f"the body must hold exactly one of {', '.join(JSON_FORMATS)}; it holds: {found}")
    (key,) = keys
    data = payload[key]
    if key == "dataframe_split":
        records = _split(data)
    elif key == "dataframe_records":
        records = _records(data, key)
    else:
        records = _tensor_rows(data, key, schema=schema)
    if not records:
        raise ProtocolError(f"{key}: no rows to score")
    return Rows(records=records)


def _split(data: object) -> list[Record]:
    if not isinstance(data, dict):
        raise ProtocolError('dataframe_split must be an object {"columns": [...], "data": [[...], ...]}')
    columns, rows = data.get("columns"), data.get("data")
    if not isinstance(columns, list) or not all(isinstance(name, str) for name in columns):
        raise ProtocolError("dataframe_split.columns must be a list of column names")
    if not isinstance(rows, list):
        raise ProtocolError("dataframe_split.data must be a list of rows")
    records = []
    for position, row in enumerate(rows):
        if not isinstance(row, list) or len(row) != len(columns):
            raise ProtocolError(
                f"dataframe_split.data[{position}] must be a list of {len(columns)} values, one per column"
            )
        records.append(dict(zip(columns, row, strict=True)))
    return records


def _records(data: object, key: str) -> list[Record]:
    if not isinstance(data, list):
        raise ProtocolError(f"{key} must be a list of objects, one per row")
    for position, row in enumerate(data):
        if not isinstance(row, dict):
            raise ProtocolError(f"{key}[{position}] must be an object of column: value")
    return data


def _tensor_rows(data: object, key: str, *, schema: InputSchema) -> list[Record]:
    """``instances``/``inputs``: a list of objects, columns as lists (``{"carat": [0.5, 1.1]}``), or
    positional rows in the signature's column order, as MLflow turns them into a frame for a tabular model."""
    if isinstance(data, dict):
        columns = {name: values if isinstance(values, list) else [values] for name, values in data.items()}
        lengths = {len(values) for values in columns.values()}
        if len(lengths) > 1:
            raise ProtocolError(f"{key}: every column must hold the same number of values")
        count = lengths.pop() if lengths else 0
        return [{name: values[index] for name, values in columns.items()} for index in range(count)]
    if not isinstance(data, list):
        raise ProtocolError(f"{key} must be a list of rows or an object of columns")
    if all(isinstance(row, dict) for row in data):
        return data
    names = schema.names
    records = []
    for position, row in enumerate(data):
        if not isinstance(row, list) or len(row) != len(names):
            raise ProtocolError(
                f"{key}[{position}] must be an object of column: value, or a list of {len(names)} values "
                f"in the order {', '.join(names)}"
            )
        records.append(dict(zip(names, row, strict=True)))
    return records


def request_token(value: str | None, *, what: str) -> str | None:
    """A client-given alias or request id, or ``None`` when not given; :class:`ProtocolError` if malformed."""
    if value is None or value == "":
        return None
    if not TOKEN_PATTERN.match(value):
        raise ProtocolError(f"{what} must be 1-64 letters, digits, '.', '_' or '-'; got {value[:80]!r}")
    return value


def problems_error(problems: Sequence[Mapping[str, Any]], *, rows: int) -> dict[str, Any]:
    """The 400 body for refused rows: each problem's row (1-based), field and rule, capped, then a count."""
    refused_rows = len({item["row"] for item in problems})
    shown = [dict(item) for item in problems[:PROBLEMS_SHOWN]]
    lines = "; ".join(f"row {item['row']}: {item['message']}" for item in shown)
    rest = len(problems) - len(shown)
    more = f"; and {rest} more problem(s)" if rest else ""
    return {
        "error_code": "BAD_REQUEST",
        "message": f"{refused_rows} of {rows} row(s) refused, nothing was scored: {lines}{more}",
        "problems": shown,
        "problems_not_shown": rest,
    }


def error_body(message: str, *, code: str = "BAD_REQUEST") -> dict[str, str]:
    return {"error_code": code, "message": message}


def _plain(value: Any) -> Any:
    """numpy scalars as Python values; NaN and infinities as ``null`` (JSON has none)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return value


def dumps(payload: Mapping[str, Any]) -> bytes:
    return json.dumps(payload, default=_plain, separators=(",", ":")).encode()


def mlflow_predictions(answers: Answers, *, predict_method: str) -> list[Any]:
    """``"predictions"`` exactly as ``mlflow models serve`` writes them for this model.

    MLflow's server sends whatever the pyfunc's ``predict`` returned, made JSON-able
    (``predictions_to_json``): an array's ``tolist()`` (a regressor's numbers, a classifier's labels,
    or one list of probabilities per row for a model logged with ``pyfunc_predict_fn="predict_proba"``),
    a frame's records (``{"benign": 0.93, "malignant": 0.07}`` per row for a pyfunc answering one
    column per class). When Loupe answered through that same call, its output is used as is; when it
    answered another way (a compiled form, ``predict_proba`` for a classifier's ``predict``), the same
    shape is rebuilt from the answers.
    """
    if answers.replies is not None:
        return answers.replies
    if answers.labels is None:
        return answers.values.tolist()
    if predict_method == "predict_proba" and answers.probabilities is not None:
        return answers.probabilities.tolist()
    return answers.labels.tolist()


def predictions_body(
    predictions: Sequence[Any],
    *,
    ids: Sequence[int],
    version: int,
    labels: Sequence[Any] | None = None,
    probabilities: Sequence[Mapping[str, float]] | None = None,
) -> bytes:
    """``{"predictions": [...]}`` as MLflow answers (see :func:`mlflow_predictions`), plus
    ``prediction_ids``, ``model_version`` and, for a classifier, ``labels`` (its class per row) and,
    with probabilities, ``probabilities`` (one ``{class: p}`` per row)."""
    body: dict[str, Any] = {
        "predictions": [_plain(value) for value in predictions],
        "prediction_ids": list(ids),
        "model_version": version,
    }
    if labels is not None:
        body["labels"] = [_plain(value) for value in labels]
    if probabilities is not None:
        body["probabilities"] = list(probabilities)
    return dumps(body)


def header_text(text: str) -> str:
    """A header value: HTTP headers are Latin-1, so dashes become ``-`` and anything else is escaped."""
    return text.replace("—", "-").replace("–", "-").encode("ascii", "backslashreplace").decode("ascii")
