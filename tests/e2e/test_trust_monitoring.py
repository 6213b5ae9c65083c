"""Monitoring you can trust, in Chromium at 1280×800: no verdict on a handful of inputs, a feature's drift by
day, latency per kind of request with model loads apart, the refresh time, and one prediction looked up by id."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.conftest import settings_at
from tests.e2e.conftest import run_core
from tests.e2e.test_journey import (  # noqa: F401 (console is a fixture)
    assert_no_exception,
    console,
    console_env,
    open_page,
    open_tab,
    settle,
    shoot,
    visible_panel,
)
from tests.monitoring_traffic import seed_traffic

pytestmark = pytest.mark.slow


def frame(page, locator, block: str = "center") -> None:
    """Scroll ``locator`` to ``block`` of the view and move the mouse off the charts (no hover toolbars)."""
    locator.evaluate(f"element => element.scrollIntoView({{block: '{block}'}})")
    page.mouse.move(5, 795)
    settle(page)


def simulate(rows: int, shift: str) -> None:
    done = run_core("simulate", "--rows", str(rows), "--days", "1", "--shift", shift, env=console_env())
    assert done.returncode == 0, done.stdout + done.stderr


def test_monitoring_you_can_trust(console: str, page) -> None:  # noqa: F811 (the imported fixture)
    with settings_at(Path(console_env()["LOUPE_HOME"])) as settings:  # carat doubled, on a handful of inputs
        seed_traffic(settings, rows=29, start=datetime.now(UTC) - timedelta(hours=2), hours=1, shift=2.0)

    open_page(page, console, "Monitoring")
    page.get_by_text(re.compile(r"Last refreshed at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC")).first.wait_for()
    open_tab(page, "Drift")
    panel = visible_panel(page)
    verdict = panel.get_by_text(re.compile(r"Not enough data for version \d+: \d+ inputs")).first
    verdict.wait_for()
    preflight = panel.get_by_text(re.compile(r"What the Registry's pre-flight reads .*not enough data")).first
    preflight.wait_for()
    assert page.get_by_text("Input drift:").count() == 0, "no drift alert without evidence"
    frame(page, verdict, "start")
    shoot(page, "trust-monitoring-not-enough-data")

    simulate(400, "carat=1.5")
    open_page(page, console, "Monitoring")
    open_tab(page, "Drift")
    panel = visible_panel(page)
    panel.get_by_text(re.compile(r"Dataset drift|No dataset drift")).first.wait_for()
    trend = panel.locator('[data-testid="stPlotlyChart"]').filter(has_text="by day").first
    trend.wait_for()
    assert "threshold" in trend.inner_text()
    frame(page, trend)
    shoot(page, "trust-monitoring-drift-trend")

    open_tab(page, "Traffic & latency")
    panel = visible_panel(page)
    kinds = panel.get_by_text("Latency per kind of request").first
    kinds.wait_for()
    loads = panel.get_by_text(re.compile(r"Model loads, not counted as request latency"))
    rejections = panel.get_by_text("Rejected inputs of every version").first
    rejections.wait_for()
    frame(page, kinds, "start")
    shoot(page, "trust-monitoring-latency")
    assert loads.count() <= 1  # the CLI's loads are recorded next to the console's copies, when they share a cache

    lookup = page.get_by_label("Prediction id").first
    lookup.evaluate("element => element.scrollIntoView({block: 'center'})")
    lookup.fill("1")
    lookup.press("Tab")
    settle(page)
    page.get_by_role("button", name="Look up").first.click()
    settle(page)
    page.get_by_text(re.compile(r"Answered at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC")).first.wait_for()
    assert_no_exception(page)
    frame(page, page.get_by_text("Look up a prediction").first, "start")
    shoot(page, "trust-monitoring-lookup")
