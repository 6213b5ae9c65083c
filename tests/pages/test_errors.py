"""The pages' error boundary (ui/errors.py) on small scripts, and ui.formats.plain on its own."""

from __future__ import annotations

import logging
import re

import pytest
from streamlit.testing.v1 import AppTest

from tests.pages.helpers import LOG_NOTE, REDACTED, TIMEOUT, failures, page_text, readable
from ui.formats import plain

WHEN = r"\(\d\d:\d\d:\d\d UTC\)\."


def run(script) -> AppTest:
    return AppTest.from_function(script, default_timeout=TIMEOUT).run()


def a_bug_in_an_action():
    import streamlit as st

    from ui.errors import action

    with action("Reading *the* `file`", version=7):
        raise ValueError("boom: <b>bold</b> **not bold** [link](http://x) :smile: $x$\nsecond line: not shown")
    st.caption("the page goes on")


def test_a_bug_says_what_failed_its_first_line_and_where_the_trace_is(caplog) -> None:
    app = run(a_bug_in_an_action)

    assert not app.exception
    (failure,) = failures(app)
    expected = (
        r"Reading \*the\* `file` failed \(model version 7\)\n"
        r"ValueError: boom: <b>bold</b> \*\*not bold\*\* \[link\]\(http://x\) :smile: \$x\$\n"
        + re.escape(LOG_NOTE)
        + " "
        + WHEN
    )
    assert re.fullmatch(expected, failure), failure
    assert "second line" not in page_text(app) and "Traceback" not in page_text(app)
    assert [caption.value for caption in app.caption] == ["the page goes on"]
    (record,) = [record for record in caplog.records if record.name == "loupe.pages"]
    assert record.levelno == logging.ERROR
    assert record.getMessage() == "Reading *the* `file` failed (model version 7)"
    assert "second line: not shown" in caplog.text and "Traceback" in caplog.text  # all of it is in the log


def test_text_from_the_error_is_never_markup() -> None:
    app = run(a_bug_in_an_action)

    (error,) = app.error
    # A web address is not auto-linked either: a word joiner after its scheme (ui.formats.plain).
    assert "\\<b>bold\\</b> \\*\\*not bold\\*\\* \\[link\\](http\u2060://x) :\u2060smile: \\$x\\$" in error.value
    assert error.proto.title.startswith(r"Reading \*the\* \`file\` failed")


def a_loupe_error_with_stop():
    import streamlit as st

    from core.errors import ArtifactMissing
    from ui.errors import action

    with action("Loading version 3", version=3, stop=True):
        raise ArtifactMissing("version 3's model cannot be read\nRestore its files, or register the run again.")
    st.caption("never shown: the page stopped")


def test_a_loupe_error_is_shown_as_it_is_and_stop_ends_the_run() -> None:
    app = run(a_loupe_error_with_stop)

    assert not app.exception
    (failure,) = failures(app)
    expected = (
        r"Loading version 3 failed \(model version 3\)\n"
        r"version 3's model cannot be read\nRestore its files, or register the run again\.\n"
        + re.escape(LOG_NOTE)
        + " "
        + WHEN
    )
    assert re.fullmatch(expected, failure), failure
    assert not app.caption


def control_flow_inside_actions():
    import streamlit as st

    from ui.errors import action

    runs = st.session_state["runs"] = st.session_state.get("runs", 0) + 1
    with action("Rerunning once"):
        if runs == 1:
            st.rerun()
    with action("Stopping"):
        st.caption(f"run {runs}")
        st.stop()
    st.caption("never shown: st.stop ends the run")


def test_rerun_and_stop_pass_through_unreported() -> None:
    app = run(control_flow_inside_actions)

    assert not app.exception and not app.error
    assert [caption.value for caption in app.caption] == ["run 2"]


def a_failing_fragment_and_progress():
    import streamlit as st

    from ui.errors import action

    with action("Showing the page"):

        @st.fragment
        def part() -> None:
            with action("Drawing the part") as drawing:
                drawing.transient(st.progress(0.5, text="half way"))
                drawing.version = 4  # learnt on the way
                raise RuntimeError("the part could not be drawn")

        part()
        st.caption("after the fragment")


def test_a_failure_in_a_fragment_is_reported_once_and_clears_its_progress() -> None:
    app = run(a_failing_fragment_and_progress)

    assert not app.exception
    (failure,) = failures(app)
    assert failure.startswith("Drawing the part failed (model version 4)\nRuntimeError: the part could not be drawn\n")
    assert not app.get("progress")
    assert [caption.value for caption in app.caption] == ["after the fragment"]
    assert REDACTED not in page_text(app)


@pytest.mark.parametrize(
    "text",
    [
        "plain words: nothing to escape",
        "# not a heading\n- not a list\n1. not numbered\n> not a quote\n    not code",
        "**not bold** _not italic_ `not code` ~~not struck~~ $not maths$ a | b",
        "<script>alert(1)</script> &amp; [not a link](javascript:alert(1)) ![no image](x.png)",
        ":red[not red] :smile: :material/home: at 12:30:00",
        "C:\\Users\\loupe\\*.csv",
    ],
)
def test_plain_text_reads_back_as_written(text: str) -> None:
    shown = plain(text)

    assert readable(shown) == text
    assert not re.search(r"(?<!\\)[`*_\[\]<&$~|]", shown.replace("\\\\", ""))  # every markup character escaped
    assert not re.search(r"^( {4}|[#>+=-]|\d+[.)])", shown, re.MULTILINE)  # no line opens a block


def test_plain_keeps_line_breaks_and_leading_spaces() -> None:
    assert plain("first\n  second") == "first  \n\u00a0\u00a0second"
    assert plain("") == ""
