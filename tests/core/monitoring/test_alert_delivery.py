"""Alert delivery: one firing message per incident and one when it resolves, signed, retried, never lost,
never sent twice — delivered to a real receiver on a loopback port, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
import time

import pytest
from pydantic import SecretStr

from core.monitoring.alert_delivery import channels
from core.monitoring.alerts import Alert
from core.monitoring.incidents import alert_history, watch_cycle
from storage.db import make_engine, make_sessionmaker, migrate
from tests.alert_receiver import receiver, slow_traffic

SECRET = "s3cret-for-tests"


def latency_alert(version: int = 1, value: float = 900.0) -> Alert:
    return Alert("p95_latency", "warning", f"Slow answers: p95 latency {value} ms.", value, 250.0, version=version)


# PostgreSQL runs in the slow tier: a fresh schema migrated per test costs about a second.
@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.slow)])
def sessions(request, settings):
    url = settings.database_url if request.param == "sqlite" else request.getfixturevalue("pg_url")
    engine = make_engine(url)
    migrate(engine)
    yield make_sessionmaker(engine)
    engine.dispose()


@pytest.fixture
def inbox():
    with receiver() as state:
        yield state


def configured(settings, inbox, **more):
    update = {"alert_webhook_url": f"{inbox.url}/hook", "alert_webhook_secret": SecretStr(SECRET), **more}
    return settings.model_copy(update=update)


def test_one_message_when_an_alert_fires_none_while_it_stays_one_when_it_clears(settings, sessions, inbox) -> None:
    settings = configured(settings, inbox)

    first = watch_cycle(settings, sessions=sessions, fired=[latency_alert()])
    second = watch_cycle(settings, sessions=sessions, fired=[latency_alert(value=950.0)])
    cleared = watch_cycle(settings, sessions=sessions, fired=[])
    quiet = watch_cycle(settings, sessions=sessions, fired=[])

    assert (first.opened, first.sent, second.opened, second.sent) == (["p95_latency v1"], 1, [], 0)
    assert (cleared.resolved, cleared.sent, quiet.resolved, quiet.sent) == (["p95_latency v1"], 1, [], 0)
    firing, resolved = inbox.bodies()
    assert firing["event"] == "firing" and resolved["event"] == "resolved"
    assert firing["incident_id"] == resolved["incident_id"]
    assert (firing["model_name"], firing["model_version"], firing["rule"]) == ("diamond-price", 1, "p95_latency")
    assert firing["value"] == 900.0 and firing["threshold"] == 250.0 and firing["resolved_at"] is None
    assert resolved["value"] == 950.0 and resolved["resolved_at"] is not None  # the incident's latest figures
    history = alert_history(settings, sessions=sessions)
    assert list(history["Event"]) == ["resolved", "firing"] and set(history["Status"]) == {"sent"}


def test_the_signature_is_an_hmac_of_timestamp_and_body(settings, sessions, inbox) -> None:
    watch_cycle(configured(settings, inbox), sessions=sessions, fired=[latency_alert()])

    (request,) = inbox.requests
    timestamp = request.headers["X-Loupe-Timestamp"]
    expected = hmac.new(SECRET.encode(), f"{timestamp}.".encode() + request.body, hashlib.sha256).hexdigest()
    assert request.headers["X-Loupe-Signature"] == f"sha256={expected}"
    assert abs(int(timestamp) - time.time()) < 600
    assert request.headers["X-Loupe-Event"] == "firing" and request.headers["X-Loupe-Delivery"].isdigit()
    wrong = hmac.new(b"another secret", f"{timestamp}.".encode() + request.body, hashlib.sha256).hexdigest()
    assert request.headers["X-Loupe-Signature"] != f"sha256={wrong}"


def test_no_secret_no_signature(settings, sessions, inbox) -> None:
    settings = settings.model_copy(update={"alert_webhook_url": inbox.url})

    watch_cycle(settings, sessions=sessions, fired=[latency_alert()])

    assert "X-Loupe-Signature" not in inbox.requests[0].headers


def test_slack_gets_a_slack_body_with_the_data_escaped(settings, sessions, inbox) -> None:
    settings = settings.model_copy(update={"alert_slack_url": f"{inbox.url}/slack", "model_name": "team<&>model"})
    alert = Alert("drift_share", "error", "Input drift on <!channel> & *bold*.", 0.6, 0.5, version=3)

    watch_cycle(settings, sessions=sessions, fired=[alert])
    watch_cycle(settings, sessions=sessions, fired=[])

    firing, resolved = inbox.bodies("/slack")
    assert set(firing) == {"text", "blocks"}
    assert firing["text"] == "Alert firing: team&lt;&amp;&gt;model v3: drift_share"
    (block,) = firing["blocks"]
    assert block["type"] == "section" and block["text"]["type"] == "mrkdwn"
    assert "Input drift on &lt;!channel&gt; &amp; *bold*." in block["text"]["text"]
    assert "<" not in block["text"]["text"].replace("&lt;", "")
    assert resolved["text"].startswith("Resolved: team&lt;&amp;&gt;model v3") and "Cleared after" in json.dumps(
        resolved
    )


def test_a_receiver_that_is_down_is_retried_then_recorded_failed_then_delivered_next_cycle(
    settings, sessions, inbox
) -> None:
    settings = configured(settings, inbox, alert_delivery_retries=2)
    inbox.failures = 3  # every try of the first cycle

    down = watch_cycle(settings, sessions=sessions, fired=[latency_alert()], backoff_s=0.01)
    failed = alert_history(settings, sessions=sessions).iloc[0]
    up = watch_cycle(settings, sessions=sessions, fired=[latency_alert()], backoff_s=0.01)

    assert down.sent == 0 and len(down.failed) == 1 and "HTTP 503" in down.failed[0]
    assert (failed["Status"], failed["Attempts"]) == ("failed", 3) and "HTTP 503" in failed["Last error"]
    assert up.sent == 1 and up.failed == []
    assert len(inbox.requests) == 4  # 3 tries, then 1 the next cycle
    delivered = alert_history(settings, sessions=sessions).iloc[0]
    assert (delivered["Status"], delivered["Attempts"], delivered["Last error"]) == ("sent", 4, None)
    assert {body["delivery_id"] for body in inbox.bodies()} == {int(inbox.requests[0].headers["X-Loupe-Delivery"])}


def test_a_closed_port_is_a_recorded_failure_not_a_crash(settings, sessions) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = settings.model_copy(
        update={"alert_webhook_url": f"http://127.0.0.1:{port}/", "alert_delivery_retries": 1}
    )

    result = watch_cycle(settings, sessions=sessions, fired=[latency_alert()], backoff_s=0.01)

    assert result.sent == 0 and "could not reach the receiver" in result.failed[0]
    assert alert_history(settings, sessions=sessions).iloc[0]["Attempts"] == 2


def test_two_watchers_at_once_send_one_message(settings, sessions, inbox) -> None:
    settings = configured(settings, inbox)
    inbox.delay_s = 0.5  # the first watcher is still sending when the second arrives
    results = []

    def watch() -> None:
        results.append(watch_cycle(settings, sessions=sessions, fired=[latency_alert()]))

    threads = [threading.Thread(target=watch) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(inbox.requests) == 1
    assert sorted(result.skipped for result in results) == [False, True]


def test_a_new_version_firing_is_a_new_incident_and_the_old_one_resolves(settings, sessions, inbox) -> None:
    settings = configured(settings, inbox)

    watch_cycle(settings, sessions=sessions, fired=[latency_alert(version=1)])
    moved = watch_cycle(settings, sessions=sessions, fired=[latency_alert(version=2)])

    assert (moved.opened, moved.resolved) == (["p95_latency v2"], ["p95_latency v1"])
    events = [(body["event"], body["model_version"]) for body in inbox.bodies()]
    assert sorted(events) == [("firing", 1), ("firing", 2), ("resolved", 1)]


def test_a_channel_set_later_hears_what_still_fires_and_only_told_channels_hear_it_resolve(
    settings, sessions, inbox
) -> None:
    webhook_only = configured(settings, inbox)
    both = configured(settings, inbox, alert_slack_url=f"{inbox.url}/slack")

    watch_cycle(webhook_only, sessions=sessions, fired=[latency_alert(version=1)])
    watch_cycle(both, sessions=sessions, fired=[latency_alert(version=1)])
    watch_cycle(webhook_only, sessions=sessions, fired=[])

    paths = [(request.path, json.loads(request.body).get("event", "slack")) for request in inbox.requests]
    assert paths == [("/hook", "firing"), ("/slack", "slack"), ("/hook", "resolved")]


def test_no_channel_keeps_incidents_and_sends_nothing(settings, sessions) -> None:
    result = watch_cycle(settings, sessions=sessions, fired=[latency_alert()])

    assert result.channels == [] and result.opened == ["p95_latency v1"] and result.sent == 0
    assert alert_history(settings, sessions=sessions).empty


@pytest.mark.parametrize(
    ("field", "name"), [("alert_webhook_url", "LOUPE_ALERT_WEBHOOK_URL"), ("alert_slack_url", "LOUPE_ALERT_SLACK_URL")]
)
def test_a_url_that_is_not_http_names_its_setting(settings, field, name) -> None:
    with pytest.raises(ValueError, match=f"{name} must be an http"):
        channels(settings.model_copy(update={field: "hooks.example.com/x"}))


@pytest.mark.slow  # a real log and registry: seconds per cycle
def test_the_servers_hourly_maintenance_runs_the_alert_cycle(registry_home, inbox) -> None:
    from core.server.app import hourly_maintenance

    slow_traffic(registry_home)
    settings = configured(registry_home, inbox)
    engine = make_engine(settings.database_url)
    sessions = make_sessionmaker(engine)

    hourly_maintenance(settings, sessions=sessions)
    hourly_maintenance(settings, sessions=sessions)
    engine.dispose()

    (firing,) = inbox.bodies()
    assert (firing["event"], firing["rule"], firing["model_version"]) == ("firing", "p95_latency", 1)


def test_the_readmes_verification_snippet_accepts_a_real_request_and_refuses_a_forged_one(
    settings, sessions, inbox
) -> None:
    from core.settings import PROJECT_ROOT

    readme = (PROJECT_ROOT / "README.md").read_text()
    snippet = readme.split("To verify on the receiving side:", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict = {}
    exec(snippet, namespace)  # the README's own code, as a receiver would paste it
    watch_cycle(configured(settings, inbox), sessions=sessions, fired=[latency_alert()])
    (request,) = inbox.requests

    assert namespace["verified"](SECRET, request.headers, request.body) is True
    assert namespace["verified"](SECRET, request.headers, request.body.replace(b"900", b"100")) is False
    assert namespace["verified"]("not the secret", request.headers, request.body) is False


@pytest.mark.parametrize(("status", "said"), [(302, "HTTP 302"), (404, "HTTP 404")])
def test_a_redirect_or_a_client_error_is_not_retried_nor_followed(settings, sessions, inbox, status, said) -> None:
    inbox.status = status
    settings = configured(settings, inbox, alert_delivery_retries=3)

    result = watch_cycle(settings, sessions=sessions, fired=[latency_alert()], backoff_s=0.01)

    assert result.sent == 0 and said in result.failed[0]
    assert [request.path for request in inbox.requests] == ["/hook"]  # one try, no follow to /elsewhere
    assert alert_history(settings, sessions=sessions).iloc[0]["Status"] == "failed"
