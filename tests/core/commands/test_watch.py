"""``python -m core watch``: the alert rules on the real log, one message per incident to a loopback receiver."""

from __future__ import annotations

import pytest

from core.settings import get_settings
from tests.alert_receiver import receiver, slow_traffic


@pytest.mark.slow  # a real log and registry: seconds per cycle
def test_watch_sends_one_firing_message_then_one_resolved(cli, registry_home, monkeypatch) -> None:
    slow_traffic(registry_home)
    with receiver() as inbox:
        monkeypatch.setenv("LOUPE_ALERT_WEBHOOK_URL", f"{inbox.url}/hook")
        monkeypatch.setenv("LOUPE_ALERT_WEBHOOK_SECRET", "a-secret")
        get_settings.cache_clear()

        first = cli("watch")
        again = cli("watch")
        monkeypatch.setenv("LOUPE_ALERT_P95_LATENCY_MS", "2000")  # the latency rule no longer fires
        get_settings.cache_clear()
        cleared = cli("watch")

    assert first.code == 0, first.err
    assert "opened: p95_latency v1" in first.out and "sent 1 message(s) to webhook" in first.out
    assert again.code == 0 and "opened" not in again.out and "sent 0 message(s)" in again.out
    assert cleared.code == 0 and "resolved: p95_latency v1" in cleared.out
    events = [(body["event"], body["rule"], body["model_version"]) for body in inbox.bodies()]
    assert events == [("firing", "p95_latency", 1), ("resolved", "p95_latency", 1)]
    assert inbox.bodies()[0]["message"].startswith("Slow answers: p95 latency 9")  # bucketed: ~900 ms
    assert all(request.headers["X-Loupe-Signature"].startswith("sha256=") for request in inbox.requests)


@pytest.mark.slow  # a real log and registry: seconds per cycle
def test_watch_every_repeats_without_resending(cli, registry_home, monkeypatch) -> None:
    slow_traffic(registry_home)
    with receiver() as inbox:
        monkeypatch.setenv("LOUPE_ALERT_SLACK_URL", inbox.url)
        get_settings.cache_clear()

        ran = cli("watch", "--every", "1s", "--cycles", "2")

    assert ran.code == 0, ran.err
    assert ran.out.count("1 alert(s) firing (p95_latency v1)") == 2
    (body,) = inbox.bodies()
    assert body["text"] == "Alert firing: diamond-price v1: p95_latency"


@pytest.mark.slow  # a real log and registry: seconds per cycle
def test_an_undelivered_message_exits_1_and_says_it_is_tried_again(cli, registry_home, monkeypatch) -> None:
    slow_traffic(registry_home)
    with receiver() as inbox:
        inbox.failures = 1
        monkeypatch.setenv("LOUPE_ALERT_WEBHOOK_URL", inbox.url)
        monkeypatch.setenv("LOUPE_ALERT_DELIVERY_RETRIES", "0")
        get_settings.cache_clear()

        down = cli("watch")
        up = cli("watch")

    assert down.code == 1 and "not delivered: webhook: firing p95_latency v1: HTTP 503" in down.out
    assert "1 message(s) not delivered; they are tried again next cycle" in down.err
    assert up.code == 0 and "sent 1 message(s)" in up.out
    assert [body["event"] for body in inbox.bodies()] == ["firing", "firing"]  # the same message, retried


def test_watch_without_a_channel_says_how_to_set_one(cli, settings) -> None:
    ran = cli("watch")

    assert ran.code == 0, ran.err
    assert "no alert channel configured: set LOUPE_ALERT_WEBHOOK_URL" in ran.out
    assert "diamond-price: 0 alert(s) firing" in ran.out


def test_bad_options_exit_1_naming_the_option(cli, settings, monkeypatch) -> None:
    bad_every = cli("watch", "--every", "5 minutes")
    lonely_cycles = cli("watch", "--cycles", "2")
    monkeypatch.setenv("LOUPE_ALERT_WEBHOOK_URL", "ftp://hooks.example.com")
    get_settings.cache_clear()
    bad_url = cli("watch")

    assert bad_every.code == 1 and "--every must be a whole number and a unit such as 30s" in bad_every.err
    assert lonely_cycles.code == 1 and "--cycles must be at least 1 and goes with --every" in lonely_cycles.err
    assert bad_url.code == 1 and "LOUPE_ALERT_WEBHOOK_URL must be an http:// or https:// URL" in bad_url.err


def test_the_scheduled_workflow_runs_watch_hourly_with_the_alert_settings() -> None:
    import yaml

    from core.settings import PROJECT_ROOT

    workflow = yaml.safe_load((PROJECT_ROOT / ".github" / "workflows" / "watch.yml").read_text())
    triggers = workflow[True]  # YAML 1.1 reads the key "on" as True
    (job,) = workflow["jobs"].values()

    assert triggers["schedule"][0]["cron"].split()[1:] == ["*", "*", "*", "*"] and "workflow_dispatch" in triggers
    assert {"MLFLOW_TRACKING_URI", "LOUPE_DATABASE_URL", "LOUPE_ALERT_WEBHOOK_URL", "LOUPE_ALERT_SLACK_URL"} <= set(
        job["env"]
    )
    assert "LOUPE_ALERT_WEBHOOK_SECRET" in job["env"]
    assert any(step.get("run") == "python -m core watch" for step in job["steps"])


@pytest.mark.slow  # two real processes, PostgreSQL
def test_two_watch_processes_at_once_send_one_message(registry_home, pg_url, monkeypatch) -> None:
    import os
    import subprocess
    import sys

    monkeypatch.setenv("LOUPE_DATABASE_URL", pg_url)
    get_settings.cache_clear()
    slow_traffic(get_settings())
    with receiver() as inbox:
        inbox.delay_s = 3.0  # whoever sends first is still sending when the other is ready
        env = {**os.environ, "LOUPE_ALERT_WEBHOOK_URL": inbox.url}
        watchers = [
            subprocess.Popen(
                [sys.executable, "-m", "core", "watch"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
            )
            for _ in range(2)
        ]
        outputs = [watcher.communicate(timeout=300)[0].decode() for watcher in watchers]

    assert [watcher.returncode for watcher in watchers] == [0, 0], outputs
    assert len(inbox.requests) == 1, outputs
    assert sum("opened: p95_latency v1" in output for output in outputs) == 1
