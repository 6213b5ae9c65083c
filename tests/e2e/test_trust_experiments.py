"""Issue #16, points 7, Predict's part of 8 and Experiments' part of 5, in Chromium at 1280×800.

Predict: the form reads and tabs across rows, an emptied field is refused as required. Experiments: an
invalid search says what is wrong and keeps every control and tab; links go to the MLflow UI named by
``LOUPE_MLFLOW_UI_URL``; re-registering a run names its version and asks; compare bars are zoomed.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.e2e.conftest import ARTIFACTS
from tests.e2e.servers import loupe_app
from tests.e2e.test_journey import assert_no_exception, body, open_page, open_tab, settle, shoot, visible_panel

pytestmark = pytest.mark.slow
APP_LOG = ARTIFACTS / "loupe-app-trust-experiments.log"
MLFLOW_UI = "http://mlflow.example:5000"


@pytest.fixture(scope="module")
def console(bootstrapped_home: Path, tmp_path_factory: pytest.TempPathFactory):
    """Loupe on a private copy of the bootstrapped registry (champion v1 hgb, challenger v2 rf), UI links on."""
    home = tmp_path_factory.mktemp("trust-experiments") / "home"
    home.mkdir()
    for name in ("mlflow.db", "loupe.db"):
        shutil.copy2(bootstrapped_home / name, home / name)
    own = {
        "LOUPE_HOME": str(home),
        "LOUPE_SECRETS_FILE": str(home / "no-secrets.toml"),
        "LOUPE_MLFLOW_UI_URL": MLFLOW_UI,
    }
    env = {key: value for key, value in os.environ.items() if not key.startswith(("LOUPE_", "MLFLOW_"))}
    with loupe_app(env={**env, **own}, log=APP_LOG) as url:
        yield url


def fill_exact(page, label: str, text: str) -> None:
    """Type into the field labelled exactly ``label`` (not its help button) and commit it."""
    field = page.get_by_label(label, exact=True).first
    field.fill(text)
    field.press("Enter")
    settle(page)


def focused_label(page) -> str:
    """The label of the focused form field, as a screen reader announces it."""
    return page.evaluate(
        """() => {
            const element = document.activeElement;
            const owner = element.closest('[data-testid^="stNumberInput"], [data-testid="stSelectbox"],'
                + ' [data-testid="stTextInput"], [data-testid="stCheckbox"]');
            const label = owner && owner.querySelector('label');
            return label ? label.innerText.trim() : (element.getAttribute('aria-label') || element.tagName);
        }"""
    )


def test_predict_form_reads_across_rows_and_refuses_an_emptied_field(console, page) -> None:
    page.goto(f"{console}/Predict")
    # The first visit loads the champion: the page says which version while it does (when slow enough to see).
    loading = page.get_by_text(re.compile(r"Loading diamond-price version 1"))
    try:
        loading.first.wait_for(timeout=5_000)
        shoot(page, "trust-experiments-predict-loading")
    except PlaywrightTimeout:  # a warm model loads before the spinner shows; nothing to see then
        pass
    settle(page)
    assert_no_exception(page)
    page.get_by_text("Answering: ").first.wait_for()

    # Tab order follows the reading order: across the first row, then the second.
    carat = page.get_by_label("carat", exact=True).first
    carat.focus()
    seen = [focused_label(page)]
    for _ in range(12):
        page.keyboard.press("Tab")
        label = focused_label(page)
        if label != seen[-1]:
            seen.append(label)
        if len(seen) == 5:
            break
    assert seen == ["carat", "cut", "color", "clarity", "depth"], seen

    # An emptied field stays empty and is refused as required; nothing is scored with a default.
    carat.fill("")
    carat.press("Tab")
    settle(page)
    page.get_by_role("button", name="Predict").click()
    settle(page)
    refusal = page.get_by_text("carat: value is missing (rule: required)").first
    refusal.wait_for()
    assert page.get_by_label("carat", exact=True).first.input_value() == ""
    assert "Predicted price" not in body(page)
    refusal.scroll_into_view_if_needed()
    shoot(page, "trust-experiments-predict-emptied-field")


def test_experiments_filter_links_reregistering_and_zoomed_bars(console, page) -> None:
    open_page(page, console, "Experiments")
    links = page.locator(f'a[href^="{MLFLOW_UI}/#/experiments/"]')
    assert links.first.get_attribute("href").startswith(f"{MLFLOW_UI}/#/experiments/")  # the experiment's link

    # An invalid search: said in words beside the field, every control and tab kept.
    fill_exact(page, "MLflow search", "rmse < 3")
    error = page.get_by_text(re.compile(r"The search `rmse < 3` cannot be run")).first
    error.wait_for()
    assert "is not something runs can be searched by" in body(page)
    assert "Invalid attribute key" not in body(page)
    for label in ("Estimator", "Metric threshold"):
        # Waited for, not sampled: on a busy machine the rerun draws the error before the controls below it.
        page.get_by_text(label, exact=True).first.wait_for(state="visible", timeout=30_000)
    for tab in ("Runs", "Compare", "Leaderboard", "Register"):
        assert page.get_by_role("tab", name=tab).count() == 1
    shoot(page, "trust-experiments-invalid-filter")
    fill_exact(page, "MLflow search", "")

    # Compare two runs: the bars are zoomed to the data, the parallel coordinates' ticks readable.
    open_tab(page, "Compare")
    panel = visible_panel(page)
    picker = panel.get_by_role("combobox", name="Runs to compare").first
    for _ in range(2):
        picker.click()
        page.get_by_role("option").first.click()
        settle(page)
        page.keyboard.press("Escape")
    panel.get_by_text("How params drive a metric").first.wait_for()
    bars = panel.locator('[data-testid="stPlotlyChart"]').first
    bars.scroll_into_view_if_needed()
    page.wait_for_timeout(1_000)
    ticks = bars.evaluate("element => [...element.querySelectorAll('.ytick text')].map(t => t.textContent.trim())")
    assert ticks and ticks[0] not in {"0", "0.0"}, ticks  # the axis does not start at zero
    shoot(page, "trust-experiments-compare-bars")
    parcoords = panel.locator(".parcoords").first
    parcoords.scroll_into_view_if_needed()
    page.wait_for_timeout(1_000)
    sizes = parcoords.evaluate(
        "element => [...element.querySelectorAll('.tick text')].map(t => parseFloat(getComputedStyle(t).fontSize))"
    )
    assert sizes and min(sizes) >= 12, sizes
    shoot(page, "trust-experiments-parcoords")

    # Register: the champion's run already is version 1 — named, linked, and asked before another.
    open_tab(page, "Register")
    panel = visible_panel(page)
    panel.get_by_text(re.compile(r"already version \d of diamond-price")).first.wait_for()
    version_link = panel.locator(f'a[href^="{MLFLOW_UI}/#/models/diamond-price/versions/"]').first
    assert version_link.is_visible()
    run_link = panel.locator(f'a[href*="/runs/"][href^="{MLFLOW_UI}/#/experiments/"]').first
    assert run_link.is_visible()
    button = page.get_by_role("button", name=re.compile(r"^Register as a new version"))
    assert button.is_disabled()
    version_link.scroll_into_view_if_needed()
    shoot(page, "trust-experiments-reregister-asks")
    assert_no_exception(page)
