"""One format for every figure Loupe shows — pages, figures and the command line read it from here.

- numbers, statistics of any size included: :func:`number` (``145,700,967``; four significant digits
  below a thousand: ``153.2``, ``0.1234``);
- an answer, and errors measured in the answer's unit (MAE, RMSE): :func:`amount`, in the version's
  ``loupe.unit`` (``USD`` → ``$1,234``, ``points`` → ``153.2 points``);
- shares (accuracy, coverage, drift share, rejected rate, MAPE): percentages, :func:`share`;
- counts: :func:`count`, and a counted noun with its plural right: :func:`plural`;
- latency: :func:`milliseconds`; moments: :func:`timestamp`, to the second in UTC.

Tables in the console format their columns with the printf strings of :data:`COUNT_COLUMN_FORMAT` and
friends, or :func:`number_column_format` for a column of answers, so a cell reads as the same figure would
in a sentence. Nothing here imports Streamlit: the CLI and the figure builders use the same functions.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Protocol

MISSING = "—"

# ISO 4217 codes people tag versions with; the few whose symbol is unambiguous are shown with it.
CURRENCY_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "INR": "₹", "KRW": "₩"}
OTHER_CURRENCIES = "AUD BRL CAD CHF CNY CZK DKK HKD HUF IDR ILS MXN MYR NOK NZD PHP PLN RON SEK SGD THB TRY TWD ZAR"
CURRENCY_CODES = frozenset({*CURRENCY_SYMBOLS, *OTHER_CURRENCIES.split(" ")})
NO_MINOR_UNIT = frozenset({"JPY", "KRW", "HUF", "IDR"})
# Errors measured in the answer's own unit (shown like an answer); R² and MAPE have no unit, MSE a squared one.
IN_ANSWER_UNITS = frozenset({"rmse", "mae"})
FOUR_PLACES = frozenset({"r2", "roc_auc", "pr_auc", "log_loss"})
SHARES = frozenset({"accuracy", "precision", "recall", "f1", "mape"})

# printf formats of table columns (Streamlit's NumberColumn reads ``,`` as the thousands separator).
SHARE_COLUMN_FORMAT = "%.1f%%"  # values × 100
METRIC_COLUMN_FORMAT = "%.4f"
COUNT_COLUMN_FORMAT = "%,d"
MS_COLUMN_FORMAT = "%,.1f"
TIMESTAMP_COLUMN_FORMAT = "YYYY-MM-DD HH:mm:ss"  # momentJS, for DatetimeColumn: to the second, like timestamp()
# Plotly's d3 formats for the same figures on axes and in hover labels.
NUMBER_D3 = ",.4~g"
COUNT_D3 = ",d"
SHARE_D3 = ".1%"


class Measured(Protocol):
    """A holdout figure (:class:`core.registry.holdout.HoldoutMetric`): what it measures and its value."""

    @property
    def measures(self) -> str: ...

    @property
    def value(self) -> float: ...


def _missing(value: float | None) -> bool:
    return value is None or (isinstance(value, float) and not math.isfinite(value))


def number(value: float | None) -> str:
    """A number for display: ``1,234`` from a thousand up, else four significant digits (``153.2``, ``0.0123``)."""
    if _missing(value):
        return MISSING
    assert value is not None
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
    if _missing(value):
        return MISSING
    assert value is not None
    code = currency(unit)
    if code is None:
        unit_name = (unit or "").strip()
        return f"{number(value)} {unit_name}" if unit_name else number(value)
    decimals = 0 if code in NO_MINOR_UNIT or abs(value) >= 100 else 2
    figure = f"{abs(value):,.{decimals}f}"
    sign = "-" if value < 0 and float(figure.replace(",", "")) != 0 else ""
    symbol = CURRENCY_SYMBOLS.get(code)
    return f"{sign}{symbol}{figure}" if symbol else f"{sign}{code} {figure}"


def number_column_format(values: Iterable[float], unit: str | None = None) -> str:
    """A printf format for a table column of answers in ``unit``: ``$%,.0f`` for dollars in the hundreds,
    ``%,.2f kg`` for weights near ten; decimals so the typical value keeps about four significant digits."""
    finite = sorted(abs(float(value)) for value in values if value is not None and math.isfinite(float(value)))
    typical = finite[len(finite) // 2] if finite else 0.0
    decimals = 0 if typical >= 1000 else max(0, 3 - math.floor(math.log10(typical))) if typical > 0 else 2
    code = currency(unit)
    if code is not None:
        decimals = 0 if code in NO_MINOR_UNIT or typical >= 100 else 2
        symbol = CURRENCY_SYMBOLS.get(code)
        return f"{symbol}%,.{decimals}f" if symbol else f"{code} %,.{decimals}f"
    unit_name = (unit or "").strip().replace("%", "%%")
    return f"%,.{decimals}f {unit_name}" if unit_name else f"%,.{decimals}f"


def share(value: float | None) -> str:
    """A share of rows (accuracy, coverage, a drift share, a rejected rate, MAPE) in percent: ``81.9%``."""
    return MISSING if _missing(value) else f"{value:.1%}"


def count(value: int | None) -> str:
    """A count with thousands separators: ``1,993``."""
    return MISSING if value is None else f"{value:,}"


def plural(value: int, noun: str, many: str | None = None) -> str:
    """``value`` and ``noun`` with the plural right: ``1 scored row``, ``2 scored rows``, ``1,993 answers``."""
    word = noun if value == 1 else (many or _plural_of(noun))
    return f"{value:,} {word}"


def _plural_of(noun: str) -> str:
    # Enough English for the console's nouns (row, input, version, feature, prediction, class, entry).
    if noun.endswith(("s", "x", "ch", "sh")):
        return noun + "es"
    if noun.endswith("y") and noun[-2:-1] not in "aeiou":
        return noun[:-1] + "ies"
    return noun + "s"


def milliseconds(value: float | None) -> str:
    """A latency for display: ``3.2 ms``, ``1,204.5 ms``."""
    return MISSING if _missing(value) else f"{value:,.1f} ms"


def seconds(value: float | None) -> str:
    """A duration in seconds: ``0.24 s`` under ten seconds, ``42 s`` and ``1,204 s`` above."""
    if _missing(value):
        return MISSING
    assert value is not None
    return f"{value:,.2f} s" if value < 10 else f"{value:,.0f} s"


def timestamp(moment: datetime | None) -> str:
    """A moment to the second in UTC: ``2026-11-30 14:05:09 UTC`` (a naive moment is taken as UTC)."""
    if moment is None:
        return MISSING
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return f"{aware.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"


def utc_naive(moment: datetime) -> datetime:
    """``moment`` in UTC without zone or microseconds, for a table column titled ``(UTC)``."""
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).replace(tzinfo=None, microsecond=0)


def holdout_value(metric: Measured, unit: str | None = None) -> str:
    """A holdout figure: RMSE and MAE in the answer's unit; accuracy, precision, recall, F1 and MAPE as
    percentages (as Monitoring shows them live); R², ROC AUC, PR AUC and log loss to four places."""
    return measured(metric.measures, metric.value, unit)


def measured(measures: str | None, value: float | None, unit: str | None = None) -> str:
    """A metric's value by what it measures (``rmse``, ``mape``, ``roc_auc``…; ``None``: unknown, a number)."""
    if measures in IN_ANSWER_UNITS:
        return amount(value, unit)
    if measures in FOUR_PLACES:
        return MISSING if _missing(value) else f"{value:.4f}"
    if measures in SHARES:
        return share(value)
    return number(value)


def metric_column_format(measures: str | None, values: Iterable[float]) -> str:
    """A table column of a metric, as :func:`measured` would say each value: shares in percent (Streamlit's
    ``percent`` format, one decimal with a step of 0.001), four places, or digits by the column's size."""
    if measures in SHARES:
        return "percent"
    if measures in FOUR_PLACES:
        return METRIC_COLUMN_FORMAT
    return number_column_format(values)
