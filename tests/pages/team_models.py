"""A team's registry, written with plain MLflow as a team's own training scripts would (no Loupe training, no profile).

- ``team-diabetes``: scikit-learn's diabetes data, a ``Pipeline(StandardScaler, Ridge)``, a signature whose
  output is a Series named ``progression``; holdout metrics under MLflow ``evaluate``'s names, an input example.
- ``team-typed``: a pyfunc ``PythonModel`` regressor whose inputs are a float with a space in its name, a
  non-ASCII integer, SQL keywords as a string and a boolean, and an optional datetime; its answer is ``score``
  and its version is tagged ``loupe.unit=points``.
- ``team-unsigned``: a pyfunc logged without a signature (nothing tells its inputs until a reference is attached).

Each model has one version, ``champion`` on it; no version holds ``challenger``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

DIABETES = "team-diabetes"
TYPED = "team-typed"
UNSIGNED = "team-unsigned"
DIABETES_METRICS = {
    "test_root_mean_squared_error": 53.78,
    "test_mean_absolute_error": 42.79,
    "test_r2_score": 0.4526,
    "training_score": 0.5177,  # autolog's fitted-data score: never a holdout figure
}


@dataclass(frozen=True)
class TeamModels:
    """The team's registry folder, and what the tests compare the console's answers with."""

    home: Path
    diabetes: Any  # the fitted Pipeline that was logged
    diabetes_data: pd.DataFrame  # its inputs and the target column ``progression``
    typed: Any  # the PythonModel instance that was logged
    typed_data: pd.DataFrame  # inputs like the ones it was built for

    def diabetes_answer(self, row: pd.DataFrame) -> float:
        return float(self.diabetes.predict(row)[0])

    def typed_answer(self, row: pd.DataFrame) -> float:
        return float(np.asarray(self.typed.predict(None, row))[0])


def typed_inputs(rows: int, *, seed: int = 0) -> pd.DataFrame:
    """Inputs for ``team-typed`` (names with a space, non-ASCII letters and SQL keywords; every type)."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "body mass": rng.uniform(40.0, 120.0, rows).round(1),
            "größe": rng.integers(150, 200, rows).astype("int64"),
            "select": rng.choice(["alpha", "beta", "gamma"], rows),
            "order": rng.random(rows) < 0.5,
            "measured at": pd.to_datetime("2026-01-01") + pd.to_timedelta(rng.integers(0, 300 * 24, rows), unit="h"),
        }
    )


def register_team_models(tracking_uri: str, *, artifacts: Path) -> TeamModels:
    """Log and register the three models with plain MLflow into ``tracking_uri``; ``champion`` on each version 1."""
    import mlflow
    import sklearn
    from mlflow.models import ModelSignature, infer_signature
    from mlflow.tracking import MlflowClient
    from mlflow.types import ColSpec, Schema
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    class TypedModel(mlflow.pyfunc.PythonModel):  # defined here, so cloudpickle stores it by value
        def predict(self, context, model_input, params=None):
            frame = pd.DataFrame(model_input)
            hours = pd.to_datetime(frame["measured at"]).dt.hour.fillna(0) if "measured at" in frame else 0
            order = frame["order"].map({True: 10.0, False: 0.0, "True": 10.0, "False": 0.0}).astype(float)
            return (
                frame["body mass"].astype(float) * 2.0
                + frame["größe"].astype(float) * 0.5
                + frame["select"].astype(str).str.len().astype(float)
                + order
                + hours
            ).to_numpy()

    class Unsigned(mlflow.pyfunc.PythonModel):
        def predict(self, context, model_input, params=None):
            return np.ones(len(model_input))

    previous = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    try:
        client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
        experiment_id = client.create_experiment("team-models", artifact_location=artifacts.as_uri())

        data = load_diabetes(as_frame=True, scaled=False)
        features = data.data.astype("float64")
        pipeline = Pipeline([("scale", StandardScaler()), ("ridge", Ridge(alpha=1.0))]).fit(features, data.target)
        answers = pd.Series(pipeline.predict(features.head(5)), name="progression")
        with mlflow.start_run(experiment_id=experiment_id, run_name="ridge"):
            mlflow.log_params({"alpha": 1.0})
            mlflow.log_metrics(DIABETES_METRICS)
            diabetes_info = mlflow.sklearn.log_model(
                pipeline,
                name="model",
                signature=infer_signature(features.head(5), answers),
                input_example=features.head(5),
                pip_requirements=[f"scikit-learn=={sklearn.__version__}"],
            )

        typed = TypedModel()
        signature = ModelSignature(
            inputs=Schema(
                [
                    ColSpec("double", "body mass"),
                    ColSpec("long", "größe"),
                    ColSpec("string", "select"),
                    ColSpec("boolean", "order"),
                    ColSpec("datetime", "measured at", required=False),
                ]
            ),
            outputs=Schema([ColSpec("double", "score")]),
        )
        with mlflow.start_run(experiment_id=experiment_id, run_name="typed-pyfunc"):
            mlflow.log_metric("val_mae", 4.2)
            typed_info = mlflow.pyfunc.log_model(
                name="model", python_model=typed, signature=signature, pip_requirements=["mlflow"]
            )
        with mlflow.start_run(experiment_id=experiment_id, run_name="unsigned-pyfunc"):
            unsigned_info = mlflow.pyfunc.log_model(name="model", python_model=Unsigned(), pip_requirements=["mlflow"])

        for name, info in ((DIABETES, diabetes_info), (TYPED, typed_info), (UNSIGNED, unsigned_info)):
            version = mlflow.register_model(info.model_uri, name).version
            client.set_registered_model_alias(name, "champion", version)
        client.set_model_version_tag(TYPED, "1", "loupe.unit", "points")
    finally:
        mlflow.set_tracking_uri(previous[0])
        mlflow.set_registry_uri(previous[1])
    return TeamModels(
        home=artifacts.parent,
        diabetes=pipeline,
        diabetes_data=features.assign(progression=data.target),
        typed=typed,
        typed_data=typed_inputs(400),
    )
