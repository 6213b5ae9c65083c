"""Small selections over roll-up frames shared by the snapshot, series and exports."""

from __future__ import annotations

import numpy as np
import pandas as pd

from core.monitoring.windows import Window


def select_rows(frame: pd.DataFrame, *, version: int | None, include_shadow: bool) -> pd.DataFrame:
    """Rows of one version (``None``: all), without shadow rows unless ``include_shadow``."""
    if frame.empty:
        return frame
    mask = np.ones(len(frame), dtype=bool)
    if version is not None:
        mask &= frame["model_version"].to_numpy() == version
    if not include_shadow:
        mask &= ~frame["is_shadow"].astype(bool).to_numpy()
    return frame[mask]


def in_window(frame: pd.DataFrame, window: Window) -> pd.DataFrame:
    """Rows whose ``hour`` lies in the window."""
    if frame.empty:
        return frame
    hours = pd.to_datetime(frame["hour"], utc=True)
    return frame[(hours >= window.start) & (hours < window.end)]


def answered_count(totals: pd.DataFrame) -> int:
    """Predictions summed over hourly totals."""
    return int(totals["predictions"].sum()) if not totals.empty else 0


def serving_version(totals: pd.DataFrame) -> int | None:
    """The version that answered most in the totals (not shadow): the one whose inputs matter."""
    answered = totals[~totals["is_shadow"].astype(bool)] if not totals.empty else totals
    if answered.empty:
        return None
    return int(answered.groupby("model_version")["predictions"].sum().idxmax())
