"""The canonical columns of a prediction made elsewhere, and the errors that refuse a whole file or body."""

from __future__ import annotations

from core.errors import InvalidInput
from core.task import PROBABILITY_PREFIX

ID, TIMESTAMP, VERSION, PREDICTION, ACTUAL = "id", "timestamp", "model_version", "prediction", "actual"
REQUIRED = (ID, TIMESTAMP, VERSION, PREDICTION)
CANONICAL = frozenset((*REQUIRED, ACTUAL))
ID_MAX_CHARS = 128  # predictions.client_id is a String(128)
SOURCE = "ingest"  # the log's ``source`` of every ingested row


class IngestFileError(InvalidInput):
    """Nothing in the file (or request body) can be read as predictions: said in one sentence."""


def is_probability(column: str) -> bool:
    """A ``proba_<class>`` column: a classifier's probability of one class."""
    return column.startswith(PROBABILITY_PREFIX) and len(column) > len(PROBABILITY_PREFIX)


def class_of(column: str) -> str:
    """The class a ``proba_<class>`` column is about."""
    return column[len(PROBABILITY_PREFIX) :]


def missing_required(columns: list[str]) -> list[str]:
    """The required canonical columns a header lacks."""
    return [name for name in REQUIRED if name not in columns]


def check_header(columns: list[str]) -> None:
    """Refuse a header without the required columns, naming them and the expected ones."""
    missing = missing_required(columns)
    if missing:
        raise IngestFileError(
            f"missing column(s): {', '.join(missing)}; expected at least {', '.join(REQUIRED)} "
            "and one column per feature (optional: actual, proba_<class>)"
        )
