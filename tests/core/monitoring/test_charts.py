"""The Monitoring figures carry the data they are given; KPI strings colour changes for the worse."""

from __future__ import annotations

import numpy as np
import pandas as pd

from core.dataset import load_diamonds
from core.monitoring import charts
from core.monitoring.drift import Distribution, FeatureDrift, current_counts, drift_report
from core.monitoring.snapshot import Kpi
from core.profile import build_profile

HOURS = pd.date_range("2026-03-01", periods=3, freq="h", tz="UTC")


def test_latency_and_throughput_figures() -> None:
    latency = pd.DataFrame({"hour": HOURS, "p50": [10.0, 11.0, 12.0], "p95": [30.0, 31.0, 40.0], "p99": [50.0, 60, 90]})
    throughput = pd.DataFrame(
        {"hour": [*HOURS, HOURS[0]], "series": ["v1", "v1", "v1", "v2 (shadow)"], "predictions": [5, 6, 7, 5]}
    )

    figure = charts.latency_figure(latency)
    bars = charts.throughput_figure(throughput)

    assert [trace.name for trace in figure.data] == ["p50", "p95", "p99"]
    assert list(figure.data[1].y) == [30.0, 31.0, 40.0] and figure.layout.yaxis.type == "log"
    assert {trace.name: sum(trace.y) for trace in bars.data} == {"v1": 18, "v2 (shadow)": 5}
    assert bars.layout.template.layout.paper_bgcolor is not None  # the shared dark template


def test_prediction_error_and_residual_figures() -> None:
    quantiles = pd.DataFrame(
        {"hour": HOURS, "series": "v1", "p10": [1.0, 2, 3], "p50": [5.0, 6, 7], "p90": [9.0, 9, 9]}
    )
    errors = pd.DataFrame({"hour": HOURS, "series": "v1", "feedback": 3, "mae": [1.0, 2, 3], "rmse": [2.0, 3, 4]})
    residuals = pd.DataFrame({"series": "v1", "low": [-10.0, 0.0], "high": [0.0, 10.0], "count": [1, 3]})

    band = charts.prediction_figure(quantiles)
    error = charts.error_figure(errors)
    residual = charts.residual_figure(residuals)

    assert [trace.name for trace in band.data][-1] == "v1 median" and list(band.data[-1].y) == [5.0, 6.0, 7.0]
    assert [list(trace.y) for trace in error.data] == [[1.0, 2.0, 3.0], [2.0, 3.0, 4.0]]
    assert list(residual.data[0].x) == [-5.0, 5.0] and list(residual.data[0].y) == [0.25, 0.75]


def test_drift_overlay_and_table() -> None:
    frame = load_diamonds().drop(columns=["price"])
    profile = build_profile(frame)
    report = drift_report(profile, current_counts(profile, frame.assign(carat=frame["carat"] * 1.3)))
    carat = next(item for item in report.features if item.feature == "carat")
    cut = next(item for item in report.features if item.feature == "cut")

    numeric = charts.drift_overlay_figure(carat)
    levels = charts.drift_overlay_figure(cut)
    table = charts.drift_table(report)

    assert [trace.name for trace in numeric.data] == ["reference", "current"]
    # Drawn as cumulative shares (uneven quantile bins cannot fake a peak): rising to 1, never falling.
    for trace, shares in zip(numeric.data, (carat.distribution.reference, carat.distribution.current), strict=True):
        cumulative = np.asarray(trace.y, dtype=float)
        assert np.all(np.diff(cumulative) >= 0) and np.isclose(cumulative[-1], 1.0)
        assert np.allclose(np.diff(cumulative, prepend=0.0), shares)
    # The current (carat × 1.3) curve lies below the reference: fewer rows at or below any small carat.
    middle = len(numeric.data[0].y) // 2
    assert numeric.data[1].y[middle] < numeric.data[0].y[middle]
    assert numeric.layout.yaxis.title.text == "share of rows with carat at or below"
    assert "drifted" in numeric.layout.title.text
    assert list(levels.data[0].x) == ["Fair", "Good", "Very Good", "Premium", "Ideal"]
    assert list(table.columns[:6]) == ["feature", "kind", "method", "statistic", "rule", "threshold"]
    assert table.set_index("feature").loc["carat", "verdict"] == "drifted"


def test_kpi_display() -> None:
    assert charts.kpi_display(Kpi("Latency p95", 42.0, 40.0, "ms")) == ("42.0 ms", "+2.0 ms", "inverse")
    assert charts.kpi_display(Kpi("Predictions", 1200, 1000, "count", higher_is_worse=False)) == (
        "1,200",
        "+200",
        "normal",
    )
    assert charts.kpi_display(Kpi("Drift share", 0.25, 0.0, "share")) == ("25.0%", "+25.0 pp", "inverse")
    assert charts.kpi_display(Kpi("Realised MAE", None, 3.0, "value")) == ("—", None, "off")


def drift_of(method: str, statistic: float) -> FeatureDrift:
    return FeatureDrift(
        feature="predicted label",
        kind="categorical",
        method=method,
        statistic=statistic,
        threshold=0.05 if method in ("ks", "chisquare") else 0.1,
        drifted=True,
        psi=1.0,
        reference_count=426,
        current_count=1_993,
        distribution=Distribution(labels=["benign", "malignant"], reference=[0.6, 0.4], current=[0.4, 0.6]),
    )


def test_tiny_p_values_read_the_same_in_the_table_titles_and_sentences() -> None:
    tiny, plain_p, distance = drift_of("chisquare", 1.12e-95), drift_of("ks", 0.0312), drift_of("wasserstein", 0.5)

    assert charts.statistic_text(tiny) == "< 0.0001" and charts.drift_test_text(tiny) == "chisquare p < 0.0001"
    assert charts.statistic_text(plain_p) == "0.0312" and charts.drift_test_text(plain_p) == "ks p = 0.0312"
    assert charts.drift_test_text(distance) == "wasserstein 0.5000"
    full = charts.drift_overlay_figure(tiny)
    assert full.layout.title.text == "predicted label: chisquare p < 0.0001 (drifted, threshold 0.05)"
    # A half-width chart: a title that fits (the test and threshold are in the sentence above it).
    assert charts.drift_overlay_figure(tiny, short_title=True).layout.title.text == "predicted label: drifted"


def test_the_drift_table_shows_small_p_values_readably() -> None:
    # A small reference (426 rows, as the demo classifier's) is judged by p-values (KS, chi-square).
    frame = load_diamonds().drop(columns=["price"])
    profile = build_profile(frame.sample(426, random_state=0))
    current = frame.sample(2_000, random_state=1)
    report = drift_report(profile, current_counts(profile, current.assign(carat=current["carat"] * 1.3)))

    table = charts.drift_table(report)

    statistics = dict(zip(table["feature"], table["statistic"], strict=True))
    carat = next(item for item in report.features if item.feature == "carat")
    assert carat.method == "ks" and carat.statistic < 1e-10 and statistics["carat"] == "< 0.0001"
    for item in report.features:
        assert statistics[item.feature] == charts.statistic_text(item)
    assert "0.0000" not in statistics.values()


def test_a_classifiers_score_chart_says_what_the_score_is() -> None:
    quantiles = pd.DataFrame({"hour": HOURS, "series": "v1", "p10": [0.1] * 3, "p50": [0.5] * 3, "p90": [0.9] * 3})

    regressor = charts.prediction_figure(quantiles)
    classifier = charts.prediction_figure(quantiles, answer="P(malignant)")

    assert regressor.layout.title.text == "Prediction distribution"
    assert classifier.layout.title.text == "Score distribution: P(malignant)"
    assert classifier.layout.yaxis.title.text == "P(malignant)" and list(classifier.layout.yaxis.range) == [0, 1]


def test_the_versions_caption_follows_what_is_shown() -> None:
    shown = charts.versions_caption(shadow_shown=True, include_shadow=False, measure="metrics")
    hidden = charts.versions_caption(shadow_shown=False, include_shadow=False, measure="MAE")
    none = charts.versions_caption(shadow_shown=False, include_shadow=True, measure="MAE")

    assert "compare like with like" in shown and "Include shadow" not in shown
    assert "Turn on **Include shadow**" in hidden
    assert none.startswith("No shadow rows in this window") and "Include shadow" not in none


def test_the_latency_axis_ticks_whole_decades_only() -> None:
    hourly = pd.DataFrame({"hour": pd.date_range("2026-03-01", periods=3, freq="h"), "p50": [1.5, 3.0, 40.0]})
    hourly = hourly.assign(p95=hourly["p50"] * 5, p99=hourly["p50"] * 20)

    axis = charts.latency_figure(hourly).layout.yaxis

    # 1, 10, 100, 1,000 ms: never plotly's minor labels "2, 5" that read as values without their decade.
    assert axis.type == "log" and axis.dtick == 1 and axis.tickformat == ",~g"
