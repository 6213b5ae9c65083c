"""One format for every page: money, latency, and text from data that must not turn into Markdown."""

from __future__ import annotations

import re


def money(value: float | None) -> str:
    """A price for display: ``$1,234``."""
    return "—" if value is None else f"${value:,.0f}"


def milliseconds(value: float | None) -> str:
    """A latency for display: ``3.2 ms``."""
    return "—" if value is None else f"{value:,.1f} ms"


# Markdown that Streamlit would act on in text from data (CSV headers, MLflow names and tags, error messages):
# emphasis, code, links and directives (``:red[...]``), HTML and entities, maths, tables, strikethrough.
_INLINE_MARKUP = re.compile(r"([\\`*_\[\]<&$~|])")
# Line starts that open a block: headings, quotes, list items, setext underlines.
_BLOCK_START = re.compile(r"^([#>+=-]|\d+[.)])")
# Emoji and icon shortcodes (``:smile:``, ``:material/home:``) are replaced after Markdown's escapes are
# resolved, so escaping cannot stop them; a word joiner (invisible) after the colon does. Times (12:30:00) stay.
_SHORTCODE = re.compile(r":(?=(?:[A-Za-z][\w/+-]*|[+-]1):)")


def plain(text: object) -> str:
    """``text`` for a Markdown element (``st.error``, ``st.markdown``, titles), shown as it is: nothing in it is markup.

    Line breaks are kept; leading spaces become no-break spaces so they cannot open a code block.
    """
    lines = []
    for line in str(text).splitlines() or [""]:
        body = line.lstrip(" \t")
        indent = "\u00a0" * (len(line) - len(body))
        body = _INLINE_MARKUP.sub(r"\\\1", _SHORTCODE.sub(":\u2060", body))
        lines.append(indent + _BLOCK_START.sub(lambda match: _escape_last(match.group(1)), body))
    return "  \n".join(lines)


def _escape_last(marker: str) -> str:
    return marker[:-1] + "\\" + marker[-1]
