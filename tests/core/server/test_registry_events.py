"""Registry events: a real ``mlflow server`` posts its signed webhook to a real Loupe server, which records the change.

The signature is MLflow's own (its delivery code signs the test's forged and genuine bodies too), so the
check here is the one a tracking server's deliveries meet.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from mlflow.tracking import MlflowClient
from mlflow.webhooks.delivery import _generate_hmac_signature

from core.cli import main
from core.mlflow_io.webhooks import registry_webhooks
from core.registry.ledger_sync import EXTERNAL_ACTOR, ledger
from core.server.registry_events import TOLERANCE_S, signature_problem
from core.settings import Settings
from storage.db import migrated_sessions
from storage.ledger import list_alias_changes
from tests.conftest import use_home
from tests.core.registry.tracking_server import seed_registry, tracking_server
from tests.core.server.server_process import Server, scoring_server

SECRET = "the-webhook-secret"
MODEL = "team-model"
# What a tracking server needs to deliver to a scoring server on loopback over http (MLflow refuses
# private addresses and plain http by default), with the webhook list re-read every second, not minute.
DELIVERY_TO_LOOPBACK = {
    "MLFLOW_WEBHOOK_ALLOWED_SCHEMES": "http,https",
    "MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS": "true",
    "MLFLOW_WEBHOOK_CACHE_TTL": "1",
    "MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY": base64.urlsafe_b64encode(b"k" * 32).decode(),
}


def signed(body: str, *, secret: str = SECRET, sent_at: int | None = None) -> dict[str, str]:
    delivery_id, timestamp = str(uuid.uuid4()), str(sent_at if sent_at is not None else int(time.time()))
    return {
        "X-MLflow-Delivery-Id": delivery_id,
        "X-MLflow-Timestamp": timestamp,
        "X-MLflow-Signature": _generate_hmac_signature(secret, delivery_id, timestamp, body),
    }


def check(headers: dict[str, str], body: str, *, secret: str = SECRET, now: float | None = None) -> str | None:
    return signature_problem(
        secret=secret,
        delivery_id=headers.get("X-MLflow-Delivery-Id"),
        timestamp=headers.get("X-MLflow-Timestamp"),
        body=body.encode(),
        signature=headers.get("X-MLflow-Signature"),
        now=time.time() if now is None else now,
    )


def alias_event(alias: str, version: int | None) -> str:
    data: dict[str, str] = {"name": MODEL, "alias": alias}
    if version is not None:
        data["version"] = str(version)
    action = "created" if version is not None else "deleted"
    return json.dumps(
        {"entity": "model_version_alias", "action": action, "timestamp": datetime.now(UTC).isoformat(), "data": data}
    )


def test_a_delivery_signed_by_mlflow_with_the_secret_is_authentic() -> None:
    body = alias_event("champion", 3)
    assert check(signed(body), body) is None


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("another secret", "does not match"),
        ("body changed", "does not match"),
        ("old delivery", "more than 300 s from now"),
        ("no signature", "headers are all required"),
    ],
)
def test_a_forged_or_stale_delivery_says_why_it_is_refused(case: str, expected: str) -> None:
    body = alias_event("champion", 3)
    headers = signed(body, secret="guessed" if case == "another secret" else SECRET)
    if case == "body changed":
        body = alias_event("champion", 4)
    now = time.time() + TOLERANCE_S + 5 if case == "old delivery" else None
    if case == "no signature":
        del headers["X-MLflow-Signature"]

    problem = check(headers, body, now=now)

    assert problem is not None and expected in problem


def entries(settings: Settings, alias: str) -> list[tuple[int | None, int | None, str, str, str]]:
    with migrated_sessions(settings.database_url) as sessions, sessions() as session:
        return [
            (entry.from_version, entry.to_version, entry.actor, entry.origin, entry.reason)
            for entry in list_alias_changes(session, model_name=MODEL, alias=alias)
        ]


def poll(read: Callable[[], list], *, count: int, within_s: float = 60) -> list:
    deadline = time.monotonic() + within_s
    found = read()
    while len(found) < count and time.monotonic() < deadline:
        time.sleep(0.2)
        found = read()
    return found


def post_event(loupe: Server, body: str, headers: dict[str, str]):
    return loupe.request("POST", "/registry-events", body=body, headers=headers)


@pytest.mark.slow
def test_an_alias_moved_with_plain_mlflow_enters_the_ledger_as_it_happens(monkeypatch, tmp_path) -> None:
    with tracking_server(tmp_path / "tracking", **DELIVERY_TO_LOOPBACK) as tracking:
        seed_registry(tracking.url, model_name=MODEL, versions=2, aliases={"champion": 1})  # before any webhook
        settings = use_home(
            monkeypatch,
            tmp_path / "home",
            MLFLOW_TRACKING_URI=tracking.url,
            LOUPE_MODEL_NAME=MODEL,
            LOUPE_REGISTRY_WEBHOOK_SECRET=SECRET,
        )
        with scoring_server(tmp_path, LOUPE_SHADOW="false") as loupe:
            # Forged: the registry's champion differs from the (empty) ledger, so an accepted event would record it.
            body = alias_event("champion", 1)
            assert post_event(loupe, body, signed(body, secret="guessed")).status == 401
            assert post_event(loupe, body, {}).status == 401
            assert entries(settings, "champion") == []

            settings = use_home(monkeypatch, tmp_path / "home", LOUPE_SERVER_PUBLIC_URL=loupe.url)
            assert main(["subscribe"]) == 0
            assert main(["subscribe"]) == 0  # once: the second run finds it by its URL
            assert [hook.url for hook in registry_webhooks(settings)] == [f"{loupe.url}/registry-events"]

            plain_mlflow = MlflowClient(tracking_uri=tracking.url, registry_uri=tracking.url)
            plain_mlflow.set_registered_model_alias(MODEL, "challenger", "2")
            (moved,) = poll(lambda: entries(settings, "challenger"), count=1)
            assert moved[:4] == (None, 2, EXTERNAL_ACTOR, "external")
            assert "the registry reported model_version_alias.created at " in moved[4]
            # The earlier champion, found by the same reconciliation, says its time is unknown.
            ((_, champion, _, _, why),) = entries(settings, "champion")
            assert champion == 1 and "exact time is unknown" in why

            plain_mlflow.delete_registered_model_alias(MODEL, "challenger")
            removed = poll(lambda: entries(settings, "challenger"), count=2)
            assert [entry[:2] for entry in removed] == [(None, 2), (2, None)]
            assert "model_version_alias.deleted" in removed[1][4]

            # The next read of the ledger finds nothing left to record: no change is recorded twice.
            with migrated_sessions(settings.database_url) as sessions:
                assert len(ledger(settings, sessions=sessions)) == 3
    log = loupe.log.read_text()
    assert "Traceback" not in log, log[-3000:]
