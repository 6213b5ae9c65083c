"""``python -m core monitor``: Monitoring's snapshot on the command line, read from a real log."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from core.settings import get_settings
from tests.monitoring_traffic import seed_traffic

pytestmark = pytest.mark.slow  # a real registry and log, one snapshot per command: seconds each

KEYS = {
    "schema",
    "model_name",
    "window",
    "version",
    "drift_version",
    "include_shadow",
    "task",
    "unit",
    "versions_logged",
    "volume",
    "latency_ms",
    "drift",
    "multivariate_drift",
    "performance",
    "segments",
    "alerts",
}


def test_monitor_json_holds_every_section_with_the_logs_figures(cli, registry_home, monkeypatch) -> None:
    frame = seed_traffic(registry_home, rows=2_000, start=datetime.now(UTC) - timedelta(hours=20), hours=19, shift=1.2)
    monkeypatch.setenv("LOUPE_ALERT_P95_LATENCY_MS", "1")  # any answer is slow enough to fire
    get_settings.cache_clear()

    ran = cli("monitor", "--window", "1d", "--format", "json")

    assert ran.code == 0, ran.err
    report = json.loads(ran.out)
    assert set(report) >= KEYS and report["schema"] == "loupe.monitor/1"
    assert (report["model_name"], report["version"], report["drift_version"], report["task"]) == (
        "diamond-price",
        None,
        1,
        "regression",
    )
    assert report["window"]["hours"] == 25
    assert report["volume"]["predictions"] == 2_000 and report["volume"]["previous_predictions"] == 0
    assert report["volume"]["out_of_distribution"] == int(frame["ood"].sum())
    assert set(report["latency_ms"]) == {"p50", "p95", "p99", "previous"}
    assert report["latency_ms"]["p50"] <= report["latency_ms"]["p95"] <= report["latency_ms"]["p99"]
    carat = next(item for item in report["drift"]["features"] if item["feature"] == "carat")
    assert carat["drifted"] is True and report["drift"]["drifted_features"] == 1
    labelled = frame[frame["labelled"]]
    realised = report["performance"]["realised"]
    assert realised["labelled"] == len(labelled)
    assert realised["mae"] == pytest.approx((labelled["prediction"] - labelled["actual"]).abs().mean(), rel=1e-6)
    estimated = report["performance"]["estimated"]  # the version's DLE, fitted at training
    assert estimated["method"] == "dle" and estimated["rows"] == 2_000
    assert {item["metric"] for item in estimated["metrics"]} == {"mae", "rmse"}
    assert all(item["low"] <= item["value"] <= item["high"] for item in estimated["metrics"])
    multivariate = report["multivariate_drift"]
    assert multivariate["rows"] == 2_000 and multivariate["drifted"] is True  # carat × 1.2 breaks its relations
    assert {"cut", "color", "clarity"} <= set(report["segments"]["split_features"])
    assert report["segments"]["rows"] == []
    rules = {alert["rule"]: alert for alert in report["alerts"]}
    assert rules["p95_latency"]["version"] == 1 and rules["p95_latency"]["threshold"] == 1.0


def test_monitor_splits_by_a_segment_and_picks_a_version(cli, registry_home) -> None:
    frame = seed_traffic(registry_home, rows=1_000, start=datetime.now(UTC) - timedelta(hours=10), hours=9, shift=1.0)

    ran = cli("monitor", "--window", "24h", "--version", "1", "--segment", "cut", "--format", "json")
    other = cli("monitor", "--window", "24h", "--version", "2", "--format", "json")

    assert ran.code == 0, ran.err
    report = json.loads(ran.out)
    assert report["version"] == 1 and report["segments"]["feature"] == "cut"
    counts = {row["value"]: row["predictions"] for row in report["segments"]["rows"]}
    assert counts == frame.groupby("cut").size().to_dict()
    assert other.code == 0 and json.loads(other.out)["volume"]["predictions"] == 0


def test_monitor_text_is_for_a_person(cli, registry_home) -> None:
    seed_traffic(registry_home, rows=500, start=datetime.now(UTC) - timedelta(hours=5), hours=4, shift=1.0)

    ran = cli("monitor", "--window", "1d")

    assert ran.code == 0, ran.err
    assert "volume: 500 predictions (previous window 0)" in ran.out
    assert "latency: p50 " in ran.out and "drift: 0 of 9 judged features drifted" in ran.out
    assert "segments: split with --segment (" in ran.out and "alerts:" in ran.out


def test_bad_options_exit_1_naming_the_option(cli, registry_home) -> None:
    seed_traffic(registry_home, rows=300, start=datetime.now(UTC) - timedelta(hours=3), hours=2, shift=1.0)

    numeric = cli("monitor", "--window", "1d", "--segment", "carat")
    window = cli("monitor", "--window", "a week")

    assert numeric.code == 1 and "--segment must be a categorical input with at most 20 values" in numeric.err
    assert "cut" in numeric.err and "not 'carat'" in numeric.err
    assert window.code == 1 and "--window: window must look like 12h, 7d or 2w" in window.err


def test_monitor_speaks_of_a_classifiers_realised_metrics(cli, classifier_registry) -> None:
    simulated = cli("simulate", "--rows", "400", "--days", "1", "--label-share", "0.5", "--bulk")
    assert simulated.code == 0, simulated.err

    ran = cli("monitor", "--window", "2d", "--format", "json")

    assert ran.code == 0, ran.err
    report = json.loads(ran.out)
    assert (report["model_name"], report["task"]) == ("tumour-triage", "classification")
    assert report["volume"]["predictions"] == 400
    realised = report["performance"]["realised"]
    assert 150 <= realised["labelled"] <= 250 and 0.0 <= realised["accuracy"] <= 1.0
    assert realised["coverage"] == pytest.approx(realised["labelled"] / 400)
    assert {"accuracy", "f1", "roc_auc"} <= set(realised["holdout"])
