import time

import pytest

from core import mlflow_io
from core.mlflow_io import RegistryUnavailable
from core.registry.status import console_status
from core.settings import get_settings


def test_dead_tracking_server_fails_fast_with_a_clear_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    get_settings.cache_clear()
    settings = get_settings()

    started = time.monotonic()
    with pytest.raises(RegistryUnavailable, match=r"MLflow at http://127\.0\.0\.1:9 is unreachable"):
        mlflow_io.list_versions(settings)
    elapsed = time.monotonic() - started

    assert elapsed < 5, f"a dead server took {elapsed:.1f}s to fail"
    assert mlflow_io.check_reachable(settings) is not None


def test_status_reports_an_unreachable_registry_instead_of_raising(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    get_settings.cache_clear()

    status = console_status(get_settings())

    assert not status.registry_reachable
    assert "127.0.0.1:9" in status.registry_error
    assert status.holders == {"champion": None, "challenger": None}


def test_empty_local_registry_is_reachable_and_empty(settings) -> None:
    assert mlflow_io.check_reachable(settings) is None
    assert mlflow_io.list_versions(settings) == []
    assert mlflow_io.version_for_alias(settings, alias="champion") is None
    assert not mlflow_io.has_any_version(settings)


def test_aliases_move_and_disappear(registry_home) -> None:
    settings = registry_home
    assert mlflow_io.version_for_alias(settings, alias="champion").version == 1

    mlflow_io.set_alias(settings, alias="champion", version=2)
    assert mlflow_io.version_for_alias(settings, alias="champion").version == 2

    mlflow_io.delete_alias(settings, alias="champion")
    assert mlflow_io.version_for_alias(settings, alias="champion") is None
