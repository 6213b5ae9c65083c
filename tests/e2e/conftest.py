"""Fixtures for end-to-end tests: real PostgreSQL databases, an MLflow tracking server, the console."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.conftest import PG_ADMIN_URL, _ci
from tests.e2e.servers import ROOT, mlflow_server

ARTIFACTS = ROOT / "test-artifacts"


@pytest.fixture(scope="session")
def mlflow_pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database for an MLflow backend store (MLflow runs its own migrations in it)."""
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"loupe_mlflow_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as connection:
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as error:
        admin.dispose()
        if _ci():
            pytest.fail(f"PostgreSQL at 127.0.0.1:5432 is unreachable: {error}")
        pytest.skip(f"PostgreSQL at 127.0.0.1:5432 is unreachable: {error}")
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def tracking_server(mlflow_pg_database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``mlflow server`` on loopback, backend on PostgreSQL, artifacts in a temp folder."""
    artifacts = tmp_path_factory.mktemp("mlflow-server-artifacts")
    with mlflow_server(backend_uri=mlflow_pg_database, artifacts=artifacts, log=ARTIFACTS / "mlflow-server.log") as uri:
        yield uri


def run_core(*args: str, env: dict[str, str], timeout: float = 900) -> subprocess.CompletedProcess:
    """``python -m core ARGS`` in a subprocess with exactly ``env`` on top of the current environment."""
    return subprocess.run(
        [sys.executable, "-m", "core", *args],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def write_failure_log(name: str, text: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.log"
    path.write_text(text)
    return path


CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = ARTIFACTS / "screenshots"


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium driven by Playwright (no browser download, ever)."""
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing: apt-get install -y chromium (.ci/run does it)"
        if _ci():
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser, request: pytest.FixtureRequest):
    """A 1280×800 page; on failure its screenshot lands in test-artifacts/."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.set_default_timeout(60_000)
    yield page
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"FAILED-{request.node.name}.png"), full_page=True)
    context.close()
