import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from core import mlflow_io
from core.errors import ArtifactMissing, VersionNotFound
from core.mlflow_io import RegistryUnavailable
from core.registry.status import console_status
from core.settings import get_settings
from tests.conftest import use_home


class FailingServer(BaseHTTPRequestHandler):
    """A tracking server that answers every request with 503 and counts them."""

    requests = 0

    def do_GET(self) -> None:
        type(self).requests += 1
        self.send_response(503)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_POST = do_GET

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def failing_server():
    FailingServer.requests = 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), FailingServer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_failing_server_is_asked_a_bounded_number_of_times(failing_server, tmp_path, monkeypatch) -> None:
    settings = use_home(
        monkeypatch, tmp_path / "home", MLFLOW_TRACKING_URI=failing_server, LOUPE_MLFLOW_MAX_RETRIES="1"
    )

    with pytest.raises(RegistryUnavailable, match=r"MLflow at http://127\.0\.0\.1:\d+ is unreachable or failing"):
        mlflow_io.list_versions(settings)

    # One request and one retry: MLflow's default would retry for minutes (about 4 on this machine).
    assert FailingServer.requests == 2


def test_a_closed_port_is_reported_in_words(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    get_settings.cache_clear()
    settings = get_settings()

    with pytest.raises(RegistryUnavailable, match=r"MLflow at http://127\.0\.0\.1:9 is unreachable"):
        mlflow_io.list_versions(settings)
    assert "127.0.0.1:9" in mlflow_io.check_reachable(settings)


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


def test_missing_things_raise_loupes_errors_not_mlflows(registry_home) -> None:
    settings = registry_home

    with pytest.raises(VersionNotFound, match=f"version 99 of {settings.model_name} does not exist"):
        mlflow_io.get_version(settings, version=99)
    with pytest.raises(VersionNotFound, match="version 99"):
        mlflow_io.set_alias(settings, alias="champion", version=99)
    run_id = mlflow_io.get_version(settings, version=1).run_id
    with pytest.raises(ArtifactMissing, match=r"has no artifact no-such-file\.json"):
        mlflow_io.load_json_artifact(settings, run_id=run_id, artifact_path="no-such-file.json")
    assert mlflow_io.load_json_artifact_if_present(settings, run_id=run_id, artifact_path="no-such-file.json") is None


def test_aliases_move_and_disappear(registry_home) -> None:
    settings = registry_home
    assert mlflow_io.version_for_alias(settings, alias="champion").version == 1

    mlflow_io.set_alias(settings, alias="champion", version=2)
    assert mlflow_io.version_for_alias(settings, alias="champion").version == 2

    mlflow_io.delete_alias(settings, alias="champion")
    assert mlflow_io.version_for_alias(settings, alias="champion") is None
