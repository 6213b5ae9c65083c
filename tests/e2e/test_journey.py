"""A newcomer's journey through the console in a real browser (Chromium on a Loupe served on loopback)."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import ARTIFACTS, SCREENSHOTS
from tests.e2e.servers import loupe_app

pytestmark = pytest.mark.slow
APP_LOG = ARTIFACTS / "loupe-app.log"


@pytest.fixture(scope="module")
def console(bootstrapped_home: Path, tmp_path_factory: pytest.TempPathFactory):
    """Loupe on a free loopback port, on a private copy of the bootstrapped registry."""
    home = tmp_path_factory.mktemp("journey") / "home"
    home.mkdir()
    for name in ("mlflow.db", "loupe.db"):
        shutil.copy2(bootstrapped_home / name, home / name)
    env = {key: value for key, value in os.environ.items() if not key.startswith(("LOUPE_", "MLFLOW_"))}
    env["LOUPE_HOME"] = str(home)
    env["LOUPE_SECRETS_FILE"] = str(home / "no-secrets.toml")
    with loupe_app(env=env, log=APP_LOG) as url:
        yield url


def settle(page) -> None:
    """Wait until Streamlit has finished running the script."""
    page.wait_for_selector('[data-testid="stApp"]')
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=60_000)
    page.wait_for_timeout(500)


def assert_no_exception(page) -> None:
    exceptions = page.locator('[data-testid="stException"]')
    assert exceptions.count() == 0, exceptions.first.inner_text()


def shoot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def test_journey(console: str, page) -> None:
    started = time.monotonic()

    page.goto(console)
    settle(page)
    page.get_by_text("Champion", exact=True).wait_for()
    assert "Version 1" in page.inner_text("body")
    assert "Version 2" in page.inner_text("body")
    assert_no_exception(page)
    shoot(page, "home")

    (ARTIFACTS / "journey-seconds.txt").write_text(f"{time.monotonic() - started:.1f}\n")
