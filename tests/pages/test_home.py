import re
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import use_home
from tests.core.registry.tracking_server import seed_registry, tracking_server
from tests.pages.helpers import REDACTED, ROOT, closed_port, failures, open_page, page_text, readable
from tests.pages.test_monitoring import classifier_home, log_classified


def home() -> AppTest:
    return open_page()


def in_order(block) -> list:
    """Every element of the page, top to bottom."""
    found = [block]
    for index in sorted(getattr(block, "children", {})):
        found += in_order(block.children[index])
    return found


def position(app: AppTest, kind: str, starts: str) -> int:
    """Where the first ``kind`` element whose text starts with ``starts`` sits on the page."""
    elements = in_order(app.main)
    return next(
        at
        for at, element in enumerate(elements)
        if getattr(element, "type", None) == kind and readable(str(element.value)).startswith(starts)
    )


def texts(app: AppTest) -> str:
    parts = [readable(str(element.value)) for element in (*app.markdown, *app.caption, *app.subheader)]
    parts += [readable(f"{metric.label} {metric.value}") for metric in app.metric]
    return "\n".join(parts)


def test_home_shows_champion_and_challenger(bootstrapped_home: Path, monkeypatch) -> None:
    use_home(monkeypatch, bootstrapped_home)

    app = home().run()

    assert not app.exception
    shown = texts(app)
    assert "**Version 1** · hgb · holdout metrics from its run" in shown
    assert "**Version 2** · rf · holdout metrics from its run" in shown
    assert "reachable" in shown and "unreachable" not in shown
    assert "RMSE $547" in shown  # the demo's versions are tagged loupe.unit=USD
    assert "R² 0.98" in shown


def test_home_says_in_words_that_the_registry_is_unreachable(monkeypatch, tmp_path) -> None:
    tracking_uri = f"http://127.0.0.1:{closed_port()}"
    use_home(monkeypatch, tmp_path / "home", MLFLOW_TRACKING_URI=tracking_uri)

    app = home().run()

    assert not app.exception  # not Streamlit's box, redacted or not
    (failure,) = failures(app)
    assert failure.startswith("Registry unreachable. ") and tracking_uri in failure
    assert f"`{tracking_uri}` — :material/cancel: unreachable" in texts(app)
    assert "🔴 registry unreachable" in [caption.value for caption in app.sidebar.caption]
    shown = page_text(app)
    assert "Traceback" not in shown and REDACTED not in shown


def test_home_on_an_empty_registry_says_what_to_do(monkeypatch, tmp_path) -> None:
    use_home(monkeypatch, tmp_path / "home")

    app = home().run()

    assert not app.exception
    (hint,) = [readable(info.value) for info in app.info]
    assert hint.startswith("The registry holds no model yet.")
    assert "Experiments" in hint and "python -m core bootstrap" in hint


@pytest.fixture
def classifier(tmp_path, monkeypatch):
    yield from classifier_home(tmp_path, monkeypatch)


def test_home_shows_a_classifiers_metric_alert(classifier) -> None:
    settings, registered = classifier
    log_classified(settings, registered.version, label_share=0.6, skill=0.1)  # far below its holdout accuracy

    app = home().run()

    assert not app.exception
    alerts = [readable(box.value) for box in app.error]
    assert any(
        alert.startswith("Realised accuracy:") and f"version {registered.version}'s holdout" in alert
        for alert in alerts
    )
    assert "accuracy" in texts(app).lower()  # its holdout figures are on the champion's card
    # Alerts first: above the champion's card and "Where to go", not below the fold.
    alert_at = position(app, "error", "Realised accuracy:")
    assert alert_at < position(app, "subheader", "Champion") < position(app, "subheader", "Where to go")
    # One format for a classifier's figures: the card's holdout accuracy and the alert's both read "93.7%".
    accuracy = next(alert for alert in alerts if alert.startswith("Realised accuracy:"))
    assert re.match(r"Realised accuracy: \d+\.\d% on \d+ labelled predictions \(\d+\.\d% of them\)", accuracy)
    assert re.search(r"holdout \d+\.\d% by \d+\.\d pp", accuracy)
    card = next(metric.value for metric in app.metric if metric.label == "accuracy")
    assert re.fullmatch(r"\d+\.\d%", readable(card))


def test_home_says_when_both_aliases_point_to_one_version(registry_home) -> None:
    from core import mlflow_io

    assert "shadow scoring is idle" not in page_text(home().run())
    mlflow_io.set_alias(registry_home, alias="challenger", version=1)

    app = home().run()

    assert not app.exception
    (note,) = [readable(box.value) for box in app.warning if "shadow scoring is idle" in box.value]
    assert note.startswith("`champion` and `challenger` both point to version 1: shadow scoring is idle")
    assert position(app, "warning", "`champion` and") < position(app, "subheader", "Champion")


@pytest.mark.slow
def test_home_with_the_registry_hung_then_dead_shows_the_last_known_holders(monkeypatch, tmp_path) -> None:
    """With the tracking server hung (SIGSTOP) or dead (SIGKILL), Home says what it last knew, never "none"."""
    with tracking_server(tmp_path / "tracking") as server:
        seed_registry(server.url, model_name="team-model", versions=2, aliases={"champion": 1})
        use_home(monkeypatch, tmp_path / "home", MLFLOW_TRACKING_URI=server.url, LOUPE_MODEL_NAME="team-model")

        up = home().run()
        assert not up.exception
        assert "**Version 1**" in texts(up) and "2 versions registered" in texts(up)

        server.hang()
        started = time.monotonic()
        hung = AppTest.from_file(str(ROOT / "Home.py"), default_timeout=30).run()
        # A figure to report, not to assert: wall-clock time depends on the machine.
        print(f"Home with the tracking server hung rendered in {time.monotonic() - started:.1f} s")
        outage_shown(hung, server.url)

        server.kill()
        outage_shown(home().run(), server.url)


def outage_shown(app: AppTest, tracking_uri: str) -> None:
    assert not app.exception
    (failure,) = failures(app)
    assert failure.startswith("Registry unreachable. ") and tracking_uri in failure
    shown = texts(app)
    champion = re.search(
        r"`champion` v1, as of \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC — the registry is unreachable\.", shown
    )
    assert champion is not None, shown
    assert "No version held `challenger` as of " in shown and "whether one holds it now is unknown" in shown
    assert re.search(r"number of versions unknown \(the registry is unreachable\); 2 versions as of ", shown)
    assert "No version holds" not in shown and "0 versions registered" not in shown
    assert "Traceback" not in page_text(app)
