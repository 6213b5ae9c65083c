"""Log many param/metric-only runs fast (one ``log_batch`` each), for the Experiments tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from mlflow.entities import Metric, Param, RunTag

from core import mlflow_io
from core.settings import Settings

FIRST_START = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
ESTIMATORS = ("hgb", "rf", "ridge")


@dataclass(frozen=True)
class LoggedRun:
    run_id: str
    name: str
    estimator: str
    start: datetime
    params: dict[str, str]
    metrics: dict[str, float]
    status: str


def run_spec(index: int) -> tuple[str, dict[str, str], dict[str, float], str]:
    """Estimator, params, metrics and status of synthetic run ``index``: distinct, predictable values."""
    estimator = ESTIMATORS[index % 3]
    turn = index // 3  # the how-manieth run of this estimator
    params = {"estimator": estimator, "seed": str(index % 5)}
    if estimator == "hgb":
        params |= {"learning_rate": str(0.01 * (1 + turn % 10)), "max_iter": str(100 * (1 + turn % 4))}
    elif estimator == "rf":
        params |= {"n_estimators": str(10 * (1 + turn % 6)), "max_depth": "None"}
    else:
        params |= {"alpha": str(0.5 * (1 + turn % 3))}
    rmse = 500.0 + index * 3.0 + (0.0 if estimator == "hgb" else 200.0)
    metrics = {"rmse": rmse, "mae": rmse * 0.5, "r2": 1.0 - rmse / 10_000, "mape": rmse / 5_000}
    status = "FAILED" if index % 17 == 16 else "FINISHED"
    return estimator, params, metrics, status


def log_runs(settings: Settings, count: int, *, experiment_id: str | None = None) -> list[LoggedRun]:
    """Log ``count`` finished runs, one hour apart from 2026-01-01 12:00 UTC, each lasting ``index % 60`` s."""
    experiment_id = experiment_id or mlflow_io.ensure_experiment(settings)
    client = mlflow_io.client(settings)
    logged = []
    for index in range(count):
        estimator, params, metrics, status = run_spec(index)
        start = FIRST_START + timedelta(hours=index)
        start_ms = int(start.timestamp() * 1000)
        name = f"{estimator}-{index:04d}"
        run = client.create_run(
            experiment_id, start_time=start_ms, run_name=name, tags={mlflow_io.ESTIMATOR_TAG: estimator}
        )
        client.log_batch(
            run.info.run_id,
            metrics=[Metric(key, value, start_ms, 0) for key, value in metrics.items()],
            params=[Param(key, value) for key, value in params.items()],
            tags=[RunTag("source", "synthetic")],
        )
        client.set_terminated(run.info.run_id, status=status, end_time=start_ms + (index % 60) * 1000)
        logged.append(LoggedRun(run.info.run_id, name, estimator, start, params, metrics, status))
    return logged


# Classifier runs a team logs with plain MLflow: metrics under the names ``mlflow.evaluate`` gives them.
CLASSIFIER_METRICS = ("accuracy_score", "f1_score", "precision_score", "recall_score", "roc_auc", "log_loss")


@dataclass(frozen=True)
class ClassifierRun:
    """A logged classifier run: its holdout metrics, and the version it was registered as (if it was)."""

    run_id: str
    metrics: dict[str, float]
    version: int | None


def classifier_holdout_metrics(estimator, features, labels) -> dict[str, float]:
    """A fitted classifier's holdout figures, computed the way ``mlflow.evaluate`` names them (binary, text labels)."""
    from sklearn import metrics as sk

    positive = estimator.classes_[1]  # scikit-learn's order, as Loupe's score reads it
    predicted = estimator.predict(features)
    probabilities = estimator.predict_proba(features)
    return {
        "accuracy_score": float(sk.accuracy_score(labels, predicted)),
        "f1_score": float(sk.f1_score(labels, predicted, pos_label=positive)),
        "precision_score": float(sk.precision_score(labels, predicted, pos_label=positive, zero_division=0)),
        "recall_score": float(sk.recall_score(labels, predicted, pos_label=positive)),
        "roc_auc": float(sk.roc_auc_score(labels == positive, probabilities[:, 1])),
        "log_loss": float(sk.log_loss(labels, probabilities, labels=estimator.classes_)),
    }


def log_classifier_run(
    *, experiment_id: str, c: float = 1.0, shuffled: bool = False, register_as: str | None = None
) -> ClassifierRun:
    """With plain MLflow: fit the breast-cancer classifier on a split, log its holdout metrics, maybe register it.

    ``shuffled`` fits it on permuted labels (a model that learned nothing: ROC AUC near 0.5); ``c`` is
    the logistic regression's inverse regularisation. The model is logged only when it is registered.
    """
    import mlflow
    import numpy as np
    from mlflow.models import infer_signature
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from tests.team_classifiers import PIP, SKOPS_TYPES, breast_cancer_frame

    features, labels = breast_cancer_frame()
    train_x, test_x, train_y, test_y = train_test_split(features, labels, test_size=0.3, random_state=0)
    if shuffled:
        train_y = train_y.sample(frac=1.0, random_state=1).set_axis(train_y.index)
    estimator = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=500)).fit(train_x, train_y)
    metrics = classifier_holdout_metrics(estimator, test_x, test_y)
    with mlflow.start_run(experiment_id=experiment_id) as run:
        mlflow.log_params({"C": c, "shuffled_labels": shuffled})
        mlflow.log_metrics(metrics)
        # autolog's score on the fitted data: never a holdout figure
        mlflow.log_metric("training_accuracy_score", float(np.mean(estimator.predict(train_x) == train_y)))
        version = None
        if register_as is not None:
            info = mlflow.sklearn.log_model(
                estimator,
                name="model",
                signature=infer_signature(train_x, estimator.predict(train_x)),
                pip_requirements=PIP,
                skops_trusted_types=[*SKOPS_TYPES, "sklearn.linear_model._logistic.LogisticRegression"],
            )
            version = int(mlflow.register_model(info.model_uri, register_as).version)
    return ClassifierRun(run.info.run_id, metrics, version)


CLASSIFIER = "team-tumours"
REGRESSOR = "team-dummy-regressor"
CLASSIFIER_EXPERIMENT = "tumour-training"


def classifier_registry(tracking_uri: str, *, artifacts) -> list[ClassifierRun]:
    """With plain MLflow, a team's store: experiment ``tumour-training`` with three classifier runs.

    Run 0 (a sound model) is version 1 of ``team-tumours`` and its ``champion``; run 1 (fitted on shuffled
    labels: it learned nothing) is version 2 and ``challenger``; run 2 (``C=0.01``) is not registered.
    A regressor ``team-dummy-regressor`` (version 1, ``champion``, metric ``rmse``) gives the sidebar a choice.
    """
    import mlflow
    from sklearn.dummy import DummyRegressor

    previous = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    try:
        client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
        experiment_id = client.create_experiment(CLASSIFIER_EXPERIMENT, artifact_location=artifacts.as_uri())
        logged = [
            log_classifier_run(experiment_id=experiment_id, register_as=CLASSIFIER),
            log_classifier_run(experiment_id=experiment_id, shuffled=True, register_as=CLASSIFIER),
            log_classifier_run(experiment_id=experiment_id, c=0.01),
        ]
        client.set_registered_model_alias(CLASSIFIER, "champion", str(logged[0].version))
        client.set_registered_model_alias(CLASSIFIER, "challenger", str(logged[1].version))
        with mlflow.start_run(experiment_id=experiment_id):
            mlflow.log_metric("rmse", 1.0)
            info = mlflow.sklearn.log_model(
                DummyRegressor().fit([[0.0]], [0.0]), name="model", pip_requirements=["scikit-learn"]
            )
        client.set_registered_model_alias(
            REGRESSOR, "champion", mlflow.register_model(info.model_uri, REGRESSOR).version
        )
    finally:
        mlflow.set_tracking_uri(previous[0])
        mlflow.set_registry_uri(previous[1])
    return logged
