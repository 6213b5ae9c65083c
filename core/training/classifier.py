"""Train the demo classifier (breast-cancer triage) and record it in MLflow like the regressor.

The data is scikit-learn's bundled Wisconsin breast-cancer set, so it trains offline. Its classes
are written as words ("benign", "malignant"): people read labels, not 0/1. Nothing outside this
module knows the demo: serving, monitoring and promotion read the task and classes from the model.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score, log_loss, precision_score, recall_score, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from core import mlflow_io
from core.charts import TEMPLATE
from core.errors import InvalidInput
from core.mlflow_io import HOLDOUT_ARTIFACT
from core.monitoring.estimators import fit_and_store_note, fit_on_holdout
from core.profile import PROFILE_ARTIFACT, build_profile, profile_predictions
from core.serving.answers import classification_score
from core.settings import Settings
from core.task import TASK_TAG, class_text
from core.training.train import Progress, TrainingResult, pinned_requirements, trusted_types, with_overrides

CLASSIFIER_MODEL_NAME = "tumour-triage"  # registered beside the regressor; ``--model`` names another
CLASSIFIER_EXPERIMENT_SUFFIX = "-classifier"  # its runs stay apart from the regressor's on Experiments
TARGET = "diagnosis"
# scikit-learn codes 0 = malignant, 1 = benign; as words, sorted, "malignant" is the second class and
# so the positive one whose probability is the score (scikit-learn's order, as Answers reads it).
LABELS = {0: "malignant", 1: "benign"}
CLASSIFIER_ESTIMATORS = ("logreg", "rf")
CLASSIFIER_PARAMS: dict[str, dict[str, Any]] = {
    "logreg": {"C": 1.0, "max_iter": 2000},
    "rf": {"n_estimators": 100, "min_samples_leaf": 2, "max_depth": None},
}
HOLDOUT_SHARE = 0.25


def load_tumours() -> tuple[pd.DataFrame, pd.Series]:
    """The ten "mean" measurements of each of the 569 tumours (snake_case names) and their diagnosis as a word."""
    data = load_breast_cancer(as_frame=True)
    means = [column for column in data.data.columns if column.startswith("mean ")]
    features = data.data[means].rename(columns=lambda name: name.replace(" ", "_")).astype(float)
    target = data.target.map(LABELS).rename(TARGET)
    return features, target


def resolve_classifier_params(estimator: str, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The estimator's defaults with ``overrides`` applied; unknown keys are an error."""
    if estimator not in CLASSIFIER_PARAMS:
        raise InvalidInput(
            f"a classifier's estimator must be one of {', '.join(CLASSIFIER_ESTIMATORS)}, not {estimator!r}"
        )
    return with_overrides(CLASSIFIER_PARAMS[estimator], overrides, estimator=estimator)


def build_classifier(estimator: str, params: dict[str, Any], *, seed: int) -> Pipeline:
    """Scaling and the estimator in one scikit-learn Pipeline (every input is a measurement)."""
    model: Any
    if estimator == "logreg":
        model = LogisticRegression(random_state=seed, **params)
    else:
        model = RandomForestClassifier(random_state=seed, n_jobs=1, **params)
    return Pipeline([("scale", StandardScaler()), ("model", model)])


def evaluate_classifier(y_true: pd.Series, probabilities: np.ndarray, classes: tuple[Any, ...]) -> dict[str, float]:
    """Holdout metrics under the names people log; precision/recall/F1 of the positive class when binary."""
    predicted = np.asarray(classes, dtype=object)[probabilities.argmax(axis=1)]
    truth = y_true.to_numpy(dtype=object)
    if len(classes) == 2:
        positive = classes[1]
        averaged: dict[str, Any] = {"pos_label": positive, "average": "binary", "zero_division": 0}
        auc = roc_auc_score(truth == positive, probabilities[:, 1])
    else:
        averaged = {"average": "macro", "zero_division": 0}
        auc = roc_auc_score(truth, probabilities, multi_class="ovr", labels=list(classes))
    return {
        "accuracy": float(accuracy_score(truth, predicted)),
        "precision": float(precision_score(truth, predicted, **averaged)),
        "recall": float(recall_score(truth, predicted, **averaged)),
        "f1": float(f1_score(truth, predicted, **averaged)),
        "roc_auc": float(auc),
        "log_loss": float(log_loss(truth, probabilities, labels=list(classes))),
    }


def confusion_figure(actual: list[str], predicted: list[str], classes: list[str], *, title: str) -> go.Figure:
    """Counts of true class (rows) against predicted class (columns) on the holdout."""
    index = {name: position for position, name in enumerate(classes)}
    counts = np.zeros((len(classes), len(classes)), dtype=int)
    for truth, answer in zip(actual, predicted, strict=True):
        counts[index[truth], index[answer]] += 1
    figure = go.Figure(
        go.Heatmap(z=counts, x=classes, y=classes, text=counts, texttemplate="%{text}", colorscale="Blues")
    )
    figure.update_layout(title=title, xaxis_title="predicted", yaxis_title="actual", template=TEMPLATE, height=420)
    return figure


def classifier_settings(settings: Settings, model_name: str | None = None) -> Settings:
    """``settings`` pointed at the classifier's registered model and its own experiment."""
    return settings.model_copy(
        update={
            "model_name": model_name or CLASSIFIER_MODEL_NAME,
            "experiment_name": settings.experiment_name + CLASSIFIER_EXPERIMENT_SUFFIX,
        }
    )


def train_classifier(
    settings: Settings,
    *,
    estimator: str = "logreg",
    overrides: dict[str, Any] | None = None,
    seed: int = 42,
    register: bool = True,
    run_name: str | None = None,
    model_name: str | None = None,
    progress: Progress = lambda message: None,
) -> TrainingResult:
    """Fit, evaluate and log the demo classifier; register it as a new version of its own model.

    The run holds the holdout metrics, a holdout sample (true and predicted class, score), a confusion
    matrix and the reference profile: inputs, the diagnosis's class counts (``target_profile``) and the
    model's scores on the training rows (``prediction_profile``).
    """
    settings = classifier_settings(settings, model_name)
    params = resolve_classifier_params(estimator, overrides)
    progress("loading the breast-cancer dataset")
    features, target = load_tumours()
    X_train, X_test, y_train, y_test = train_test_split(
        features, target, test_size=HOLDOUT_SHARE, random_state=seed, stratify=target
    )
    progress(f"fitting {estimator} on {len(X_train):,} rows")
    pipeline = build_classifier(estimator, params, seed=seed).fit(X_train, y_train)
    classes = tuple(str(value) for value in pipeline.classes_)
    probabilities = pipeline.predict_proba(X_test)
    metrics = evaluate_classifier(y_test, probabilities, classes)
    progress("holdout " + ", ".join(f"{name}={value:,.3f}" for name, value in metrics.items()))

    profile = build_profile(
        X_train,
        target=TARGET,
        rules={name: [{"rule": "ge", "value": 0.0}] for name in X_train.columns},
        target_values=y_train,
        categorical_target=True,
        pca_variance=settings.drift_pca_variance,
        segment_max_values=settings.segment_max_values,
    )
    train_scores = classification_score(pipeline.predict_proba(X_train))
    profile = replace(profile, prediction_profile=profile_predictions(train_scores, name="score"))
    predicted = [class_text(classes[index]) for index in probabilities.argmax(axis=1)]
    actual = [class_text(value) for value in y_test]
    holdout = {
        "actual": actual,
        "predicted": predicted,
        "score": classification_score(probabilities).round(6).tolist(),
        "classes": [class_text(value) for value in classes],
    }
    progress("logging the run and the model to MLflow")
    logged = mlflow_io.log_training_run(
        settings,
        mlflow_io.TrainingRun(
            run_name=run_name or f"{estimator}-seed{seed}",
            model=pipeline,
            input_example=X_test.head(5),
            params={"estimator": estimator, "seed": seed, **params},
            metrics=metrics,
            tags={mlflow_io.ESTIMATOR_TAG: estimator, TASK_TAG: "classification"},
            texts={PROFILE_ARTIFACT: profile.to_json()},
            dicts={HOLDOUT_ARTIFACT: holdout},
            figures={
                "confusion_matrix.html": confusion_figure(
                    actual, predicted, list(holdout["classes"]), title=f"{estimator}: holdout confusion matrix"
                )
            },
            pip_requirements=pinned_requirements(),
            skops_trusted_types=tuple(trusted_types(pipeline)),
        ),
    )
    version = None
    if register:
        progress(f"registering a new version of {settings.model_name}")
        version = mlflow_io.register_model_version(
            settings,
            model_uri=logged.model_uri,
            tags={mlflow_io.ESTIMATOR_TAG: estimator, TASK_TAG: "classification"},
        )
        # Estimated performance (CBPE) from the holdout's probabilities, kept with the version.
        progress(
            fit_and_store_note(
                settings,
                version=version,
                fit=lambda: fit_on_holdout(
                    features=X_test, actual=y_test, probabilities=probabilities, classes=classes
                ),
            )
        )
    return TrainingResult(
        run_id=logged.run_id,
        version=version,
        metrics=metrics,
        estimator=estimator,
        params=params,
        model_name=settings.model_name,
        task="classification",
    )
