"""What one server process holds while it runs: settings, the log's sessions, the writer and the shadow thread."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from core.server.log_writer import LogWriter
from core.server.shadowing import ShadowScorer
from core.serving.model_cache import Resolution
from core.serving.served_model import ServedModel
from core.settings import Settings


@dataclass
class ServerState:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    writer: LogWriter
    shadow: ShadowScorer | None  # None when LOUPE_SHADOW is off
    # alias → (registry change token, model, resolution): see core.server.invocations.answering_model
    answering: dict[str, tuple[bytes, ServedModel, Resolution]] = field(default_factory=dict)
