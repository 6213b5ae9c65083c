"""ui.formats: the page-side helpers (core.formats' figures are tested in tests/core/test_formats.py)."""

import pytest

import core.formats
import ui.formats
from ui.formats import classifier_metric, code, command, count, input_step, share


def test_the_pages_read_the_one_format() -> None:
    for name in ("number", "amount", "share", "count", "plural", "milliseconds", "timestamp", "holdout_value"):
        assert getattr(ui.formats, name) is getattr(core.formats, name)


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
