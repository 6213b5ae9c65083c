"""The Monitoring page split by a categorical feature (worst segment first) and its multivariate drift."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from core.dataset import load_diamonds
from core.monitoring.simulator import bulk_log, simulated_latencies
from storage.db import make_engine, make_sessionmaker, migrate
from tests.pages.helpers import open_page, readable


def seed(settings, *, rows: int) -> None:
    """A day of diamonds whose Ideal cuts come 40 % heavier (carat) and 3× as wrong; other cuts as in training."""
    rng = np.random.default_rng(5)
    data = load_diamonds().sample(rows, replace=True, random_state=2).reset_index(drop=True)
    features = data.drop(columns=["price"]).astype({"cut": str, "color": str, "clarity": str})
    ideal = (features["cut"] == "Ideal").to_numpy()
    features.loc[ideal, "carat"] = features.loc[ideal, "carat"] * 1.4
    noise = np.where(ideal, 0.3, 0.1)
    now = datetime.now(UTC)
    stamps = [now - timedelta(hours=float(h)) for h in np.sort(rng.random(rows))[::-1] * 20]
    engine = make_engine(settings.database_url)
    migrate(engine)
    with make_sessionmaker(engine).begin() as session:
        bulk_log(
            session,
            features=features,
            predictions=data["price"].to_numpy() * rng.normal(1, noise, rows),
            timestamps=stamps,
            model_name=settings.model_name,
            model_version=1,
            latency_ms=simulated_latencies(rows, rng=rng),
            actuals=data["price"].to_numpy(float),
            label_share=0.5,
        )
    engine.dispose()


@pytest.mark.slow
def test_split_by_cut_puts_the_drifted_segment_first_in_every_figure(registry_home) -> None:
    seed(registry_home, rows=20_000)
    app = open_page("pages/4_Monitoring.py").run()
    assert not app.exception
    split = app.selectbox(key="monitoring_split_by")
    assert {"cut", "color", "clarity"} <= set(split.options[1:])
    assert "Choose a feature in **Split by**" in readable(" ".join(str(info.value) for info in app.info))
    # Multivariate drift of the window, read from the roll-ups against the reference's band.
    multivariate = next(chart for chart in app.get("plotly_chart") if "reconstruction error" in chart.proto.spec)
    assert json.loads(multivariate.proto.spec)["data"][0]["name"] == "reference band"

    split.set_value("cut").run()

    assert not app.exception
    table = next(frame.value for frame in app.dataframe if "drift_share" in frame.value.columns)
    assert table.iloc[0]["value"] == "Ideal" and "carat" in table.iloc[0]["drifted"]
    assert (table.iloc[1:]["drift_share"].fillna(0) == 0).all()
    assert table["predictions"].sum() == 20_000 and set(table["value"]) <= {
        "Ideal",
        "Premium",
        "Very Good",
        "Good",
        "Fair",
    }
    by_mae = table.sort_values("mae", ascending=False)
    assert by_mae.iloc[0]["value"] == "Ideal"  # the 3× noisier answers
    charts = {chart.key: json.loads(chart.proto.spec) for chart in app.get("plotly_chart") if chart.key}
    drift = charts["monitoring_segment_drift"]["data"][0]
    assert drift["x"][0] == "Ideal" and drift["y"][0] > 0
    assert charts["monitoring_segment_mae"]["data"][0]["x"][0] == "Ideal"
    volume = charts["monitoring_segment_volume"]["data"][0]
    assert volume["y"] == sorted(volume["y"], reverse=True) and sum(volume["y"]) == 20_000
    assert "monitoring_segment_heatmap" in charts and "monitoring_segment_multivariate" in charts
