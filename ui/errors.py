"""The pages' one error boundary: a failure is said in words on the page, its full trace goes to the log.

Every page body, and inside it every action (a button, a form, an upload, the page's data loading),
runs in :func:`action`::

    with action("Scoring the form", version=served.version):
        outcome = predict_one(...)

A failure shows in one box where the action sits on the page: the operation, the model version when
known, the error's message (a :class:`core.errors.LoupeError`'s as it is, written for people; any
other error's type and first line, since it is a bug) and a note that the full trace is in the app's
log, where :func:`logging.Logger.exception` has just written it. Nothing from the error is rendered as
Markdown, and no traceback ever reaches the page.

Streamlit's control flow passes through untouched: ``st.rerun``, ``st.stop`` and ``st.switch_page``
raise ``BaseException`` subclasses (``RerunException``, ``StopException``), which an ``except
Exception`` never sees; a fragment's ``FragmentHandledException`` (Streamlit has already shown that
failure) is re-raised.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

import streamlit as st
from streamlit.delta_generator import DeltaGenerator
from streamlit.errors import FragmentHandledException

from core.errors import LoupeError, first_line
from ui.formats import plain

LOGGER = logging.getLogger("loupe.pages")
LOG_NOTE = "The full trace is in the app's log"
ICON = ":material/error:"  # Material Symbols ship with Streamlit; an emoji needs a system font


def _log_to_stderr() -> None:
    # Streamlit's own loggers do not propagate, and nothing configures the root logger under
    # `streamlit run`: give Loupe's loggers the server's stderr (with Streamlit's line format) then.
    # Where logging is configured (pytest, a deployment), records propagate to it as usual.
    base = logging.getLogger("loupe")
    if base.handlers or logging.getLogger().handlers:
        return
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname) -7s %(name)s: %(message)s"))
    base.addHandler(handler)
    base.setLevel(logging.INFO)


_log_to_stderr()


@dataclass
class Attempt:
    """One action in progress: what it is, the model version once known, and what to clear if it fails."""

    operation: str
    version: int | None = None
    failed: BaseException | None = None
    _transient: list[DeltaGenerator] = field(default_factory=list, repr=False)

    def transient(self, element: DeltaGenerator) -> DeltaGenerator:
        """Remove ``element`` (a progress bar, a spinner's placeholder) from the page if the action fails."""
        self._transient.append(element)
        return element


@contextmanager
def action(operation: str, *, version: int | None = None, stop: bool = False) -> Iterator[Attempt]:
    """Run the block as ``operation`` ("Scoring the form"); on failure say so where the block sits, and log it.

    ``version`` is the model version involved, when known (or set ``attempt.version`` inside the block).
    With ``stop``, a failure also ends this run of the page (for data the rest of the page needs).
    The exception does not propagate: the page goes on after the block, unless ``stop``.
    """
    attempt = Attempt(operation, version)
    try:
        yield attempt
    except FragmentHandledException:
        raise
    except Exception as error:  # BaseException (st.rerun, st.stop, st.switch_page) passes through
        attempt.failed = error
        for element in attempt._transient:
            element.empty()
        report(error, operation=attempt.operation, version=attempt.version)
        if stop:
            st.stop()


def report(error: BaseException, *, operation: str, version: int | None = None) -> None:
    """Log ``error`` with its trace and say on the page, in words, that ``operation`` failed; call it in ``except``."""
    about = "" if version is None else f" (model version {version})"
    LOGGER.exception("%s failed%s", operation, about, exc_info=error)
    st.error(
        f"{plain(said(error))}  \n{LOG_NOTE} ({datetime.now(UTC):%H:%M:%S} UTC).",
        title=f"{plain(operation)} failed{about}",
        icon=ICON,
    )


def said(error: BaseException) -> str:
    """What the page says about ``error``: a Loupe error's message as it is; for anything else, its type and first line."""
    if isinstance(error, LoupeError):
        return str(error).strip() or first_line(error)
    return f"{type(error).__name__}: {first_line(error)}"
