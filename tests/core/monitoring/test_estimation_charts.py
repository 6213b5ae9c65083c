"""The estimated-performance figure: band, estimate and realised points as the frame gives them."""

from __future__ import annotations

import numpy as np
import pandas as pd

from core.monitoring.estimation_charts import estimated_figure


def _over_time() -> pd.DataFrame:
    periods = pd.date_range("2026-03-01", periods=4, freq="D", tz="UTC")
    rows = []
    for index, period in enumerate(periods):
        rows.append({"period": period, "metric": "mae", "value": 100.0 + index, "low": 90.0, "high": 110.0 + index})
        rows.append({"period": period, "metric": "accuracy", "value": 0.9, "low": 0.85, "high": 0.95})
    frame = pd.DataFrame(rows)
    frame["realised"] = np.where((frame["metric"] == "mae") & (frame.index < 4), 105.0, np.nan)
    return frame


def test_the_band_surrounds_the_estimate_and_realised_points_only_where_known() -> None:
    figure = estimated_figure(_over_time(), "mae", unit="USD", daily=True)

    band, estimate, realised = figure.data
    assert band.fill == "toself" and list(band.y) == [110.0, 111.0, 112.0, 113.0, 90.0, 90.0, 90.0, 90.0]
    assert list(estimate.y) == [100.0, 101.0, 102.0, 103.0]
    assert list(realised.y) == [105.0, 105.0] and realised.mode == "markers"
    assert figure.layout.yaxis.title.text == "MAE (USD)" and figure.layout.xaxis.title.text == "day (UTC)"


def test_shares_are_drawn_in_percent_and_no_realised_trace_without_true_values() -> None:
    figure = estimated_figure(_over_time(), "accuracy")

    assert len(figure.data) == 2  # band and estimate: nothing realised yet
    assert list(figure.data[1].y) == [90.0] * 4 and figure.layout.yaxis.title.text == "accuracy (%)"


def test_a_unit_tag_is_text_in_the_axis_title() -> None:
    figure = estimated_figure(_over_time(), "mae", unit="<b>USD</b>")

    assert figure.layout.yaxis.title.text == "MAE (&lt;b&gt;USD&lt;/b&gt;)"
