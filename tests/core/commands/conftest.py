"""Command tests run ``python -m core COMMAND`` in-process: ``core.cli.main([...])`` with pytest's capsys.

- ``cli``: run one command line and get its exit code, stdout and stderr.
- ``ledger_rows(settings)``: the alias-change ledger as (alias, from, to, who, origin, override) tuples.

In-process, an error the command line fails to turn into a message escapes ``main`` as an exception and
fails the test, so the "no traceback" promise is checked by ``main`` returning at all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from core.cli import main
from core.settings import Settings
from storage.db import make_engine, make_sessionmaker
from storage.ledger import list_alias_changes


@dataclass(frozen=True)
class Ran:
    """What one command line did."""

    code: int
    out: str
    err: str


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., Ran]:
    def run(*argv: str) -> Ran:
        capsys.readouterr()  # only this command's output
        code = main(list(argv))
        out, err = capsys.readouterr()
        return Ran(code=code, out=out, err=err)

    return run


def ledger_rows(settings: Settings) -> list[tuple]:
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
