"""The last known alias holders: what Home says when the registry is unreachable (unknown, never "none")."""

from __future__ import annotations

from core.registry.last_known import FROM_MODEL_CACHE, FROM_REGISTRY, recall, remember
from core.registry.status import console_status, last_known_line, live_aliases, version_count_line
from core.serving.model_cache import serve
from core.settings import Settings
from tests.pages.helpers import closed_port


def unreachable(settings: Settings) -> Settings:
    """The same home (and model cache), its tracking server gone."""
    return settings.model_copy(update={"tracking_uri_override": f"http://127.0.0.1:{closed_port()}"})


def test_a_read_is_remembered_per_store_and_model(registry_home) -> None:
    assert recall(registry_home).holders == {}

    status = console_status(registry_home)
    known = recall(registry_home)

    assert status.registry_reachable and status.last_known is None
    assert {alias: (holder.version, holder.source) for alias, holder in known.holders.items()} == {
        "champion": (1, FROM_REGISTRY),
        "challenger": (2, FROM_REGISTRY),
    }
    assert known.version_count == 2 and known.counted_at is not None
    assert recall(registry_home.model_copy(update={"model_name": "another-model"})).holders == {}
    assert recall(unreachable(registry_home)).holders == {}  # another store: not its holders


def test_an_alias_read_keeps_the_count_and_records_an_alias_that_holds_nothing(registry_home) -> None:
    console_status(registry_home)
    remember(registry_home, holders={"champion": 3, "candidate": 2})  # as an alias map reads: challenger absent

    known = recall(registry_home)

    assert known.holders["champion"].version == 3 and known.holders["challenger"].version is None
    assert "candidate" not in known.holders and known.version_count == 2


def test_the_sidebars_alias_read_refreshes_it(registry_home) -> None:
    assert live_aliases(registry_home).registry_error is None

    assert recall(registry_home).holders["challenger"].version == 2


def test_with_the_registry_unreachable_the_status_carries_the_last_read(tmp_path, monkeypatch) -> None:
    from tests.conftest import use_home

    settings = use_home(monkeypatch, tmp_path / "home", MLFLOW_TRACKING_URI=f"http://127.0.0.1:{closed_port()}")
    remember(settings, holders={"champion": 4}, version_count=5)  # what an earlier successful read said

    status = console_status(settings)

    assert not status.registry_reachable and status.version_count == 0
    champion = last_known_line("champion", status.last_known)
    assert champion.startswith("`champion` v4, as of ") and champion.endswith(" UTC — the registry is unreachable.")
    challenger = last_known_line("challenger", status.last_known)
    assert challenger.startswith("No version held `challenger` as of ") and "is unknown" in challenger
    assert version_count_line(status).startswith("number of versions unknown (the registry is unreachable); 5 versions")


def test_never_read_says_unknown_not_none(tmp_path, monkeypatch) -> None:
    from tests.conftest import use_home

    settings = use_home(monkeypatch, tmp_path / "home", MLFLOW_TRACKING_URI=f"http://127.0.0.1:{closed_port()}")

    status = console_status(settings)

    assert last_known_line("champion", status.last_known) == (
        "`champion`: unknown — the registry is unreachable and this host has no earlier reading of it."
    )
    assert version_count_line(status) == "number of versions unknown (the registry is unreachable)"


def test_a_host_that_only_served_falls_back_on_the_model_caches_pointer(registry_home) -> None:
    serve(registry_home)  # this host served the champion: its pointer file says v1
    down = unreachable(registry_home)

    status = console_status(down)

    champion = status.last_known.holders["champion"] if status.last_known else None
    assert champion is not None and (champion.version, champion.source) == (1, FROM_MODEL_CACHE)
    assert "challenger" not in status.last_known.holders  # never served here: unknown
    assert "(the version this host last served for it)" in last_known_line("champion", status.last_known)


def test_a_failed_tracking_server_is_not_asked_again_at_once(failing_tracking_server, tmp_path, monkeypatch) -> None:
    from tests.conftest import use_home

    settings = use_home(monkeypatch, tmp_path / "home", MLFLOW_TRACKING_URI=failing_tracking_server.url)

    first = console_status(settings)
    asked = failing_tracking_server.requests
    again = live_aliases(settings)

    assert asked > 0 and not first.registry_reachable
    assert failing_tracking_server.requests == asked  # the page's next read did not wait on it again
    assert again.registry_error == first.registry_error
