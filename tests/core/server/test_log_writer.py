"""The group-commit writer on a real SQLite log: queued requests share commits, ids are real, one bad request fails alone."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import Future, wait

import pytest
from sqlalchemy import event, select

from core.server.log_writer import LogWriter
from storage.base import utcnow
from storage.db import Sessions, make_engine, make_sessionmaker, migrate
from storage.prediction_log import Prediction, Rejection, features_of


def record(request: int, *, latency: float | None = 1.0) -> dict[str, object]:
    return {
        "created_at": utcnow(),
        "model_name": "m",
        "model_version": 1,
        "alias": "champion",
        "prediction": float(request),
        "label": None,
        "probabilities": None,
        "latency_ms": latency,
        "source": "server",
        "request_id": f"r{request}",
        "is_ood": False,
        "ood_fields": None,
        "is_shadow": False,
        "shadow_of": None,
    }


@pytest.fixture
def log(tmp_path) -> Iterator[tuple[Sessions, list[int]]]:
    engine = make_engine(f"sqlite:///{tmp_path / 'log.db'}")
    migrate(engine)
    commits: list[int] = []
    event.listen(engine, "commit", lambda connection: commits.append(1))
    yield make_sessionmaker(engine), commits
    engine.dispose()


def test_requests_queued_together_share_one_commit_and_get_their_own_ids(log) -> None:
    sessions, commits = log
    writer = LogWriter(sessions)
    futures = [
        writer.submit(records=[record(n), record(n)], features=[{"x": float(n)}, {"x": n + 0.5}]) for n in range(20)
    ]
    rejected = writer.submit(
        rejections=[
            {
                "created_at": utcnow(),
                "model_name": "m",
                "model_version": 1,
                "source": "server",
                "request_id": "bad",
                "row_number": 1,
                "field": "x",
                "rule": "gt",
                "message": "x: must be > 0 (rule: gt)",
            }
        ]
    )
    writer.start()
    wait([*futures, rejected], timeout=30)
    writer.stop()

    assert len(commits) == 1  # 21 requests, one transaction
    ids = [future.result() for future in futures]
    assert rejected.result() == []
    assert len({i for pair in ids for i in pair}) == 40
    with sessions.begin() as session:
        for n, (first, second) in enumerate(ids):
            assert session.get(Prediction, first).request_id == f"r{n}"  # type: ignore[union-attr]
            assert features_of(session, prediction_id=second) == {"x": n + 0.5}
        assert session.scalar(select(Rejection.request_id)) == "bad"


def test_a_request_that_cannot_be_written_fails_alone(log) -> None:
    sessions, _ = log
    writer = LogWriter(sessions)
    good_before = writer.submit(records=[record(1)], features=[{"x": 1.0}])
    bad = writer.submit(records=[record(2, latency=None)], features=[{"x": 2.0}])  # latency is required
    good_after = writer.submit(records=[record(3)], features=[{"x": 3.0}])
    writer.start()
    wait([good_before, bad, good_after], timeout=30)
    writer.stop()

    with pytest.raises(RuntimeError, match="could not be written"):
        bad.result()
    with sessions.begin() as session:
        logged = list(session.scalars(select(Prediction.request_id).order_by(Prediction.id)))
    assert logged == ["r1", "r3"]
    assert len(good_before.result()) == len(good_after.result()) == 1


def test_many_threads_each_get_exactly_their_rows_and_nothing_after_stop(log) -> None:
    sessions, _ = log
    writer = LogWriter(sessions)
    writer.start()
    results: dict[int, list[int]] = {}

    def client(number: int) -> None:
        for step in range(25):
            request = number * 100 + step
            future: Future[list[int]] = writer.submit(records=[record(request)], features=[{"x": float(request)}])
            (results[request],) = [future.result(timeout=30)]

    threads = [threading.Thread(target=client, args=(number,)) for number in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    writer.stop()
    late = writer.submit(records=[record(9_999)], features=[{"x": 1.0}])

    with pytest.raises(RuntimeError, match="stopped"):
        late.result()
    with sessions.begin() as session:
        rows = {int(i): str(r) for i, r in session.execute(select(Prediction.id, Prediction.request_id))}
    assert len(rows) == len(results) == 200
    assert all(rows[ids[0]] == f"r{request}" for request, ids in results.items())
