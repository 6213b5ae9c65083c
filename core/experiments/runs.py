"""Experiments: search an experiment's runs into one DataFrame, filter, compare, rank, and register.

Every run is fetched by one paged search (params, metrics, tags and logged models come with it),
and the registry adds two calls (versions by run, aliases): nothing is fetched per run for the table."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from urllib.parse import quote, urlsplit, urlunsplit

import pandas as pd

from core import mlflow_io
from core.errors import LoupeError
from core.mlflow_io import InvalidSearchFilter, RunRecord
from core.registry import metric_names
from core.settings import Settings

FIXED_COLUMNS = ("run", "estimator", "registered", "model", "status", "started", "duration (s)", "mlflow")


KEY_PARAM_LIMIT = 6


MISSING = "—"


TRAIN_HINT = "python -m core train --estimator rf --no-register"


class InvalidFilter(LoupeError, ValueError):
    """A filter the user typed that MLflow cannot run; the message names the filter and says what to change.

    ``reason`` keeps MLflow's own words (for logs), the message never shows them raw when they are understood.
    """

    def __init__(self, message: str, *, reason: str = "") -> None:
        super().__init__(message)
        self.reason = reason


def lower_is_better(metric: str) -> bool:
    """Error-like metrics (rmse, mae, log loss…) improve downwards; scores (r2, accuracy, F1, ROC AUC…) upwards.

    The Registry's table of names decides (:func:`core.registry.metric_names.lower_is_better`), so a
    leaderboard and a pre-flight never disagree on which way a metric points.
    """
    return metric_names.lower_is_better(metric)


@dataclass(frozen=True)
class RunFilters:
    """What MLflow's search narrows: raw search syntax and the start-date range (see :func:`narrow` for the rest)."""

    search: str = ""
    started_from: date | None = None
    started_to: date | None = None  # inclusive

    def filter_string(self) -> str:
        """The MLflow filter string: the raw search and the date range, joined by ``and``."""
        clauses = [self.search.strip()] if self.search.strip() else []
        if self.started_from:
            clauses.append(f"attributes.start_time >= {_day_start_ms(self.started_from)}")
        if self.started_to:
            clauses.append(f"attributes.start_time < {_day_start_ms(self.started_to + timedelta(days=1))}")
        return " and ".join(clauses)


def _day_start_ms(day: date) -> int:
    return int(datetime.combine(day, time.min, tzinfo=UTC).timestamp() * 1000)


@dataclass(frozen=True)
class RunSet:
    """The runs of one experiment after the filters, one row per run (``run_id`` is the index)."""

    experiment_id: str
    frame: pd.DataFrame
    params: tuple[str, ...]  # every param seen, most common first
    metrics: tuple[str, ...]  # known holdout metrics first (regression, then classification), then the others
    estimators: tuple[str, ...]  # every estimator the search found (before :func:`narrow`), for the picker
    truncated: bool
    filter_string: str
    unfiltered_empty: bool = False  # the search matched nothing and no filter was set

    @property
    def empty(self) -> bool:
        return self.frame.empty

    def labels(self) -> dict[str, str]:
        """A readable, unique label per run: ``name · short id``."""
        return {run_id: f"{name} · {run_id[:8]}" for run_id, name in self.frame["run_name"].items()}

    def key_params(self, limit: int = KEY_PARAM_LIMIT) -> list[str]:
        """Params whose value varies across the runs, the most common first (all params if none vary)."""
        params = [name for name in self.params if name != "estimator"]  # the table has its own column
        varying = [name for name in params if self.frame[f"params.{name}"].nunique(dropna=False) > 1]
        return (varying or params)[:limit]


def list_experiments(settings: Settings) -> list[mlflow_io.ExperimentInfo]:
    """Active experiments, by name."""
    return mlflow_io.list_experiments(settings)


def default_experiment(
    experiments: list[mlflow_io.ExperimentInfo], *, name: str, preferred_id: str | None = None
) -> int:
    """Index of the experiment ``preferred_id`` (the model's own), else the one called ``name``, else 0."""
    for index, experiment in enumerate(experiments):
        if preferred_id is not None and experiment.experiment_id == preferred_id:
            return index
    return next((index for index, experiment in enumerate(experiments) if experiment.name == name), 0)


def model_experiment_id(settings: Settings) -> str | None:
    """The experiment the console's model was trained in: its champion's run's, else its newest version's."""
    version = mlflow_io.version_for_alias(settings, alias="champion")
    if version is None:
        versions = mlflow_io.list_versions(settings)
        version = versions[0] if versions else None
    if version is None or not version.run_id:
        return None
    return mlflow_io.run_experiment_id(settings, run_id=version.run_id)


def load_runs(
    settings: Settings,
    *,
    experiment_id: str,
    filters: RunFilters = RunFilters(),  # frozen, so sharing the default is safe
    limit: int = 10_000,
) -> RunSet:
    """Search the experiment's runs and join the registry's versions (with their aliases) to them."""
    filter_string = filters.filter_string()
    try:
        search = mlflow_io.search_runs(settings, experiment_id=experiment_id, filter_string=filter_string, limit=limit)
    except InvalidSearchFilter as error:
        shown = filters.search.strip() or filter_string
        raise InvalidFilter(
            f"The search `{shown}` cannot be run. {explain_search_error(error.reason)} "
            "A search that works: `metrics.rmse < 600 and params.estimator = 'hgb'`.",
            reason=error.reason,
        ) from error
    versions = mlflow_io.versions_by_run(settings)
    aliases_by_version: dict[int, list[str]] = {}
    for alias, version in mlflow_io.alias_map(settings).items():
        aliases_by_version.setdefault(version, []).append(alias)
    frame = runs_frame(search.runs, versions=versions, aliases=aliases_by_version)
    params = tuple(_prefixed(frame, "params."))
    metrics = _ordered_metrics(_prefixed(frame, "metrics."))
    return RunSet(
        experiment_id=experiment_id,
        frame=frame,
        params=params,
        metrics=metrics,
        estimators=tuple(sorted(frame["estimator"].unique())),
        truncated=search.truncated,
        filter_string=filter_string,
        unfiltered_empty=not search.runs and not filter_string,
    )


def narrow(
    runs: RunSet, *, estimators: list[str] | None = None, metric: str | None = None, threshold: float | None = None
) -> RunSet:
    """The quick filters: keep the chosen estimators and runs whose ``metric`` is at most ``threshold``
    (at least, for higher-is-better metrics); runs without the metric are dropped by a threshold."""
    frame = runs.frame
    if estimators:
        frame = frame[frame["estimator"].isin(estimators)]
    if metric and threshold is not None:
        if metric not in runs.metrics:
            raise ValueError(f"metric must be one of {', '.join(runs.metrics) or 'the logged metrics'}, not {metric!r}")
        values = frame[f"metrics.{metric}"]
        frame = frame[values <= threshold] if lower_is_better(metric) else frame[values >= threshold]
    return replace(runs, frame=frame)


def runs_frame(
    runs: list[RunRecord], *, versions: dict[str, list[int]], aliases: dict[int, list[str]] | None = None
) -> pd.DataFrame:
    """One row per run: attributes, estimator, model/registry status, ``params.*`` and ``metrics.*`` columns."""
    aliases = aliases or {}
    rows = []
    for run in runs:
        row: dict[str, object] = {
            "run_id": run.run_id,
            "run_name": run.run_name,
            "status": run.status,
            "start": run.start_ms,
            "duration_s": (run.end_ms - run.start_ms) / 1000 if run.end_ms and run.start_ms else None,
            "estimator": _estimator(run),
            "has_model": bool(run.model_ids),
            "registered": _registered_label(versions.get(run.run_id, []), aliases),
        }
        row.update({f"params.{name}": value for name, value in run.params.items()})
        row.update({f"metrics.{name}": value for name, value in run.metrics.items()})
        rows.append(row)
    columns = ["run_id", "run_name", "status", "start", "duration_s", "estimator", "has_model", "registered"]
    frame = pd.DataFrame(rows, columns=None if rows else columns)
    frame["start"] = pd.to_datetime(frame["start"], unit="ms", utc=True)
    frame["duration_s"] = pd.to_numeric(frame["duration_s"])
    for column in _columns(frame, "params."):
        frame[column] = _numeric_if_possible(frame[column])
    param_columns = sorted(_columns(frame, "params."), key=lambda column: (-frame[column].notna().sum(), column))
    metric_columns = sorted(_columns(frame, "metrics."))
    return frame[[*columns, *param_columns, *metric_columns]].set_index("run_id", drop=False)


def _estimator(run: RunRecord) -> str:
    # Loupe's own tag first, then what MLflow's sklearn autolog or a hand-written run usually leaves.
    return (
        run.tags.get(mlflow_io.ESTIMATOR_TAG)
        or run.params.get("estimator")
        or run.tags.get("estimator_name")
        or "unknown"
    )


def _registered_label(versions: list[int], aliases: dict[int, list[str]]) -> str:
    parts = []
    for version in versions:
        held = aliases.get(version)
        parts.append(f"v{version} ({', '.join(sorted(held))})" if held else f"v{version}")
    return ", ".join(parts)


def _numeric_if_possible(values: pd.Series) -> pd.Series:
    # MLflow stores params as strings; numbers should sort and plot as numbers.
    present = values.dropna()
    if present.empty:
        return values
    if present.isin(["True", "False"]).all():
        return values
    numeric = pd.to_numeric(values, errors="coerce")
    return numeric if numeric.notna().sum() == len(present) else values


def _columns(frame: pd.DataFrame, prefix: str) -> list[str]:
    return [column for column in frame.columns if column.startswith(prefix)]


def _prefixed(frame: pd.DataFrame, prefix: str) -> list[str]:
    return [column.removeprefix(prefix) for column in _columns(frame, prefix)]


def _ordered_metrics(metrics: list[str]) -> tuple[str, ...]:
    # Known holdout figures first, in the Registry's order (RMSE… for regressors, ROC AUC, F1, accuracy…
    # for classifiers), plain names before prefixed ones; then everything else (counts, training_*) by name.
    preference = {measure: index for index, measure in enumerate(metric_names.PREFERENCE)}

    def order(name: str) -> tuple[int, int, str]:
        measure = metric_names.measure_of(name)
        return (preference[measure], len(name), name) if measure else (len(preference), 0, name)

    return tuple(sorted(metrics, key=order))


@dataclass(frozen=True)
class RunsPage:
    """One page of the sorted runs table."""

    table: pd.DataFrame
    page: int
    pages: int
    total: int


def display_table(runs: RunSet, *, params: list[str] | None = None, settings: Settings | None = None) -> pd.DataFrame:
    """The runs as the page shows them: who and what first, then every metric, the registry, timing, params."""
    params = runs.key_params() if params is None else params
    frame = runs.frame
    table = pd.DataFrame({"run": frame["run_name"], "estimator": frame["estimator"]}, index=frame.index)
    for name in runs.metrics:
        table[name] = frame[f"metrics.{name}"]
    table["registered"] = frame["registered"]
    table["model"] = frame["has_model"]
    table["status"] = frame["status"]
    table["started"] = frame["start"]
    table["duration (s)"] = frame["duration_s"].round(1)
    for name in params:
        label = name if name not in FIXED_COLUMNS and name not in runs.metrics else f"param: {name}"
        table[label] = frame[f"params.{name}"]
    if settings is not None and mlflow_ui(settings):
        table["mlflow"] = [run_url(settings, experiment_id=runs.experiment_id, run_id=run_id) for run_id in table.index]
    table.index.name = "run_id"
    return table


def sort_table(table: pd.DataFrame, *, sort_by: str, descending: bool) -> pd.DataFrame:
    """The whole table sorted by one column, missing values last, ties in their current order."""
    if sort_by not in table.columns:
        raise ValueError(f"sort_by must be one of the table's columns ({', '.join(table.columns)}), not {sort_by!r}")
    return table.sort_values(sort_by, ascending=not descending, na_position="last", kind="stable")


def runs_page(table: pd.DataFrame, *, page: int, page_size: int) -> RunsPage:
    """Page ``page`` (1-based, clamped to the last page) of an already sorted table."""
    if page_size < 1:
        raise ValueError(f"page_size must be at least 1, not {page_size}")
    pages = max(1, math.ceil(len(table) / page_size))
    page = min(max(1, page), pages)
    start = (page - 1) * page_size
    return RunsPage(table=table.iloc[start : start + page_size], page=page, pages=pages, total=len(table))


def mlflow_ui(settings: Settings) -> str | None:
    """The MLflow UI's address from ``LOUPE_MLFLOW_UI_URL`` (credentials removed, no trailing slash), else ``None``.

    Only the setting counts: the tracking URI is often an address only Loupe can reach (``http://mlflow:5000``
    inside docker-compose), not one the operator's browser can open.
    """
    configured = (settings.mlflow_ui_url or "").strip()
    if not configured:
        return None
    parts = urlsplit(configured)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        return None
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path.rstrip("/"), "", ""))


def experiment_url(settings: Settings, *, experiment_id: str) -> str | None:
    """The experiment's page in the MLflow UI (``#/experiments/<id>``), or ``None`` when no UI is configured."""
    base = mlflow_ui(settings)
    return None if base is None else f"{base}/#/experiments/{quote(str(experiment_id), safe='')}"


def run_url(settings: Settings, *, experiment_id: str, run_id: str) -> str | None:
    """The run's page in the MLflow UI (``#/experiments/<id>/runs/<run_id>``), or ``None`` when no UI is configured."""
    base = experiment_url(settings, experiment_id=experiment_id)
    return None if base is None else f"{base}/runs/{quote(run_id, safe='')}"


def version_url(settings: Settings, *, version: int, model_name: str | None = None) -> str | None:
    """A model version's page in the MLflow UI (``#/models/<name>/versions/<n>``; the console's model unless
    ``model_name``), or ``None`` when no UI is configured."""
    base = mlflow_ui(settings)
    name = settings.model_name if model_name is None else model_name
    return None if base is None else f"{base}/#/models/{quote(name, safe='')}/versions/{int(version)}"


_QUOTED = re.compile(r"'([^']*)'")


def explain_search_error(reason: str) -> str:
    """MLflow's complaint about a search filter, said as what to change (MLflow's own words only as a last resort)."""
    quoted = _QUOTED.findall(reason)
    first = quoted[0] if quoted else ""
    if reason.startswith("Invalid attribute key"):
        return (
            f"`{first}` is not something runs can be searched by. Name metrics, params and tags with their prefix: "
            f"`metrics.{first}`, `params.{first}` or `tags.{first}` (attributes: `attributes.status`, "
            "`attributes.run_name`…)."
        )
    if reason.startswith("Invalid entity type"):
        return (
            f"`{first}.` is not a prefix MLflow knows. Start each name with `metrics.`, `params.`, `tags.` "
            "or `attributes.`."
        )
    if reason.startswith("Invalid comparator"):
        if "LIKE" in reason:
            return (
                f"`{first}` cannot compare text (params, tags and attributes are text). "
                "Use `=`, `!=`, `LIKE` or `ILIKE`; only metrics take `<`, `<=`, `>` and `>=`."
            )
        return f"`{first}` is not a comparison. Use one of `=`, `!=`, `<`, `<=`, `>`, `>=`."
    if reason.startswith("Invalid clause(s) in filter string"):
        if any(word.lower() == "or" for word in quoted):
            return "MLflow search has no `or`: join clauses with `and` (every clause must hold), or search twice."
        return (
            "A clause is incomplete: each one is a name, a comparison and a value, such as `metrics.rmse < 600` "
            "or `params.estimator = 'hgb'`, and a text value needs both quotes."
        )
    if reason.startswith("Expected a quoted string value"):
        return "Params, tags and attributes are text: put the value in quotes, e.g. `params.seed = '3'`."
    if reason.startswith("Expected numeric value type for metric"):
        return "Metrics are numbers: compare them with a number, without quotes, e.g. `metrics.rmse < 600`."
    return f"MLflow cannot read it ({reason.rstrip('.')})."
