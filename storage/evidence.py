"""Live evidence about model versions, aggregated in SQL over the prediction log.

A shadow prediction points at the answer it shadows (``shadow_of``): that pair is the unit of
agreement (a batch shares one ``request_id`` across rows, so the pair is not found by request id).
Feedback is attached to the served answer; a shadow answer is scored against its answer's truth.
A regressor is scored on ``prediction`` against ``Feedback.actual``; a classifier on ``label`` (its
predicted class as text) against ``Feedback.actual_label``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sqlalchemy import Float, and_, case, func, select
from sqlalchemy.orm import Session, aliased

from storage.prediction_log import Feedback, Prediction


@dataclass(frozen=True)
class VersionEvidence:
    """What the prediction log knows about one version's live behaviour."""

    version: int
    predictions: int
    shadow_predictions: int
    feedback_count: int  # answers with a true value to measure a regressor's error on
    realised_mae: float | None
    realised_rmse: float | None
    labelled_predictions: int = 0  # answers that carry a predicted class (a classifier's)
    label_feedback_count: int = 0  # answers with both a predicted and a true class
    correct_labels: int = 0  # of those, the ones whose class was right

    @property
    def realised_accuracy(self) -> float | None:
        """Share of the answers with a known true class that named it (``None`` without any)."""
        return self.correct_labels / self.label_feedback_count if self.label_feedback_count else None

    @property
    def label_coverage(self) -> float | None:
        """Share of the version's answers whose true class is known (``None`` without answers)."""
        return self.label_feedback_count / self.predictions if self.predictions else None


@dataclass(frozen=True)
class Agreement:
    """How closely two versions answered the same requests."""

    reference_version: int
    candidate_version: int
    pairs: int
    within_tolerance: int  # pairs whose answers differ by at most ``tolerance`` (relative to the reference)
    tolerance: float
    mean_abs_difference: float | None
    mean_relative_difference: float | None
    labelled_pairs: int = 0  # pairs where both answers carry a class (classifiers)
    same_label: int = 0  # of those, the pairs that named the same class

    @property
    def share_within_tolerance(self) -> float | None:
        return self.within_tolerance / self.pairs if self.pairs else None

    @property
    def label_agreement(self) -> float | None:
        """Share of the labelled pairs that named the same class (``None`` without any)."""
        return self.same_label / self.labelled_pairs if self.labelled_pairs else None


def version_evidence(session: Session, *, model_name: str, version: int) -> VersionEvidence:
    """Counts, realised MAE/RMSE and realised accuracy (where feedback exists) of one version.

    Latency comes from the roll-ups, not from here.
    """
    scope = (Prediction.model_name == model_name, Prediction.model_version == version)
    counts = session.execute(
        select(
            func.count(),
            func.coalesce(func.sum(case((Prediction.is_shadow, 1), else_=0)), 0),
            func.count(Prediction.label),
        ).where(*scope)
    ).one()
    error = Feedback.actual - Prediction.prediction
    both_labels = and_(Prediction.label.is_not(None), Feedback.actual_label.is_not(None))
    realised = session.execute(
        select(
            func.count(error),  # NULL unless both the answer and the truth are numbers
            func.avg(func.abs(error)),
            func.avg(func.cast(error * error, Float)),
            func.coalesce(func.sum(case((both_labels, 1), else_=0)), 0),
            func.coalesce(func.sum(case((Prediction.label == Feedback.actual_label, 1), else_=0)), 0),
        )
        .select_from(Prediction)
        # A served answer carries its own feedback; a shadow one borrows the answer's it shadows.
        .join(Feedback, Feedback.prediction_id == func.coalesce(Prediction.shadow_of, Prediction.id))
        .where(*scope)
    ).one()
    feedback_count = int(realised[0] or 0)
    return VersionEvidence(
        version=version,
        predictions=int(counts[0]),
        shadow_predictions=int(counts[1]),
        feedback_count=feedback_count,
        realised_mae=float(realised[1]) if feedback_count else None,
        realised_rmse=math.sqrt(float(realised[2])) if feedback_count else None,
        labelled_predictions=int(counts[2]),
        label_feedback_count=int(realised[3]),
        correct_labels=int(realised[4]),
    )


def agreement(
    session: Session, *, model_name: str, reference_version: int, candidate_version: int, tolerance: float = 0.10
) -> Agreement:
    """Agreement of ``candidate_version`` with ``reference_version`` on the inputs both answered (shadow pairs).

    Both readings are counted: answers within ``tolerance`` of each other (a regressor's) and pairs that
    named the same class (a classifier's).
    """
    reference, candidate = aliased(Prediction), aliased(Prediction)
    difference = func.abs(candidate.prediction - reference.prediction)
    # A zero reference answer would divide by zero; count it as agreeing only when both are zero.
    scale = func.nullif(func.abs(reference.prediction), 0)
    labelled = and_(reference.label.is_not(None), candidate.label.is_not(None))
    row = session.execute(
        select(
            func.count(),
            func.coalesce(func.sum(case((difference <= tolerance * func.abs(reference.prediction), 1), else_=0)), 0),
            func.avg(difference),
            func.avg(difference / scale),
            func.coalesce(func.sum(case((labelled, 1), else_=0)), 0),
            func.coalesce(func.sum(case((candidate.label == reference.label, 1), else_=0)), 0),
        )
        .select_from(reference)
        # Either side may be the shadow: the challenger shadows the champion, or after a promotion the reverse.
        .join(candidate, (candidate.shadow_of == reference.id) | (reference.shadow_of == candidate.id))
        .where(
            reference.model_name == model_name,
            reference.model_version == reference_version,
            candidate.model_version == candidate_version,
        )
    ).one()
    pairs = int(row[0])
    return Agreement(
        reference_version=reference_version,
        candidate_version=candidate_version,
        pairs=pairs,
        within_tolerance=int(row[1]),
        tolerance=tolerance,
        mean_abs_difference=float(row[2]) if pairs and row[2] is not None else None,
        mean_relative_difference=float(row[3]) if pairs and row[3] is not None else None,
        labelled_pairs=int(row[4]),
        same_label=int(row[5]),
    )
