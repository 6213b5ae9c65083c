"""One chunk of predictions made elsewhere, checked row by row into log rows and rejections.

Every refusal names the row (1-based in the file or body), the field and the rule. The canonical columns
are checked first; a row that passes is then read with its version's spec: inputs through the same
:meth:`~core.serving.input_schema.InputSchema.validate_frame` the form and batch use (so the log holds
the same typed values, the same out-of-range flags), its prediction as the version's task wants it.
Checks run column by column (vectorised pandas); the rows kept leave as columns (one
:class:`~storage.ingest_log.IngestChunk` per version), never as one object per row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from core.ingest.answers import actual_values, classification, regression
from core.ingest.cells import Refusals, as_numbers, as_stamps, blank, id_texts
from core.ingest.columns import (
    CANONICAL,
    ID,
    ID_MAX_CHARS,
    PREDICTION,
    SOURCE,
    TIMESTAMP,
    VERSION,
    is_probability,
)
from core.ingest.version_spec import SpecLookup, UnknownVersion, VersionSpec
from core.serving.input_fields import TRUTH_FIELD, FieldSpec, field_from, truth_field
from core.serving.input_schema import InputSchema
from core.task import Task
from storage.ingest_log import IngestChunk

# A row stamped further ahead than this is refused: clocks drift, but not by days.
VERSION_MAX = 2**31 - 1
PLAIN_TRUTH = truth_field(None, range_factor=None)  # a regressor's truth when the schema knows no target
FUTURE_SLACK = timedelta(hours=1)


@dataclass(frozen=True)
class Rejected:
    """Why one row was refused."""

    row: int
    id: str | None
    field: str
    rule: str
    message: str


@dataclass
class CheckedChunk:
    """A chunk read: the rows to store (one part per version), the refusals (every problem of each refused
    row), notes to say once."""

    parts: list[IngestChunk] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    rejected_rows: int = 0
    notes: list[str] = field(default_factory=list)


def check_chunk(
    frame: pd.DataFrame, *, first_row: int, model_name: str, specs: SpecLookup, request_id: str, now: datetime
) -> CheckedChunk:
    """Read ``frame`` (its first row is row ``first_row`` of the input) into rows to log and refusals."""
    frame = frame.reset_index(drop=True)
    ids = id_texts(frame[ID])
    refusals = Refusals(len(frame), ids)
    refusals.add(blank(ids), ID, "required", "id: value is missing (rule: required)")
    refusals.add(
        ids.str.len().gt(ID_MAX_CHARS).fillna(False).to_numpy(dtype=bool),
        ID,
        "length",
        f"id: longer than {ID_MAX_CHARS} characters (rule: length)",
    )
    stamps = as_stamps(frame[TIMESTAMP])
    missing = blank(frame[TIMESTAMP])
    refusals.add(missing, TIMESTAMP, "required", "timestamp: value is missing (rule: required)")
    refusals.add(
        stamps.isna().to_numpy(dtype=bool) & ~missing,
        TIMESTAMP,
        "datetime",
        lambda value: f"timestamp: {str(value)!r} is not an ISO 8601 date and time (rule: datetime)",
        frame[TIMESTAMP],
    )
    future = (stamps > pd.Timestamp(now + FUTURE_SLACK)).fillna(False).to_numpy(dtype=bool)
    refusals.add(
        future,
        TIMESTAMP,
        "future",
        lambda value: f"timestamp: {value} is in the future (rule: future; at most an hour ahead of now)",
        stamps,
    )
    versions = as_numbers(frame[VERSION])
    missing = blank(frame[VERSION])
    refusals.add(missing, VERSION, "required", "model_version: value is missing (rule: required)")
    whole = versions.notna() & np.isfinite(versions.fillna(0)) & (versions.fillna(0) % 1 == 0) & (versions >= 1)
    refusals.add(
        ~whole.to_numpy(dtype=bool) & ~missing,
        VERSION,
        "version",
        lambda value: f"model_version: {str(value)!r} is not a positive whole number (rule: version)",
        frame[VERSION],
    )
    # The log keeps versions as 32-bit integers: a larger one would wrap around, not be refused.
    refusals.add(
        (whole & (versions > VERSION_MAX)).to_numpy(dtype=bool),
        VERSION,
        "range",
        lambda value: f"model_version: {str(value).strip()} is out of range (rule: range; at most {VERSION_MAX})",
        frame[VERSION],
    )
    chunk = CheckedChunk()
    ok = np.flatnonzero(~refusals.bad)
    by_version = pd.Series(versions.iloc[ok].astype("int64").to_numpy(), index=ok)
    for version, positions in by_version.groupby(by_version).groups.items():
        spec = specs(int(version))
        where = np.asarray(positions, dtype=np.int64)
        if isinstance(spec, UnknownVersion):
            mask = np.zeros(len(frame), dtype=bool)
            mask[where] = True
            refusals.add(mask, VERSION, "version", f"model_version: {spec.message} (rule: version)")
            continue
        if spec.note:
            chunk.notes.append(f"version {spec.version}: the model could not be loaded here ({spec.note})")
        _check_version(frame, where, spec, refusals, chunk, stamps, ids, model_name, request_id)
    rows = {int(position) for position, *_ in refusals.items}
    chunk.rejected_rows = len(rows)
    chunk.rejected = [
        Rejected(first_row + position, ids.iloc[position], name, rule, message)
        for position, name, rule, message in sorted(refusals.items, key=lambda item: item[0])
    ]
    return chunk


def _check_truths(values: list[float | None], where: np.ndarray, truth: FieldSpec, refusals: Refusals) -> None:
    """Refuse the finite true values a regressor's target rules refuse (sign, plausible range; see
    :func:`core.serving.input_fields.truth_field`): a feedback file and ``POST /feedback`` refuse the same."""
    given = [local for local, value in enumerate(values) if value is not None]
    if not given:
        return
    check = InputSchema(fields=(truth,)).validate_frame(pd.DataFrame({TRUTH_FIELD: [values[i] for i in given]}))
    for row, rule, message in check.problems[["row", "rule", "message"]].itertuples(index=False):
        local = given[int(row) - 1]
        refusals.add_at(int(where[local]), TRUTH_FIELD, str(rule), str(message))
        values[local] = None


def _open_schema(frame: pd.DataFrame) -> InputSchema:
    """Inputs when nothing tells them: every non-canonical column, a number when all its values are."""
    specs = []
    for name in frame.columns:
        if name in CANONICAL or is_probability(name):
            continue
        values = frame[name]
        given = ~blank(values)
        numeric = bool(given.any()) and bool(as_numbers(values)[given].notna().all())
        specs.append(field_from(name, None, "float" if numeric else "string", False))
    return InputSchema(fields=tuple(specs), has_profile=False)


def _task_of(rows: pd.DataFrame, probability_columns: list[str]) -> Task:
    """The task when nothing but the rows tells: probabilities or a text answer are a classifier's."""
    if any((~blank(rows[name])).any() for name in probability_columns):
        return "classification"
    given = ~blank(rows[PREDICTION])
    return "classification" if as_numbers(rows[PREDICTION])[given].isna().any() else "regression"


def _check_version(
    frame: pd.DataFrame,
    where: np.ndarray,
    spec: VersionSpec,
    refusals: Refusals,
    chunk: CheckedChunk,
    stamps: pd.Series,
    ids: pd.Series,
    model_name: str,
    request_id: str,
) -> None:
    rows = frame.iloc[where]
    probability_columns = [name for name in frame.columns if is_probability(str(name))]
    task = spec.task or _task_of(rows, probability_columns)
    schema = spec.schema if spec.schema is not None else _open_schema(frame)
    check = schema.validate_frame(rows[[name for name in schema.names if name in rows.columns]])
    for row, name, _rule, message in check.problems[["row", "field", "rule", "message"]].itertuples(index=False):
        refusals.add_at(int(where[int(row) - 1]), str(name), str(_rule), str(message))
    if task == "regression":
        answers = regression(rows, where, refusals)
    else:
        answers = classification(rows, where, spec, probability_columns, refusals)
    true_values, true_labels = actual_values(rows, where, task, answers.get("classes", ()), refusals)
    if task == "regression":
        _check_truths(true_values, where, schema.truth or PLAIN_TRUTH, refusals)
    accepted_local = np.flatnonzero(check.accepted_mask)
    # Accepted by the inputs' checks and by every other column's: whole columns taken at once, no per-row indexing.
    kept = ~refusals.bad[where[accepted_local]]
    local_rows = accepted_local[kept]
    positions = where[local_rows]
    clean = check.clean.iloc[np.flatnonzero(kept)].reset_index(drop=True)
    ood_fields = [check.ood_fields[index] or None for index in np.flatnonzero(kept)]
    picked = local_rows.tolist()
    columns = {
        "model_name": model_name,
        "model_version": spec.version,
        "alias": None,
        # Not timed by Loupe: 0, and source "ingest" keeps these rows apart from timed ones.
        "latency_ms": 0.0,
        "source": SOURCE,
        "request_id": request_id,
        "is_shadow": False,
        "shadow_of": None,
        "created_at": stamps.iloc[positions].reset_index(drop=True),  # kept whole: written column-wise
        "prediction": [answers["prediction"][local] for local in picked],
        "label": [answers["label"][local] for local in picked],
        "probabilities": [answers["probabilities"][local] for local in picked],
        "is_ood": [ood is not None for ood in ood_fields],
        "ood_fields": ood_fields,
        "client_id": ids.iloc[positions].tolist(),
    }
    chunk.parts.append(
        IngestChunk(
            columns=columns,
            inputs=clean,
            actuals=[true_values[local] for local in picked],
            actual_labels=[true_labels[local] for local in picked],
        )
    )
