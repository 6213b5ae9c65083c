from pathlib import Path

from streamlit.testing.v1 import AppTest

from tests.conftest import use_home

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 60


def home() -> AppTest:
    return AppTest.from_file(str(ROOT / "Home.py"), default_timeout=TIMEOUT)


def texts(app: AppTest) -> str:
    parts = [element.value for element in (*app.markdown, *app.caption, *app.subheader)]
    parts += [f"{metric.label} {metric.value}" for metric in app.metric]
    return "\n".join(str(part) for part in parts)


def test_home_shows_champion_and_challenger(bootstrapped_home: Path, monkeypatch) -> None:
    use_home(monkeypatch, bootstrapped_home)

    app = home().run()

    assert not app.exception
    shown = texts(app)
    assert "**Version 1** · `hgb`" in shown
    assert "**Version 2** · `rf`" in shown
    assert "reachable" in shown and "unreachable" not in shown
    assert any(metric.label == "Holdout RMSE" for metric in app.metric)


def test_home_survives_an_unreachable_registry(monkeypatch, tmp_path) -> None:
    use_home(monkeypatch, tmp_path / "home", MLFLOW_TRACKING_URI="http://127.0.0.1:9")

    app = home().run()

    assert not app.exception
    assert any("Registry unreachable" in error.value for error in app.error)
    assert "127.0.0.1:9" in app.error[0].value


def test_home_on_an_empty_registry_says_what_to_do(monkeypatch, tmp_path) -> None:
    use_home(monkeypatch, tmp_path / "home")

    app = home().run()

    assert not app.exception
    assert any("make run" in info.value for info in app.info)
