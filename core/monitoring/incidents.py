"""One watch cycle: evaluate the alert rules, open and resolve incidents, deliver what is due.

An alert (model, rule, version) that starts firing opens an incident and queues one ``firing`` message
per channel; while it keeps firing nothing more is queued; when it clears the incident is resolved and
one ``resolved`` message is queued to each channel that was told it fired. Messages that did not get
through (receiver down after the retries) stay due and are tried again next cycle, before newer ones.

Run by ``python -m core watch`` and hourly by the scoring server. One process at a time runs the
incident and delivery part (the alert lock); another that finds it taken skips its cycle, so two
watchers never send the same message twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pandas as pd
from sqlalchemy.orm import Session

from core.monitoring.alert_delivery import BACKOFF_S, TIMEOUT_S, Channel, Message, channels, deliver
from core.monitoring.alerts import Alert, snapshot_alerts
from core.monitoring.snapshot import snapshot
from core.monitoring.windows import Window
from core.settings import Settings
from storage import alerts as store
from storage.base import utcnow
from storage.db import Sessions, reading

DUE_PER_CYCLE = 100  # messages tried per cycle at most: a long outage's backlog drains over cycles
NO_VERSION = 0


@dataclass(frozen=True)
class CycleResult:
    """What one cycle saw and did."""

    alerts: list[Alert]
    channels: list[str]
    opened: list[str] = field(default_factory=list)  # "rule vN" of incidents opened
    resolved: list[str] = field(default_factory=list)
    sent: int = 0
    failed: list[str] = field(default_factory=list)  # "channel: event rule vN: error"
    skipped: bool = False  # another process held the alert lock: it does this cycle's work


def current_alerts(settings: Settings, *, sessions: Sessions, now: datetime | None = None) -> list[Alert]:
    """The rules firing over the last ``alert_window_hours`` (as Home's banner shows them).

    Unlike Home's banner, a log that cannot be read raises: an unreadable log must not look like
    "everything cleared" and resolve every open incident.
    """
    window = Window.last(timedelta(hours=settings.alert_window_hours), now=now)
    view = snapshot(settings, sessions=sessions, window=window, include_shadow=False)
    return snapshot_alerts(settings, view)


def watch_cycle(
    settings: Settings,
    *,
    sessions: Sessions,
    retries: int | None = None,
    backoff_s: float = BACKOFF_S,
    timeout_s: float = TIMEOUT_S,
    fired: list[Alert] | None = None,
) -> CycleResult:
    """Evaluate (unless ``fired`` is given), then open/resolve incidents and deliver what is due.

    The rules are evaluated under the lock too: an evaluation made before another watcher's cycle would
    undo what that cycle saw (reopen what it resolved).
    """
    routes = channels(settings)
    names = [channel.name for channel in routes]
    with sessions.begin() as holder:
        if not store.try_alert_lock(holder):
            return CycleResult(alerts=fired or [], channels=names, skipped=True)
        fired = current_alerts(settings, sessions=sessions) if fired is None else fired
        with sessions.begin() as session:
            opened, resolved = _sync(session, model_name=settings.model_name, fired=fired, names=names)
        sent, failed = _deliver_due(
            settings,
            sessions=sessions,
            routes=routes,
            retries=settings.alert_delivery_retries if retries is None else retries,
            backoff_s=backoff_s,
            timeout_s=timeout_s,
        )
    return CycleResult(
        alerts=fired, channels=names, opened=opened, resolved=resolved, sent=sent, failed=failed, skipped=False
    )


def _sync(session: Session, *, model_name: str, fired: list[Alert], names: list[str]) -> tuple[list[str], list[str]]:
    now = utcnow()
    firing = {(alert.rule, alert.version or NO_VERSION): alert for alert in fired}
    opened: list[str] = []
    resolved: list[str] = []
    for incident in store.open_incidents(session, model_name=model_name):
        alert = firing.pop((incident.rule, incident.model_version), None)
        if alert is not None:  # still firing: keep its latest figures, send nothing
            incident.message, incident.value, incident.severity = alert.message, alert.value, alert.severity
            continue
        store.resolve_incident(session, incident=incident, now=now)
        resolved.append(_label(incident.rule, incident.model_version))
        told = store.channels_told(session, incident_id=incident.id)
        for name in names:
            if name in told:
                store.queue_delivery(session, incident_id=incident.id, event=store.RESOLVED, channel=name, now=now)
    for (rule, version), alert in firing.items():
        made = store.open_incident(
            session,
            model_name=model_name,
            rule=rule,
            model_version=version,
            severity=alert.severity,
            message=alert.message,
            value=float(alert.value),
            threshold=float(alert.threshold),
            now=now,
        )
        if made is not None:
            opened.append(_label(rule, version))
    # Every open incident is told to every channel once: a channel configured later hears of what still fires.
    for incident in store.open_incidents(session, model_name=model_name):
        for name in names:
            store.queue_delivery(session, incident_id=incident.id, event=store.FIRING, channel=name, now=now)
    return opened, resolved


def _deliver_due(
    settings: Settings,
    *,
    sessions: Sessions,
    routes: list[Channel],
    retries: int,
    backoff_s: float,
    timeout_s: float,
) -> tuple[int, list[str]]:
    if not routes:
        return 0, []
    by_name = {channel.name: channel for channel in routes}
    with reading(sessions) as session:
        due = [
            (delivery.channel, _message(delivery, incident))
            for delivery, incident in store.deliveries_due(
                session, model_name=settings.model_name, channels=list(by_name), limit=DUE_PER_CYCLE
            )
        ]
    secret = None if settings.alert_webhook_secret is None else settings.alert_webhook_secret.get_secret_value()
    sent, failed = 0, []
    for name, message in due:
        outcome = deliver(
            by_name[name], message, secret=secret, retries=retries, backoff_s=backoff_s, timeout_s=timeout_s
        )
        # Recorded at once, one short transaction per message: a crash later resends nothing sent here.
        with sessions.begin() as session:
            store.record_attempt(
                session, delivery_id=message.delivery_id, attempts=outcome.attempts, error=outcome.error, now=utcnow()
            )
        if outcome.error is None:
            sent += 1
        else:
            failed.append(f"{name}: {message.event} {_label(message.rule, message.model_version)}: {outcome.error}")
    return sent, failed


def _message(delivery: store.AlertDelivery, incident: store.AlertIncident) -> Message:
    return Message(
        event=delivery.event,
        delivery_id=delivery.id,
        incident_id=incident.id,
        model_name=incident.model_name,
        model_version=incident.model_version,
        rule=incident.rule,
        severity=incident.severity,
        text=incident.message,
        value=incident.value,
        threshold=incident.threshold,
        opened_at=incident.opened_at,
        resolved_at=incident.resolved_at,
    )


def _label(rule: str, version: int) -> str:
    return f"{rule} v{version}" if version else rule


HISTORY_COLUMNS = ["Queued", "Sent", "Rule", "Version", "Event", "Channel", "Status", "Attempts", "Last error"]


def alert_history(settings: Settings, *, sessions: Sessions, limit: int = 100) -> pd.DataFrame:
    """The model's newest alert deliveries (Monitoring's history table), newest first."""
    with reading(sessions) as session:
        rows = store.delivery_history(session, model_name=settings.model_name, limit=limit)
    return pd.DataFrame(
        [
            [
                row.created_at,
                row.sent_at,
                row.rule,
                row.model_version or None,
                row.event,
                row.channel,
                row.status,
                row.attempts,
                row.last_error,
            ]
            for row in rows
        ],
        columns=HISTORY_COLUMNS,
    )


def delivery_configured(settings: Settings) -> bool:
    """Whether any alert channel is set (a malformed URL counts: watch says what is wrong with it)."""
    return bool(settings.alert_webhook_url or settings.alert_slack_url)
