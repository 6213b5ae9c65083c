"""What one server process holds while it runs: settings, the log's sessions, the writer and the shadow thread."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from core.server.log_writer import LogWriter
from core.server.shadowing import ShadowScorer
from core.settings import Settings


@dataclass
class ServerState:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    writer: LogWriter
    shadow: ShadowScorer | None  # None when LOUPE_SHADOW is off
