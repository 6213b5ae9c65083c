"""Issue #15, point 6: text from MLflow, CSVs and people is shown as text on every page, never as Markdown.

A registry a team filled with plain MLflow code holds ``![x](http://…)``, ``[link](http://…)`` and ``<img>``
in its experiment and run names, run tags and params, descriptions and version tags (``loupe.estimator``,
``validation_status``). Every string Streamlit renders as Markdown (bodies, labels, help, titles, metric
values, tab and expander labels) must carry them escaped; the reader still sees them as written.
The browser test (tests/e2e/test_plain_text.py) checks that nothing is fetched.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from google.protobuf.message import Message
from mlflow.tracking import MlflowClient
from streamlit.testing.v1 import AppTest

from core.settings import Settings
from tests.conftest import private_copy, settings_at
from tests.hostile_store import MODEL, Hostile, register_hostile_model
from tests.pages.helpers import closed_port, open_page, readable
from ui.formats import code, plain

# Fields Streamlit renders as Markdown, in whatever element or block carries them.
MARKDOWN_FIELDS = {"body", "label", "help", "title", "caption"}
PLAIN_ELEMENTS = {"Text", "Code", "Exception"}  # shown character for character


@pytest.fixture(scope="module")
def hostile_home(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Hostile]:
    """The hostile registry, built once for the module (read only: tests work on private copies)."""
    home = tmp_path_factory.mktemp("hostile") / "home"
    hostile = Hostile(closed_port())
    with settings_at(home, LOUPE_MODEL_NAME=MODEL) as settings:
        settings.ensure_home()
        register_hostile_model(settings.tracking_uri, artifacts=home / "artifacts", hostile=hostile)
    return home, hostile


@pytest.fixture
def hostile_registry(hostile_home, tmp_path, monkeypatch) -> tuple[Settings, Hostile]:
    """A private copy of the hostile registry (artifacts shared) and an empty prediction log."""
    home, hostile = hostile_home
    settings = private_copy(
        home, tmp_path, monkeypatch, stores=("mlflow.db",), LOUPE_MODEL_NAME=MODEL, LOUPE_SHADOW="false"
    )
    return settings, hostile


def _strings(message: Message) -> Iterator[str]:
    if message.DESCRIPTOR.name in PLAIN_ELEMENTS:
        return
    for field, value in message.ListFields():
        values = value if field.is_repeated else [value]
        if field.type == field.TYPE_MESSAGE:
            for item in values:
                yield from _strings(item)
        elif field.type == field.TYPE_STRING and field.name in MARKDOWN_FIELDS:
            yield from values


def _nodes(node) -> Iterator:
    yield node
    children = getattr(node, "children", None) or {}
    for child in children.values():
        yield from _nodes(child)


def markdown_sources(app: AppTest) -> list[str]:
    """Every string of the last run that Streamlit renders as Markdown, as the page sent it."""
    found: list[str] = []
    for node in _nodes(app._tree):
        proto = getattr(node, "proto", None)
        if isinstance(proto, Message):
            found += _strings(proto)
    return found


def live_markup(source: str, port: int) -> list[str]:
    """The images, links, HTML and bare addresses to ``port`` that ``source`` would render (code spans are text)."""
    outside_code = re.sub(r"(`+).*?\1", "", source, flags=re.DOTALL)
    address = rf"http://127\.0\.0\.1:{port}"
    return re.findall(rf"(?<!\\)\]\({address}|(?<!\\)<img|(?<![\w\u2060]){address}", outside_code)


def assert_all_text(app: AppTest, hostile: Hostile) -> str:
    assert not app.exception, [element.message for element in app.exception]
    sources = markdown_sources(app)
    rendered = {source: live_markup(source, hostile.port) for source in sources}
    assert not {source: found for source, found in rendered.items() if found}
    return "\n".join(readable(source) for source in sources)


def test_the_helpers_leave_nothing_live(tmp_path) -> None:
    hostile = Hostile(8)
    for text in (hostile.both, hostile.html, f"see http://127.0.0.1:{hostile.port}/l", f"a\n\n{hostile.image}"):
        assert not live_markup(plain(text), hostile.port), plain(text)
        assert readable(plain(text)) == text
        assert not live_markup(code(text), hostile.port), code(text)
    # The check itself finds what a page would render.
    assert live_markup(hostile.image, hostile.port) and live_markup(hostile.html, hostile.port)
    assert live_markup(f"go to http://127.0.0.1:{hostile.port}/l", hostile.port)


def test_home_shows_tags_as_text(hostile_registry) -> None:
    _, hostile = hostile_registry
    shown = assert_all_text(open_page().run(), hostile)

    assert hostile.image in shown  # the champion's loupe.estimator tag, as written


def test_registry_shows_tags_and_descriptions_as_text(hostile_registry) -> None:
    _, hostile = hostile_registry
    app = open_page("pages/3_Registry.py").run()
    shown = assert_all_text(app, hostile)

    assert hostile.image in shown  # loupe.estimator on the holder cards
    assert hostile.link in shown  # validation_status of the chosen version


def test_experiments_shows_run_names_tags_and_params_as_text(hostile_registry) -> None:
    settings, hostile = hostile_registry
    app = open_page("pages/2_Experiments.py").run()
    shown = assert_all_text(app, hostile)
    assert hostile.image in shown  # the run's estimator tag in its summary

    # Compare every run: bars, parallel coordinates and the param scatter are drawn from the hostile names.
    run_ids = [run.info.run_id for run in MlflowClient(settings.tracking_uri).search_runs(_experiment_ids(settings))]
    next(widget for widget in app.multiselect if str(widget.key).startswith("compare_")).set_value(run_ids)
    app.run()
    assert_all_text(app, hostile)
    charts = app.get("plotly_chart")
    assert charts
    for chart in charts:
        for text in _chart_strings(json.loads(chart.proto.spec)):
            assert "<img" not in text and "<a" not in text, text  # Plotly would read the tag
    drawn = "\n".join(text for chart in charts for text in _chart_strings(json.loads(chart.proto.spec)))
    assert html.escape(hostile.html, quote=False) in drawn  # the param value, escaped for Plotly


def _experiment_ids(settings: Settings) -> list[str]:
    return [experiment.experiment_id for experiment in MlflowClient(settings.tracking_uri).search_experiments()]


def _chart_strings(spec: object) -> Iterator[str]:
    if isinstance(spec, str):
        yield spec
    elif isinstance(spec, dict):
        for value in spec.values():
            yield from _chart_strings(value)
    elif isinstance(spec, list):
        for value in spec:
            yield from _chart_strings(value)


def test_predict_and_monitoring_show_names_as_text(hostile_registry) -> None:
    _, hostile = hostile_registry
    predict = open_page("pages/1_Predict.py").run()
    assert_all_text(predict, hostile)

    monitoring = open_page("pages/4_Monitoring.py").run()
    assert_all_text(monitoring, hostile)
