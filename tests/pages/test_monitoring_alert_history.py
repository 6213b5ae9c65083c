"""Monitoring's alert history: how to set delivery up while nothing is configured, then the messages sent."""

from __future__ import annotations

import pytest

from core.monitoring.alerts import Alert
from core.monitoring.incidents import watch_cycle
from core.settings import get_settings
from storage.db import make_engine, make_sessionmaker, migrate
from tests.alert_receiver import receiver
from tests.pages.helpers import open_page, readable


def infos(app) -> str:
    return readable(" ".join(str(info.value) for info in app.info))


def test_without_a_channel_the_history_says_how_to_configure_delivery(registry_home) -> None:
    app = open_page("pages/4_Monitoring.py").run()

    assert not app.exception
    assert "Alert history" in [header.value for header in app.subheader]
    text = infos(app)
    assert "No alert is delivered yet. Set `LOUPE_ALERT_WEBHOOK_URL`" in text and "python -m core watch" in text


@pytest.mark.slow  # three page runs and two alert cycles
def test_sent_alerts_are_listed_newest_first(registry_home, monkeypatch) -> None:
    engine = make_engine(registry_home.database_url)
    migrate(engine)
    sessions = make_sessionmaker(engine)
    with receiver() as inbox:
        monkeypatch.setenv("LOUPE_ALERT_WEBHOOK_URL", inbox.url)
        get_settings.cache_clear()
        settings = get_settings()
        configured = open_page("pages/4_Monitoring.py").run()
        alert = Alert("p95_latency", "warning", "Slow answers.", 900.0, 250.0, version=1)
        watch_cycle(settings, sessions=sessions, fired=[alert])
        watch_cycle(settings, sessions=sessions, fired=[])
    engine.dispose()

    app = open_page("pages/4_Monitoring.py").run()

    assert "No alert has fired since delivery was set up" in infos(configured)
    assert not app.exception
    (table,) = [frame.value for frame in app.dataframe if "Channel" in frame.value.columns]
    assert list(table["Event"]) == ["resolved", "firing"]
    assert set(table["Rule"]) == {"p95_latency"} and set(table["Channel"]) == {"webhook"}
    assert set(table["Status"]) == {"sent"} and list(table["Version"]) == [1, 1]
