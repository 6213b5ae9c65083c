"""The simulator on a classifier: answers logged with label, probabilities and score; true labels as feedback.

Its command is tested in tests/core/commands/test_simulate_classifier.py.
"""

from __future__ import annotations

import json
from datetime import timedelta

import numpy as np
import pytest
from sqlalchemy import select

from core import mlflow_io
from core.monitoring.references import refresh
from core.monitoring.simulator import champion_traffic, simulate, simulate_bulk
from core.monitoring.traffic import Shift, simulated_labels
from core.monitoring.window_drift import window_drift, window_multivariate
from core.monitoring.windows import Window
from core.serving.answers import Answers
from core.serving.model_cache import clear_memory_caches
from storage.db import make_engine, make_sessionmaker, migrate
from storage.prediction_log import Feedback, Prediction

CLASSES = {"benign", "malignant"}


@pytest.fixture
def sessions(classifier_registry):
    clear_memory_caches()
    engine = make_engine(classifier_registry.database_url)
    migrate(engine)
    yield make_sessionmaker(engine)
    engine.dispose()
    clear_memory_caches()


def logged(sessions, *, model_name: str = "tumour-triage", after: int = 0) -> list[tuple]:
    """(id, is_shadow, label, probabilities, prediction, true label, true value) of the model's rows."""
    with sessions() as session:
        return session.execute(
            select(
                Prediction.id,
                Prediction.is_shadow,
                Prediction.label,
                Prediction.probabilities,
                Prediction.prediction,
                Feedback.actual_label,
                Feedback.actual,
            )
            .outerjoin(Feedback, Feedback.prediction_id == Prediction.id)
            .where(Prediction.model_name == model_name, Prediction.id > after)
            .order_by(Prediction.id)
        ).all()


def accuracy(rows: list[tuple]) -> float:
    judged = [(label, truth) for _, shadow, label, _, _, truth, _ in rows if not shadow and truth is not None]
    return float(np.mean([label == truth for label, truth in judged]))


def test_simulated_labels_follow_the_models_probabilities() -> None:
    rows = 4_000
    probabilities = np.tile([0.8, 0.2], (rows, 1))
    labels = np.array(["benign"] * rows, dtype=object)
    answers = Answers(values=probabilities[:, 1], labels=labels, probabilities=probabilities, classes=("benign", "m"))
    integers = Answers(values=np.full(3, np.nan), labels=np.array([0, 2, 1], dtype=object), classes=(np.int64(0), 1, 2))

    drawn = simulated_labels(answers, rng=np.random.default_rng(0))
    mixed = np.column_stack([np.linspace(0.05, 0.95, rows), 1 - np.linspace(0.05, 0.95, rows)])
    mixed_answers = Answers(
        values=mixed[:, 1], labels=np.where(mixed[:, 0] >= 0.5, "b", "m").astype(object), probabilities=mixed,
        classes=("b", "m"),
    )  # fmt: skip
    sharpened = simulated_labels(mixed_answers, rng=np.random.default_rng(1), accuracy=0.9)
    softened = simulated_labels(mixed_answers, rng=np.random.default_rng(1), accuracy=0.6)

    assert set(drawn) == {"benign", "m"}
    assert np.mean(drawn == "m") == pytest.approx(0.2, abs=0.03)
    # with the holdout accuracy the model is right about that often, and wrong mostly where it was unsure
    right = sharpened == mixed_answers.labels
    assert np.mean(right) == pytest.approx(0.9, abs=0.02)
    assert np.mean(softened == mixed_answers.labels) == pytest.approx(0.6, abs=0.03)
    unsure = np.abs(mixed[:, 0] - 0.5) < 0.2
    assert np.mean(right[unsure]) < np.mean(right[~unsure])
    assert list(simulated_labels(integers, rng=np.random.default_rng(0))) == ["0", "2", "1"]  # no probabilities
    with pytest.raises(ValueError, match="classifier"):
        simulated_labels(Answers(values=np.zeros(2)), rng=np.random.default_rng(0))


def test_champion_traffic_of_a_classifier_has_a_true_class_per_valid_row(classifier_registry, sessions) -> None:
    served, traffic, truth = champion_traffic(classifier_registry, rows=200, days=1, seed=1)

    assert served.task == "classification" and len(traffic.features) == len(truth) == 200
    assert set(truth) == CLASSES  # text classes, both drawn
    assert list(traffic.features.columns) == served.schema.required_names


def test_simulate_logs_labels_probabilities_scores_shadows_and_true_labels(classifier_registry, sessions) -> None:
    result = simulate(classifier_registry, sessions=sessions, rows=60, days=1, label_share=0.5, seed=2)

    rows = logged(sessions)
    answers = [row for row in rows if not row[1]]
    shadows = [row for row in rows if row[1]]
    assert result.model_version == 1 and len(answers) == result.accepted and result.accepted > 50
    assert len(shadows) == result.shadow_scored == len(answers)  # the challenger shadows every answer
    for _, _, label, probabilities, score, _, _ in rows:
        shares = json.loads(probabilities)
        assert set(shares) == CLASSES and sum(shares.values()) == pytest.approx(1.0, abs=1e-5)
        assert label == max(shares, key=shares.get)
        assert score == pytest.approx(shares["malignant"], abs=1e-5)  # the score: P(second class)
    feedback = [(truth, value) for *_, truth, value in answers if truth is not None]
    assert len(feedback) == result.feedback and 0 < result.feedback < len(answers)
    assert {truth for truth, _ in feedback} <= CLASSES and all(value is None for _, value in feedback)
    assert logged(sessions, model_name="diamond-price") == []  # the regressor was not asked


def test_a_shift_makes_the_classifier_measurably_worse(classifier_registry, sessions) -> None:
    steady = simulate_bulk(classifier_registry, sessions=sessions, rows=3_000, days=1, label_share=1.0, seed=5)
    before = logged(sessions)
    shifted = simulate_bulk(
        classifier_registry,
        sessions=sessions,
        rows=3_000,
        days=1,
        shifts=(Shift.parse("mean_radius=1.5"),),
        label_share=1.0,
        seed=5,
    )
    after = logged(sessions, after=before[-1][0])

    assert steady.feedback == len(before) == 3_000 and shifted.feedback == len(after) == 3_000
    assert {label for _, _, label, *_ in before + after} == CLASSES
    assert all(truth in CLASSES and value is None for *_, truth, value in before + after)
    # The truth follows the inputs as drawn: unshifted, the answers are as right as on the holdout ...
    holdout = mlflow_io.get_version(classifier_registry, version=1).metrics["accuracy"]
    assert accuracy(before) == pytest.approx(holdout, abs=0.03)
    # ... and a shift makes them measurably worse (whole rows: perimeter and area still say "small", so less
    # worse than when every input was drawn on its own)
    assert accuracy(before) > accuracy(after) + 0.03
    malignant = [np.mean([label == "malignant" for _, _, label, *_ in part]) for part in (before, after)]
    assert malignant[1] > malignant[0]  # bigger tumours look malignant


def drift_of_the_last_day(settings, sessions) -> tuple:
    """(multivariate drift, drifted features) of version 1's answers in the last two days."""
    refresh(settings, sessions=sessions)
    window = Window.last(timedelta(days=2))
    with sessions.begin() as session:
        multivariate, _ = window_multivariate(settings, session=session, window=window, model_version=1)
        report = window_drift(settings, session=session, window=window, model_version=1, include_shadow=False)
    assert multivariate is not None and report is not None and len(report.judged) == len(report.features)
    return multivariate, {item.feature for item in report.judged if item.drifted}


@pytest.mark.slow  # 4,000 rows answered, logged and rolled up in two logs
def test_unshifted_classifier_traffic_shows_no_drift_and_a_shift_shows_where_it_is(
    classifier_registry, sessions, tmp_path
) -> None:
    simulate_bulk(classifier_registry, sessions=sessions, rows=2_000, days=1, seed=8)
    steady, steady_drifted = drift_of_the_last_day(classifier_registry, sessions)

    assert steady.rows == 2_000 and steady.drifted is False, steady
    assert steady_drifted == set()

    engine = make_engine(f"sqlite:///{tmp_path / 'shifted-log.db'}")
    migrate(engine)
    try:
        shifted_sessions = make_sessionmaker(engine)
        simulate_bulk(
            classifier_registry,
            sessions=shifted_sessions,
            rows=2_000,
            days=1,
            shifts=(Shift.parse("mean_radius=1.5"),),
            seed=8,
        )
        _, shifted_drifted = drift_of_the_last_day(classifier_registry, shifted_sessions)
    finally:
        engine.dispose()
    assert shifted_drifted == {"mean_radius"}
