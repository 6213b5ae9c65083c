"""What Monitoring shows for a classifier in one window, read from the roll-ups only.

Realised metrics per version and role (answered / shadow) with their label coverage, the same per UTC
day, the confusion matrix and score bins of the selected rows, shadow label agreement, and drift of the
predicted labels (against the reference's label counts) and of the scores (against the reference's
scores). A handful of grouped reads whatever the size of the log.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sqlalchemy.orm import Session

from core.monitoring.classification import (
    SHARE_METRICS,
    ClassifierMetrics,
    classifier_metrics,
    confusion_matrix,
    sorted_classes,
)
from core.monitoring.drift import DriftThresholds, FeatureDrift, categorical_drift, numeric_drift
from core.monitoring.drift_statistics import Histogram, bin_index, is_discrete, numeric_edges, reference_histogram
from core.monitoring.references import classification_holdout, reference_profile
from core.monitoring.rollup_frames import in_window, select_rows
from core.monitoring.windows import Window
from core.profile import CategoricalProfile, NumericProfile, TrainingProfile
from core.settings import Settings
from core.task import class_text
from storage import rollups

PREDICTED, CONFUSION = "predicted", "confusion"
METRIC_COLUMNS = ["accuracy", "precision", "recall", "f1", "roc_auc", "log_loss"]
SCORE_DISPLAY_BINS = 20  # equal-width bins of 0.05 on [0, 1] for the score chart


@dataclass(frozen=True)
class ClassificationView:
    """A classifier's window: metrics, confusion, scores, agreement and label/score drift."""

    classes: list[str]
    current: ClassifierMetrics  # the selected rows (version, shadow choice) in the window
    previous: ClassifierMetrics  # the same in the previous window (no ROC AUC: score bins are read once)
    serving: ClassifierMetrics | None  # the drift version's answers: what alerts compare with its holdout
    by_version: pd.DataFrame  # version, role, predictions, labelled, coverage, metrics…
    over_time: pd.DataFrame  # day, series, predictions, labelled, coverage, metrics…
    confusion: pd.DataFrame  # true × predicted counts of the selected rows
    scores: pd.DataFrame  # the selected rows' score bins: class_name, is_true, bucket, count
    agreement: pd.DataFrame  # version, compared, agreed, agreement (shadow rows against their answers)
    label_drift: FeatureDrift | None = None
    score_drift: FeatureDrift | None = None
    holdout: dict[str, float] = field(default_factory=dict)  # the drift version's holdout figures
    # low, high, reference, current: shares of rows on equal-width bins of [0, 1] (None: no reference scores)
    score_shares: pd.DataFrame | None = None

    @property
    def positive(self) -> str | None:
        return self.current.positive

    @property
    def score_name(self) -> str:
        """What a logged score is: the positive class's probability (binary), else the predicted class's."""
        positive = self.positive
        if positive is None and len(self.classes) == 2:
            positive = self.classes[1]
        return f"P({positive})" if positive is not None else "probability of the predicted class"


def is_classifier(session: Session, *, model_name: str, window: Window) -> bool:
    """Whether the model logged labelled answers (a classifier) in ``window``."""
    labels = rollups.label_counts(session, model_name=model_name, kind=PREDICTED, start=window.start, end=window.end)
    return not labels.empty


def _metrics(
    totals: pd.DataFrame, confusion: pd.DataFrame, scores: pd.DataFrame, classes: list[str]
) -> ClassifierMetrics:
    return classifier_metrics(
        predictions=int(totals["predictions"].sum()) if not totals.empty else 0,
        confusion=confusion,
        scores=scores,
        log_loss_sum=float(totals["log_loss_sum"].sum()) if not totals.empty else 0.0,
        log_loss_count=int(totals["log_loss_count"].sum()) if not totals.empty else 0,
        classes=classes,
    )


def _row(metrics: ClassifierMetrics) -> dict[str, float | int | None]:
    return {
        "predictions": metrics.predictions,
        "labelled": metrics.labelled,
        "coverage": metrics.coverage,
        **{name: metrics.value(name) for name in METRIC_COLUMNS},
    }


def _series(version: int, shadow: bool) -> str:
    return f"v{int(version)}" + (" (shadow)" if shadow else "")


def _of(frame: pd.DataFrame, version: int, shadow: bool) -> pd.DataFrame:
    if frame.empty:
        return frame
    mask = (frame["model_version"].to_numpy() == version) & (frame["is_shadow"].astype(bool).to_numpy() == shadow)
    return frame[mask]


def _level(text: str) -> str:
    # A reference written from float labels says "1.0" where the log says "1" (core.task.class_text).
    try:
        return class_text(float(text))
    except ValueError:
        return text


def label_drift(
    profile: TrainingProfile | None, predicted: pd.DataFrame, thresholds: DriftThresholds
) -> FeatureDrift | None:
    """Predicted-label distribution against the reference's label counts (Evidently's categorical rule)."""
    if profile is None or predicted.empty or not isinstance(profile.target_profile, CategoricalProfile):
        return None
    target = profile.target_profile
    counts = predicted.groupby("predicted")["count"].sum()
    reference = CategoricalProfile(
        name="predicted label", levels=[_level(level) for level in target.levels], counts=list(target.counts)
    )
    current = {str(level): float(count) for level, count in counts.items()}
    return categorical_drift(reference, current, reference_rows=profile.row_count, thresholds=thresholds)


def score_drift(
    profile: TrainingProfile | None, buckets: pd.DataFrame, thresholds: DriftThresholds
) -> FeatureDrift | None:
    """The scores' distribution against the reference's (its numeric drift test), from the fixed score bins."""
    if profile is None or profile.prediction_profile is None or buckets.empty:
        return None
    reference = profile.prediction_profile
    edges = numeric_edges(reference)
    merged = buckets.groupby("bucket")["count"].sum()
    low, high = rollups.score_bounds(merged.index.to_numpy())
    middle = (low + high) / 2
    index = bin_index(middle, edges)
    counts = merged.to_numpy(dtype=float)
    size = len(edges) - 1
    histogram = Histogram(
        counts=np.bincount(index, weights=counts, minlength=size),
        sums=np.bincount(index, weights=counts * middle, minlength=size),
    )
    return numeric_drift(reference, histogram, reference_rows=profile.row_count, thresholds=thresholds)


def score_shares(
    prediction_profile: NumericProfile | None, buckets: pd.DataFrame, *, bins: int = SCORE_DISPLAY_BINS
) -> pd.DataFrame | None:
    """Reference and current scores as shares of rows on ``bins`` equal-width bins of [0, 1].

    The current scores come from the roll-up's 1,000 fixed bins (exact); the reference's from its profile's
    bins, each spread evenly over its width (its quantile bins are narrow where scores crowd, so this is
    close). Equal widths and shares make the two comparable at a glance, where a density over uneven
    quantile bins shoots up wherever the scores pile at 0 or 1.
    """
    if prediction_profile is None:
        return None
    edges = np.linspace(0.0, 1.0, bins + 1)
    current = np.zeros(bins)
    if not buckets.empty:
        merged = buckets.groupby("bucket")["count"].sum()
        low, high = rollups.score_bounds(merged.index.to_numpy())
        index = np.clip(((low + high) / 2 * bins).astype(int), 0, bins - 1)
        np.add.at(current, index, merged.to_numpy(dtype=float))
    reference = _spread(prediction_profile, edges)
    return pd.DataFrame(
        {
            "low": edges[:-1],
            "high": edges[1:],
            "reference": reference / reference.sum() if reference.sum() else reference,
            "current": current / current.sum() if current.sum() else current,
        }
    )


def _spread(profile: NumericProfile, edges: np.ndarray) -> np.ndarray:
    """The profile's counts on ``edges`` (values clipped to [0, 1]), each of its bins spread evenly over its width."""
    bins = len(edges) - 1
    counts = reference_histogram(profile).counts
    spread = np.zeros(bins)
    if is_discrete(profile):
        values = np.clip(np.asarray(profile.values, dtype=float), 0.0, 1.0)
        np.add.at(spread, np.clip((values * bins).astype(int), 0, bins - 1), counts)
        return spread
    own = numeric_edges(profile).copy()
    own[0], own[-1] = min(profile.min, own[1]), max(profile.max, own[-2])  # the open ends: the training range
    own = np.clip(own, 0.0, 1.0)
    for low, high, count in zip(own[:-1], own[1:], counts, strict=True):
        if count <= 0:
            continue
        if high <= low:  # a bin of one value
            spread[min(int(low * bins), bins - 1)] += count
            continue
        overlap = np.clip(np.minimum(edges[1:], high) - np.maximum(edges[:-1], low), 0.0, None)
        spread += count * overlap / (high - low)
    return spread


def classification_view(
    settings: Settings,
    *,
    session: Session,
    window: Window,
    totals: pd.DataFrame,
    version: int | None,
    include_shadow: bool,
    drift_version: int | None,
) -> ClassificationView:
    """Everything Monitoring shows for a classifier; ``totals`` are the hourly totals of both windows, all rows."""
    name, previous_window = settings.model_name, window.previous()
    predicted = rollups.label_counts(session, model_name=name, kind=PREDICTED, start=window.start, end=window.end)
    confusion = rollups.label_counts(
        session, model_name=name, kind=CONFUSION, start=previous_window.start, end=window.end, by_hour=True
    )
    every_score = rollups.score_counts(session, model_name=name, start=window.start, end=window.end)
    everyone = every_score["class_name"] == rollups.ALL_SCORES
    scores, score_bins = every_score[~everyone], every_score[everyone]
    classes = sorted_classes(
        [*predicted.get("predicted", []), *confusion.get("actual", []), *scores.get("class_name", [])]
    )
    now_totals, now_confusion = in_window(totals, window), in_window(confusion, window)

    def chosen(frame: pd.DataFrame) -> pd.DataFrame:
        return select_rows(frame, version=version, include_shadow=include_shadow)

    current = _metrics(chosen(now_totals), chosen(now_confusion), chosen(scores), classes)
    previous = _metrics(
        chosen(in_window(totals, previous_window)),
        chosen(in_window(confusion, previous_window)),
        scores.iloc[0:0],
        classes,
    )
    rows, daily = [], []
    pairs = now_totals[["model_version", "is_shadow"]].drop_duplicates() if not now_totals.empty else now_totals
    serving = None
    for model_version, shadow in pairs.itertuples(index=False):
        model_version, shadow = int(model_version), bool(shadow)
        its_totals, its_confusion = _of(now_totals, model_version, shadow), _of(now_confusion, model_version, shadow)
        its_scores = _of(scores, model_version, shadow)
        metrics = _metrics(its_totals, its_confusion, its_scores, classes)
        if model_version == drift_version and not shadow:
            serving = metrics
        rows.append({"version": model_version, "role": "shadow" if shadow else "answered", **_row(metrics)})
        days = its_totals.assign(day=pd.to_datetime(its_totals["hour"], utc=True).dt.floor("D"))
        confusion_days = its_confusion.assign(day=pd.to_datetime(its_confusion["hour"], utc=True).dt.floor("D"))
        for day, day_totals in days.groupby("day"):
            day_metrics = _metrics(
                day_totals,
                confusion_days[confusion_days["day"] == day],
                its_scores[its_scores["day"] == day] if not its_scores.empty else its_scores,
                classes,
            )
            daily.append({"day": day, "series": _series(model_version, shadow), **_row(day_metrics)})
    metric_names = ["predictions", "labelled", "coverage", *METRIC_COLUMNS]
    by_version = pd.DataFrame(rows, columns=["version", "role", *metric_names])
    over_time = pd.DataFrame(daily, columns=["day", "series", *metric_names])
    thresholds = DriftThresholds.from_settings(settings)
    profile = holdout = None
    if drift_version is not None:
        profile = reference_profile(settings, session=session, model_version=drift_version)
        holdout = classification_holdout(settings, session=session, model_version=drift_version)
    drift_rows = select_rows(predicted, version=drift_version, include_shadow=include_shadow)
    drift_bins = select_rows(score_bins, version=drift_version, include_shadow=include_shadow)
    return ClassificationView(
        classes=classes,
        current=current,
        previous=previous,
        serving=serving,
        by_version=by_version.sort_values(["version", "role"]).reset_index(drop=True),
        over_time=over_time.sort_values(["day", "series"]).reset_index(drop=True),
        confusion=confusion_matrix(chosen(now_confusion), classes),
        scores=chosen(scores),
        agreement=_agreement(now_totals),
        label_drift=label_drift(profile, drift_rows, thresholds) if drift_version is not None else None,
        score_drift=score_drift(profile, drift_bins, thresholds) if drift_version is not None else None,
        holdout=holdout or {},
        score_shares=score_shares(profile.prediction_profile, drift_bins) if profile is not None else None,
    )


def _agreement(totals: pd.DataFrame) -> pd.DataFrame:
    """Shadow rows per version: how many were compared with the answer they shadow, and the share that agreed."""
    columns = ["version", "compared", "agreed", "agreement"]
    shadows = totals[totals["is_shadow"].astype(bool)] if not totals.empty else totals
    if shadows.empty:
        return pd.DataFrame(columns=columns)
    grouped = shadows.groupby("model_version", as_index=False)[["compared", "agreed"]].sum()
    grouped = grouped[grouped["compared"] > 0].rename(columns={"model_version": "version"})
    grouped["agreement"] = grouped["agreed"] / grouped["compared"]
    return grouped[columns].reset_index(drop=True)


def in_percent(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of a metrics table with its shares (coverage, accuracy, precision, recall, F1, agreement) × 100,
    for columns formatted ``81.9%``; ROC AUC, log loss and counts unchanged."""
    shown = frame.copy()
    for column in (*SHARE_METRICS, "agreement"):
        if column in shown.columns:
            shown[column] = pd.to_numeric(shown[column], errors="coerce") * 100
    return shown
