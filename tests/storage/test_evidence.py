import math

import numpy as np
import pytest

from storage.db import make_engine, make_sessionmaker, migrate
from storage.evidence import agreement, version_evidence
from storage.prediction_log import Feedback, Prediction

MODEL = "m"


@pytest.fixture(params=["sqlite", "postgresql"])
def sessions(request, tmp_path):
    url = f"sqlite:///{tmp_path / 'loupe.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    engine = make_engine(url)
    migrate(engine)
    yield make_sessionmaker(engine)
    engine.dispose()


def log(session, *, version, request_id, prediction, latency_ms=1.0, shadow_of=None, model=MODEL) -> Prediction:
    row = Prediction(
        model_name=model,
        model_version=version,
        alias="champion" if shadow_of is None else "challenger",
        prediction=prediction,
        latency_ms=latency_ms,
        source="form",
        request_id=request_id,
        is_shadow=shadow_of is not None,
        shadow_of=shadow_of,
    )
    session.add(row)
    session.flush()
    return row


def test_shadow_pairs_agreement_and_realised_errors(sessions) -> None:
    rng = np.random.default_rng(0)
    actual = rng.uniform(500, 5000, size=30)
    served = actual + rng.normal(0, 100, size=30)
    shadow = served * np.where(np.arange(30) < 24, 1.05, 1.5)  # 24 of 30 within 10%
    with sessions.begin() as session:
        for index in range(30):
            request_id = f"batch-{index // 10}"  # a batch shares its request id across rows
            row = log(session, version=1, request_id=request_id, prediction=served[index], latency_ms=index + 1)
            log(session, version=2, request_id=request_id, prediction=shadow[index], shadow_of=row.id, latency_ms=2.0)
            if index < 20:  # truth known for 20 requests, attached to the served answer only
                session.add(Feedback(prediction_id=row.id, actual=actual[index]))
        log(session, version=1, request_id="other-model", prediction=1.0, model="other")

    with sessions() as session:
        served_evidence = version_evidence(session, model_name=MODEL, version=1)
        shadow_evidence = version_evidence(session, model_name=MODEL, version=2)
        agreed = agreement(session, model_name=MODEL, reference_version=1, candidate_version=2, tolerance=0.10)

    assert (served_evidence.predictions, served_evidence.shadow_predictions) == (30, 0)
    assert (shadow_evidence.predictions, shadow_evidence.shadow_predictions) == (30, 30)
    assert served_evidence.feedback_count == shadow_evidence.feedback_count == 20
    served_errors, shadow_errors = served[:20] - actual[:20], shadow[:20] - actual[:20]
    assert served_evidence.realised_mae == pytest.approx(np.abs(served_errors).mean())
    assert served_evidence.realised_rmse == pytest.approx(math.sqrt((served_errors**2).mean()))
    assert shadow_evidence.realised_rmse == pytest.approx(math.sqrt((shadow_errors**2).mean()))
    assert agreed.pairs == 30 and agreed.within_tolerance == 24
    assert agreed.share_within_tolerance == pytest.approx(0.8)
    assert agreed.mean_abs_difference == pytest.approx(np.abs(shadow - served).mean())
    assert agreed.mean_relative_difference == pytest.approx((np.abs(shadow - served) / served).mean())


def test_no_traffic_means_no_evidence(sessions) -> None:
    with sessions() as session:
        nothing = version_evidence(session, model_name=MODEL, version=7)
        unpaired = agreement(session, model_name=MODEL, reference_version=1, candidate_version=7)

    assert nothing.predictions == 0 and nothing.feedback_count == 0
    assert nothing.realised_rmse is None and nothing.realised_mae is None
    assert unpaired.pairs == 0 and unpaired.share_within_tolerance is None
    assert unpaired.mean_abs_difference is None


def log_class(session, *, version, label, score=None, shadow_of=None, request_id="r") -> Prediction:
    row = log(session, version=version, request_id=request_id, prediction=score, shadow_of=shadow_of)
    row.label = label
    session.flush()
    return row


def test_a_classifiers_evidence_is_its_labels_against_the_true_classes(sessions) -> None:
    rng = np.random.default_rng(1)
    classes = np.array(["benign", "malignant"])
    truth = rng.choice(classes, size=40)
    served = np.where(np.arange(40) < 4, np.where(truth == "benign", "malignant", "benign"), truth)  # 4 wrong
    shadow = np.where(np.arange(40) % 4 == 0, np.where(served == "benign", "malignant", "benign"), served)
    with sessions.begin() as session:
        for index in range(40):
            # A classifier without probabilities logs no score: its answer is the label alone.
            score = None if index % 5 == 0 else float(rng.uniform())
            row = log_class(session, version=1, label=served[index], score=score)
            log_class(session, version=2, label=shadow[index], score=score, shadow_of=row.id)
            if index < 30:  # the true class is known for 30 answers, attached to the served one
                session.add(Feedback(prediction_id=row.id, actual_label=truth[index]))

    with sessions() as session:
        first = version_evidence(session, model_name=MODEL, version=1)
        second = version_evidence(session, model_name=MODEL, version=2)
        agreed = agreement(session, model_name=MODEL, reference_version=1, candidate_version=2)

    assert (first.labelled_predictions, first.label_feedback_count) == (40, 30)
    assert first.realised_accuracy == pytest.approx(np.mean(served[:30] == truth[:30]))
    assert second.label_feedback_count == 30  # the shadow answers borrow their served answers' truth
    assert second.realised_accuracy == pytest.approx(np.mean(shadow[:30] == truth[:30]))
    assert second.label_coverage == pytest.approx(30 / 40)
    assert first.feedback_count == 0 and first.realised_rmse is None  # no numeric truth: no error figures
    assert agreed.pairs == agreed.labelled_pairs == 40
    assert agreed.label_agreement == pytest.approx(np.mean(shadow == served))


def test_a_regressors_evidence_ignores_labels_and_a_classifiers_ignores_numbers(sessions) -> None:
    with sessions.begin() as session:
        regression = log(session, version=1, request_id="a", prediction=10.0)
        session.add(Feedback(prediction_id=regression.id, actual=12.0))
        classified = log_class(session, version=1, label="0", score=0.9, request_id="b")
        session.add(Feedback(prediction_id=classified.id, actual_label="1"))

    with sessions() as session:
        found = version_evidence(session, model_name=MODEL, version=1)

    assert (found.feedback_count, found.realised_mae) == (1, pytest.approx(2.0))
    assert (found.label_feedback_count, found.correct_labels, found.realised_accuracy) == (1, 0, 0.0)
    assert found.labelled_predictions == 1 and found.label_coverage == pytest.approx(0.5)
