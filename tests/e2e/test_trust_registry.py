"""Issue #16, points 2, 3 and Home's alerts first, in Chromium at 1280×800: the Registry you can trust at a glance.

Promote starts on the challenger and asks what becomes of ``challenger``; keeping it on the champion's
version is said to leave shadow scoring idle (Registry and Home); the aliases column stays in sight;
rollbacks walk back v3 → v2 → v1 and then say there is nothing left, never offering the version just left.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from tests.e2e.conftest import ARTIFACTS, run_core
from tests.e2e.servers import loupe_app
from tests.e2e.test_journey import assert_no_exception, body, fill, open_page, open_tab, settle, shoot, visible_panel

pytestmark = pytest.mark.slow
APP_LOG = ARTIFACTS / "loupe-app-trust-registry.log"
IDLE = "both point to version 2: shadow scoring is idle"


@pytest.fixture(scope="module")
def console(ridge_home: Path, tmp_path_factory: pytest.TempPathFactory):
    """Loupe on a private copy of the ridge registry: champion v1, challenger v2, v3 a much worse ridge."""
    home = tmp_path_factory.mktemp("trust-registry") / "home"
    home.mkdir()
    for name in ("mlflow.db", "loupe.db"):
        shutil.copy2(ridge_home / name, home / name)
    own = {"LOUPE_HOME": str(home), "LOUPE_SECRETS_FILE": str(home / "no-secrets.toml")}
    env = {key: value for key, value in os.environ.items() if not key.startswith(("LOUPE_", "MLFLOW_"))}
    with loupe_app(env={**env, **own}, log=APP_LOG) as url:
        yield url, own


def roll_back(page, *, reason: str) -> None:
    panel = visible_panel(page)
    fill(page, panel, "Reason (required)", reason)
    page.get_by_role("button", name=re.compile(r"^Roll back champion to version")).click()
    settle(page)
    page.get_by_text("rolled back").first.wait_for()
    assert_no_exception(page)


def test_promote_asks_about_challenger_and_rollback_walks_back(console, page) -> None:
    url, env = console
    open_page(page, url, "Registry")

    # The versions table: version and aliases first (pinned), so the champion's badge is in sight at 1280 px.
    table = page.locator('[data-testid="stDataFrame"]').first
    table.scroll_into_view_if_needed()
    box = table.bounding_box()
    assert box is not None and box["x"] + box["width"] <= 1280
    shoot(page, "trust-registry-versions")

    # Promote starts on the version holding challenger, not on the newest (v3, the ridge).
    fill(page, page, "Your name (recorded in the ledger)", "e2e operator")
    panel = visible_panel(page)
    assert panel.get_by_role("combobox", name="Version").first.input_value() == "v2 · challenger"
    page.get_by_text("What becomes of").first.wait_for()
    fill(page, visible_panel(page), "Reason (required)", "rf won the shadow run; e2e")
    assert page.get_by_role("button", name="Promote").is_disabled()  # asked, not assumed
    page.get_by_text("What becomes of").first.scroll_into_view_if_needed()
    settle(page)
    shoot(page, "trust-registry-challenger-question")
    page.get_by_text(re.compile(r"^Keep it on version 2")).first.click()
    settle(page)
    page.get_by_role("button", name="Promote").click()
    settle(page)
    page.get_by_text(re.compile(r"→ version 2 \(was version 1\)\. Ledger entry \d+")).first.wait_for()
    page.get_by_text(IDLE).first.wait_for()
    page.locator('[data-testid="stMain"]').evaluate("element => element.scrollTo(0, 0)")
    page.mouse.wheel(0, -5000)
    settle(page)
    shoot(page, "trust-registry-shared-aliases")

    # Home says so too, near the top: above the cards and "Where to go".
    open_page(page, url, "")
    note = page.get_by_text(IDLE).first
    note.wait_for()
    where_to_go = page.get_by_text("Where to go").first
    assert note.bounding_box()["y"] < where_to_go.bounding_box()["y"]
    assert note.bounding_box()["y"] < 800  # above the fold
    shoot(page, "trust-registry-home-shared-aliases")

    # champion v1 → v2 → v3 (forced past its checks from the shell), then walk back.
    forced = run_core(
        "promote", "--version", "3", "--alias", "champion", "--reason", "e2e: the ridge", "--force", env=env
    )
    assert forced.returncode == 0, forced.stdout + forced.stderr
    open_page(page, url, "Registry")
    fill(page, page, "Your name (recorded in the ledger)", "e2e operator")
    open_tab(page, "Roll back")
    assert "rolling back restores version 2. Further back on record: v1." in body(page)
    roll_back(page, reason="e2e: ridge misbehaves")
    assert "version 3 → version 2" in body(page)

    open_tab(page, "Roll back")
    text = body(page)
    assert "rolling back restores version 1. It is the earliest on record." in text
    assert "Roll back champion to version 3" not in text  # never back to the version just left
    shoot(page, "trust-registry-rollback-walks-back")
    roll_back(page, reason="e2e: rf too")
    assert "version 2 → version 1" in body(page)

    open_tab(page, "Roll back")
    page.get_by_text("nothing to roll back to").first.wait_for()
    assert page.get_by_role("button", name="Roll back champion").is_disabled()
    shoot(page, "trust-registry-rollback-exhausted")
