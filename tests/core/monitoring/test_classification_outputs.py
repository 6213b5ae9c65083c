"""A classifier's output drift (labels, scores), metric alerts and figures, on counts as the roll-ups give them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.spatial import distance

from core.monitoring.alerts import MIN_LABELLED, classifier_alerts
from core.monitoring.classification import ClassifierMetrics, calibration
from core.monitoring.classification_charts import (
    calibration_figure,
    confusion_figure,
    metric_over_time_figure,
    score_distribution_figure,
)
from core.monitoring.classification_view import in_percent, label_drift, score_drift, score_shares
from core.monitoring.drift import DriftThresholds
from core.profile import CategoricalProfile, TrainingProfile, profile_predictions
from storage import rollups


def profile(rows: int, levels: list[str], counts: list[int], scores: np.ndarray | None = None) -> TrainingProfile:
    return TrainingProfile(
        row_count=rows,
        features={},
        target="y",
        target_profile=CategoricalProfile(name="y", levels=levels, counts=counts),
        prediction_profile=None if scores is None else profile_predictions(scores),
    )


def predicted(counts: dict[str, int]) -> pd.DataFrame:
    return pd.DataFrame({"predicted": list(counts), "count": list(counts.values())})


def test_label_drift_uses_chi_square_on_a_small_reference_and_jensen_shannon_on_a_large_one() -> None:
    small = label_drift(
        profile(1_000, ["no", "yes"], [900, 100]), predicted({"no": 700, "yes": 300}), DriftThresholds()
    )
    assert small is not None and small.method == "chisquare" and small.drifted
    expected = stats.chisquare([700, 300], [900, 100]).pvalue
    assert small.statistic == pytest.approx(expected)

    large = profile(5_000, ["no", "yes"], [4_500, 500])
    same = label_drift(large, predicted({"no": 880, "yes": 120}), DriftThresholds())
    moved = label_drift(large, predicted({"no": 500, "yes": 500}), DriftThresholds())
    assert same.method == moved.method == "jensenshannon"
    assert same.statistic == pytest.approx(distance.jensenshannon([4_500, 500], [880, 120]))
    assert not same.drifted and moved.drifted


def test_label_drift_reads_float_labels_of_the_reference_as_the_log_writes_them() -> None:
    drift = label_drift(profile(100, ["0.0", "1.0"], [50, 50]), predicted({"0": 10, "1": 10}), DriftThresholds())
    assert drift is not None and drift.distribution.labels == ["0", "1"] and not drift.drifted


def score_bins(scores: np.ndarray) -> pd.DataFrame:
    buckets = pd.Series(rollups.score_bucket(scores)).value_counts()
    return pd.DataFrame({"bucket": buckets.index, "count": buckets.to_numpy()})


def test_score_drift_compares_the_fixed_score_bins_with_the_reference_scores() -> None:
    rng = np.random.default_rng(0)
    reference = profile(5_000, ["no", "yes"], [2_500, 2_500], scores=rng.beta(2, 5, 5_000))
    same = score_drift(reference, score_bins(rng.beta(2, 5, 3_000)), DriftThresholds())
    moved = score_drift(reference, score_bins(rng.beta(5, 2, 3_000)), DriftThresholds())
    assert same is not None and moved is not None
    assert same.method == "wasserstein" and not same.drifted and moved.drifted
    assert same.current_count == 3_000
    assert score_drift(profile(10, ["a"], [10]), score_bins(rng.random(5)), DriftThresholds()) is None  # no scores


def metrics(**figures) -> ClassifierMetrics:
    return ClassifierMetrics(predictions=1_000, labelled=figures.pop("labelled", 300), **figures)


def test_a_metric_alert_fires_when_the_realised_value_is_a_margin_worse_than_the_holdout(settings) -> None:
    holdout = {"accuracy": 0.95, "f1": 0.9, "roc_auc": 0.98, "log_loss": 0.12}
    fired = classifier_alerts(metrics(accuracy=0.85, f1=0.8, roc_auc=0.9, log_loss=0.30), holdout, settings, version=3)
    assert [alert.rule for alert in fired] == ["accuracy", "f1", "roc_auc", "log_loss"]
    # Shares as percentages with one decimal, their gaps in points; ROC AUC and log loss to three places.
    assert fired[0].message.startswith(
        "Realised accuracy: 85.0% on 300 labelled predictions (30.0% of them) is below version 3's holdout 95.0% "
        "by 10.0 pp (alert at 5 pp or more)"
    )
    assert fired[1].message.startswith("Realised F1: 80.0% on 300")
    assert (
        fired[2].message.startswith("Realised ROC AUC: 0.9000 on 300")
        and "holdout 0.9800 by 0.0800" in fired[2].message
    )
    assert "Realised log loss: 0.300" in fired[3].message and "above version 3's holdout 0.120" in fired[3].message
    assert "(alert at 0.05 or more)" in fired[3].message
    assert fired[0].threshold == pytest.approx(0.90)
    assert classifier_alerts(metrics(accuracy=0.91), holdout, settings, version=3) == []
    few = metrics(accuracy=0.5, labelled=MIN_LABELLED - 1)
    assert classifier_alerts(few, holdout, settings, version=3) == []
    off = settings.model_copy(update={"alert_metric_margin": None})
    assert classifier_alerts(metrics(accuracy=0.5), holdout, off, version=3) == []
    assert classifier_alerts(metrics(accuracy=0.5), {}, settings, version=3) == []  # no holdout: nothing to compare


def test_the_confusion_figure_shows_counts_coloured_by_share_of_the_true_class() -> None:
    matrix = pd.DataFrame([[8, 2], [1, 9]], index=["no", "yes"], columns=["no", "yes"])
    heatmap = confusion_figure(matrix).data[0]
    assert list(heatmap.x) == ["no", "yes"] and list(heatmap.y) == ["no", "yes"]
    assert np.asarray(heatmap.text).tolist() == [[8, 2], [1, 9]]
    assert np.allclose(np.asarray(heatmap.z), [[0.8, 0.2], [0.1, 0.9]])


def test_the_calibration_figure_draws_the_curve_against_the_diagonal() -> None:
    scores = pd.DataFrame(
        {"class_name": "yes", "is_true": [True, False, True, True], "bucket": [150, 150, 850, 850], "count": 1}
    )
    curve = calibration(scores, "yes")
    figure = calibration_figure(curve, "yes")
    diagonal, observed = figure.data
    assert list(diagonal.x) == [0, 1]
    assert np.allclose(observed.x, [0.1505, 0.8505]) and np.allclose(observed.y, [0.5, 1.0])
    assert [row[0] for row in observed.customdata] == [2, 2]


def test_metric_over_time_draws_each_series_and_its_coverage() -> None:
    days = pd.to_datetime(["2026-03-01", "2026-03-02"], utc=True)
    frame = pd.DataFrame(
        {
            "day": [*days, *days],
            "series": ["v1", "v1", "v2 (shadow)", "v2 (shadow)"],
            "predictions": [100, 100, 100, 100],
            "labelled": [30, 40, 20, 40],
            "coverage": [0.3, 0.4, 0.2, 0.4],
            "accuracy": [0.9, 0.8, 0.85, 0.7],
            "roc_auc": [0.91, 0.92, 0.81, 0.82],
        }
    )
    figure = metric_over_time_figure(frame, "accuracy")
    names = [trace.name for trace in figure.data]
    assert names == ["v1 Accuracy", "v2 (shadow) Accuracy", "v1 label coverage", "v2 (shadow) label coverage"]
    assert list(figure.data[1].y) == pytest.approx([85.0, 70.0]) and list(figure.data[3].y) == pytest.approx([20, 40])
    assert figure.layout.yaxis.ticksuffix == "%"  # accuracy as a percentage, like everywhere else
    assert figure.data[2].yaxis == "y2" and figure.data[2].line.dash != figure.data[3].line.dash
    assert figure.data[0].marker.symbol != figure.data[1].marker.symbol  # versions told apart without colour
    # The coverage axis: all of 0–100 %, round ticks; the legend above the plot, clear of the axis titles.
    assert list(figure.layout.yaxis2.range) == [0, 100] and list(figure.layout.yaxis2.ticktext) == [
        "0%",
        "25%",
        "50%",
        "75%",
        "100%",
    ]
    assert figure.layout.legend.yanchor == "bottom" and figure.layout.legend.y >= 1
    assert figure.layout.margin.t >= 80  # room for the title above the legend
    assert figure.layout.xaxis.dtick == 86_400_000  # one tick a day, as there is one point a day
    # A shadow scored on the answers' feedback has the answer's coverage: one line named for both.
    same = frame.assign(coverage=[0.3, 0.4, 0.3, 0.4])
    shared = [trace.name for trace in metric_over_time_figure(same, "roc_auc").data if trace.yaxis == "y2"]
    assert shared == ["v1, v2 (shadow) label coverage"]
    assert list(metric_over_time_figure(same, "roc_auc").data[0].y) == [0.91, 0.92]  # not a share: as it is


def test_class_names_reach_plotly_escaped() -> None:
    matrix = pd.DataFrame([[1, 0], [0, 1]], index=["<b>a</b>", "b"], columns=["<b>a</b>", "b"])
    assert list(confusion_figure(matrix).data[0].x) == ["&lt;b&gt;a&lt;/b&gt;", "b"]
    scores = pd.DataFrame({"class_name": "<i>", "is_true": [True], "bucket": [10], "count": 1})
    assert "<i>" not in calibration_figure(calibration(scores, "<i>"), "<i>").layout.title.text


def test_scores_are_drawn_as_shares_on_equal_width_bins_of_zero_to_one() -> None:
    # A confident classifier: most scores pile up at 0 and 1, where a density on quantile bins shoots up.
    rng = np.random.default_rng(0)
    training = np.concatenate([rng.beta(0.3, 8, 3_000), rng.beta(8, 0.3, 2_000)])
    live = np.concatenate([rng.beta(0.3, 8, 1_000), rng.beta(8, 0.3, 2_000)])

    shares = score_shares(profile_predictions(training), score_bins(live))

    assert shares is not None and len(shares) == 20
    assert (
        np.allclose(shares["high"] - shares["low"], 0.05) and shares["low"].iloc[0] == 0 == 1 - shares["high"].iloc[-1]
    )
    assert shares["reference"].sum() == pytest.approx(1) and shares["current"].sum() == pytest.approx(1)
    exact = np.histogram(live, bins=20, range=(0, 1))[0] / len(live)
    assert np.allclose(shares["current"], exact, atol=1e-3)  # the roll-up's fine bins, merged
    spread = np.histogram(training, bins=20, range=(0, 1))[0] / len(training)
    assert np.abs(shares["reference"] - spread).max() < 0.03  # the profile's bins spread over their width
    assert shares["reference"].iloc[0] > 0.4 and shares["current"].iloc[-1] > 0.5
    assert score_shares(None, score_bins(live)) is None

    figure = score_distribution_figure(shares, "P(malignant)", drifted=True)
    reference, current = figure.data
    assert (reference.name, current.name) == ("reference", "current")
    assert list(current.y) == list(shares["current"]) and max(current.y) <= 1  # shares, never 33,000
    assert (
        figure.layout.title.text == "Scores: P(malignant) (drifted)"
        and figure.layout.xaxis.title.text == "P(malignant)"
    )
    assert list(figure.layout.xaxis.range) == [0, 1] and figure.layout.yaxis.tickformat == ".0%"
    assert "&lt;b&gt;" in score_distribution_figure(shares, "P(<b>)").layout.title.text


def test_metric_tables_show_shares_as_percentages() -> None:
    table = pd.DataFrame({"predictions": [1_993], "coverage": [0.3999], "accuracy": [0.819], "roc_auc": [0.983]})
    shown = in_percent(table)
    assert shown.iloc[0].to_dict() == pytest.approx(
        {"predictions": 1_993, "coverage": 39.99, "accuracy": 81.9, "roc_auc": 0.983}
    )
    assert table["coverage"].iloc[0] == 0.3999  # the view's own frame is left as it is
