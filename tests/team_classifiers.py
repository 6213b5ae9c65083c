"""Classifiers a team registers with plain MLflow code (never Loupe's training), as its own scripts would.

Each helper trains a small scikit-learn model on a dataset scikit-learn bundles (offline), logs it with
MLflow's own API into the store :func:`tests.team_store.team_home` points at, registers it, and returns
the data it was trained on so tests can compare Loupe's answers with the model's own.

- :func:`register_binary_text_labels`: breast cancer, labels ``"malignant"``/``"benign"`` (strings), a
  pipeline logged with the sklearn flavor; Loupe calls ``predict_proba`` itself.
- :func:`register_multiclass_int_labels`: iris, labels ``0, 1, 2`` (integers).
- :func:`register_predict_proba_fn`: iris logged with ``pyfunc_predict_fn="predict_proba"``.
- :func:`register_probability_frame_pyfunc`: a pyfunc whose ``predict`` returns one column per class.
"""

from __future__ import annotations

from dataclasses import dataclass

import mlflow
import numpy as np
import pandas as pd
from mlflow.models import infer_signature
from sklearn.datasets import load_breast_cancer, load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

# Keeps log_model off pip's resolver (seconds per call otherwise).
PIP = ["scikit-learn", "pandas"]
SKOPS_TYPES = ["sklearn.pipeline.Pipeline", "sklearn.preprocessing._data.StandardScaler"]


@dataclass(frozen=True)
class TeamClassifier:
    """A registered classifier and what it was trained on."""

    name: str
    version: int
    estimator: object
    features: pd.DataFrame
    labels: pd.Series


def breast_cancer_frame() -> tuple[pd.DataFrame, pd.Series]:
    """Ten of the breast-cancer features (snake_case names) and text labels."""
    data = load_breast_cancer(as_frame=True)
    features = data.frame.iloc[:, :10].copy()
    features.columns = [column.replace(" ", "_") for column in features.columns]
    labels = pd.Series(np.where(data.target == 0, "malignant", "benign"), name="diagnosis")
    return features, labels


def iris_frame() -> tuple[pd.DataFrame, pd.Series]:
    """The four iris measurements (snake_case names, no units) and integer species labels."""
    data = load_iris(as_frame=True)
    features = data.frame.iloc[:, :4].copy()
    features.columns = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    return features, pd.Series(data.target.astype("int64"), name="species")


def _register(name: str, run_id: str, artifact: str = "model") -> int:
    version = mlflow.register_model(f"runs:/{run_id}/{artifact}", name)
    return int(version.version)


def _fit(features: pd.DataFrame, labels: pd.Series):
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(features, labels)


def register_binary_text_labels(name: str = "tumour-triage") -> TeamClassifier:
    features, labels = breast_cancer_frame()
    estimator = _fit(features, labels)
    with mlflow.start_run() as run:
        mlflow.sklearn.log_model(
            estimator,
            name="model",
            signature=infer_signature(features, estimator.predict(features)),
            pip_requirements=PIP,
            skops_trusted_types=[*SKOPS_TYPES, "sklearn.linear_model._logistic.LogisticRegression"],
        )
        mlflow.log_metric("accuracy", float((estimator.predict(features) == labels).mean()))
    return TeamClassifier(name, _register(name, run.info.run_id), estimator, features, labels)


def register_multiclass_int_labels(name: str = "iris-species") -> TeamClassifier:
    features, labels = iris_frame()
    estimator = _fit(features, labels)
    with mlflow.start_run() as run:
        mlflow.sklearn.log_model(
            estimator,
            name="model",
            signature=infer_signature(features, estimator.predict(features)),
            pip_requirements=PIP,
            skops_trusted_types=[*SKOPS_TYPES, "sklearn.linear_model._logistic.LogisticRegression"],
        )
    return TeamClassifier(name, _register(name, run.info.run_id), estimator, features, labels)


def register_predict_proba_fn(name: str = "iris-proba") -> TeamClassifier:
    features, labels = iris_frame()
    estimator = _fit(features, labels)
    with mlflow.start_run() as run:
        mlflow.sklearn.log_model(
            estimator,
            name="model",
            signature=infer_signature(features, estimator.predict_proba(features)),
            pip_requirements=PIP,
            pyfunc_predict_fn="predict_proba",
            skops_trusted_types=[*SKOPS_TYPES, "sklearn.linear_model._logistic.LogisticRegression"],
        )
    return TeamClassifier(name, _register(name, run.info.run_id), estimator, features, labels)


class ProbabilityFrame(mlflow.pyfunc.PythonModel):
    """A team's pyfunc wrapper: ``predict`` answers one probability column per class, named by the class."""

    def __init__(self, estimator) -> None:
        self.estimator = estimator

    def predict(self, context, model_input, params=None):
        probabilities = self.estimator.predict_proba(model_input)
        return pd.DataFrame(probabilities, columns=[str(label) for label in self.estimator.classes_])


def register_probability_frame_pyfunc(name: str = "tumour-pyfunc") -> TeamClassifier:
    features, labels = breast_cancer_frame()
    estimator = _fit(features, labels)
    wrapper = ProbabilityFrame(estimator)
    with mlflow.start_run() as run:
        mlflow.pyfunc.log_model(
            name="model",
            python_model=wrapper,
            signature=infer_signature(features, wrapper.predict(None, features)),
            pip_requirements=PIP,
        )
    return TeamClassifier(name, _register(name, run.info.run_id), estimator, features, labels)
