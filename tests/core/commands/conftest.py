"""Command tests run ``python -m core COMMAND`` in-process: ``core.cli.main([...])`` with pytest's capsys.

- ``cli``: run one command line and get its exit code, stdout and stderr.

``main`` ends any error in one line on stderr and exit code 1 (``--traceback`` re-raises), so tests read
the line a person would see. The ledger helpers live in ``tests/ledger_rows.py`` (pages use them too).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from core.cli import main


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
