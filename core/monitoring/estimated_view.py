"""Estimated performance of one window, and over time, next to the realised metric where true values came back.

Read from the estimate roll-ups (:mod:`storage.rollups.estimates`): a few rows per hour whatever the log size.

Bands are sampling-error bands, as NannyML draws them (± 3 standard errors):
- MAE: from the rows themselves — each row's realised |error| varies around its estimate with variance
  E[e²] − E[|e|]² (both estimated), so the window's MAE has standard error √Σ(sq − abs²) / n;
- RMSE: the reference's squared errors' coefficient of variation × the window's estimated MSE / √n, mapped
  through the square root;
- accuracy: each row is right with probability p, so √Σ p(1 − p) / n;
- F1 and ROC AUC: their spread over bootstrap samples of the reference, scaled by √(m / n).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sqlalchemy.orm import Session

from core.monitoring.classification_view import ClassificationView, _series
from core.monitoring.estimation import DLE, Estimator
from core.monitoring.estimators import NO_ESTIMATOR, estimator_of
from core.monitoring.rollup_frames import in_window, select_rows
from core.monitoring.windows import Window
from storage.rollups.estimates import estimate_bins, estimate_classes, estimate_totals

BAND_SE = 3.0
REGRESSION_METRICS = ("mae", "rmse")
CLASSIFICATION_METRICS = ("accuracy", "f1", "roc_auc")
DAILY_AFTER_HOURS = 72  # longer windows are shown per day, shorter ones per hour
SUM_COLUMNS = ["count", "abs_error_sum", "abs_error_sq_sum", "sq_error_sum", "correct_sum", "correct_var_sum"]


@dataclass(frozen=True)
class Estimate:
    """One estimated figure with its band, and the realised one where true values exist."""

    metric: str
    value: float | None
    low: float | None
    high: float | None
    realised: float | None = None


@dataclass(frozen=True)
class EstimatedPerformance:
    """The window's estimates (``method`` ``None``: no estimator, ``empty`` says why) and their series."""

    method: str | None
    rows: int = 0  # rows with an estimate in the window
    figures: list[Estimate] = field(default_factory=list)
    # period, metric, value, low, high, realised (per hour, or per day for long windows)
    over_time: pd.DataFrame = field(default_factory=pd.DataFrame)
    empty: str | None = None

    def figure(self, metric: str) -> Estimate | None:
        return next((item for item in self.figures if item.metric == metric), None)


def regression_estimates(sums: pd.Series, estimator: Estimator) -> dict[str, tuple[float, float, float] | None]:
    """Estimated MAE and RMSE (value, low, high) from summed estimate columns."""
    n = float(sums.get("count", 0))
    if n <= 0:
        return {"mae": None, "rmse": None}
    mae = sums["abs_error_sum"] / n
    spread = np.sqrt(max(sums["sq_error_sum"] - sums["abs_error_sq_sum"], 0.0)) / n
    mse = sums["sq_error_sum"] / n
    mse_se = estimator.payload.get("sq_error_cv", 0.0) * mse / np.sqrt(n)
    return {
        "mae": (mae, max(mae - BAND_SE * spread, 0.0), mae + BAND_SE * spread),
        "rmse": (np.sqrt(mse), np.sqrt(max(mse - BAND_SE * mse_se, 0.0)), np.sqrt(mse + BAND_SE * mse_se)),
    }


def expected_auc(bins: pd.DataFrame) -> float | None:
    """ROC AUC from rows binned by raw score, with the calibrated probability sum as the expected positives.

    Per class (one-vs-rest) and averaged; within a bin, ties count half."""
    values = []
    for _, its in bins.groupby("class_name"):
        summed = its.groupby("bucket")[["count", "probability_sum"]].sum().sort_index()
        positives = summed["probability_sum"].to_numpy(float)
        negatives = summed["count"].to_numpy(float) - positives
        below = np.concatenate([[0.0], np.cumsum(negatives)[:-1]])
        total = positives.sum() * negatives.sum()
        if total > 0:
            values.append(float((positives * (below + 0.5 * negatives)).sum() / total))
    return float(np.mean(values)) if values else None


def classification_estimates(
    sums: pd.Series, classes: pd.DataFrame, bins: pd.DataFrame, estimator: Estimator
) -> dict[str, tuple[float, float, float] | None]:
    """Estimated accuracy, F1 (binary: the second class; else macro) and ROC AUC with their bands."""
    n = float(sums.get("count", 0))
    if n <= 0:
        return {name: None for name in CLASSIFICATION_METRICS}
    accuracy = sums["correct_sum"] / n
    spread = np.sqrt(max(sums["correct_var_sum"], 0.0)) / n
    out: dict[str, tuple[float, float, float] | None] = {
        "accuracy": (accuracy, max(accuracy - BAND_SE * spread, 0.0), min(accuracy + BAND_SE * spread, 1.0))
    }
    per_class = classes.groupby("class_name")[["tp", "fp", "fn"]].sum()
    names = estimator.classes
    chosen = [names[1]] if len(names) == 2 else [name for name in names if name in per_class.index]
    f1s = []
    for name in chosen:
        if name in per_class.index:
            tp, fp, fn = per_class.loc[name, ["tp", "fp", "fn"]]
            f1s.append(2 * tp / (2 * tp + fp + fn) if (2 * tp + fp + fn) > 0 else 0.0)
    band = estimator.payload.get("band", {})
    for metric, value in (("f1", float(np.mean(f1s)) if f1s else None), ("roc_auc", expected_auc(bins))):
        if value is None:
            out[metric] = None
            continue
        half = BAND_SE * band.get(metric, 0.0) / np.sqrt(n)
        out[metric] = (value, max(value - half, 0.0), min(value + half, 1.0))
    return out


def estimated_performance(
    session: Session,
    *,
    model_name: str,
    window: Window,
    version: int | None,
    include_shadow: bool,
    estimator_version: int | None,
    realised: dict[str, float | None] | None = None,
    realised_over_time: pd.DataFrame | None = None,
) -> EstimatedPerformance:
    """The selected rows' estimates in ``window``; ``estimator_version`` (the drift version) decides the method.

    ``realised``: the window's realised figures by metric; ``realised_over_time``: period, metric, realised."""
    estimator = (
        None
        if estimator_version is None
        else estimator_of(session, model_name=model_name, model_version=estimator_version)
    )
    if estimator is None:
        return EstimatedPerformance(method=None, empty=NO_ESTIMATOR)

    def chosen(frame: pd.DataFrame) -> pd.DataFrame:
        return select_rows(in_window(frame, window), version=version, include_shadow=include_shadow)

    totals = chosen(estimate_totals(session, model_name=model_name, start=window.start, end=window.end))
    if totals.empty or totals["count"].sum() == 0:
        return EstimatedPerformance(method=estimator.method, empty="no estimated rows in this window yet")
    regressor = estimator.method == DLE
    classes = bins = pd.DataFrame()
    if not regressor:
        classes = chosen(estimate_classes(session, model_name=model_name, start=window.start, end=window.end))
        bins = chosen(estimate_bins(session, model_name=model_name, start=window.start, end=window.end))
    daily = window.hours > DAILY_AFTER_HOURS

    def period(frame: pd.DataFrame) -> pd.Series:
        hours = pd.to_datetime(frame["hour"], utc=True)
        return hours.dt.floor("D") if daily else hours

    def figures(sums: pd.Series, part_classes: pd.DataFrame, part_bins: pd.DataFrame) -> dict:
        if regressor:
            return regression_estimates(sums, estimator)
        return classification_estimates(sums, part_classes, part_bins, estimator)

    found = realised or {}
    window_figures = []
    for metric, value in figures(totals[SUM_COLUMNS].sum(), classes, bins).items():
        estimate, low, high = value if value is not None else (None, None, None)
        window_figures.append(Estimate(metric, estimate, low, high, realised=found.get(metric)))
    series = []
    # Grouped once: each period then reads its own few rows, not a mask over the whole window.
    by_period = totals.assign(period=period(totals)).groupby("period")[SUM_COLUMNS].sum()
    classes_of = dict(tuple(classes.groupby(period(classes)))) if not classes.empty else {}
    bins_of = dict(tuple(bins.groupby(period(bins)))) if not bins.empty else {}
    for moment, sums in by_period.iterrows():
        its = figures(sums, classes_of.get(moment, classes.iloc[0:0]), bins_of.get(moment, bins.iloc[0:0]))
        for metric, value in its.items():
            if value is not None:
                series.append(
                    {"period": moment, "metric": metric, "value": value[0], "low": value[1], "high": value[2]}
                )
    over_time = pd.DataFrame(series, columns=["period", "metric", "value", "low", "high"])
    if realised_over_time is not None and not realised_over_time.empty:
        over_time = over_time.merge(realised_over_time, on=["period", "metric"], how="left")
    else:
        over_time["realised"] = np.nan
    return EstimatedPerformance(
        method=estimator.method, rows=int(totals["count"].sum()), figures=window_figures, over_time=over_time
    )


def realised_regression_over_time(totals: pd.DataFrame, *, window: Window) -> pd.DataFrame:
    """Realised MAE and RMSE per period from the hourly totals (rows with feedback only)."""
    if totals.empty:
        return pd.DataFrame(columns=["period", "metric", "realised"])
    hours = pd.to_datetime(totals["hour"], utc=True)
    frame = totals.assign(period=hours.dt.floor("D") if window.hours > DAILY_AFTER_HOURS else hours)
    summed = frame.groupby("period")[["feedback", "abs_error_sum", "sq_error_sum"]].sum()
    summed = summed[summed["feedback"] > 0]
    out = pd.concat(
        [
            pd.DataFrame(
                {"period": summed.index, "metric": "mae", "realised": summed["abs_error_sum"] / summed["feedback"]}
            ),
            pd.DataFrame(
                {
                    "period": summed.index,
                    "metric": "rmse",
                    "realised": np.sqrt(summed["sq_error_sum"] / summed["feedback"]),
                }
            ),
        ],
        ignore_index=True,
    )
    return out


def window_estimates(
    session: Session,
    *,
    model_name: str,
    window: Window,
    version: int | None,
    include_shadow: bool,
    drift_version: int | None,
    totals: pd.DataFrame,
    classification: ClassificationView | None,
) -> EstimatedPerformance:
    """What the snapshot shows: estimates of the selected rows next to their realised figures.

    ``totals``: the selected rows' hourly totals (both windows); ``classification``: the classifier's view."""
    now = in_window(totals, window)
    realised: dict[str, float | None] = {}
    if classification is not None:
        current = classification.current
        realised = {"accuracy": current.accuracy, "f1": current.f1, "roc_auc": current.roc_auc}
        over = classification.over_time
        if drift_version is not None and not over.empty:
            # The realised series of the version the estimates are drawn for (its answered rows).
            mine = over[over["series"] == _series(drift_version, False)]
            over_time = mine.melt(id_vars=["day"], value_vars=list(CLASSIFICATION_METRICS), var_name="metric")
            realised_over_time = over_time.rename(columns={"day": "period", "value": "realised"})
        else:
            realised_over_time = None
    else:
        feedback = float(now["feedback"].sum()) if not now.empty else 0.0
        if feedback > 0:
            realised = {
                "mae": float(now["abs_error_sum"].sum() / feedback),
                "rmse": float(np.sqrt(now["sq_error_sum"].sum() / feedback)),
            }
        realised_over_time = realised_regression_over_time(now, window=window)
    if classification is not None and window.hours <= DAILY_AFTER_HOURS:
        realised_over_time = None  # the classifier's realised series is per day: not drawn against hours
    return estimated_performance(
        session,
        model_name=model_name,
        window=window,
        version=version,
        include_shadow=include_shadow,
        estimator_version=drift_version,
        realised=realised,
        realised_over_time=realised_over_time,
    )
