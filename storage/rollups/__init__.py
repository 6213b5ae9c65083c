"""Hourly roll-ups of the prediction log (moved here from ``storage/rollups.py``; split into modules next)."""

from storage.rollups.refresh import *  # noqa: F403
