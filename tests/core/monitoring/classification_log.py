"""Logging a classifier's answers and true labels straight into a prediction log, as the serving path does.

Rows carry what :class:`core.serving.answers.Answers` writes: the label as text, the class probabilities as
JSON in the model's class order (rounded to 6 places), and the score (binary: the second class's
probability; multiclass: the predicted class's) in ``prediction``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

from storage.prediction_log import add_feedback, log_predictions

START = datetime(2026, 3, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Logged:
    """What was logged: ids, predicted labels, probabilities (rows × classes) and true labels by id."""

    ids: list[int]
    classes: list[str]
    labels: list[str]
    probabilities: np.ndarray
    truths: dict[int, str]  # the true labels given as feedback (answers only)


def probabilities_for(rng: np.random.Generator, truths: np.ndarray, classes: list[str], skill: float) -> np.ndarray:
    """Noisy class probabilities that lean towards the true class by ``skill``, rounded as the log keeps them."""
    raw = rng.dirichlet(np.ones(len(classes)), size=len(truths))
    lean = np.eye(len(classes))[[classes.index(truth) for truth in truths]]
    mixed = (1 - skill) * raw + skill * lean * rng.uniform(0.3, 1.0, (len(truths), 1))
    mixed /= mixed.sum(axis=1, keepdims=True)
    return np.round(mixed, 6)


def log_classifier(
    session,
    *,
    classes: list[str],
    rows: int,
    seed: int,
    model_name: str = "clf",
    version: int = 1,
    hours: float = 30,
    start: datetime = START,
    label_share: float = 0.7,
    skill: float = 0.5,
    shadow_of: list[int] | None = None,
    true_labels: list[str] | None = None,
) -> Logged:
    """Log ``rows`` answers (or shadow rows of ``shadow_of``) with labels for ``label_share`` of them."""
    rng = np.random.default_rng(seed)
    truths = np.asarray(true_labels) if true_labels is not None else rng.choice(classes, rows)
    probabilities = probabilities_for(rng, truths, classes, skill)
    predicted = probabilities.argmax(axis=1)
    labels = [classes[index] for index in predicted]
    scores = probabilities[:, 1] if len(classes) == 2 else probabilities[np.arange(rows), predicted]
    stamps = [start + timedelta(hours=float(h)) for h in np.sort(rng.random(rows)) * hours]
    records = [
        {
            "created_at": stamps[index],
            "model_name": model_name,
            "model_version": version,
            "alias": "challenger" if shadow_of is not None else "champion",
            "prediction": float(scores[index]),
            "label": labels[index],
            "probabilities": json.dumps(dict(zip(classes, probabilities[index].tolist(), strict=True))),
            "latency_ms": 5.0,
            "source": "batch",
            "request_id": f"r{seed}-{index}",
            "is_ood": False,
            "is_shadow": shadow_of is not None,
            "shadow_of": None if shadow_of is None else shadow_of[index],
        }
        for index in range(rows)
    ]
    ids = log_predictions(session, records=records)
    truth_of = {}
    if shadow_of is None:
        chosen = rng.random(rows) < label_share
        truth_of = {ids[i]: str(truths[i]) for i in range(rows) if chosen[i]}
        add_feedback(session, labels=truth_of)
    return Logged(ids, classes, labels, probabilities, truth_of)
