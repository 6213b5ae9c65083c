"""The alert tables: incidents (an alert rule firing for a model version, until it clears) and their deliveries.

An incident is open while its rule keeps firing; ``open_key`` is set only while it is open and is unique,
so two watchers evaluating at once can never open the same incident twice (the second insert fails and
rolls back). Each delivery is one message (firing or resolved) to one channel; ``(incident, event,
channel)`` is unique, so a message is queued once whatever happens, and its status records whether it
reached the receiver.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.base import Base, BigId, UTCDateTime, utcnow

FIRING, RESOLVED = "firing", "resolved"
PENDING, SENT, FAILED = "pending", "sent", "failed"


class AlertIncident(Base):
    """One rule firing for one model version, from the cycle that saw it fire to the one that saw it clear."""

    __tablename__ = "alert_incidents"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    model_name: Mapped[str] = mapped_column(String(200))
    rule: Mapped[str] = mapped_column(String(64))
    model_version: Mapped[int] = mapped_column(Integer)  # 0: no version could be named (no traffic attributed)
    severity: Mapped[str] = mapped_column(String(16))
    message: Mapped[str] = mapped_column(Text)
    value: Mapped[float] = mapped_column(Float)
    threshold: Mapped[float] = mapped_column(Float)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # "model|rule|version" while open, NULL once resolved: unique, so one open incident per key (NULLs never clash).
    open_key: Mapped[str | None] = mapped_column(String(300), unique=True)


class AlertDelivery(Base):
    """One message about an incident to one channel, with what became of it."""

    __tablename__ = "alert_deliveries"
    __table_args__ = (UniqueConstraint("incident_id", "event", "channel", name="uq_alert_deliveries_message"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    incident_id: Mapped[int] = mapped_column(BigId, ForeignKey("alert_incidents.id", ondelete="CASCADE"), index=True)
    event: Mapped[str] = mapped_column(String(16))  # firing | resolved
    channel: Mapped[str] = mapped_column(String(16))  # webhook | slack
    status: Mapped[str] = mapped_column(String(16), default=PENDING, index=True)  # pending | sent | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    attempted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
