"""core.formats: one format for every figure the console, its charts and the CLI show."""

from datetime import UTC, datetime, timedelta, timezone

import pytest

from core.formats import (
    amount,
    count,
    currency,
    holdout_value,
    milliseconds,
    number,
    number_column_format,
    plural,
    seconds,
    share,
    timestamp,
    utc_naive,
)
from core.registry.holdout import HoldoutMetric


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (None, "—"),
        (float("nan"), "—"),
        (float("inf"), "—"),
        (153.24, "153.2"),
        (0.012345, "0.01235"),
        (12_345.6, "12,346"),
        (-2.5, "-2.5"),
        (43152, "43,152"),
        (145_700_967.4782, "145,700,967"),  # a Wasserstein distance in the feature's own units
    ],
)
def test_number(value, shown) -> None:
    assert number(value) == shown


@pytest.mark.parametrize(
    ("value", "unit", "shown"),
    [
        (1234.5, "USD", "$1,234"),
        (1377.9922, "USD", "$1,378"),
        (12.345, "usd", "$12.35"),
        (-12.5, "EUR", "-€12.50"),
        (1234.5, "CHF", "CHF 1,234"),
        (99.5, "JPY", "¥100"),
        (153.24, "points", "153.2 points"),
        (153.24, None, "153.2"),
        (153.24, " ", "153.2"),
        (None, "USD", "—"),
    ],
)
def test_amount_is_money_only_for_a_currency(value, unit, shown) -> None:
    assert amount(value, unit) == shown


def test_currency_codes_and_symbols() -> None:
    assert currency("$") == "USD" and currency("gbp") == "GBP"
    assert currency("points") is None and currency("kg") is None and currency(None) is None


def test_a_column_of_answers_reads_like_one_answer() -> None:
    assert number_column_format([1377.9922, 2392.1, 540.0], "USD") == "$%,.0f"
    assert number_column_format([12.5, 9.99], "EUR") == "€%,.2f"
    assert number_column_format([1377.9922], "CHF") == "CHF %,.0f"
    assert number_column_format([153.24, 98.1], "points") == "%,.1f points"
    assert number_column_format([0.5123, 0.61], None) == "%,.4f"
    assert number_column_format([43_152.3], None) == "%,.0f"
    assert number_column_format([], "100%") == "%,.2f 100%%"  # a unit holding % stays text in printf


def test_shares_counts_and_plurals() -> None:
    assert share(0.06049) == "6.0%" and share(0.8191) == "81.9%" and share(None) == "—"
    assert count(43152) == "43,152" and count(None) == "—"
    assert plural(1, "scored row") == "1 scored row" and plural(2, "scored row") == "2 scored rows"
    assert plural(0, "input") == "0 inputs" and plural(1_993, "answer") == "1,993 answers"
    assert plural(2, "class") == "2 classes" and plural(3, "entry") == "3 entries" and plural(2, "day") == "2 days"
    assert plural(2, "person", "people") == "2 people"


def test_durations_and_moments() -> None:
    assert milliseconds(3.24) == "3.2 ms" and milliseconds(1204.46) == "1,204.5 ms" and milliseconds(None) == "—"
    assert seconds(0.2371) == "0.24 s" and seconds(1203.7) == "1,204 s"
    moment = datetime(2026, 11, 30, 15, 5, 9, 123_456, tzinfo=timezone(timedelta(hours=1)))
    assert timestamp(moment) == "2026-11-30 14:05:09 UTC"  # to the second, in UTC whatever the zone
    assert timestamp(datetime(2026, 11, 30, 14, 5, 9, 999_999)) == "2026-11-30 14:05:09 UTC"  # naive is UTC
    assert timestamp(None) == "—"
    assert utc_naive(moment) == datetime(2026, 11, 30, 14, 5, 9)
    assert utc_naive(datetime(2026, 1, 1, tzinfo=UTC)).tzinfo is None


def test_holdout_values_by_what_they_measure() -> None:
    assert holdout_value(HoldoutMetric("test_rmse", "rmse", 547.2), "USD") == "$547"
    assert holdout_value(HoldoutMetric("val_mae", "mae", 412.4), "USD") == "$412"  # errors carry the unit
    assert holdout_value(HoldoutMetric("val_mae", "mae", 4.2), "points") == "4.2 points"
    assert holdout_value(HoldoutMetric("mse", "mse", 2500.0), "USD") == "2,500"  # squared units: no currency
    assert holdout_value(HoldoutMetric("r2", "r2", 0.98123), "USD") == "0.9812"
    assert holdout_value(HoldoutMetric("mape", "mape", 0.06049), None) == "6.0%"  # a share, as everywhere
    assert holdout_value(HoldoutMetric("accuracy_score", "accuracy", 0.94152), None) == "94.2%"
    assert holdout_value(HoldoutMetric("f1", "f1", 0.91586), None) == "91.6%"  # as Monitoring shows it live
    assert holdout_value(HoldoutMetric("roc_auc", "roc_auc", 0.987654), None) == "0.9877"
    assert holdout_value(HoldoutMetric("test_log_loss", "log_loss", 0.081234), None) == "0.0812"
