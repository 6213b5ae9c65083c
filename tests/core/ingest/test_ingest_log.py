"""storage.ingest_log: each client id stored once per model, on SQLite and PostgreSQL, also under racing writers."""

from __future__ import annotations

import threading

import pandas as pd
import pytest
from sqlalchemy import func, select

from storage.base import utcnow
from storage.db import make_engine, make_sessionmaker, migrate
from storage.ingest_log import IngestChunk, IngestRow, existing_client_ids, store_ingested
from storage.prediction_log import Feedback, Prediction, features_of

pytestmark = pytest.mark.slow  # racing writers on PostgreSQL


def row(client_id: str, *, model: str = "m", actual: float | None = None) -> IngestRow:
    record = {
        "created_at": utcnow(),
        "model_name": model,
        "model_version": 1,
        "alias": None,
        "prediction": 2.5,
        "label": None,
        "probabilities": None,
        "latency_ms": 0.0,
        "source": "ingest",
        "request_id": "r",
        "is_ood": False,
        "ood_fields": None,
        "is_shadow": False,
        "shadow_of": None,
        "client_id": client_id,
    }
    return IngestRow(record=record, features={"x": 1.0, "colour": "red"}, actual=actual)


@pytest.fixture(params=["sqlite", "postgresql"])
def sessions(request, tmp_path):
    url = f"sqlite:///{tmp_path / 'loupe.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    engine = make_engine(url)
    migrate(engine)
    yield make_sessionmaker(engine)
    engine.dispose()


def test_the_same_rows_twice_are_stored_once_with_features_and_truth(sessions) -> None:
    rows = [row("a", actual=3.0), row("b"), row("a", actual=9.0)]  # a repeated id: the first wins
    with sessions.begin() as session:
        first = store_ingested(session, model_name="m", parts=[IngestChunk.from_rows(rows)])
    with sessions.begin() as session:
        second = store_ingested(session, model_name="m", parts=[IngestChunk.from_rows(rows)])

    assert (first.stored, first.already_stored, first.feedback) == (2, 1, 1)
    assert (second.stored, second.already_stored, second.feedback) == (0, 3, 0)
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Prediction)) == 2
        first_id = session.scalar(select(Prediction.id).where(Prediction.client_id == "a"))
        assert features_of(session, prediction_id=first_id) == {"x": 1.0, "colour": "red"}
        assert list(session.execute(select(Feedback.prediction_id, Feedback.actual, Feedback.revision))) == [
            (first_id, 3.0, 1)
        ]
        assert session.scalar(select(Feedback.received_at)) is not None
        assert existing_client_ids(session, model_name="m", client_ids=["a", "b", "c"]) == {"a", "b"}


def test_an_id_is_unique_per_model_not_across_models(sessions) -> None:
    with sessions.begin() as session:
        store_ingested(session, model_name="m", parts=[IngestChunk.from_rows([row("a")])])
        other = store_ingested(session, model_name="n", parts=[IngestChunk.from_rows([row("a", model="n")])])
    assert other.stored == 1


def test_racing_writers_store_each_id_once_on_postgresql(pg_url) -> None:
    # Four writers with overlapping ids, each in its own transaction: the unique index makes the losers'
    # savepoints fail, they filter again and store only what is still missing.
    engine = make_engine(pg_url)
    migrate(engine)
    sessions = make_sessionmaker(engine)
    barrier = threading.Barrier(4)
    stored: list[int] = []
    errors: list[BaseException] = []

    def writer(offset: int) -> None:
        rows = [row(f"id-{number}") for number in range(offset, offset + 300)]
        try:
            with sessions.begin() as session:
                session.execute(select(1))
                barrier.wait()
                stored.append(store_ingested(session, model_name="m", parts=[IngestChunk.from_rows(rows)]).stored)
        except BaseException as error:  # reported below: a thread's exception would vanish otherwise
            errors.append(error)

    threads = [threading.Thread(target=writer, args=(offset,)) for offset in (0, 100, 200, 0)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert not errors, errors
        with sessions() as session:
            ids = list(session.scalars(select(Prediction.client_id)))
        assert len(ids) == len(set(ids)) == 500
        assert sum(stored) == 500
    finally:
        engine.dispose()


def test_times_given_whole_land_as_the_column_would_store_them(sessions) -> None:
    # A chunk's times travel as one Series (written column-wise on SQLite): they must read back exactly as
    # the same times written one by one through the column's own processor.
    stamps = pd.Series(
        pd.to_datetime(
            ["2026-01-01T10:00:00.123456+02:00", "2026-03-01T00:00:00Z", "2026-05-01T23:59:59.5-05:00"],
            utc=True,
            format="ISO8601",
        )
    )
    whole = IngestChunk.from_rows([row(f"w{number}") for number in range(3)])
    whole = IngestChunk({**whole.columns, "created_at": stamps}, whole.inputs, whole.actuals, whole.actual_labels)
    one_by_one = IngestChunk.from_rows([row(f"o{number}", model="n") for number in range(3)])
    one_by_one = IngestChunk(
        {**one_by_one.columns, "created_at": list(stamps.dt.to_pydatetime())},
        one_by_one.inputs,
        one_by_one.actuals,
        one_by_one.actual_labels,
    )
    with sessions.begin() as session:
        store_ingested(session, model_name="m", parts=[whole])
        store_ingested(session, model_name="n", parts=[one_by_one])
    with sessions() as session:
        read = {
            model: list(session.scalars(select(Prediction.created_at).where(Prediction.model_name == model)))
            for model in ("m", "n")
        }
    assert read["m"] == read["n"] == list(stamps.dt.to_pydatetime())
