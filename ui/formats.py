"""One number format for every page: money, latency, shares."""

from __future__ import annotations


def money(value: float | None) -> str:
    """A price for display: ``$1,234``."""
    return "—" if value is None else f"${value:,.0f}"


def milliseconds(value: float | None) -> str:
    """A latency for display: ``3.2 ms``."""
    return "—" if value is None else f"{value:,.1f} ms"
