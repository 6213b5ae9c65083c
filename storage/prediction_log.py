"""The prediction log: every answered prediction, its inputs, rejections and ground truth."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from storage.base import Base, BigId, UTCDateTime, utcnow


class Prediction(Base):
    """One answered (or shadow) prediction."""

    __tablename__ = "predictions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    model_name: Mapped[str] = mapped_column(String(200))
    model_version: Mapped[int] = mapped_column(Integer)
    alias: Mapped[str | None] = mapped_column(String(64))
    prediction: Mapped[float] = mapped_column(Float)
    latency_ms: Mapped[float] = mapped_column(Float)
    source: Mapped[str] = mapped_column(String(16))  # form | batch | cli | simulator
    request_id: Mapped[str] = mapped_column(String(64), index=True)
    is_ood: Mapped[bool] = mapped_column(Boolean, default=False)
    ood_fields: Mapped[str | None] = mapped_column(Text)  # comma-separated feature names
    is_shadow: Mapped[bool] = mapped_column(Boolean, default=False)

    __table_args__ = (Index("ix_predictions_model_time", "model_name", "created_at"),)


class PredictionFeature(Base):
    """One input value of one prediction: typed, so SQL can aggregate it without parsing."""

    __tablename__ = "prediction_features"

    prediction_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("predictions.id", ondelete="CASCADE"), primary_key=True
    )
    feature: Mapped[str] = mapped_column(String(128), primary_key=True)
    num_value: Mapped[float | None] = mapped_column(Float)
    cat_value: Mapped[str | None] = mapped_column(String(256))


class Feedback(Base):
    """The true value of a logged prediction, once it is known."""

    __tablename__ = "feedback"

    prediction_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("predictions.id", ondelete="CASCADE"), primary_key=True
    )
    actual: Mapped[float] = mapped_column(Float)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Rejection(Base):
    """An input that was refused, with the field and rule that refused it."""

    __tablename__ = "rejections"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    model_name: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(16))
    request_id: Mapped[str] = mapped_column(String(64))
    row_number: Mapped[int | None] = mapped_column(Integer)
    field: Mapped[str] = mapped_column(String(128))
    rule: Mapped[str] = mapped_column(String(64))
    message: Mapped[str] = mapped_column(Text)
