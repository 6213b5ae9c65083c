"""Formats for the pages: the figures of :mod:`core.formats` (re-exported here, so a page imports one module),
a classifier's metrics, number-input steps, commands as inline code, and text from data kept literal.
"""

from __future__ import annotations

import math
import re
import shlex
from collections.abc import Iterable

import streamlit as st
from streamlit.elements.lib.column_types import NumberColumn

from core.formats import (
    COUNT_COLUMN_FORMAT,
    CURRENCY_CODES,
    CURRENCY_SYMBOLS,
    METRIC_COLUMN_FORMAT,
    MISSING,
    MS_COLUMN_FORMAT,
    NO_MINOR_UNIT,
    SHARE_COLUMN_FORMAT,
    TIMESTAMP_COLUMN_FORMAT,
    amount,
    count,
    currency,
    holdout_value,
    metric_column_format,
    milliseconds,
    number,
    number_column_format,
    plural,
    seconds,
    share,
    timestamp,
    utc_naive,
)
from core.monitoring.classification import metric_text
from core.registry.holdout import KNOWN_NAMES

__all__ = [
    "COUNT_COLUMN_FORMAT",
    "CURRENCY_CODES",
    "CURRENCY_SYMBOLS",
    "METRIC_COLUMN_FORMAT",
    "MISSING",
    "MS_COLUMN_FORMAT",
    "NO_MINOR_UNIT",
    "SHARE_COLUMN_FORMAT",
    "TIMESTAMP_COLUMN_FORMAT",
    "amount",
    "classifier_metric",
    "code",
    "command",
    "count",
    "currency",
    "holdout_value",
    "input_step",
    "metric_table_column",
    "milliseconds",
    "number",
    "number_column_format",
    "plain",
    "plural",
    "seconds",
    "share",
    "timestamp",
    "utc_naive",
]


def metric_table_column(name: str, values: Iterable[float], *, help: str | None = None) -> NumberColumn:
    """A table column of a logged metric, shown as the same figure is everywhere: MAPE and accuracy in percent,
    R² and ROC AUC to four places, errors with thousands separators (never ``4.315e+04``)."""
    measures = KNOWN_NAMES.get(name.lower())
    shown = metric_column_format(measures, values)
    return st.column_config.NumberColumn(name, format=shown, step=0.001 if shown == "percent" else None, help=help)


def classifier_metric(metric: str, value: float | None) -> str:
    """A classifier's metric: accuracy, precision, recall, F1 and label coverage as ``81.9%``, ROC AUC and
    log loss as ``0.9868`` (the format Monitoring, its alerts and Home share)."""
    return metric_text(metric, value)


def input_step(low: float | None, high: float | None, typical: float | None = None) -> float:
    """A number input's step: about a hundredth of the training range (``0.01`` for 0.2–5, ``100`` for 300–19,000)."""
    span = (high - low) if low is not None and high is not None else abs(typical or 0.0)
    if not math.isfinite(span) or span <= 0:
        return 0.01
    return float(10 ** (math.floor(math.log10(span)) - 2))


def code(text: str) -> str:
    """``text`` as inline code in Markdown, whatever backticks it holds (a longer fence around it).

    Line breaks become spaces: a blank line would end the code span and let the rest be read as Markdown.
    """
    text = " ".join(str(text).splitlines())
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    padded = f" {text} " if longest or text.startswith(" ") or text.endswith(" ") else text
    return f"{fence}{padded}{fence}"


def command(arguments: list[str], *, model: str | None = None) -> str:
    """A shell command as inline code; ``model``, when given, is set as ``LOUPE_MODEL_NAME`` for it."""
    prefix = f"LOUPE_MODEL_NAME={shlex.quote(model)} " if model else ""
    return code(prefix + " ".join(shlex.quote(argument) for argument in arguments))


# Markdown that Streamlit would act on in text from data (CSV headers, MLflow names and tags, error messages):
# emphasis, code, links and directives (``:red[...]``), HTML and entities, maths, tables, strikethrough.
_INLINE_MARKUP = re.compile(r"([\\`*_\[\]<&$~|])")
# Line starts that open a block: headings, quotes, list items, setext underlines.
_BLOCK_START = re.compile(r"^([#>+=-]|\d+[.)])")
# Emoji and icon shortcodes (``:smile:``, ``:material/home:``) are replaced after Markdown's escapes are
# resolved, so escaping cannot stop them; a word joiner (invisible) after the colon does. Times (12:30:00) stay.
_SHORTCODE = re.compile(r":(?=(?:[A-Za-z][\w/+-]*|[+-]1):)")
# GitHub-flavoured Markdown turns a bare web address into a link after escapes are resolved; a word joiner
# after the scheme (or ``www``) keeps it text.
_AUTOLINK = re.compile(r"(?i)\b(?:(?:https?|ftp)(?=://)|www(?=\.))")


def plain(text: object) -> str:
    """``text`` for a Markdown element (``st.error``, ``st.markdown``, titles), shown as it is: nothing in it is markup.

    Line breaks are kept; leading spaces become no-break spaces so they cannot open a code block.
    """
    lines = []
    for line in str(text).splitlines() or [""]:
        body = line.lstrip(" \t")
        indent = "\u00a0" * (len(line) - len(body))
        body = _AUTOLINK.sub(lambda match: match.group(0) + "\u2060", _SHORTCODE.sub(":\u2060", body))
        body = _INLINE_MARKUP.sub(r"\\\1", body)
        lines.append(indent + _BLOCK_START.sub(lambda match: _escape_last(match.group(1)), body))
    return "  \n".join(lines)


def _escape_last(marker: str) -> str:
    return marker[:-1] + "\\" + marker[-1]
