"""Issue #15, point 6, in Chromium: Markdown and HTML from MLflow and from a CSV are shown as text, never fetched.

A loopback listener counts every request. A registry filled with plain MLflow code holds
``![x](http://127.0.0.1:PORT/img.png)``, ``[link](http://127.0.0.1:PORT/l)`` and ``<img src=…>`` in its
version tags (``loupe.estimator``, ``validation_status``), descriptions, run names, run tags and params; a CSV
scored on Predict holds them in a column header and in values. Home, Predict, Experiments, Registry and
Monitoring are visited: no request reaches the listener, no link or image points at it, and the text reads
as written. Screenshots: test-artifacts/screenshots/plain-text-*.png.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.conftest import settings_at
from tests.e2e.conftest import ARTIFACTS
from tests.e2e.servers import free_port, loupe_app
from tests.e2e.test_journey import assert_no_exception, body, open_page, open_tab, settle, shoot, visible_panel
from tests.hostile_store import MODEL, Hostile, register_hostile_model

pytestmark = pytest.mark.slow
APP_LOG = ARTIFACTS / "loupe-app-plain-text.log"
JOINER = "\u2060"  # invisible; Loupe puts one after "http" so a bare address is not made a link


class Listener:
    """An HTTP server on loopback that answers anything and remembers every path asked for."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        seen = self.paths

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                seen.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_POST = do_HEAD = do_GET

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def listener() -> Iterator[Listener]:
    listening = Listener()
    yield listening
    listening.close()


@pytest.fixture(scope="module")
def console(listener: Listener, tmp_path_factory: pytest.TempPathFactory):
    """Loupe on a registry whose free texts all point at the listener."""
    home = tmp_path_factory.mktemp("plain-text") / "home"
    home.mkdir()
    hostile = Hostile(listener.port)
    with settings_at(home, LOUPE_MODEL_NAME=MODEL) as settings:
        settings.ensure_home()
        register_hostile_model(settings.tracking_uri, artifacts=home / "artifacts", hostile=hostile)
    own = {
        "LOUPE_HOME": str(home),
        "LOUPE_MODEL_NAME": MODEL,
        "LOUPE_SHADOW": "false",
        "LOUPE_SECRETS_FILE": str(home / "no-secrets.toml"),
    }
    env = {key: value for key, value in os.environ.items() if not key.startswith(("LOUPE_", "MLFLOW_"))}
    with loupe_app(env={**env, **own}, log=APP_LOG) as url:
        yield url, hostile, home


def shown_text(page) -> str:
    return body(page).replace(JOINER, "")


def pointers(page, port: int) -> list[str]:
    """Every attribute that links or loads (href, src, xlink:href, style…) and points at the listener.

    Text in an input (a select showing a run's name) may hold the address: it is text, not a pointer."""
    return page.evaluate(
        """(address) => {
            const found = [];
            for (const element of document.querySelectorAll('*')) {
                for (const attribute of element.attributes) {
                    const loads = /^(href|xlink:href|src|srcset|poster|data|action|formaction|background|style)$/i;
                    if (loads.test(attribute.name) && attribute.value.includes(address)) {
                        found.push(`${element.tagName} ${attribute.name}`);
                    }
                }
            }
            return found;
        }""",
        f"127.0.0.1:{port}",
    )


def check(page, listener: Listener, name: str) -> str:
    """Let the page finish, then: nothing fetched from the listener, nothing in the DOM pointing at it."""
    settle(page)
    page.wait_for_timeout(1_000)
    assert_no_exception(page)
    shoot(page, f"plain-text-{name}")
    assert listener.paths == [], f"{name}: the browser fetched {listener.paths}"
    assert pointers(page, listener.port) == [], name
    return shown_text(page)


def test_markdown_and_html_from_data_are_shown_as_text(console, listener, page, tmp_path: Path) -> None:
    url, hostile, _ = console

    # Home: the champion's card carries its loupe.estimator tag.
    open_page(page, url, "")
    page.get_by_text("Version 1").first.wait_for()
    assert hostile.image in check(page, listener, "home")

    # Predict: a CSV whose header and values hold the texts, scored; its notices and tables show them as text.
    open_page(page, url, "Predict")
    batch = tmp_path / "hostile.csv"
    batch.write_text(hostile.batch_csv(), encoding="utf-8")
    open_tab(page, "Batch CSV")
    visible_panel(page).locator('input[type="file"]').set_input_files(str(batch))
    settle(page)
    page.get_by_role("button", name="Score the file").click()
    settle(page)
    page.get_by_text("Scored rows").first.wait_for()
    predicted = check(page, listener, "predict")
    assert hostile.image in predicted  # the extra column, named in the notice that it was left out

    # Experiments: run names, estimator tags and params; the Register tab's summary shows the estimator tag.
    open_page(page, url, "Experiments")
    open_tab(page, "Register")
    assert hostile.image in check(page, listener, "experiments")
    open_tab(page, "Compare")
    combobox = visible_panel(page).get_by_role("combobox", name="Runs to compare").first
    charts = page.locator('[data-testid="stPlotlyChart"]')
    for _ in range(4):  # two runs or more draw the charts; a rerun may close the list between picks
        if charts.count():
            break
        combobox.click()
        page.get_by_role("option").first.click()
        settle(page)
        page.keyboard.press("Escape")
    charts.first.wait_for()
    check(page, listener, "experiments-compare")

    # Registry: estimator tags on the holder cards, the validation status of the chosen version.
    open_page(page, url, "Registry")
    page.get_by_text("Change an alias or a version").first.wait_for()
    registry = check(page, listener, "registry")
    assert hostile.image in registry
    open_tab(page, "Validation status")
    assert hostile.link in check(page, listener, "registry-validation")

    # Monitoring: the batch's traffic, with the champion's texts wherever they appear.
    open_page(page, url, "Monitoring")
    page.locator('[data-testid="stMetric"]').first.wait_for()  # the window's figures, drawn after the controls
    check(page, listener, "monitoring")

    assert listener.paths == []
