"""``python -m core drift``: the drift report of logged inputs against the training profile, as JSON or CSV."""

import io
import json
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from tests.monitoring_traffic import seed_traffic


def test_drift_prints_the_report_as_json_or_csv(cli, registry_home) -> None:
    seed_traffic(registry_home, rows=2_000, start=datetime.now(UTC) - timedelta(hours=20), hours=19, shift=1.2)

    as_json = cli("drift", "--window", "1d", "--format", "json")
    as_csv = cli("drift", "--window", "1d", "--version", "1", "--format", "csv")

    assert as_json.code == as_csv.code == 0
    payload = json.loads(as_json.out)
    assert payload["model_version"] == 1 and payload["dataset_drift"] is False
    assert payload["drift_share"] == pytest.approx(1 / 9)
    carat = next(item for item in payload["features"] if item["feature"] == "carat")
    assert carat["method"] == "wasserstein" and carat["drifted"] is True and carat["threshold"] == 0.1
    csv = pd.read_csv(io.StringIO(as_csv.out))
    assert list(csv.columns[:6]) == ["feature", "kind", "method", "statistic", "threshold", "drifted"]
    assert csv.set_index("feature").loc["carat", "drifted"]
    assert len(csv) == 9


def test_the_window_decides_which_rows_count(cli, registry_home) -> None:
    seed_traffic(registry_home, rows=500, start=datetime.now(UTC) - timedelta(days=10), hours=5, shift=1.0)

    last_day = cli("drift", "--window", "1d")
    two_weeks = cli("drift", "--window", "2w", "--include-shadow")
    other_version = cli("drift", "--window", "2w", "--version", "2")

    assert last_day.code == 1
    assert "no predictions of diamond-price logged in" in last_day.err and "try a longer --window" in last_day.err
    assert two_weeks.code == 0, two_weeks.err
    report = json.loads(two_weeks.out)
    assert (report["model_version"], report["include_shadow"], report["dataset_drift"]) == (1, True, False)
    assert report["feature_count"] == 9 and report["drifted_features"] == 0
    assert other_version.code == 1 and "no inputs of version 2 logged in" in other_version.err


def test_bad_options_exit_1_with_the_reason(cli, registry_home) -> None:
    seed_traffic(registry_home, rows=200, start=datetime.now(UTC) - timedelta(hours=3), hours=2, shift=1.0)

    no_profile = cli("drift", "--window", "1d", "--version", "9")
    bad_window = cli("drift", "--window", "seven days")

    assert no_profile.code == 1 and "no reference data" in no_profile.err
    assert bad_window.code == 1 and "12h, 7d or 2w" in bad_window.err
