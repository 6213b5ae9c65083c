"""What ``mlflow.evaluate`` really logs for a classifier is read as holdout figures, the right way round."""

import mlflow
import pytest
from mlflow.models import infer_signature
from sklearn.model_selection import train_test_split

from core.registry.holdout import holdout_metrics, primary_holdout
from core.registry.metric_names import task_of_metrics
from tests.team_classifiers import PIP, SKOPS_TYPES, _fit, breast_cancer_frame
from tests.team_store import team_home


@pytest.mark.slow  # mlflow.evaluate computes and logs plots: several seconds
def test_evaluates_classifier_metrics_are_holdout_figures(tmp_path, monkeypatch) -> None:
    team_home(tmp_path, monkeypatch, model="tumour-eval")
    features, labels = breast_cancer_frame()
    train_x, test_x, train_y, test_y = train_test_split(features, labels, test_size=0.3, random_state=0)
    estimator = _fit(train_x, train_y)
    with mlflow.start_run() as run:
        info = mlflow.sklearn.log_model(
            estimator,
            name="model",
            signature=infer_signature(train_x, estimator.predict(train_x)),
            pip_requirements=PIP,
            skops_trusted_types=[*SKOPS_TYPES, "sklearn.linear_model._logistic.LogisticRegression"],
        )
        result = mlflow.models.evaluate(
            info.model_uri,
            test_x.assign(diagnosis=test_y.to_numpy()),
            targets="diagnosis",
            model_type="classifier",
            evaluators="default",
            evaluator_config={"pos_label": "malignant", "log_model_explainability": False},
        )
    logged = mlflow.get_run(run.info.run_id).data.metrics

    found = holdout_metrics(logged)

    assert {"roc_auc", "f1", "accuracy", "log_loss", "precision", "recall"} <= set(found)
    assert found["accuracy"].value == pytest.approx(result.metrics["accuracy_score"])
    assert primary_holdout(logged).measures == "roc_auc"
    assert found["log_loss"].lower_is_better and not found["roc_auc"].lower_is_better
    assert task_of_metrics(logged) == "classification"
