"""Classifiers a team registered with plain MLflow code are answered with their label and class probabilities.

Binary with text labels, multiclass with integer labels, a scikit-learn model logged with
``pyfunc_predict_fn="predict_proba"`` and a pyfunc returning a probability frame: each is detected as a
classifier from the model itself, answered as its own method answers, and logged with label, score and
probabilities; true labels are checked against its classes.
"""

from __future__ import annotations

import json

import mlflow
import numpy as np
import pytest
from mlflow.models import infer_signature
from sqlalchemy import select

from core.serving.feedback import attach_feedback
from core.serving.model_cache import serve
from core.serving.scoring import predict_one, score_frame
from storage.prediction_log import Feedback, Prediction
from tests import team_classifiers
from tests.team_store import champion, prediction_log, team_home

REGISTER = {
    "binary-text": team_classifiers.register_binary_text_labels,
    "multiclass-int": team_classifiers.register_multiclass_int_labels,
    "predict-proba-fn": team_classifiers.register_predict_proba_fn,
    "probability-frame": team_classifiers.register_probability_frame_pyfunc,
}


@pytest.fixture(params=list(REGISTER))
def classifier(request, tmp_path, monkeypatch):
    settings = team_home(tmp_path, monkeypatch, model=request.param)
    registered = REGISTER[request.param](request.param)
    champion(registered.name, registered.version)
    with prediction_log(settings) as sessions:
        yield settings, sessions, registered


def logged(sessions) -> list[Prediction]:
    with sessions() as session:
        return list(session.scalars(select(Prediction).order_by(Prediction.id)))


def test_a_classifier_is_answered_with_its_labels_and_probabilities_and_logged(classifier) -> None:
    settings, sessions, registered = classifier
    rows = registered.features.sample(40, random_state=3)
    expected_labels = registered.estimator.predict(rows)
    expected_probabilities = registered.estimator.predict_proba(rows)
    classes = [str(value) for value in registered.estimator.classes_]

    served, _ = serve(settings)
    result = score_frame(settings, rows, sessions=sessions, source="cli")

    assert served.task == "classification"
    assert [str(value) for value in served.classes] == classes
    if served.flavor == "sklearn":  # one record at a time through the compiled form, checked on probe rows
        assert served.scoring_path == "compiled: StandardScaler → LogisticRegression"
    else:
        assert served.scoring_path == "pyfunc predict()"
    assert list(result.accepted["prediction"]) == list(expected_labels)  # labels keep their type
    native = expected_labels[0].item() if isinstance(expected_labels[0], np.generic) else expected_labels[0]
    assert type(result.accepted["prediction"].iloc[0]) is type(native)  # strings stay strings, ints ints
    probability_columns = [f"proba_{name}" for name in classes]
    np.testing.assert_allclose(result.accepted[probability_columns].to_numpy(), expected_probabilities, rtol=1e-9)

    rows_logged = logged(sessions)
    assert [row.label for row in rows_logged] == [str(value) for value in expected_labels]
    stored = np.array([[json.loads(row.probabilities)[name] for name in classes] for row in rows_logged])
    np.testing.assert_allclose(stored, expected_probabilities, atol=1e-6)
    # Binary: the score is the second (positive) class's probability; multiclass: the predicted class's.
    binary = len(classes) == 2
    expected_scores = expected_probabilities[:, 1] if binary else expected_probabilities.max(axis=1)
    np.testing.assert_allclose([row.prediction for row in rows_logged], expected_scores, rtol=1e-9)


def test_one_case_from_the_form_carries_its_label_and_every_class_probability(classifier) -> None:
    settings, sessions, registered = classifier
    case = registered.features.iloc[7]

    outcome = predict_one(settings, case.to_dict(), sessions=sessions, source="form")

    expected = registered.estimator.predict_proba(case.to_frame().T)[0]
    assert outcome.accepted and outcome.task == "classification"
    assert outcome.label == registered.estimator.predict(case.to_frame().T)[0]
    assert list(outcome.probabilities) == [str(value) for value in registered.estimator.classes_]
    np.testing.assert_allclose(list(outcome.probabilities.values()), expected, rtol=1e-9)
    (row,) = logged(sessions)
    assert row.id == outcome.prediction_id and row.label == str(outcome.label)


def test_true_labels_are_checked_against_the_models_classes(classifier) -> None:
    settings, sessions, registered = classifier
    result = score_frame(settings, registered.features.head(4), sessions=sessions, source="cli")
    first, second, third, fourth = (int(value) for value in result.accepted["prediction_id"])
    classes = [str(value) for value in registered.estimator.classes_]
    # An integer class written as a float by a spreadsheet (``1.0``) names class ``1``.
    as_written = f"{classes[1]}.0" if classes[1].isdigit() else classes[1]

    outcome = attach_feedback(
        (
            f"prediction_id,actual\n{first},{classes[0]}\n{second},{as_written}\n{third},no-such-class\n"
            f"{fourth},\n99999999,{classes[0]}\n"
        ).encode(),
        sessions=sessions,
    )

    assert outcome.stored == 2
    assert outcome.unknown_ids == [99999999]  # an id the log does not hold is said so, whatever its value
    unknown_class, missing = outcome.rejected["message"]
    assert unknown_class.startswith("actual: 'no-such-class' is not one of the model's classes (")
    assert unknown_class.endswith("(rule: class)")
    assert missing == "actual: missing (rule: required)"
    with sessions() as session:
        stored = dict(session.execute(select(Feedback.prediction_id, Feedback.actual_label)).all())
    assert stored == {first: classes[0], second: classes[1]}


def test_the_task_tag_settles_a_pyfunc_that_answers_integer_labels(tmp_path, monkeypatch) -> None:
    """Integers per row could be counts or classes: the model cannot say, the ``loupe.task`` tag does."""
    settings = team_home(tmp_path, monkeypatch, model="coded")
    features, labels = team_classifiers.iris_frame()

    class Coded(mlflow.pyfunc.PythonModel):
        def predict(self, context, model_input, params=None):
            return (model_input["petal_length"] > 2.5).astype("int64").to_numpy()

    with mlflow.start_run():
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=Coded(),
            signature=infer_signature(features, labels.to_numpy()),
            pip_requirements=["pandas"],
        )
    version = mlflow.register_model(info.model_uri, "coded")
    champion("coded", int(version.version))

    untagged, _ = serve(settings)
    assert untagged.task == "regression"

    mlflow.MlflowClient().set_model_version_tag("coded", version.version, "loupe.task", "classification")
    with prediction_log(settings) as sessions:
        result = score_frame(settings, features.head(60), sessions=sessions, source="cli")
        rows = logged(sessions)

    assert result.task == "classification"
    assert list(result.accepted["prediction"]) == list((features["petal_length"].head(60) > 2.5).astype(int))
    assert {row.label for row in rows} == {"0", "1"} and all(row.prediction is None for row in rows)
    assert not [column for column in result.accepted.columns if str(column).startswith("proba_")]


def test_a_regressors_answers_are_unchanged_by_classification(tmp_path, monkeypatch) -> None:
    settings = team_home(tmp_path, monkeypatch, model="prices")
    from sklearn.linear_model import Ridge

    features, _ = team_classifiers.iris_frame()
    target = features.pop("petal_width")
    regressor = Ridge().fit(features, target)
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(
            regressor,
            name="model",
            signature=infer_signature(features, regressor.predict(features)),
            pip_requirements=["scikit-learn"],
        )
    champion("prices", int(mlflow.register_model(info.model_uri, "prices").version))

    with prediction_log(settings) as sessions:
        result = score_frame(settings, features, sessions=sessions, source="cli")
        rows = logged(sessions)

    assert result.task == "regression"
    np.testing.assert_allclose(result.accepted["prediction"], regressor.predict(features), rtol=1e-9)
    assert all(row.label is None and row.probabilities is None for row in rows)
