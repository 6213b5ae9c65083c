"""The Monitoring window read with multivariate drift, a segment split and estimated performance, at 1M and 10M.

The same log as :mod:`bench.monitoring` (a ridge champion, 1M predictions over 7 days with carat +10 %,
30 % labelled; then grown to 10M by copying rows in SQL), without the Evidently baseline and page renders,
so it runs offline and in a few minutes. Figures (seconds unless named otherwise):

- ``generate_1m_s`` / ``rollup_build_1m_s`` / ``rollup_add_9m_s``: writing and rolling up the log (now
  including multivariate errors and segment roll-ups);
- ``window_read_1m_s`` / ``window_read_10m_s``: the page's whole window read
  (:func:`core.monitoring.snapshot.snapshot`: a refresh with nothing new, KPIs, latency, drift, estimated
  performance when the version has an estimator, multivariate drift and one split by ``cut``), median of 5;
  ``window_read_10m_vs_1m`` their ratio; ``window_read_estimated_*`` whether estimated performance was in it;
- ``multivariate_*``: the window's mean reconstruction error against the reference's band (carat +10 %
  also breaks carat's relation to x, y, z);
- ``segment_rows_*`` / ``segment_bin_rows_*`` / ``multivariate_rows_*``: the sizes of the new roll-up tables;
- ``load_avg_*``: the machine's 1-minute load average right after the window read (a shared 2-core machine:
  the times above are only comparable at similar load).
"""

from __future__ import annotations

import os
import time
from datetime import timedelta
from pathlib import Path

from bench.monitoring import DAYS, ROWS, SCALE_ROWS, _grow_log, _home, _say, _timed, champion_log
from core.monitoring.references import refresh
from core.monitoring.windows import Window

# False: stop after the 1M figures (growing to 10M and rolling the copies up takes most of an hour on a busy
# 2-core machine): ``python -c "import bench.monitoring_window as m; m.WITH_10M = False; ..."``.
WITH_10M = True


def _window_read(settings, sessions, window: Window, *, scale: str) -> dict[str, float | int | str]:
    from sqlalchemy import func, select

    from core.monitoring.snapshot import snapshot
    from storage.rollups.tables import RollupMultivariate, RollupSegment, RollupSegmentFeature

    def read() -> object:
        return snapshot(settings, sessions=sessions, window=window, split_by="cut")

    view = read()
    figures: dict[str, float | int | str] = {f"window_read_{scale}_s": round(_timed(read, repeat=5), 4)}
    figures[f"load_avg_{scale}"] = round(os.getloadavg()[0], 1)
    figures[f"window_read_estimated_{scale}"] = "yes" if getattr(view, "estimated", None) is not None else "no"
    figures[f"segments_{scale}"] = 0 if view.segments is None else len(view.segments.table)
    found = view.multivariate
    if found is not None and found.mean_error is not None:
        figures[f"multivariate_error_{scale}"] = round(found.mean_error, 4)
        figures["multivariate_band"] = f"{found.lower:.4f}..{found.upper:.4f}"
        figures[f"multivariate_drifted_{scale}"] = "yes" if found.drifted else "no"
    with sessions.begin() as session:
        for name, table in (
            ("segment_rows", RollupSegment),
            ("segment_bin_rows", RollupSegmentFeature),
            ("multivariate_rows", RollupMultivariate),
        ):
            figures[f"{name}_{scale}"] = int(session.scalar(select(func.count()).select_from(table)) or 0)
    _say(f"window read with multivariate drift and a split by cut: {figures[f'window_read_{scale}_s']} s")
    return figures


def run(workdir: Path) -> dict[str, float | int | str]:
    from core.settings import get_settings

    figures: dict[str, float | int | str] = {}
    with _home(workdir):
        settings = get_settings()
        settings.ensure_home()
        engine, sessions = champion_log(settings, figures)
        window = Window.last(timedelta(days=DAYS))
        figures.update(_window_read(settings, sessions, window, scale="1m"))

        if not WITH_10M:
            engine.dispose()
            return figures
        _say("growing the log to 10M rows")
        _grow_log(sessions, copies=SCALE_ROWS // ROWS - 1)
        started = time.perf_counter()
        refresh(settings, sessions=sessions)
        figures["rollup_add_9m_s"] = round(time.perf_counter() - started, 1)
        figures.update(_window_read(settings, sessions, window, scale="10m"))
        figures["window_read_10m_vs_1m"] = round(figures["window_read_10m_s"] / figures["window_read_1m_s"], 2)
        engine.dispose()
    return figures
