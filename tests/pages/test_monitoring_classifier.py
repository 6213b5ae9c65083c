"""The Monitoring page for a classifier a team registered with plain MLflow: what each tab shows, in one format."""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from core.monitoring.simulator import bulk_log, simulated_latencies
from storage.db import make_engine, make_sessionmaker, migrate
from tests.pages.helpers import failures, open_page, readable
from tests.pages.test_monitoring import classifier_home, log_classified

SHARE = re.compile(r"\d+\.\d%")


def page() -> AppTest:
    return open_page("pages/4_Monitoring.py")


@pytest.fixture
def classifier(tmp_path, monkeypatch):
    yield from classifier_home(tmp_path, monkeypatch)


@pytest.fixture
def classified_page(classifier) -> AppTest:
    settings, registered = classifier
    log_classified(settings, registered.version, label_share=0.6, skill=0.1)  # far below its holdout: alerts
    app = page().run()
    assert not app.exception
    return app


def values(encoded) -> list[float]:
    """A trace's numbers from the figure's JSON (plotly writes arrays as base64 with their dtype)."""
    if isinstance(encoded, dict):
        return np.frombuffer(base64.b64decode(encoded["bdata"]), dtype=encoded["dtype"]).tolist()
    return list(encoded)


def with_column(app: AppTest, column: str):
    """The first table holding ``column`` (AppTest does not find tables by key)."""
    return next(frame for frame in app.dataframe if column in frame.value.columns)


def column_formats(frame) -> dict[str, str | None]:
    config = json.loads(frame.proto.columns)
    return {name: column.get("type_config", {}).get("format") for name, column in config.items()}


def titles(app: AppTest) -> list[str]:
    return [json.loads(chart.proto.spec)["layout"]["title"]["text"] for chart in app.get("plotly_chart")]


def captions(app: AppTest) -> str:
    return "\n".join(readable(caption.value) for caption in app.caption)


def test_champion_vs_challenger_shows_only_the_classifiers_tables(classified_page) -> None:
    app = classified_page

    shown = [set(frame.value.columns) for frame in app.dataframe]
    assert not any({"mean_prediction", "mae", "rmse", "feedback"} & columns for columns in shown)  # no regressor table
    assert sum("agreement" in columns for columns in shown) == 1
    assert "compare like with like" in captions(app) and "Include shadow" not in captions(app)

    app.toggle(key="monitoring_shadow").set_value(True).run()

    assert not app.exception
    assert not any({"mean_prediction", "mae"} & set(frame.value.columns) for frame in app.dataframe)
    assert "compare like with like" in captions(app) and "Include shadow" not in captions(app)


def test_a_classifiers_figures_read_in_one_format(classified_page) -> None:
    app = classified_page

    metrics = {metric.label: metric.value for metric in app.metric}
    assert SHARE.fullmatch(metrics["Realised accuracy"]) and SHARE.fullmatch(metrics["Label coverage"])
    alerts = [failure for failure in failures(app) if failure.startswith("Realised ")]
    assert alerts and all(
        re.match(r"Realised [\w ]+: (\d+\.\d%|\d\.\d{3}) on [\d,]+ labelled", alert) for alert in alerts
    )
    table = with_column(app, "roc_auc")
    formats = column_formats(table)
    assert formats["predictions"] == formats["labelled"] == "%,d"
    assert formats["coverage"] == formats["accuracy"] == formats["f1"] == "%.1f%%"
    assert formats["roc_auc"] == formats["log_loss"] == "%.4f"  # as the KPIs and alerts say them
    answered = table.value.set_index("role").loc["answered"]
    kpi = float(metrics["Realised accuracy"].rstrip("%"))
    assert round(answered["accuracy"], 1) == pytest.approx(kpi)  # the table's 81.9% is the KPI's
    assert 50 <= answered["coverage"] <= 70  # a percentage, as its format reads it
    agreement = column_formats(with_column(app, "agreement"))
    assert agreement["agreement"] == "%.1f%%" and agreement["compared"] == "%,d"
    assert re.search(r"label coverage \d+\.\d%\)", "\n".join(readable(item.value) for item in app.markdown))


def test_the_score_charts_say_what_the_score_is(classified_page) -> None:
    app = classified_page

    shown = titles(app)
    assert "Score distribution: P(malignant)" in shown and "Prediction distribution" not in shown
    assert "Scores: P(malignant) (drifted)" in shown
    assert "predicted label: drifted" in shown  # short enough for a half-width chart
    scores = next(json.loads(chart.proto.spec) for chart in app.get("plotly_chart") if "Scores: P(" in chart.proto.spec)
    reference, current = (values(trace["y"]) for trace in scores["data"])
    assert max(reference) <= 1 and max(current) <= 1 and len(current) == 20  # shares on 20 bins, never 33,000
    assert "Realised accuracy per day" in shown
    sentence = next(readable(item.value) for item in app.markdown if "**Predicted labels**" in item.value)
    assert re.search(r"(chisquare|jensenshannon) (p < 0\.0001|p = \d\.\d{4}|\d\.\d{4})", sentence)


def log_regressor_rows(settings, rows: int = 40) -> None:
    rng = np.random.default_rng(0)
    now = datetime.now(UTC)
    engine = make_engine(settings.database_url)
    migrate(engine)
    with make_sessionmaker(engine).begin() as session:
        bulk_log(
            session,
            features=pd.DataFrame({"carat": rng.uniform(0.3, 2.0, rows), "depth": rng.uniform(58.0, 65.0, rows)}),
            predictions=rng.uniform(500.0, 5_000.0, rows),
            timestamps=[now - timedelta(minutes=3 * index) for index in range(rows)],
            model_name=settings.model_name,
            model_version=1,
            latency_ms=simulated_latencies(rows, rng=rng),
        )
    engine.dispose()


def test_a_regressors_versions_caption_says_what_the_toggle_would_change(settings) -> None:
    log_regressor_rows(settings)
    app = page().run()

    assert "Turn on **Include shadow**" in captions(app)
    versions = with_column(app, "latency_p95_ms")
    assert column_formats(versions)["predictions"] == "%,d"

    app.toggle(key="monitoring_shadow").set_value(True).run()

    assert not app.exception
    assert "No shadow rows in this window" in captions(app) and "Include shadow" not in captions(app)
