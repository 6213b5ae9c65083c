"""The classifier leg of the journey in a real browser: the demo ``tumour-triage`` beside ``diamond-price``.

Chosen once in the sidebar on Home, then kept while the user moves between pages by the sidebar's
navigation (a page opened by its URL is a new session, which starts from ``LOUPE_MODEL_NAME``).
"""

from __future__ import annotations

import io
import os
import re
import shutil
import time
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import CLASSIFIER_MODEL
from tests.e2e.conftest import ARTIFACTS, run_core
from tests.e2e.servers import loupe_app
from tests.e2e.test_journey import assert_no_exception, body, choose, open_page, open_tab, settle, shoot, visible_panel
from tests.team_classifiers import breast_cancer_frame

pytestmark = pytest.mark.slow
APP_LOG = ARTIFACTS / "loupe-classifier-app.log"
CLASSES = ("benign", "malignant")
BATCH_ROWS = 30
SHIFTED = "mean_radius"


@pytest.fixture(scope="module")
def classifier_console(classifier_home: Path, tmp_path_factory: pytest.TempPathFactory):
    """Loupe on a free loopback port, on a private copy of the registry holding both demo models.

    Yields the console's URL and the variables it runs with (for the CLI step of the journey).
    """
    home = tmp_path_factory.mktemp("classifier-journey") / "home"
    home.mkdir()
    for name in ("mlflow.db", "loupe.db"):
        shutil.copy2(classifier_home / name, home / name)
    variables = {"LOUPE_HOME": str(home), "LOUPE_SECRETS_FILE": str(home / "no-secrets.toml")}
    env = {key: value for key, value in os.environ.items() if not key.startswith(("LOUPE_", "MLFLOW_"))}
    env["STREAMLIT_SERVER_FILE_WATCHER_TYPE"] = "none"  # others edit this tree meanwhile: no reruns on their saves
    with loupe_app(env={**env, **variables}, log=APP_LOG) as url:
        yield url, variables


def sidebar(page):
    return page.locator('[data-testid="stSidebar"]')


def go_to(page, name: str) -> None:
    """Open a page from the sidebar's navigation, as a user does (the session, and the model chosen, carry on)."""
    settle(page)
    sidebar(page).locator('[data-testid="stSidebarNav"] a').filter(has_text=name).first.click()
    page.get_by_role("heading", name=name, exact=True).first.wait_for()
    settle(page)
    assert_no_exception(page)
    assert sidebar(page).get_by_role("combobox", name="Model").first.input_value() == CLASSIFIER_MODEL, (
        f"the model chosen on Home is still chosen on {name}"
    )


def frame(page, locator, block: str = "center") -> None:
    """Scroll ``locator`` to ``block`` of the view and move the mouse off the charts (no hover toolbars)."""
    locator.evaluate(f"element => element.scrollIntoView({{block: '{block}'}})")
    page.mouse.move(5, 795)
    settle(page)


def download(page, button_name: str) -> bytes:
    with page.expect_download() as started:
        page.get_by_role("button", name=button_name).first.click()
    return Path(started.value.path()).read_bytes()


def test_classifier_journey(classifier_console: tuple[str, dict[str, str]], page, tmp_path: Path) -> None:
    console, console_env = classifier_console
    started = time.monotonic()

    # Home: choose the classifier in the sidebar; its champion's holdout metrics are a classifier's.
    open_page(page, console, "")
    page.get_by_text("Champion", exact=True).wait_for()
    choose(page, sidebar(page), "Model", CLASSIFIER_MODEL)
    page.get_by_text(f"Model: {CLASSIFIER_MODEL}").first.wait_for()
    page.get_by_text("ROC AUC").first.wait_for()
    settle(page)
    assert "RMSE" not in body(page), "the classifier's Home shows classifier metrics, not the regressor's"
    assert_no_exception(page)
    shoot(page, "classifier-home")

    # Predict one tumour from the form (defaults are the reference's medians): a class and its probabilities.
    go_to(page, "Predict")
    page.get_by_text(f"{CLASSIFIER_MODEL} v1").first.wait_for()  # "Answering: tumour-triage v1" (a first load)
    page.get_by_text(re.compile(r"^Classifies: .* into 2 classes \(benign, malignant\)")).first.wait_for()
    page.get_by_text(SHIFTED, exact=True).first.wait_for()  # the form, built from the signature
    settle(page)
    page.locator('[data-testid="stFormSubmitButton"] button').first.click()
    settle(page)
    # "Predicted class", or "Predicted <output name>" for a model whose signature names its output (the demo's).
    answer = page.locator('[data-testid="stMetric"]').filter(has_text=re.compile(r"Predicted (class|diagnosis)")).first
    answer.wait_for()
    assert answer.locator('[data-testid="stMetricValue"]').inner_text().strip() in CLASSES, answer.inner_text()
    chart = page.locator('[data-testid="stPlotlyChart"]').filter(has_text="Class probabilities").first
    chart.wait_for()
    for label in CLASSES:
        assert label in chart.inner_text(), f"a bar for {label}"
    assert "v1" in body(page)
    assert_no_exception(page)
    frame(page, page.get_by_text("mean_concavity", exact=True).first, "start")  # the form's last rows, the answer
    shoot(page, "classifier-predict")

    # Score a CSV of 30 real tumours: every row scored, each with a probability per class.
    features, _ = breast_cancer_frame()
    batch_csv = tmp_path / "tumours-batch.csv"
    features.sample(BATCH_ROWS, random_state=1).to_csv(batch_csv, index=False)
    open_tab(page, "Batch CSV")
    visible_panel(page).locator('input[type="file"]').set_input_files(str(batch_csv))
    settle(page)
    page.get_by_role("button", name="Score the file").click()
    settle(page)
    page.get_by_text("Scored rows").wait_for()
    text = body(page)
    assert re.search(rf"Scored\s+{BATCH_ROWS}\b", text) and re.search(r"Rejected rows\s+0\b", text), text
    # The answer columns, scrolling the table sideways (as a user must) while they are not all in view.
    grid = visible_panel(page).locator('[data-testid="stDataFrame"]').first
    grid.scroll_into_view_if_needed()
    box = grid.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    wanted = {"prediction (diagnosis)", *(f"proba_{label}" for label in CLASSES)}
    headers: list[str] = []
    for _ in range(12):  # the grid draws on a canvas; its header cells are mirrored in a hidden table
        page.wait_for_timeout(400)
        headers = grid.locator('[role="columnheader"]').all_text_contents()
        if wanted <= set(headers):
            break
        page.mouse.wheel(250, 0)
    assert wanted <= set(headers), headers
    scored = pd.read_csv(io.BytesIO(download(page, "Download results")))
    assert len(scored) == BATCH_ROWS
    assert set(scored["prediction"]) <= set(CLASSES)
    probabilities = scored[[f"proba_{label}" for label in CLASSES]]
    assert ((probabilities.sum(axis=1) - 1).abs() < 1e-6).all(), "each row's probabilities sum to one"
    assert_no_exception(page)
    page.mouse.move(5, 795)
    shoot(page, "classifier-batch")

    # A day of traffic with mean_radius doubled and true labels for 30% of it, as README suggests.
    simulated = run_core(
        "simulate",
        "--model",
        CLASSIFIER_MODEL,
        "--rows",
        "1500",
        "--days",
        "1",
        "--shift",
        f"{SHIFTED}=2",
        "--label-share",
        "0.3",
        env=console_env,
    )
    assert simulated.returncode == 0, simulated.stdout + simulated.stderr

    # Monitoring: an alert on realised accuracy, which the shift made worse than the holdout's.
    go_to(page, "Monitoring")
    alert = page.get_by_text(
        re.compile(r"Realised accuracy: [\d.]+%? on [\d,]+ labelled predictions .* is below version 1's holdout")
    )
    alert.first.wait_for()
    settle(page)
    assert_no_exception(page)
    shoot(page, "classifier-monitoring-alerts")

    # Realised accuracy with label coverage, a confusion matrix and a calibration curve.
    accuracy = page.locator('[data-testid="stMetric"]').filter(has_text="Realised accuracy").first
    accuracy.wait_for()
    assert re.fullmatch(r"\d+(\.\d+)?%", accuracy.locator('[data-testid="stMetricValue"]').inner_text().strip()), (
        accuracy.inner_text()
    )
    coverage = page.locator('[data-testid="stMetric"]').filter(has_text="Label coverage").first
    assert re.fullmatch(r"\d+(\.\d+)?%", coverage.locator('[data-testid="stMetricValue"]').inner_text().strip()), (
        coverage.inner_text()
    )
    open_tab(page, "Realised performance")
    panel = visible_panel(page)
    summary = panel.get_by_text(re.compile(r"Realised metrics \(positive class \w+\) on [\d,]+ labelled of")).first
    summary.wait_for()
    labelled = int(re.search(r"on ([\d,]+) labelled", summary.inner_text()).group(1).replace(",", ""))
    assert labelled >= 300, summary.inner_text()  # ~30% of 1,500 simulated answers
    confusion = panel.locator('[data-testid="stPlotlyChart"]').filter(has_text="Confusion matrix").first
    confusion.wait_for()
    panel.locator('[data-testid="stPlotlyChart"]').filter(has_text="Calibration of P(").first.wait_for()
    assert_no_exception(page)
    frame(page, summary)  # the KPIs (realised accuracy, label coverage) and the metrics per version
    shoot(page, "classifier-monitoring-performance")
    frame(page, panel.locator('[data-testid="stPlotlyChart"]').filter(has_text="per day").first, "start")
    shoot(page, "classifier-monitoring-confusion")  # a metric per day, the confusion matrix, calibration

    open_tab(page, "Drift")
    panel = visible_panel(page)
    summary = panel.get_by_text(re.compile(r"\d+ of \d+ features drifted")).first
    summary.wait_for()
    drifted = int(re.search(r"(\d+) of \d+ features drifted", summary.inner_text()).group(1))
    assert drifted >= 1, summary.inner_text()
    report = pd.read_csv(io.BytesIO(download(page, "Download drift report (CSV)")))
    by_feature = report.set_index("feature")["drifted"].astype(str).str.lower()
    assert by_feature[SHIFTED] == "true", report.to_string()
    feature = panel.get_by_role("combobox", name="Feature").first
    assert feature.input_value() == SHIFTED, "the first drifted feature is the one shown"
    panel.get_by_text("Predicted labels and scores").wait_for()
    assert_no_exception(page)
    frame(page, summary)
    shoot(page, "classifier-monitoring-drift")

    # Registry: the challenger's pre-flight compares classifier metrics (higher ROC AUC is better).
    go_to(page, "Registry")
    panel = visible_panel(page)
    choose(page, panel, "Version", "v2 · challenger")
    preflight = page.get_by_text(re.compile(r"Pre-flight: champion version 1 → version 2")).first
    preflight.wait_for()
    text = visible_panel(page).inner_text()
    assert re.search(r"holdout \w+ — (ROC AUC|accuracy) [\d.]+ vs [\d.]+ for version 1 .*higher is better", text), text
    assert "RMSE" not in text and "MAE" not in text, text
    assert_no_exception(page)
    frame(page, preflight)
    shoot(page, "classifier-registry-preflight")

    seconds = time.monotonic() - started
    (ARTIFACTS / "classifier-journey-seconds.txt").write_text(f"{seconds:.1f}\n")
