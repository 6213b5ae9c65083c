"""Two ingests of overlapping files at once, on PostgreSQL: every id stored once, the overlap counted as already stored."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import mlflow
import pandas as pd
import pytest
from mlflow.models import infer_signature
from sklearn.datasets import load_diabetes
from sklearn.linear_model import Ridge
from sqlalchemy import func, select

from core.ingest.service import IngestResult, ingest_frames
from storage.prediction_log import Feedback, Prediction
from tests.team_store import prediction_log, team_home

MODEL = "team-race"
pytestmark = pytest.mark.slow  # two ingests racing, a model loaded per thread


def chunks(features: pd.DataFrame, answers, target: pd.Series, numbers: range, size: int) -> list[pd.DataFrame]:
    now = datetime.now(UTC)
    frame = pd.DataFrame(
        {
            "id": [f"r-{number}" for number in numbers],
            "timestamp": [(now - timedelta(seconds=number)).isoformat() for number in numbers],
            "model_version": 1,
        }
    )
    picked = [number % len(features) for number in numbers]
    frame = pd.concat([frame, features.iloc[picked].reset_index(drop=True)], axis=1)
    frame["prediction"] = answers[picked]
    frame["actual"] = target.iloc[picked].to_numpy()
    return [frame.iloc[low : low + size].reset_index(drop=True) for low in range(0, len(frame), size)]


def test_two_overlapping_ingests_racing_on_postgresql_store_each_id_once(tmp_path, monkeypatch, pg_url) -> None:
    settings = team_home(tmp_path, monkeypatch, model=MODEL, LOUPE_DATABASE_URL=pg_url)
    data = load_diabetes(as_frame=True, scaled=False)
    model = Ridge().fit(data.data, data.target)
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            signature=infer_signature(data.data, model.predict(data.data)),
            pip_requirements=["scikit-learn"],
        )
    mlflow.register_model(info.model_uri, MODEL)
    answers = model.predict(data.data)
    files = [
        chunks(data.data, answers, data.target, range(0, 600), 100),
        chunks(data.data, answers, data.target, range(300, 900), 100),
    ]
    results: list[IngestResult] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    with prediction_log(settings) as sessions:

        def ingest(frames: list[pd.DataFrame]) -> None:
            try:
                barrier.wait()
                results.append(ingest_frames(settings, frames=frames, sessions=sessions))
            except BaseException as error:  # reported below: a thread's exception would vanish otherwise
                errors.append(error)

        threads = [threading.Thread(target=ingest, args=(frames,)) for frames in files]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        with sessions() as session:
            ids = session.scalars(select(Prediction.client_id)).all()
            truths = session.scalar(select(func.count()).select_from(Feedback))

    assert not errors, errors
    assert len(ids) == len(set(ids)) == 900 and truths == 900
    assert sum(result.stored for result in results) == 900
    assert sum(result.already_stored for result in results) == 300
    assert all(result.rejected == 0 for result in results)
