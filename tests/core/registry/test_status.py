from core.registry.status import backend_label, live_aliases


def test_live_aliases_of_the_bootstrapped_registry(registry_home) -> None:
    live = live_aliases(registry_home)

    assert live.registry_error is None
    assert live.versions == {"champion": 1, "challenger": 2}


def test_live_aliases_report_a_dead_registry(monkeypatch) -> None:
    from core.settings import get_settings

    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    get_settings.cache_clear()

    live = live_aliases(get_settings())

    assert live.versions == {} and "127.0.0.1:9" in live.registry_error


def test_backend_labels() -> None:
    assert backend_label("sqlite:////x/loupe.db") == "SQLite"
    assert backend_label("postgresql+psycopg://u@h/db") == "PostgreSQL"
    assert backend_label("http://127.0.0.1:5000") == "MLflow server"
