"""The alias-change ledger as tests compare it: plain tuples read straight from the prediction log."""

from __future__ import annotations

from core.settings import Settings
from storage.db import make_engine, make_sessionmaker
from storage.ledger import list_alias_changes


def ledger_rows(settings: Settings) -> list[tuple]:
    """(alias, from, to, who, origin, override) for every entry of the settings' model, oldest first."""
    engine = make_engine(settings.database_url)
    try:
        with make_sessionmaker(engine)() as session:
            return [
                (entry.alias, entry.from_version, entry.to_version, entry.actor, entry.origin, entry.override)
                for entry in list_alias_changes(session, model_name=settings.model_name)
            ]
    finally:
        engine.dispose()


BOOTSTRAP_LEDGER = [("champion", None, 1), ("challenger", None, 2)]


def moves(settings: Settings) -> list[tuple]:
    """The ledger as (alias, from, to) only."""
    return [row[:3] for row in ledger_rows(settings)]
