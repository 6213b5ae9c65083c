"""A newcomer's journey through the console in a real browser (Chromium on a Loupe served on loopback)."""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from core.dataset import load_diamonds
from tests.e2e.conftest import ARTIFACTS, SCREENSHOTS, run_core
from tests.e2e.servers import loupe_app

pytestmark = pytest.mark.slow
APP_LOG = ARTIFACTS / "loupe-app.log"
CONSOLE_ENV: dict[str, str] = {}  # the console's own variables, for CLI steps of the journey


def console_env() -> dict[str, str]:
    return dict(CONSOLE_ENV)


@pytest.fixture(scope="module")
def console(bootstrapped_home: Path, tmp_path_factory: pytest.TempPathFactory):
    """Loupe on a free loopback port, on a private copy of the bootstrapped registry."""
    home = tmp_path_factory.mktemp("journey") / "home"
    home.mkdir()
    for name in ("mlflow.db", "loupe.db"):
        shutil.copy2(bootstrapped_home / name, home / name)
    CONSOLE_ENV.clear()
    CONSOLE_ENV.update({"LOUPE_HOME": str(home), "LOUPE_SECRETS_FILE": str(home / "no-secrets.toml")})
    env = {key: value for key, value in os.environ.items() if not key.startswith(("LOUPE_", "MLFLOW_"))}
    with loupe_app(env={**env, **CONSOLE_ENV}, log=APP_LOG) as url:
        yield url


def settle(page) -> None:
    """Wait until Streamlit has finished running the script."""
    page.wait_for_selector('[data-testid="stApp"]')
    page.wait_for_timeout(300)
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=120_000)
    page.wait_for_timeout(500)


def assert_no_exception(page) -> None:
    exceptions = page.locator('[data-testid="stException"]')
    assert exceptions.count() == 0, exceptions.first.inner_text()


def shoot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


def open_page(page, console: str, path: str) -> None:
    page.goto(f"{console}/{path}")
    settle(page)
    assert_no_exception(page)


def open_tab(page, name: str) -> None:
    """Click a tab until Streamlit shows it selected (a rerun still under way can re-create the tabs)."""
    tab = page.get_by_role("tab", name=name)
    for _ in range(6):
        settle(page)
        # Centre it first: near the top of the view Streamlit's header sits over it and takes the click.
        tab.evaluate("element => element.scrollIntoView({block: 'center'})")
        tab.click()
        page.wait_for_timeout(1_500)
        settle(page)
        if tab.get_attribute("aria-selected") == "true":
            return
    raise AssertionError(f"the {name!r} tab would not open")


def visible_panel(page):
    return page.locator('[role="tabpanel"]:visible').first


def choose(page, scope, label: str, option: str) -> None:
    """Pick ``option`` in the selectbox labelled ``label`` inside ``scope`` (retried across reruns)."""
    combobox = scope.get_by_role("combobox", name=label).first
    for _ in range(4):
        settle(page)
        if combobox.input_value() == option:
            return
        combobox.click()
        listed = page.get_by_role("option", name=option).first
        try:
            listed.wait_for(timeout=10_000)
            listed.click()
        except PlaywrightTimeout:
            page.keyboard.press("Escape")
    settle(page)
    assert combobox.input_value() == option, f"could not choose {option!r} in {label!r}"


def fill(page, scope, label: str, text: str) -> None:
    field = scope.get_by_label(label).first
    field.fill(text)
    field.press("Tab")  # Streamlit commits a text field when it loses focus
    settle(page)


def body(page) -> str:
    return page.inner_text("body")


def test_journey(console: str, page, tmp_path: Path) -> None:
    started = time.monotonic()

    # Home: the live champion and challenger.
    open_page(page, console, "")
    page.get_by_text("Champion", exact=True).wait_for()
    page.get_by_text("RMSE", exact=True).first.wait_for()  # the holdout metrics, not their loading placeholders
    settle(page)
    assert "Version 1" in body(page) and "Version 2" in body(page)
    shoot(page, "home")

    # Predict one diamond from the form (defaults are the training medians).
    open_page(page, console, "Predict")
    page.locator('[data-testid="stFormSubmitButton"] button').first.click()
    settle(page)
    page.get_by_text("Predicted price").wait_for()
    assert re.search(r"\$\d[\d,]*", body(page)), "a price in dollars is shown"
    assert "v1" in body(page)
    assert_no_exception(page)
    shoot(page, "predict")

    # Score a CSV: 40 real diamonds and one impossible row, which is reported, not dropped.
    frame = load_diamonds().drop(columns=["price"]).sample(40, random_state=1)
    frame.iloc[0, frame.columns.get_loc("carat")] = -1.0
    batch_csv = tmp_path / "diamonds-batch.csv"
    frame.to_csv(batch_csv, index=False)
    open_tab(page, "Batch CSV")
    visible_panel(page).locator('input[type="file"]').set_input_files(str(batch_csv))
    settle(page)
    page.get_by_role("button", name="Score the file").click()
    settle(page)
    page.get_by_text("Scored rows").wait_for()
    text = body(page)
    assert re.search(r"Scored\s+39\b", text) and re.search(r"Rejected rows\s+1\b", text), text
    page.get_by_text("Rejected rows (row 1 is the first line under the header)").wait_for()
    assert_no_exception(page)
    shoot(page, "predict-batch")

    # Compare the two bootstrap runs.
    open_page(page, console, "Experiments")
    open_tab(page, "Compare")
    panel = visible_panel(page)
    for _ in range(2):
        panel.locator('[data-testid="stMultiSelect"]').first.click()
        page.get_by_role("option").first.click()
        settle(page)
    page.get_by_text("Params and metrics").wait_for()
    assert_no_exception(page)
    shoot(page, "experiments")

    # Promote the challenger (v2) to champion past its pre-flight check, then roll it back.
    open_page(page, console, "Registry")
    fill(page, page, "Your name (recorded in the ledger)", "e2e operator")
    panel = visible_panel(page)
    choose(page, panel, "Version", "v2 · challenger")
    page.get_by_text("Pre-flight").first.wait_for()
    assert "Blocked" not in body(page), "the challenger must pass its pre-flight check"
    fill(page, visible_panel(page), "Reason (required)", "challenger is within tolerance; e2e journey")
    # Promoting the challenger asks what becomes of `challenger`: keep it where it is.
    page.get_by_text(re.compile(r"^Keep it on version 2")).first.click()
    settle(page)
    page.get_by_role("button", name="Promote").click()
    settle(page)
    page.get_by_text("→ version 2").first.wait_for()
    assert_no_exception(page)
    shoot(page, "registry-promoted")

    open_tab(page, "Roll back")
    panel = visible_panel(page)
    fill(page, panel, "Reason (required)", "e2e: undo the promotion")
    page.get_by_role("button", name=re.compile(r"^Roll back champion")).click()
    settle(page)
    page.get_by_text("rolled back").first.wait_for()
    assert "version 2 → version 1" in body(page)
    assert_no_exception(page)
    shoot(page, "registry-rolled-back")

    # Generate traffic with carat shifted up 30%, as the Monitoring page suggests, and see the drift.
    simulated = run_core(
        "simulate", "--rows", "1500", "--days", "1", "--shift", "carat=1.3", "--label-share", "0.3", env=console_env()
    )
    assert simulated.returncode == 0, simulated.stdout + simulated.stderr
    open_page(page, console, "Monitoring")
    open_tab(page, "Drift")
    summary = page.get_by_text(re.compile(r"\d+ of \d+ features drifted")).first
    summary.wait_for()
    drifted = int(re.search(r"(\d+) of \d+ features drifted", summary.inner_text()).group(1))
    assert drifted >= 1, summary.inner_text()
    assert "carat" in visible_panel(page).inner_text()
    assert_no_exception(page)
    shoot(page, "monitoring-drift")

    seconds = time.monotonic() - started
    (ARTIFACTS / "journey-seconds.txt").write_text(f"{seconds:.1f}\n")
