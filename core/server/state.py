"""What one server process holds while it runs: settings, the log's sessions, the writer, the shadow thread
and the models answering for each alias."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from core import mlflow_io
from core.server.log_writer import LogWriter
from core.server.shadowing import ShadowScorer
from core.serving.model_cache import Resolution, serve
from core.serving.served_model import ServedModel
from core.settings import Settings


@dataclass
class ServerState:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    writer: LogWriter
    shadow: ShadowScorer | None  # None when LOUPE_SHADOW is off
    # alias → (registry change token, model, resolution): see model_for
    answering: dict[str, tuple[bytes, ServedModel, Resolution]] = field(default_factory=dict)

    def model_for(self, alias: str) -> tuple[ServedModel, Resolution]:
        """The model answering for ``alias`` now: :func:`serve` again only when the local registry has changed.

        The rule :func:`core.serving.model_cache.resolve` applies itself (its change token: any commit to
        the registry, an alias move included, changes it), without the path and cache look-ups ``serve``
        repeats on every call, which cost as much as a one-row answer. Where the token cannot be known
        (a registry over HTTP, a WAL file) every call serves.
        """
        token = mlflow_io.registry_change_token(self.settings)
        if token is not None:
            known = self.answering.get(alias)
            if known is not None and known[0] == token:
                return known[1], known[2]
        served, resolution = serve(self.settings, alias=alias)
        if token is not None and not resolution.from_cache:
            # The token was read before serve(): a write in between changes it, so the next call serves again.
            self.answering[alias] = (token, served, resolution)
        return served, resolution
