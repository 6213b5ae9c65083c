"""One format for every page: numbers, amounts in a version's unit, latency, commands, and text from data.

Numbers: :func:`number` everywhere. An answer (and the holdout errors measured in the answer's unit) is
shown with :func:`amount`: as money only when the version's ``loupe.unit`` tag names a currency
(``USD`` → ``$1,234``), else as a plain number with the unit's name after it (``153.2 points``).
"""

from __future__ import annotations

import math
import re
import shlex

from core.monitoring.classification import metric_text, share_text
from core.registry.holdout import HoldoutMetric

# ISO 4217 codes people tag versions with; the few whose symbol is unambiguous are shown with it.
CURRENCY_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "INR": "₹", "KRW": "₩"}
OTHER_CURRENCIES = "AUD BRL CAD CHF CNY CZK DKK HKD HUF IDR ILS MXN MYR NOK NZD PHP PLN RON SEK SGD THB TRY TWD ZAR"
CURRENCY_CODES = frozenset({*CURRENCY_SYMBOLS, *OTHER_CURRENCIES.split(" ")})
NO_MINOR_UNIT = frozenset({"JPY", "KRW", "HUF", "IDR"})
# Errors measured in the answer's own unit (shown like an answer); R² and MAPE have no unit, MSE a squared one.
IN_ANSWER_UNITS = frozenset({"rmse", "mae"})
MISSING = "—"


def number(value: float | None) -> str:
    """A number for display: ``1,234`` from a thousand up, else four significant digits (``153.2``, ``0.0123``)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.4g}"


def currency(unit: str | None) -> str | None:
    """The ISO 4217 code ``unit`` names (``usd``, ``USD``, ``$``), or ``None`` when it is not a currency."""
    if not unit:
        return None
    code = unit.strip().upper()
    by_symbol = {symbol: code for code, symbol in CURRENCY_SYMBOLS.items()}
    code = by_symbol.get(code, code)
    return code if code in CURRENCY_CODES else None


def amount(value: float | None, unit: str | None = None) -> str:
    """An answer in its version's unit: ``$1,234`` / ``CHF 12.50`` for a currency, ``153.2 points``, or ``153.2``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    code = currency(unit)
    if code is None:
        unit_name = (unit or "").strip()
        return f"{number(value)} {unit_name}" if unit_name else number(value)
    decimals = 0 if code in NO_MINOR_UNIT or abs(value) >= 100 else 2
    figure = f"{abs(value):,.{decimals}f}"
    sign = "-" if value < 0 and float(figure.replace(",", "")) != 0 else ""
    symbol = CURRENCY_SYMBOLS.get(code)
    return f"{sign}{symbol}{figure}" if symbol else f"{sign}{code} {figure}"


# Number formats of st.column_config.NumberColumn for the same figures in tables (values × 100 for shares).
SHARE_COLUMN_FORMAT = "%.1f%%"
METRIC_COLUMN_FORMAT = "%.3f"
COUNT_COLUMN_FORMAT = "%,d"


def share(value: float | None) -> str:
    """A share of rows (accuracy, coverage, a drift share…) as a percentage with one decimal: ``81.9%``."""
    return share_text(value)


def classifier_metric(metric: str, value: float | None) -> str:
    """A classifier's metric: accuracy, precision, recall, F1 and label coverage as ``81.9%``, ROC AUC and
    log loss as ``0.9868`` (the format Monitoring, its alerts and Home share)."""
    return metric_text(metric, value)


def count(value: int | None) -> str:
    """A count with thousands separators: ``1,993``."""
    return MISSING if value is None else f"{value:,}"


def holdout_value(metric: HoldoutMetric, unit: str | None = None) -> str:
    """A holdout figure: RMSE and MAE in the answer's unit; accuracy, precision, recall, F1 as percentages
    with one decimal (as Monitoring shows them live); MAPE as a percentage; R², ROC AUC, PR AUC and log
    loss to four places."""
    if metric.measures in IN_ANSWER_UNITS:
        return amount(metric.value, unit)
    if metric.measures in ("r2", "roc_auc", "pr_auc", "log_loss"):
        return f"{metric.value:.4f}"
    if metric.measures in ("accuracy", "precision", "recall", "f1"):
        return share(metric.value)
    if metric.measures == "mape":
        return f"{metric.value:.2%}"
    return number(metric.value)


def input_step(low: float | None, high: float | None, typical: float | None = None) -> float:
    """A number input's step: about a hundredth of the training range (``0.01`` for 0.2–5, ``100`` for 300–19,000)."""
    span = (high - low) if low is not None and high is not None else abs(typical or 0.0)
    if not math.isfinite(span) or span <= 0:
        return 0.01
    return float(10 ** (math.floor(math.log10(span)) - 2))


def milliseconds(value: float | None) -> str:
    """A latency for display: ``3.2 ms``."""
    return MISSING if value is None else f"{value:,.1f} ms"


def code(text: str) -> str:
    """``text`` as inline code in Markdown, whatever backticks it holds (a longer fence around it)."""
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
