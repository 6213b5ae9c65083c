import multiprocessing
import queue as queue_module
import sys
import time
import types
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import func, inspect, select, text
from sqlalchemy.exc import IntegrityError

from storage.base import utcnow
from storage.db import current_revision, head_revision, make_engine, make_sessionmaker, migrate
from storage.log_writer import decode_inputs, encode_input_frame, encode_inputs
from storage.prediction_log import (
    Feedback,
    Prediction,
    add_feedback,
    count_predictions,
    features_of,
    log_prediction_frame,
    log_predictions,
)

WRITERS = 8
PER_WRITER = 250


def record(**overrides) -> dict:
    base = {
        "created_at": utcnow(),
        "model_name": "m",
        "model_version": 1,
        "alias": "champion",
        "prediction": 1.5,
        "latency_ms": 2.0,
        "source": "form",
        "request_id": "r1",
        "is_ood": False,
        "ood_fields": None,
        "is_shadow": False,
        "shadow_of": None,
    }
    return {**base, **overrides}


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'log' / 'loupe.db'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def sessions(url):
    engine = make_engine(url)
    migrate(engine)
    yield make_sessionmaker(engine)
    engine.dispose()


def test_bulk_log_returns_ids_in_order_with_typed_features(sessions) -> None:
    records = [record(prediction=float(index)) for index in range(12_000)]  # spans several insert chunks
    features = [{"carat": index / 10, "cut": "Ideal"} for index in range(12_000)]

    with sessions.begin() as session:
        ids = log_predictions(session, records=records, features=features)

    assert len(ids) == 12_000 and len(set(ids)) == 12_000
    with sessions.begin() as session:
        assert session.get(Prediction, ids[7]).prediction == 7.0
        assert session.get(Prediction, ids[-1]).prediction == 11_999.0
        assert features_of(session, prediction_id=ids[42]) == {"carat": 4.2, "cut": "Ideal"}
        carats = [decode_inputs(inputs)["carat"] for inputs in session.scalars(select(Prediction.inputs))]
        assert carats == [index / 10 for index in range(12_000)]  # numbers as numbers, bit for bit
        assert count_predictions(session, model_name="m") == 12_000


def test_created_at_is_kept_in_utc(sessions) -> None:
    moment = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    with sessions.begin() as session:
        (prediction_id,) = log_predictions(session, records=[record(created_at=moment)])
    with sessions.begin() as session:
        assert session.get(Prediction, prediction_id).created_at == moment


def test_a_failure_mid_batch_leaves_no_rows(sessions) -> None:
    def explode(written: int) -> None:
        if written >= 5_000:
            raise RuntimeError("the user stopped the batch")

    with pytest.raises(RuntimeError), sessions.begin() as session:
        log_predictions(
            session, records=[record() for _ in range(12_000)], features=[{"x": 1.0}] * 12_000, progress=explode
        )

    with sessions.begin() as session:
        assert count_predictions(session) == 0
        assert session.scalar(select(func.count()).select_from(Prediction)) == 0


def test_feedback_reports_unknown_ids_and_replaces_repeats(sessions) -> None:
    with sessions.begin() as session:
        ids = log_predictions(session, records=[record(), record()])

    with sessions.begin() as session:
        unknown = add_feedback(session, actuals={ids[0]: 100.0, 999_999: 5.0})
    with sessions.begin() as session:
        again = add_feedback(session, actuals={ids[0]: 120.0, ids[1]: 80.0})

    assert unknown == [999_999]
    assert again == []
    with sessions.begin() as session:
        stored = dict(session.execute(select(Feedback.prediction_id, Feedback.actual)).all())
        revisions = dict(session.execute(select(Feedback.prediction_id, Feedback.revision)).all())
    assert stored == {ids[0]: 120.0, ids[1]: 80.0}
    assert revisions == {ids[0]: 2, ids[1]: 1}


def _writer(url: str, writer: int, queue) -> None:
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    errors = 0
    for index in range(PER_WRITER):
        try:
            # Read, then write, in one transaction: the pattern that loses rows under a deferred BEGIN.
            with sessions.begin() as session:
                session.scalar(select(func.count()).select_from(Prediction).where(Prediction.source == "form"))
                log_predictions(
                    session,
                    records=[record(request_id=f"w{writer}-{index}", prediction=float(index))],
                    features=[{"carat": 0.5, "cut": "Ideal"}],
                )
        except Exception as error:  # counted, so the test can say what went wrong
            errors += 1
            queue.put(f"{type(error).__name__}: {error}"[:300])
    engine.dispose()
    queue.put(errors)


@pytest.mark.slow
def test_eight_processes_log_exactly_two_thousand_rows(url, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = make_engine(url)
    migrate(engine)
    # Streamlit's AppTest (run earlier in the suite) leaves sys.modules["__main__"] pointing at a page
    # script, which spawned children would re-run; give them a plain main module instead.
    monkeypatch.setitem(sys.modules, "__main__", types.ModuleType("__main__"))
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    processes = [context.Process(target=_writer, args=(url, writer, queue)) for writer in range(WRITERS)]
    for process in processes:
        process.start()
    # Drain the queue before joining (a child blocks on exit until its queued items are read); the
    # generous timeout is for a loaded machine, where eight fresh interpreters take a while to import.
    messages: list[object] = []
    deadline = time.monotonic() + 900
    while sum(isinstance(message, int) for message in messages) < WRITERS:
        try:
            messages.append(queue.get(timeout=5))
        except queue_module.Empty:
            codes = [process.exitcode for process in processes]
            assert time.monotonic() < deadline, f"writers still running after 15 minutes: {codes}"
            assert any(code is None for code in codes), f"writers died without reporting: exit codes {codes}"
    for process in processes:
        process.join(timeout=60)

    assert all(process.exitcode == 0 for process in processes)
    errors = [message for message in messages if isinstance(message, str)]
    assert errors == []
    assert sum(message for message in messages if isinstance(message, int)) == 0
    with engine.connect() as connection:
        assert connection.execute(text("SELECT COUNT(*) FROM predictions")).scalar() == WRITERS * PER_WRITER
        assert connection.execute(text("SELECT COUNT(DISTINCT request_id) FROM predictions")).scalar() == 2_000
        logged = connection.execute(text("SELECT inputs FROM predictions")).scalars().all()
        assert [decode_inputs(inputs) for inputs in logged] == [{"carat": 0.5, "cut": "Ideal"}] * 2_000
    engine.dispose()


def test_migration_from_an_empty_database(url) -> None:
    engine = make_engine(url)
    migrate(engine)

    columns = {column["name"] for column in inspect(engine).get_columns("predictions")}
    assert {"shadow_of", "is_shadow", "ood_fields", "request_id"} <= columns
    assert current_revision(engine) == head_revision()
    engine.dispose()


def test_migration_keeps_a_populated_log(url) -> None:
    engine = make_engine(url)
    migrate(engine, revision="0001")
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO predictions (created_at, model_name, model_version, alias, prediction, latency_ms, "
                "source, request_id, is_ood, ood_fields, is_shadow) VALUES "
                "(:at, 'm', 1, 'champion', 1234.5, 3.0, 'form', 'old', false, NULL, false)"
            ),
            {"at": datetime(2026, 1, 1, tzinfo=UTC).replace(tzinfo=None)},
        )
        old_id = connection.execute(text("SELECT id FROM predictions")).scalar()
        connection.execute(
            text("INSERT INTO prediction_features VALUES (:id, 'carat', 0.5, NULL)"),
            {"id": old_id},
        )

    migrate(engine)

    assert current_revision(engine) == head_revision()
    sessions = make_sessionmaker(engine)
    with sessions.begin() as session:
        old = session.get(Prediction, old_id)
        assert old.prediction == 1234.5 and old.request_id == "old"
        assert features_of(session, prediction_id=old_id) == {"carat": 0.5}
        (new_id,) = log_predictions(session, records=[record()], features=[{"carat": 1.0}])
        assert add_feedback(session, actuals={old_id: 1300.0, new_id: 10.0}) == []
    with sessions.begin() as session:
        assert count_predictions(session) == 2
    engine.dispose()


def test_rows_that_omit_a_column_others_carry_keep_every_value(url) -> None:
    engine = make_engine(url)
    migrate(engine)
    sessions = make_sessionmaker(engine)
    with sessions.begin() as session:
        first, second = log_predictions(
            session, records=[record(), {**record(), "label": "malignant", "probabilities": '{"malignant":0.9}'}]
        )
    with sessions.begin() as session:
        assert session.get(Prediction, first).label is None
        assert session.get(Prediction, second).label == "malignant"
    engine.dispose()


def test_a_frame_is_encoded_as_each_of_its_rows_would_be_and_reads_back_exactly() -> None:
    frame = pd.DataFrame(
        {
            "carat": [0.1 + 0.2, 1e-20, np.nan, 3.0],
            "count": pd.array([1, None, 3, 4], dtype="Int64"),
            "cut": ["Ideal", None, 'say "hi"\\ ✓', "Good"],
            "flag": ["True", "False", None, "True"],
        }
    )
    encoded = encode_input_frame(frame)

    records = frame.astype(object).where(frame.notna(), None).to_dict("records")
    assert encoded == [encode_inputs(record) for record in records]
    assert decode_inputs(encoded[0]) == {"carat": 0.30000000000000004, "count": 1.0, "cut": "Ideal", "flag": "True"}
    assert decode_inputs(encoded[2]) == {"carat": None, "count": 3.0, "cut": 'say "hi"\\ ✓', "flag": None}
    assert encode_inputs({"x": float("inf"), "y": np.float64(2.5), "z": True}) == '{"x":null,"y":2.5,"z":1.0}'


def test_the_frame_path_stores_what_the_record_path_stores(sessions) -> None:
    moment = datetime(2026, 3, 4, 5, 6, 7, 890123, tzinfo=UTC)
    inputs = pd.DataFrame({"carat": [0.5, 1.25], "cut": ["Ideal", None]})
    rows = [record(created_at=moment, prediction=float(index), is_ood=bool(index)) for index in range(2)]
    shared = {key: value for key, value in rows[0].items() if key not in {"prediction", "is_ood"}}
    with sessions.begin() as session:
        by_record = log_predictions(
            session, records=rows, features=inputs.astype(object).where(inputs.notna(), None).to_dict("records")
        )
        by_frame = log_prediction_frame(
            session, columns={**shared, "prediction": [0.0, 1.0], "is_ood": [False, True]}, inputs=inputs
        )

    assert by_frame == [by_record[-1] + 1, by_record[-1] + 2]
    with sessions.begin() as session:
        stored = {
            prediction_id: {
                column: getattr(session.get(Prediction, prediction_id), column)
                for column in Prediction.__table__.columns.keys()  # noqa: SIM118 (a ColumnCollection)
                if column != "id"
            }
            for prediction_id in by_record + by_frame
        }
        assert [stored[prediction_id] for prediction_id in by_frame] == [stored[i] for i in by_record]
        assert stored[by_frame[0]]["created_at"] == moment and stored[by_frame[1]]["is_ood"] is True
        assert features_of(session, prediction_id=by_frame[1]) == {"carat": 1.25, "cut": None}


def test_ids_follow_pending_rows_and_later_inserts_follow_them(sessions) -> None:
    with sessions.begin() as session:
        pending = Prediction(**record(request_id="orm"))
        session.add(pending)
        ids = log_predictions(session, records=[record(), record()], features=[{"x": 1.0}, {"x": 2.0}])
        later = Prediction(**record(request_id="after"))
        session.add(later)
        session.flush()
        assert pending.id < ids[0] < ids[1] < later.id


def test_a_duplicate_client_id_is_sqlalchemys_integrity_error_and_rolls_back_whole(sessions) -> None:
    with sessions.begin() as session:
        log_predictions(session, records=[record(client_id="c-1")], features=[{"x": 1.0}])

    with pytest.raises(IntegrityError), sessions.begin() as session:
        log_predictions(
            session, records=[record(client_id="c-2"), record(client_id="c-1")], features=[{"x": 2.0}, {"x": 3.0}]
        )

    with sessions.begin() as session:
        assert count_predictions(session) == 1
