"""ui.formats: one number format, amounts in a version's unit, commands as inline code."""

import pytest

from core.registry.holdout import HoldoutMetric
from ui.formats import (
    amount,
    classifier_metric,
    code,
    command,
    count,
    currency,
    holdout_value,
    input_step,
    number,
    share,
)


@pytest.mark.parametrize(
    ("value", "shown"),
    [(None, "—"), (float("nan"), "—"), (153.24, "153.2"), (0.012345, "0.01235"), (12_345.6, "12,346"), (-2.5, "-2.5")],
)
def test_number(value, shown) -> None:
    assert number(value) == shown


@pytest.mark.parametrize(
    ("value", "unit", "shown"),
    [
        (1234.5, "USD", "$1,234"),
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


def test_holdout_values_by_what_they_measure() -> None:
    assert holdout_value(HoldoutMetric("test_rmse", "rmse", 547.2), "USD") == "$547"
    assert holdout_value(HoldoutMetric("val_mae", "mae", 4.2), "points") == "4.2 points"
    assert holdout_value(HoldoutMetric("mse", "mse", 2500.0), "USD") == "2,500"  # squared units: no currency
    assert holdout_value(HoldoutMetric("r2", "r2", 0.98123), "USD") == "0.9812"
    assert holdout_value(HoldoutMetric("mape", "mape", 0.0655), None) == "6.55%"
    assert holdout_value(HoldoutMetric("accuracy_score", "accuracy", 0.94152), None) == "94.2%"
    assert holdout_value(HoldoutMetric("f1", "f1", 0.91586), None) == "91.6%"  # as Monitoring shows it live
    assert holdout_value(HoldoutMetric("roc_auc", "roc_auc", 0.987654), None) == "0.9877"
    assert holdout_value(HoldoutMetric("test_log_loss", "log_loss", 0.081234), None) == "0.0812"


def test_commands_are_inline_code_whatever_they_hold() -> None:
    assert command(["python", "-m", "core", "simulate", "--shift", "body mass=1.2"]) == (
        "`python -m core simulate --shift 'body mass=1.2'`"
    )
    assert command(["python", "-m", "core", "feedback"], model="my model") == (
        "`LOUPE_MODEL_NAME='my model' python -m core feedback`"
    )
    assert code("a`b") == "`` a`b ``"


def test_input_steps_follow_the_range() -> None:
    assert input_step(0.2, 5.0) == pytest.approx(0.01)
    assert input_step(326.0, 18_823.0) == pytest.approx(100.0)
    assert input_step(None, None) == 0.01


def test_a_classifiers_figures_have_one_format() -> None:
    assert share(0.8191) == "81.9%" and share(0.39987) == "40.0%" and share(None) == "—"
    assert classifier_metric("accuracy", 0.8191) == "81.9%" == classifier_metric("f1", 0.81912)
    assert classifier_metric("coverage", 0.39987) == "40.0%"
    assert classifier_metric("roc_auc", 0.98345) == "0.9835" and classifier_metric("log_loss", 0.3581) == "0.3581"
    assert classifier_metric("recall", None) == "—" and classifier_metric("roc_auc", float("nan")) == "—"
    assert count(1993) == "1,993" and count(None) == "—"
