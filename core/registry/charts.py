"""Tables and figures for the Registry page: versions, ledger, checklist and the champion timeline."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import pandas as pd
import plotly.graph_objects as go
from pandas.io.formats.style import Styler

from core.charts import TEMPLATE, chart_text
from core.formats import IN_ANSWER_UNITS, holdout_value, number, utc_naive
from core.mlflow_io import ESTIMATOR_TAG, VersionInfo
from core.registry.holdout import KNOWN_NAMES, LABELS, PREFERENCE, HoldoutMetric, holdout_metrics
from core.registry.metric_names import direction
from core.registry.preflight import FAIL, PASS, UNKNOWN, VALIDATION_STATUS_TAG, WARN, Check
from storage.base import utcnow
from storage.ledger import AliasChange

STATUS_ICONS = {PASS: "✅", FAIL: "❌", WARN: "⚠️", UNKNOWN: "❔"}
ALIAS_BADGES = {"champion": "🏆 champion", "challenger": "🥊 challenger"}
ROW_COLOURS = {"champion": "rgba(250, 204, 21, 0.18)", "challenger": "rgba(125, 211, 252, 0.16)"}
TENURE_COLOURS = ("#a78bfa", "#7dd3fc")
NOT_SET = "none"  # the ledger's "from" when the alias pointed nowhere before the move
REMOVED = "removed"  # its "to" when the move removed the alias


def badge(alias: str) -> str:
    """How an alias is shown: champion and challenger get an icon."""
    return ALIAS_BADGES.get(alias, f"🏷️ {alias}")


def versions_frame(versions: Sequence[VersionInfo]) -> pd.DataFrame:
    """One row per version, newest first: aliases, created, estimator, holdout metrics, validation status.

    The aliases come second, next to the version: they are what a reader looks for, and a wide table cut
    at 1280 px must not hide the champion's badge.

    Metric columns are the holdout figures the versions logged, under the names they logged them
    (``rmse``, ``root_mean_squared_error``, ``r2_score``…); the estimator is blank when unknown.
    """
    metric_names = _metric_columns(versions)
    rows = [
        {
            "version": version.version,
            "created (UTC)": utc_naive(version.created_at),
            "estimator": "" if version.estimator == "unknown" else version.estimator,
            **{name: version.metrics.get(name) for name in metric_names},
            VALIDATION_STATUS_TAG: version.tags.get(VALIDATION_STATUS_TAG, ""),
            "aliases": " ".join(badge(alias) for alias in version.aliases),
            "other tags": ", ".join(
                f"{key}={value}"
                for key, value in sorted(version.tags.items())
                if key not in (ESTIMATOR_TAG, VALIDATION_STATUS_TAG)
            ),
            "run": version.run_id or "",
        }
        for version in sorted(versions, key=lambda version: version.version, reverse=True)
    ]
    columns = ["version", "aliases", "created (UTC)", "estimator", *metric_names, VALIDATION_STATUS_TAG, "other tags"]
    return pd.DataFrame(rows, columns=[*columns, "run"])


def _metric_columns(versions: Sequence[VersionInfo]) -> list[str]:
    # Each measure once, under the first logged name found, in the order RMSE, MAE, MSE, R², MAPE, then
    # a classifier's ROC AUC, F1, accuracy, log loss, precision, recall, PR AUC.
    found: dict[str, str] = {}
    for version in versions:
        for measures, metric in holdout_metrics(version.metrics).items():
            found.setdefault(measures, metric.logged_as)
    return [found[measures] for measures in PREFERENCE if measures in found]


def versions_styler(frame: pd.DataFrame) -> Styler:
    """The versions table with the champion's and the challenger's rows tinted."""

    def tint(row: pd.Series) -> list[str]:
        for alias, colour in ROW_COLOURS.items():
            if alias in str(row["aliases"]).split():
                return [f"background-color: {colour}; font-weight: 600"] * len(row)
        return [""] * len(row)

    formats: dict[str, str | Callable[[float], str]] = {}
    for column in frame.columns:
        measures = KNOWN_NAMES.get(str(column).lower())
        if measures is not None:  # holdout figures, whatever name they were logged under
            formats[column] = _metric_format(measures)
    formats["created (UTC)"] = "{:%Y-%m-%d %H:%M:%S}"
    return frame.style.apply(tint, axis=1).format(formats, na_rep="—")


def _metric_format(measures: str) -> Callable[[float], str]:
    # The figure as Home's cards and the pre-flight say it (core.formats.holdout_value), without the unit: the
    # table holds every version, and each may name its own.
    def shown(value: float) -> str:
        return (
            holdout_value(HoldoutMetric(measures, measures, value))
            if measures not in IN_ANSWER_UNITS
            else number(value)
        )

    return shown


def failed_check_names(preflight_json: str | None) -> str:
    """Names of the failed checks stored with a ledger entry (comma-separated)."""
    if not preflight_json:
        return ""
    checks = json.loads(preflight_json).get("checks", [])
    return ", ".join(check["name"] for check in checks if check.get("status") == FAIL)


def ledger_frame(entries: Sequence[AliasChange]) -> pd.DataFrame:
    """The ledger, newest first, as the page, the CSV download and ``python -m core ledger`` show it.

    A move from no holder reads ``none`` and a removal ``removed``, in words: an empty cell would print as
    ``None`` on the page and as nothing in the CSV.
    """
    rows = [
        {
            "id": entry.id,
            "when (UTC)": utc_naive(entry.changed_at),
            "alias": entry.alias,
            "from": NOT_SET if entry.from_version is None else str(entry.from_version),
            "to": REMOVED if entry.to_version is None else str(entry.to_version),
            "who": entry.actor,
            "origin": entry.origin,
            "override": entry.override,
            "failed checks": failed_check_names(entry.preflight),
            "reason": entry.reason,
        }
        for entry in sorted(entries, key=lambda entry: entry.id, reverse=True)
    ]
    columns = ["id", "when (UTC)", "alias", "from", "to", "who", "origin", "override", "failed checks", "reason"]
    return pd.DataFrame(rows, columns=columns)


def checklist_markdown(checks: Sequence[Check]) -> str:
    """The pre-flight as a Markdown checklist, one line per check."""
    return "\n".join(f"- {STATUS_ICONS[check.status]} **{check.name}** — {check.detail}" for check in checks)


@dataclass(frozen=True)
class Tenure:
    """A stretch of time during which ``version`` held the alias."""

    version: int
    start: datetime
    end: datetime


def alias_tenures(entries: Sequence[AliasChange], *, alias: str, now: datetime | None = None) -> list[Tenure]:
    """Who held ``alias`` when, from the ledger; a removal leaves a gap until the next change."""
    now = now or utcnow()
    changes = sorted((entry for entry in entries if entry.alias == alias), key=lambda entry: entry.id)
    tenures = []
    for index, entry in enumerate(changes):
        if entry.to_version is None:
            continue
        end = changes[index + 1].changed_at if index + 1 < len(changes) else now
        tenures.append(Tenure(version=entry.to_version, start=entry.changed_at, end=end))
    return tenures


def timeline_figure(
    versions: Sequence[VersionInfo],
    entries: Sequence[AliasChange],
    *,
    alias: str = "champion",
    metric: str | None = None,
    now: datetime | None = None,
) -> go.Figure:
    """Versions by registration time and a holdout metric; shaded bands and a step line for ``alias``.

    ``metric`` is a logged name; by default the measure most versions logged (RMSE first), under the
    name each version logged it (``rmse``, ``root_mean_squared_error``, …).
    """
    ordered = sorted(versions, key=lambda version: version.created_at)
    measure = _timeline_measure(versions, metric)

    def value(version: VersionInfo) -> float | None:
        if metric is not None:
            return version.metrics.get(metric)
        found = holdout_metrics(version.metrics).get(measure) if measure else None
        return None if found is None else found.value

    label = metric or LABELS.get(measure or "", "metric")
    by_number = {version.version: version for version in versions}
    figure = go.Figure()
    figure.add_trace(
        go.Scatter(
            x=[version.created_at for version in ordered],
            y=[value(version) for version in ordered],
            mode="markers+text",
            text=[f"v{version.version}" for version in ordered],
            textposition="top center",
            # The estimator is a tag from data: Plotly reads a few HTML tags in hover text.
            customdata=[[version.version, chart_text(version.estimator)] for version in ordered],
            hovertemplate=f"version %{{customdata[0]}} · %{{customdata[1]}}<br>{label} %{{y:,.4g}}<extra></extra>",
            name="versions",
            marker={"size": 11, "color": "#e5e7eb", "line": {"width": 1, "color": "#111"}},
        )
    )
    tenures = alias_tenures(entries, alias=alias, now=now)
    xs: list[datetime | None] = []
    ys: list[float | None] = []
    for index, tenure in enumerate(tenures):
        held = value(by_number[tenure.version]) if tenure.version in by_number else None
        xs += [tenure.start, tenure.end, None]
        ys += [held, held, None]
        figure.add_vrect(
            x0=tenure.start,
            x1=tenure.end,
            fillcolor=TENURE_COLOURS[index % len(TENURE_COLOURS)],
            opacity=0.12,
            line_width=0,
            annotation_text=f"v{tenure.version}",
            annotation_position="top left",
        )
    figure.add_trace(
        go.Scatter(
            x=xs,
            y=ys,
            mode="lines",
            name=f"{alias} ({label})",
            line={"color": "#facc15", "width": 3},
            connectgaps=False,
        )
    )
    figure.update_layout(
        title=f"Versions over time — holdout {label}, and who held {alias} when",
        xaxis_title="time (UTC)",
        yaxis_title=f"holdout {label} ({direction(metric or measure or '')})",
        template=TEMPLATE,
        height=420,
        legend={"orientation": "h", "y": -0.2},
    )
    return figure


def _timeline_measure(versions: Sequence[VersionInfo], metric: str | None) -> str | None:
    # The measure the most versions logged, in the Registry's order of preference on a tie.
    if metric is not None:
        return None
    counts = {measure: 0 for measure in PREFERENCE}
    for version in versions:
        for measure in holdout_metrics(version.metrics):
            counts[measure] += 1
    best = max(PREFERENCE, key=lambda measure: counts[measure])
    return best if counts[best] else None
