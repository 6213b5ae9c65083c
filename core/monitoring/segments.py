"""Segments: every Monitoring figure split by a categorical feature, the worst segments first.

Which features can split: the categorical features of the version's reference with at most
``LOUPE_SEGMENT_MAX_VALUES`` levels (a team's model gets them from the reference attached to it). The
reference's levels are the segments; a logged value outside them counts as ``(other)``, none as
``(missing)``, so the roll-ups stay bounded whatever is logged. A version without a reference has no
segments (nothing bounds its values, and drift has nothing to compare with): the page says it needs one.

Per segment, from :mod:`storage.rollups.segments`: volume (predictions and share), realised performance
over the true values received (a regressor's MAE and RMSE, a classifier's accuracy), the mean multivariate
reconstruction error, the estimated performance when an estimator fills it (a regressor's estimated
absolute error, DLE; a classifier's estimated accuracy, CBPE), and input drift measured on the segment's
own feature bins against the segment's own reference (:mod:`core.monitoring.segment_reference`; per UTC
day: a window's segment drift covers the whole days it touches).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sqlalchemy.orm import Session

from core.monitoring.classification_view import is_classifier
from core.monitoring.drift import DriftReport, DriftThresholds, drift_report
from core.monitoring.drift_statistics import numeric_edges
from core.monitoring.estimation import DLE, Estimator, per_row_estimates
from core.monitoring.multivariate import reconstruction_errors
from core.monitoring.rollup_frames import select_rows
from core.monitoring.segment_reference import segment_profile, split_candidates
from core.monitoring.window_drift import current_from_rollups
from core.monitoring.windows import Window
from core.profile import CategoricalProfile, NumericProfile, TrainingProfile
from core.settings import Settings
from storage.rollups import segment_queries
from storage.rollups.segments import InputPlan


def split_features(profile: TrainingProfile | None, *, max_values: int) -> list[str]:
    """The reference's categorical features with at most ``max_values`` levels (and at least two)."""
    return [] if profile is None else split_candidates(profile.features, max_values=max_values)


def input_plan(
    settings: Settings, profile: TrainingProfile | None, *, estimator: Estimator | None = None
) -> InputPlan | None:
    """What the refresh rolls up from a version's inputs beyond feature bins (``None``: no reference).

    ``estimator``: the version's performance estimator; a regressor's (DLE) estimated absolute error is summed
    per segment too. (A classifier's expected correctness needs its probabilities: the refresh's estimator pass
    reads them and hands each row's expected correctness to the segments, see
    :func:`storage.rollups.estimates.add_estimates`.)
    """
    if profile is None:
        return None
    binning = {
        name: numeric_edges(feature) if isinstance(feature, NumericProfile) else None
        for name, feature in profile.features.items()
    }
    segments = {
        name: frozenset(feature.levels)
        for name, feature in profile.features.items()
        if name in split_features(profile, max_values=settings.segment_max_values)
        and isinstance(feature, CategoricalProfile)
    }
    fit = profile.multivariate
    errors: Callable[[pd.DataFrame], np.ndarray] | None = None
    if fit is not None:

        def errors(frame: pd.DataFrame) -> np.ndarray:
            return reconstruction_errors(fit, frame)

    estimates: Callable[[pd.DataFrame, pd.DataFrame], np.ndarray] | None = None
    if estimator is not None and estimator.method == DLE:

        def estimates(rows: pd.DataFrame, frame: pd.DataFrame) -> np.ndarray:
            # The estimator reads inputs as the log keeps them (JSON text): written back in one vectorised call.
            texts = frame.to_json(orient="records", lines=True).splitlines() if len(frame) else []
            logged = pd.DataFrame({"prediction": rows["prediction"].to_numpy(float), "inputs": texts})
            found = per_row_estimates(estimator, logged).abs_error
            return np.full(len(rows), np.nan) if found is None else found

    return InputPlan(binning=binning, segments=segments, errors=errors, estimates=estimates)


@dataclass(frozen=True)
class SegmentView:
    """One split of the window: a row per segment, and the segments' drift reports."""

    feature: str
    drift_version: int | None
    # value, predictions, share, feedback, mae, rmse, accuracy, mv_error, estimated, estimated_accuracy,
    # drift_share, drifted (names): a regressor fills mae, rmse and estimated; a classifier accuracy and
    # estimated_accuracy.
    table: pd.DataFrame
    drift: dict[str, DriftReport]  # segment -> its drift report (segments with inputs of the drift version)
    classifier: bool = False

    @property
    def is_empty(self) -> bool:
        return self.table.empty

    def worst(self, column: str) -> pd.DataFrame:
        """The segments ordered worst first on ``column`` (lowest first for an accuracy; a missing figure last)."""
        lowest = column in LOWER_IS_WORSE
        return self.table.sort_values(column, ascending=lowest, na_position="last", kind="stable")

    def feature_statistics(self) -> pd.DataFrame:
        """Segment × feature drift statistic (rows: segments, worst drift share first), and its verdicts."""
        rows = []
        for segment, report in self.drift.items():
            for item in report.features:
                rows.append(
                    {
                        "segment": segment,
                        "feature": item.feature,
                        "statistic": item.statistic,
                        "method": item.method,
                        "verdict": item.verdict,
                    }
                )
        return pd.DataFrame(rows, columns=["segment", "feature", "statistic", "method", "verdict"])


def segment_view(
    settings: Settings,
    *,
    session: Session,
    window: Window,
    feature: str,
    version: int | None,
    drift_version: int | None,
    profile: TrainingProfile | None,
    include_shadow: bool,
) -> SegmentView:
    """The window's figures split by ``feature`` for the selected rows (``version`` None: all versions)."""
    name = settings.model_name
    totals = segment_queries.segment_totals(
        session, model_name=name, feature=feature, start=window.start, end=window.end
    )
    totals = select_rows(totals, version=version, include_shadow=include_shadow)
    summed = totals.groupby("value")[segment_queries.SEGMENT_COLUMNS].sum() if not totals.empty else None
    drift: dict[str, DriftReport] = {}
    if drift_version is not None and profile is not None:
        counts = segment_queries.segment_feature_counts(
            session,
            model_name=name,
            model_version=drift_version,
            split_feature=feature,
            start=window.start,
            end=window.end,
            include_shadow=include_shadow,
        )
        thresholds = DriftThresholds.from_settings(settings)
        for segment, rows in counts.groupby("split_value"):
            # Against the segment's own reference: a segment differs from the whole reference by nature.
            own = segment_profile(profile, feature, str(segment))
            if own is None:  # (other), (missing), or a profile built before segments were kept
                continue
            current = current_from_rollups(own, rows[["feature", "bucket", "count", "value_sum"]])
            drift[str(segment)] = drift_report(own, current, thresholds=thresholds)
    classifier = is_classifier(session, model_name=name, window=window)
    table = _table(summed, drift, classifier=classifier)
    return SegmentView(feature=feature, drift_version=drift_version, table=table, drift=drift, classifier=classifier)


TABLE_COLUMNS = ["value", "predictions", "share", "feedback", "mae", "rmse", "accuracy", "mv_error", "estimated"]
TABLE_COLUMNS += ["estimated_accuracy", "drift_share", "drifted"]
LOWER_IS_WORSE = {"accuracy", "estimated_accuracy"}


def _ratio(total: float, count: float) -> float | None:
    return float(total) / float(count) if count else None


def _table(summed: pd.DataFrame | None, drift: dict[str, DriftReport], *, classifier: bool) -> pd.DataFrame:
    if summed is None or summed.empty:
        return pd.DataFrame(columns=TABLE_COLUMNS)
    total = float(summed["predictions"].sum())
    rows = []
    for value, sums in summed.iterrows():
        feedback = int(sums["feedback"])
        report = drift.get(str(value))
        rows.append(
            {
                "value": str(value),
                "predictions": int(sums["predictions"]),
                "share": float(sums["predictions"]) / total if total else None,
                "feedback": feedback,
                "mae": None if classifier else _ratio(sums["abs_error_sum"], feedback),
                "rmse": math.sqrt(float(sums["sq_error_sum"]) / feedback) if feedback and not classifier else None,
                "accuracy": _ratio(sums["correct"], feedback) if classifier else None,
                "mv_error": _ratio(sums["mv_error_sum"], sums["mv_rows"]),
                # The same sums: a regressor's estimated |error|, a classifier's expected number correct.
                "estimated": None if classifier else _ratio(sums["estimated_sum"], sums["estimated_rows"]),
                "estimated_accuracy": _ratio(sums["estimated_sum"], sums["estimated_rows"]) if classifier else None,
                "drift_share": None if report is None else report.share,
                "drifted": [] if report is None else [item.feature for item in report.judged if item.drifted],
            }
        )
    frame = pd.DataFrame(rows, columns=TABLE_COLUMNS)
    # Worst first: the most drifted, then the largest realised error (a classifier's: the lowest realised
    # accuracy, then the lowest estimated one), then the busiest.
    if classifier:
        realised = 1.0 - frame["accuracy"].astype(float)
        estimated = 1.0 - frame["estimated_accuracy"].astype(float)
    else:
        realised, estimated = frame["mae"].astype(float), pd.Series(0.0, index=frame.index)
    order = frame.assign(
        _drift=frame["drift_share"].astype(float).fillna(-1.0),
        _realised=realised.fillna(-1.0),
        _estimated=estimated.fillna(-1.0),
    )
    order = order.sort_values(["_drift", "_realised", "_estimated", "predictions"], ascending=False, kind="stable")
    return order.drop(columns=["_drift", "_realised", "_estimated"]).reset_index(drop=True)
