"""Sentences the Monitoring page shows about a window: drift verdict, refresh time, shadow state."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from core.formats import plural, seconds, share, timestamp
from core.monitoring.drift import DriftReport
from core.serving.model_cache import ModelLoad


def drift_sentence(report: DriftReport, version: int | None) -> str:
    """The verdict line over the drift table: a verdict only where there is evidence for one."""
    judged = len(report.judged)
    short = len(report.not_enough)
    rows = plural(report.current_rows, "input")
    if report.share is None:
        return (
            f"**Not enough data** for version {version}: {rows} in this window; a drift verdict needs at least "
            f"{report.min_rows:,} rows per feature (`LOUPE_DRIFT_MIN_ROWS`)."
        )
    verdict = "Dataset drift" if report.dataset_drift else "No dataset drift"
    sentence = (
        f"**{verdict}** for version {version}: {report.drifted_count} of {plural(judged, 'feature')} drifted "
        f"(share {share(report.share)}; dataset drift at ≥ {share(report.share_threshold)}) over {rows} against "
        f"{plural(report.reference_rows, 'reference row')}."
    )
    if short:
        sentence += (
            f" {short} {'feature has' if short == 1 else 'features have'} fewer than {report.min_rows:,} rows: "
            "not enough data for a verdict."
        )
    return sentence


def refreshed_text(moment: datetime) -> str:
    """``Last refreshed at 2026-03-08 10:30:05 UTC``: to the second, in UTC whatever the server's zone."""
    return f"Last refreshed at {timestamp(moment)}"


def rolled_up_text(rows: int) -> str:
    """How many new log rows this run rolled up, with the plural right."""
    return f"{plural(rows, 'new log row')} rolled up"


def rejections_text(unattributed: int, version: int | None) -> str:
    """What the rejected-input rate counts: the chosen version's own refusals, and rows no version can own."""
    scope = (
        "Rejected inputs of every version over every answered and rejected row."
        if version is None
        else f"Rejected inputs: the rows version {version}'s input rules refused, over its answered and rejected rows."
    )
    if not unattributed:
        return scope
    rows = plural(unattributed, "rejected row")
    verb = "was" if unattributed == 1 else "were"
    return (
        f"{scope} {rows} in this window {verb} logged before rejections carried a version: counted for the "
        "model, not a version."
    )


def loads_text(loads: Sequence[ModelLoad], *, shown: int = 4) -> str:
    """The latest model loads on this host, apart from request latency: ``v2 loaded in 0.24 s at … UTC``."""
    parts = []
    for load in reversed(loads[-shown:]):
        at = datetime.fromisoformat(load.loaded_at)
        how = " (copied from the registry)" if load.copied else ""
        parts.append(f"v{load.version} in {seconds(load.seconds)} at {timestamp(at)}{how}")
    return "Model loads, not counted as request latency: " + "; ".join(parts) + "."
