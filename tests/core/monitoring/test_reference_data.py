"""A team's model gets a reference profile from its data, and serving and drift pick it up without restarts."""

from __future__ import annotations

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.models import infer_signature
from sklearn.datasets import load_diabetes
from sklearn.linear_model import Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from core import mlflow_io
from core.errors import InvalidInput
from core.monitoring.reference_data import attach_logged_reference, attach_reference_file
from core.monitoring.window_drift import current_drift_status
from core.serving.model_cache import serve
from core.serving.scoring import score_frame
from tests.team_store import champion, prediction_log, team_home

MODEL = "diabetes-team"


@pytest.fixture
def team(tmp_path, monkeypatch):
    settings = team_home(tmp_path, monkeypatch, model=MODEL)
    with prediction_log(settings) as sessions:
        yield settings, sessions


def diabetes() -> tuple[pd.DataFrame, pd.Series]:
    data = load_diabetes(as_frame=True, scaled=False)
    return data.data, data.target


def register_pipeline(*, signature: bool = True, dataset_path=None, example: bool = False) -> int:
    features, target = diabetes()
    pipeline = make_pipeline(StandardScaler(), Ridge()).fit(features, target)
    with mlflow.start_run():
        if dataset_path is not None:
            frame = features.assign(progression=target)
            mlflow.log_input(mlflow.data.from_pandas(frame, source=str(dataset_path), name="train"), context="training")
        info = mlflow.sklearn.log_model(
            pipeline,
            name="model",
            signature=infer_signature(features, pipeline.predict(features)) if signature else None,
            input_example=features.head(3) if example else None,
            pip_requirements=["scikit-learn"],
        )
    version = int(mlflow.register_model(info.model_uri, MODEL).version)
    champion(MODEL, version)
    return version


def test_a_reference_attached_later_is_picked_up_by_serving_and_drift(team, tmp_path) -> None:
    settings, sessions = team
    version = register_pipeline()
    features, target = diabetes()
    before, _ = serve(settings)
    assert before.schema.get("bmi").train_min is None  # the signature alone knows no ranges

    path = tmp_path / "train.csv"
    features.assign(progression=target).to_csv(path, index=False)
    result = attach_reference_file(settings, version=version, path=path, target="progression")
    after, _ = serve(settings)  # no cache cleared, no restart

    assert result.rows == len(features) and "progression" not in result.features
    assert after.schema.get("bmi").train_min == pytest.approx(features["bmi"].min())
    assert after.schema.get("sex").levels is None and after.schema.get("sex").kind == "numeric"
    score_frame(settings, features.assign(bmi=features["bmi"] * 1.6), sessions=sessions, source="cli")
    status = current_drift_status(settings, sessions=sessions, model_version=version)
    assert status.drifted is not None and "bmi" in status.detail


def test_a_model_without_signature_takes_its_inputs_from_the_reference(team, tmp_path) -> None:
    settings, sessions = team
    version = register_pipeline(signature=False)
    features, target = diabetes()
    path = tmp_path / "train.parquet"
    features.assign(progression=target).to_parquet(path)

    attach_reference_file(settings, version=version, path=path, target="progression")
    served, _ = serve(settings)
    result = score_frame(settings, features.head(20), sessions=sessions, source="cli")

    assert served.schema.names == list(features.columns)
    pipeline = mlflow.sklearn.load_model(f"models:/{MODEL}/{version}")
    np.testing.assert_allclose(result.accepted["prediction"], pipeline.predict(features.head(20)))


def test_the_runs_logged_dataset_is_used_when_no_file_is_given(team, tmp_path) -> None:
    settings, _ = team
    features, target = diabetes()
    path = tmp_path / "logged.csv"
    features.assign(progression=target).to_csv(path, index=False)
    version = register_pipeline(dataset_path=path)

    result = attach_logged_reference(settings, version=version)

    assert result.source == "the run's logged dataset 'train'" and result.rows == len(features)
    assert mlflow_io.get_version(settings, version=version).tags[mlflow_io.REFERENCE_TAG] == result.run_id


def test_only_an_input_example_makes_a_thin_reference_and_says_so(team) -> None:
    settings, _ = team
    version = register_pipeline(example=True)

    result = attach_logged_reference(settings, version=version)

    assert result.source == "the model's input example" and result.rows == 3 and result.thin


def test_missing_inputs_and_unknown_files_are_refused_in_words(team, tmp_path) -> None:
    settings, _ = team
    version = register_pipeline()
    partial = tmp_path / "partial.csv"
    diabetes()[0][["age", "bmi"]].to_csv(partial, index=False)

    with pytest.raises(InvalidInput, match=rf"lacks 8 input\(s\) version {version} takes: sex, bp, s1"):
        attach_reference_file(settings, version=version, path=partial)
    with pytest.raises(InvalidInput, match=r"must be a \.csv or \.parquet file"):
        attach_reference_file(settings, version=version, path=tmp_path / "data.xlsx")
    with pytest.raises(InvalidInput, match="no data Loupe can use as its reference"):
        attach_logged_reference(settings, version=version)
