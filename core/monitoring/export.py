"""Drift reports for download and the command line (JSON, CSV), and the benchmarked headline computation."""

from __future__ import annotations

import pandas as pd

from core.csv_export import csv_text
from core.monitoring.drift import DriftReport
from core.monitoring.percentiles import latency_percentiles
from core.monitoring.references import refresh
from core.monitoring.rollup_frames import select_rows, serving_version
from core.monitoring.window_drift import window_drift
from core.monitoring.windows import Window, parse_duration
from core.settings import Settings
from storage import rollups
from storage.db import Sessions


def export_meta(settings: Settings, *, window: Window, version: int, include_shadow: bool) -> dict[str, object]:
    """What a drift report was computed on, written at the top of every export."""
    return {
        "model_name": settings.model_name,
        "model_version": version,
        "window_start": window.start.isoformat(),
        "window_end": window.end.isoformat(),
        "include_shadow": include_shadow,
    }


def report_json(report: DriftReport, meta: dict[str, object]) -> str:
    """The drift report as JSON: the meta fields, dataset drift and share, then one entry per feature."""
    return report.to_json(**meta) + "\n"


def report_csv(report: DriftReport, meta: dict[str, object]) -> str:
    """The drift report as CSV: one row per feature, with the dataset verdict and meta repeated on each row."""
    frame = report.to_frame()
    frame["dataset_drift"] = report.dataset_drift
    frame["drift_share"] = report.share
    for key, value in meta.items():
        frame[key] = value
    return csv_text(frame)


def drift_export(
    settings: Settings,
    *,
    sessions: Sessions,
    window: str | Window = "7d",
    version: int | None = None,
    include_shadow: bool = False,
    fmt: str = "json",
) -> str:
    """The drift report for the CLI: ``ValueError`` with a clear message when there is nothing to report."""
    if isinstance(window, str):
        window = Window.last(parse_duration(window))
    if fmt not in {"json", "csv"}:
        raise ValueError(f"format must be json or csv, not {fmt!r}")
    refresh(settings, sessions=sessions)
    with sessions.begin() as session:
        if version is None:
            totals = rollups.hour_totals(session, model_name=settings.model_name, start=window.start, end=window.end)
            version = serving_version(totals)
            if version is None:
                raise ValueError(
                    f"no predictions of {settings.model_name} logged in {window.label()}; "
                    "try a longer --window or generate traffic with `python -m core simulate`"
                )
        report = window_drift(
            settings, session=session, window=window, model_version=version, include_shadow=include_shadow
        )
    if report is None:
        raise ValueError(
            f"version {version} of {settings.model_name} has no reference data to compare with (attach it: python -m core reference --version N --input FILE)"
        )
    if not report.features:
        raise ValueError(f"no inputs of version {version} logged in {window.label()}")
    meta = export_meta(settings, window=window, version=version, include_shadow=include_shadow)
    return report_json(report, meta) if fmt == "json" else report_csv(report, meta)


def drift_and_latency(
    settings: Settings, *, sessions: Sessions, window: Window, version: int | None = None
) -> tuple[DriftReport | None, dict[int, float | None]]:
    """The two headline computations on their own (refresh, drift, latency percentiles), as benchmarked."""
    refresh(settings, sessions=sessions)
    with sessions.begin() as session:
        if version is None:
            totals = rollups.hour_totals(session, model_name=settings.model_name, start=window.start, end=window.end)
            version = serving_version(totals)
        report = (
            None if version is None else window_drift(settings, session=session, window=window, model_version=version)
        )
        latency = rollups.bucket_counts(
            session, model_name=settings.model_name, metric="latency", start=window.start, end=window.end
        )
    latency = select_rows(latency, version=version, include_shadow=False)
    merged = latency.groupby("bucket")["count"].sum() if not latency.empty else pd.Series(dtype=float)
    return report, latency_percentiles(merged.index.to_numpy(), merged.to_numpy())
