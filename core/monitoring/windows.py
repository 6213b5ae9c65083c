"""Monitoring windows: whole UTC hours.

"Last day" is the 24 hours before the current one plus the current, still-open hour (so it always
covers at least the last 24 hours). The previous window, for deltas, is the same number of hours
just before it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from storage.base import as_utc, utcnow

PRESETS: dict[str, timedelta] = {
    "Last hour": timedelta(hours=1),
    "Last day": timedelta(days=1),
    "Last week": timedelta(days=7),
}


WINDOW_PATTERN = re.compile(r"^\s*(?P<count>\d+)\s*(?P<unit>[hdw])\s*$")


UNIT = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}


HOUR = timedelta(hours=1)


def floor_hour(moment: datetime) -> datetime:
    """The start of the UTC hour holding ``moment``."""
    return as_utc(moment).replace(minute=0, second=0, microsecond=0)


@dataclass(frozen=True)
class Window:
    """A half-open span of whole UTC hours, ``[start, end)``."""

    start: datetime
    end: datetime

    @classmethod
    def last(cls, duration: timedelta, *, now: datetime | None = None) -> Window:
        """The hours covering the last ``duration`` up to now, the current open hour included."""
        now = as_utc(now or utcnow())
        return cls(start=floor_hour(now - duration), end=floor_hour(now) + HOUR)

    @classmethod
    def between(cls, start: datetime, end: datetime) -> Window:
        """Whole hours from the hour holding ``start`` to the end of the hour holding ``end``."""
        start, end = floor_hour(start), floor_hour(end) + HOUR
        if end <= start:
            raise ValueError("the window must end after it starts")
        return cls(start=start, end=end)

    @classmethod
    def for_days(cls, first: date, last: date) -> Window:
        """Whole UTC days from ``first`` to ``last`` inclusive (the page's custom window)."""
        if last < first:
            raise ValueError("the window must end after it starts")
        start = datetime(first.year, first.month, first.day, tzinfo=UTC)
        return cls(start=start, end=datetime(last.year, last.month, last.day, tzinfo=UTC) + timedelta(days=1))

    @property
    def hours(self) -> int:
        return int((self.end - self.start) / HOUR)

    def previous(self) -> Window:
        """The window of the same length just before this one."""
        return Window(start=self.start - (self.end - self.start), end=self.start)

    def label(self) -> str:
        return f"{self.start:%Y-%m-%d %H:%M} → {self.end:%Y-%m-%d %H:%M} UTC"


def recent_days(days: int = 2, *, now: datetime | None = None) -> tuple[date, date]:
    """The UTC days from ``days`` ago to today: the custom window's first suggestion."""
    today = as_utc(now or utcnow()).date()
    return today - timedelta(days=days), today


def parse_duration(text: str) -> timedelta:
    """``12h``, ``7d`` or ``2w`` as a duration."""
    match = WINDOW_PATTERN.match(text or "")
    if not match or int(match["count"]) == 0:
        raise ValueError(f"window must look like 12h, 7d or 2w, not {text!r}")
    return int(match["count"]) * UNIT[match["unit"]]
