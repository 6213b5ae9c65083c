"""One prediction log, many models: a refresh made while looking at one model bins every model's inputs."""

import mlflow
import numpy as np
import pandas as pd
from mlflow.models import infer_signature
from sklearn.linear_model import Ridge

from core.monitoring.reference_data import attach_reference
from core.monitoring.references import refresh
from core.monitoring.window_drift import current_drift_status
from core.serving.model_cache import clear_memory_caches
from core.serving.scoring import score_frame
from tests.team_store import champion, prediction_log, team_home


def register(name: str, data: pd.DataFrame) -> None:
    model = Ridge().fit(data, data.sum(axis=1))
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(
            model, name="model", signature=infer_signature(data, np.zeros(len(data))), pip_requirements=["scikit-learn"]
        )
    mlflow.register_model(info.model_uri, name)
    champion(name, 1)


def test_a_refresh_for_one_model_keeps_the_others_inputs_for_their_drift(tmp_path, monkeypatch) -> None:
    first = team_home(tmp_path, monkeypatch, model="first-model")
    rng = np.random.default_rng(0)
    first_data = pd.DataFrame({"a": rng.normal(0, 1, 500), "b": rng.normal(5, 1, 500)})
    second_data = pd.DataFrame({"c": rng.normal(10, 2, 500)})
    register("first-model", first_data)
    register("second-model", second_data)
    second = first.model_copy(update={"model_name": "second-model"})
    attach_reference(first, version=1, data=first_data, source="frame")
    attach_reference(second, version=1, data=second_data, source="frame")
    clear_memory_caches()

    with prediction_log(first) as sessions:
        score_frame(second, second_data.head(200), sessions=sessions, source="cli")
        refresh(first, sessions=sessions)  # someone looks at the first model
        score_frame(first, first_data.head(50), sessions=sessions, source="cli")
        status = current_drift_status(second, sessions=sessions, model_version=1)
        other = current_drift_status(first, sessions=sessions, model_version=1)

    assert status.report is not None and status.report.current_rows == 200
    assert other.report is not None and other.report.current_rows == 50
