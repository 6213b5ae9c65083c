"""Alert incidents and deliveries: open, resolve, queue, record attempts, read the history.

Functions take a ``Session`` and never commit (the caller owns the transaction). The caller also holds
the alert lock (:func:`try_alert_lock`) around a whole cycle, so one process at a time opens incidents
and sends; the unique keys of :mod:`storage.alert_tables` stop a duplicate even without it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from storage.alert_tables import FAILED, FIRING, PENDING, RESOLVED, SENT, AlertDelivery, AlertIncident
from storage.transaction_lock import lock_for_transaction

PG_ALERT_LOCK = 4_242_017
ERROR_LIMIT = 2_000  # characters of a receiver's error kept per delivery

__all__ = [
    "FAILED",
    "FIRING",
    "PENDING",
    "RESOLVED",
    "SENT",
    "AlertDelivery",
    "AlertIncident",
    "DeliveryRow",
    "channels_told",
    "deliveries_due",
    "delivery_history",
    "open_incident",
    "open_incidents",
    "queue_delivery",
    "record_attempt",
    "resolve_incident",
    "try_alert_lock",
]


def try_alert_lock(session: Session) -> bool:
    """Hold the alert lock until ``session``'s transaction ends; ``False`` at once if another process holds it."""
    return lock_for_transaction(session, name="alerts", pg_key=PG_ALERT_LOCK, wait=False)


def incident_key(*, model_name: str, rule: str, model_version: int) -> str:
    return f"{model_name}|{rule}|{model_version}"


def open_incidents(session: Session, *, model_name: str) -> list[AlertIncident]:
    """The model's incidents still open, oldest first."""
    query = (
        select(AlertIncident)
        .where(AlertIncident.model_name == model_name, AlertIncident.open_key.is_not(None))
        .order_by(AlertIncident.id)
    )
    return list(session.scalars(query))


def open_incident(
    session: Session,
    *,
    model_name: str,
    rule: str,
    model_version: int,
    severity: str,
    message: str,
    value: float,
    threshold: float,
    now: datetime,
) -> AlertIncident | None:
    """A new open incident, or ``None`` when one with this key is already open (written by another process)."""
    incident = AlertIncident(
        model_name=model_name,
        rule=rule,
        model_version=model_version,
        severity=severity,
        message=message,
        value=value,
        threshold=threshold,
        opened_at=now,
        open_key=incident_key(model_name=model_name, rule=rule, model_version=model_version),
    )
    try:
        with session.begin_nested():  # a clash rolls back this insert only
            session.add(incident)
            session.flush()
    except IntegrityError:
        return None
    return incident


def resolve_incident(session: Session, *, incident: AlertIncident, now: datetime) -> None:
    """Close ``incident``: its key is freed, so the rule firing again opens a new one."""
    incident.resolved_at = now
    incident.open_key = None
    session.flush()


def queue_delivery(session: Session, *, incident_id: int, event: str, channel: str, now: datetime) -> bool:
    """Queue one message (``firing``/``resolved``) to ``channel``; ``False`` when it was queued before."""
    exists = session.scalar(
        select(AlertDelivery.id).where(
            AlertDelivery.incident_id == incident_id, AlertDelivery.event == event, AlertDelivery.channel == channel
        )
    )
    if exists is not None:
        return False
    try:
        with session.begin_nested():
            session.add(AlertDelivery(incident_id=incident_id, event=event, channel=channel, created_at=now))
            session.flush()
    except IntegrityError:
        return False
    return True


def channels_told(session: Session, *, incident_id: int) -> set[str]:
    """The channels a firing message about ``incident_id`` was queued to (they will hear it resolve)."""
    query = select(AlertDelivery.channel).where(AlertDelivery.incident_id == incident_id, AlertDelivery.event == FIRING)
    return set(session.scalars(query))


def deliveries_due(
    session: Session, *, model_name: str, channels: Sequence[str], limit: int
) -> list[tuple[AlertDelivery, AlertIncident]]:
    """Messages not yet received (pending, or failed last time) to configured channels, oldest first."""
    query = (
        select(AlertDelivery, AlertIncident)
        .join(AlertIncident, AlertIncident.id == AlertDelivery.incident_id)
        .where(
            AlertIncident.model_name == model_name,
            AlertDelivery.status != SENT,
            AlertDelivery.channel.in_(list(channels)),
        )
        .order_by(AlertDelivery.id)
        .limit(limit)
    )
    return [(delivery, incident) for delivery, incident in session.execute(query).tuples()]


def record_attempt(
    session: Session, *, delivery_id: int, attempts: int, error: str | None, now: datetime
) -> AlertDelivery:
    """What one delivery's tries came to: ``sent`` when ``error`` is ``None``, else ``failed`` (retried next cycle)."""
    delivery = session.get_one(AlertDelivery, delivery_id)
    delivery.attempts += attempts
    delivery.attempted_at = now
    if error is None:
        delivery.status, delivery.sent_at, delivery.last_error = SENT, now, None
    else:
        delivery.status, delivery.last_error = FAILED, error[:ERROR_LIMIT]
    session.flush()
    return delivery


@dataclass(frozen=True)
class DeliveryRow:
    """One line of the history of sent alerts."""

    created_at: datetime
    sent_at: datetime | None
    rule: str
    model_version: int
    event: str
    channel: str
    status: str
    attempts: int
    last_error: str | None
    message: str


def delivery_history(session: Session, *, model_name: str, limit: int = 100) -> list[DeliveryRow]:
    """The model's newest deliveries first, at most ``limit``."""
    query = (
        select(AlertDelivery, AlertIncident)
        .join(AlertIncident, AlertIncident.id == AlertDelivery.incident_id)
        .where(AlertIncident.model_name == model_name)
        .order_by(AlertDelivery.id.desc())
        .limit(limit)
    )
    return [
        DeliveryRow(
            created_at=delivery.created_at,
            sent_at=delivery.sent_at,
            rule=incident.rule,
            model_version=incident.model_version,
            event=delivery.event,
            channel=delivery.channel,
            status=delivery.status,
            attempts=delivery.attempts,
            last_error=delivery.last_error,
            message=incident.message,
        )
        for delivery, incident in session.execute(query).tuples()
    ]
