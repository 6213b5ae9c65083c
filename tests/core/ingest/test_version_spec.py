"""A version the model of which cannot be loaded here still ingests: task and inputs from what else is known."""

from __future__ import annotations

import mlflow
import numpy as np
import pandas as pd
from sqlalchemy import select

from core.ingest.service import ingest_frames
from core.ingest.version_spec import UnknownVersion, VersionSpec, version_spec
from storage.prediction_log import Prediction, features_of
from tests.team_store import prediction_log, team_home

MODEL = "team-unsigned"


class Ones(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        return np.ones(len(model_input))


def register_unsigned(tags: dict[str, str] | None = None) -> None:
    """A pyfunc logged without a signature or reference: serving cannot tell its inputs, so it cannot load."""
    with mlflow.start_run():
        info = mlflow.pyfunc.log_model(name="model", python_model=Ones(), pip_requirements=["mlflow"])
    version = mlflow.register_model(info.model_uri, MODEL).version
    for key, value in (tags or {}).items():
        mlflow.MlflowClient().set_model_version_tag(MODEL, version, key, value)


def test_an_unloadable_version_is_read_from_its_rows_and_an_absent_one_is_unknown(tmp_path, monkeypatch) -> None:
    settings = team_home(tmp_path, monkeypatch, model=MODEL)
    register_unsigned()
    frame = pd.DataFrame(
        {
            "id": ["a", "b", "c"],
            "timestamp": ["2026-11-30T08:00:00"] * 3,
            "model_version": ["1", "1", "2"],
            "width": ["1.5", "2", "3"],
            "shade": ["dark", "light", "dark"],
            "prediction": ["10", "12.5", "9"],
        }
    )

    with prediction_log(settings) as sessions:
        spec = version_spec(settings, version=1, sessions=sessions)
        absent = version_spec(settings, version=2, sessions=sessions)
        result = ingest_frames(settings, frames=[frame], sessions=sessions)
        with sessions() as session:
            logged = session.scalars(select(Prediction).order_by(Prediction.id)).all()
            inputs = features_of(session, prediction_id=logged[0].id)

    assert isinstance(spec, VersionSpec) and spec.task is None and spec.schema is None and spec.note
    assert isinstance(absent, UnknownVersion)
    assert (result.stored, result.rejected) == (2, 1)
    assert result.reasons[0].field == "model_version" and "not in the registry" in result.reasons[0].message
    assert any("could not be loaded here" in note for note in result.notes)
    assert [row.prediction for row in logged] == [10.0, 12.5] and logged[0].label is None
    assert inputs == {"width": 1.5, "shade": "dark"}


def test_a_task_tag_settles_an_unloadable_classifier(tmp_path, monkeypatch) -> None:
    settings = team_home(tmp_path, monkeypatch, model=MODEL)
    register_unsigned({"loupe.task": "classification"})
    frame = pd.DataFrame(
        {"id": ["a"], "timestamp": ["2026-11-30T08:00:00Z"], "model_version": [1], "width": [2.0], "prediction": [1]}
    )

    with prediction_log(settings) as sessions:
        result = ingest_frames(settings, frames=[frame], sessions=sessions)
        with sessions() as session:
            logged = session.scalars(select(Prediction)).one()

    assert result.stored == 1
    assert (logged.label, logged.prediction) == ("1", None)
