"""The Monitoring page's estimated performance: the trained version's DLE estimates next to the realised MAE."""

from __future__ import annotations

import json

import pytest

from tests.pages.helpers import open_page, readable
from tests.pages.test_monitoring_segments import seed


@pytest.mark.slow
def test_the_performance_tab_shows_estimated_mae_with_band_and_realised(registry_home) -> None:
    seed(registry_home, rows=5_000)  # version 1 was trained by Loupe: its DLE estimator was fitted then

    app = open_page("pages/4_Monitoring.py").run()

    assert not app.exception
    metrics = {metric.label: metric.value for metric in app.metric}
    assert "Estimated MAE" in metrics and "Estimated RMSE" in metrics
    captions = readable(" ".join(str(caption.value) for caption in app.caption))
    assert "direct loss estimation" in captions and "realised $" in captions
    figure = next(chart for chart in app.get("plotly_chart") if "Estimated MAE" in chart.proto.spec)
    names = [trace["name"] for trace in json.loads(figure.proto.spec)["data"]]
    assert names == ["± 3 standard errors", "estimated MAE", "realised MAE"]
