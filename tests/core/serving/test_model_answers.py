"""Models registered with plain MLflow code answer through their own method, or are refused in words.

Each model is logged and registered here with MLflow's API (never Loupe's training) into a temporary
store, the way a team's own scripts would.
"""

from __future__ import annotations

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.models import infer_signature
from sklearn.datasets import load_diabetes
from sklearn.linear_model import LogisticRegression, Ridge

from core.errors import ModelFailed
from core.serving.model_cache import serve
from core.serving.scoring import predict_one, score_frame
from tests.team_store import champion, prediction_log, team_home

MODEL = "team-model"


@pytest.fixture
def home(tmp_path, monkeypatch):
    return team_home(tmp_path, monkeypatch, model=MODEL)


@pytest.fixture
def sessions(home):
    with prediction_log(home) as sessions:
        yield sessions


def diabetes(rows: int = 60) -> tuple[pd.DataFrame, pd.Series]:
    data = load_diabetes(as_frame=True)
    return data.data.head(rows), data.target.head(rows)


def register(log) -> int:
    """Log a model with ``log(name)`` in a run, register it and make it the champion."""
    with mlflow.start_run():
        info = log("model")
    version = int(mlflow.register_model(info.model_uri, MODEL).version)
    champion(MODEL, version)
    return version


class Answers(mlflow.pyfunc.PythonModel):
    """A pyfunc whose answers are set per test."""

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def predict(self, context, model_input, params=None):
        rows = len(model_input)
        if self.kind == "frame":
            return pd.DataFrame({"price": model_input["bmi"] * 10.0})
        if self.kind == "two-columns":
            return pd.DataFrame({"low": np.zeros(rows), "high": np.ones(rows)})
        if self.kind == "text":
            return np.array(["cheap"] * rows, dtype=object)
        if self.kind == "nan":
            return np.full(rows, np.nan)
        raise ValueError("boom: the model could not score")


def log_pyfunc(kind: str):
    features, _ = diabetes()
    return lambda name: mlflow.pyfunc.log_model(
        name=name,
        python_model=Answers(kind),
        signature=infer_signature(features, np.zeros(len(features))),
        pip_requirements=["mlflow"],
    )


def test_a_pyfunc_regressor_answers_with_its_own_predict(home, sessions) -> None:
    version = register(log_pyfunc("frame"))
    features, _ = diabetes()

    result = score_frame(home, features, sessions=sessions, source="cli")
    outcome = predict_one(home, features.iloc[0].to_dict(), sessions=sessions)

    assert result.model_version == version
    np.testing.assert_allclose(result.accepted["prediction"], features["bmi"] * 10.0)
    assert outcome.prediction == pytest.approx(features["bmi"].iloc[0] * 10.0)


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("two-columns", r"returned 2 columns per row \(low, high\); a regression model must return one number"),
        ("text", r"returned text such as 'cheap' where a regression model returns numbers"),
        ("nan", r"returned 60 non-finite answers"),
        ("raise", r"failed while predicting: ValueError: boom: the model could not score"),
    ],
)
def test_unusable_answers_are_refused_naming_the_version_and_nothing_is_logged(home, sessions, kind, message) -> None:
    version = register(log_pyfunc(kind))
    features, _ = diabetes()

    with pytest.raises(ModelFailed, match=rf"version {version} of {MODEL} {message}"):
        score_frame(home, features, sessions=sessions, source="cli")
    with pytest.raises(ModelFailed, match=rf"version {version} of {MODEL}"):
        predict_one(home, features.iloc[0].to_dict(), sessions=sessions)

    with sessions() as session:
        from storage.prediction_log import count_predictions

        assert count_predictions(session) == 0


def test_the_method_named_by_pyfunc_predict_fn_answers(home, sessions) -> None:
    features, target = diabetes()
    classifier = LogisticRegression(max_iter=500).fit(features, target > target.median())
    version = register(
        lambda name: mlflow.sklearn.log_model(
            classifier,
            name=name,
            signature=infer_signature(features, classifier.predict_proba(features)),
            pyfunc_predict_fn="predict_proba",
            pip_requirements=["scikit-learn"],
        )
    )

    served, _ = serve(home)
    result = score_frame(home, features, sessions=sessions, source="cli")

    assert served.version == version and served.predict_method == "predict_proba"
    # predict_proba's two columns are class probabilities, not two numbers to refuse: a classifier answers.
    assert served.task == "classification" and served.classes == (False, True)
    assert list(result.accepted["prediction"]) == list(classifier.predict(features))
    np.testing.assert_allclose(result.accepted["proba_True"], classifier.predict_proba(features)[:, 1], rtol=1e-9)


def test_a_sklearn_regressor_logged_by_a_team_matches_its_own_predict(home, sessions) -> None:
    features, target = diabetes()
    regressor = Ridge(alpha=0.5).fit(features, target)
    register(
        lambda name: mlflow.sklearn.log_model(
            regressor,
            name=name,
            signature=infer_signature(features, regressor.predict(features)),
            pip_requirements=["scikit-learn"],
        )
    )

    result = score_frame(home, features, sessions=sessions, source="cli")

    np.testing.assert_allclose(result.accepted["prediction"], regressor.predict(features), rtol=1e-9)


def test_the_answer_is_named_by_the_signature_and_units_only_by_the_version(home, sessions) -> None:
    features, target = diabetes()
    regressor = Ridge().fit(features, target)
    register(
        lambda name: mlflow.sklearn.log_model(
            regressor,
            name=name,
            signature=infer_signature(features, pd.Series(regressor.predict(features), name="progression")),
            pip_requirements=["scikit-learn"],
        )
    )

    served, resolution = serve(home)
    assert served.answer_label == "progression" and resolution.unit is None

    mlflow.MlflowClient().set_model_version_tag(MODEL, "1", "loupe.unit", "points")
    _, tagged = serve(home)
    assert tagged.unit == "points"
