"""Experiments: search an experiment's runs into one DataFrame, filter, compare, rank, and register.

Every run is fetched by one paged search (params, metrics, tags and logged models come with it),
and the registry adds two calls (versions by run, aliases): nothing is fetched per run for the table.
"""

from __future__ import annotations

import getpass
import math
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import pandas as pd
from sqlalchemy.orm import Session, sessionmaker

from core import mlflow_io
from core.mlflow_io import InvalidSearchFilter, RunRecord
from core.registry.guards import PromotionRefused, check_token, promotion_is_protected, valid_alias
from core.registry.promotion import promote
from core.settings import Settings

STANDARD_METRICS = ("rmse", "mae", "r2", "mape")
HIGHER_IS_BETTER = ("r2", "accuracy", "precision", "recall", "f1", "auc", "roc_auc", "score")
FIXED_COLUMNS = ("run", "estimator", "registered", "model", "status", "started", "duration (s)", "mlflow")
KEY_PARAM_LIMIT = 6
HOLDOUT_ARTIFACT = "holdout_predictions.json"
MISSING = "—"
TRAIN_HINT = "python -m core train --estimator rf --no-register"


class InvalidFilter(ValueError):
    """A filter the user typed that MLflow cannot run; the message names the filter and the reason."""


class CannotRegister(ValueError):
    """The run's model cannot be registered (no logged model, or the admin token is missing)."""


def lower_is_better(metric: str) -> bool:
    """Error-like metrics (rmse, mae, mape, loss…) improve downwards; scores (r2, accuracy…) upwards."""
    name = metric.lower()
    return not any(name == score or name.endswith(f"_{score}") for score in HIGHER_IS_BETTER)


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
    metrics: tuple[str, ...]  # the standard metrics first, then the others by name
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


def default_experiment(experiments: list[mlflow_io.ExperimentInfo], *, name: str) -> int:
    """Index of the experiment called ``name`` (the settings' experiment), else 0."""
    return next((index for index, experiment in enumerate(experiments) if experiment.name == name), 0)


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
            f"The filter `{shown}` is not valid MLflow search syntax: {error.reason}. "
            "Write clauses like `metrics.rmse < 600 and params.estimator = 'hgb'` (only `and`, strings in quotes)."
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
    standard = [metric for metric in STANDARD_METRICS if metric in metrics]
    return (*standard, *sorted(metric for metric in metrics if metric not in STANDARD_METRICS))


# --- the runs table ---------------------------------------------------------------------------


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
    """The MLflow UI's address when tracking is an http(s) server (credentials removed), else ``None``."""
    parts = urlsplit(settings.tracking_uri)
    if parts.scheme not in {"http", "https"}:
        return None
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path.rstrip("/"), "", ""))


def run_url(settings: Settings, *, experiment_id: str, run_id: str) -> str | None:
    """The run's page in the MLflow UI, or ``None`` without a tracking server."""
    base = mlflow_ui(settings)
    return None if base is None else f"{base}/#/experiments/{experiment_id}/runs/{run_id}"


# --- comparing runs ---------------------------------------------------------------------------


def selected(runs: RunSet, run_ids: list[str]) -> pd.DataFrame:
    """The rows of the chosen runs, in the order chosen; unknown ids are an error."""
    unknown = [run_id for run_id in run_ids if run_id not in runs.frame.index]
    if unknown:
        raise ValueError(f"run ids not among the shown runs: {', '.join(unknown)}")
    return runs.frame.loc[run_ids]


def comparison_table(runs: RunSet, *, run_ids: list[str], only_differences: bool = False) -> pd.DataFrame:
    """Fields as rows (estimator, status, params, metrics), one column per run; values as display text.

    With ``only_differences`` a row stays only if its values are not all the same (a missing value
    differs from any present one).
    """
    rows = selected(runs, run_ids)
    labels = runs.labels()
    fields: dict[str, pd.Series] = {"estimator": rows["estimator"], "status": rows["status"]}
    fields |= {f"param: {name}": rows[f"params.{name}"] for name in runs.params}
    fields |= {f"metric: {name}": rows[f"metrics.{name}"] for name in runs.metrics}
    if only_differences:
        fields = {name: values for name, values in fields.items() if values_differ(values)}
    table = pd.DataFrame(
        {labels[run_id]: [_display(fields[name][run_id]) for name in fields] for run_id in run_ids},
        index=pd.Index(list(fields), name="field"),
    )
    return table


def values_differ(values: pd.Series) -> bool:
    """Whether the values are not all equal; missing counts as a value of its own."""
    normalized = {None if _is_missing(value) else value for value in values}
    return len(normalized) > 1


def _is_missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA


def _display(value: object) -> str:
    if _is_missing(value):
        return MISSING
    if isinstance(value, float | np.floating):
        return f"{value:.6g}"
    return str(value)


@dataclass(frozen=True)
class Holdout:
    """A run's holdout predictions (``holdout_predictions.json``), or why there are none."""

    label: str
    actual: list[float] = field(default_factory=list)
    predicted: list[float] = field(default_factory=list)
    missing_reason: str | None = None


def load_holdouts(settings: Settings, runs: RunSet, *, run_ids: list[str]) -> list[Holdout]:
    """Each chosen run's holdout predictions (one artifact read per chosen run, never for the table)."""
    labels = runs.labels()
    holdouts = []
    for run_id in run_ids:
        data = mlflow_io.load_json_artifact_if_present(settings, run_id=run_id, artifact_path=HOLDOUT_ARTIFACT)
        if data is None or not {"actual", "predicted"} <= data.keys():
            holdouts.append(Holdout(label=labels[run_id], missing_reason=f"no {HOLDOUT_ARTIFACT} artifact"))
        else:
            holdouts.append(Holdout(label=labels[run_id], actual=data["actual"], predicted=data["predicted"]))
    return holdouts


# --- leaderboard ------------------------------------------------------------------------------


def leaderboard(runs: RunSet, *, metric: str) -> pd.DataFrame:
    """The best run of each estimator by ``metric`` (min for error metrics, max for scores), best first."""
    column = f"metrics.{metric}"
    if column not in runs.frame.columns:
        raise ValueError(f"metric must be one of {', '.join(runs.metrics) or 'the logged metrics'}, not {metric!r}")
    scored = runs.frame[runs.frame[column].notna()]
    if scored.empty:
        return pd.DataFrame(columns=["estimator", "run", metric, "runs", "registered", "run_id"])
    lower = lower_is_better(metric)
    grouped = scored.groupby("estimator")[column]
    best_ids = grouped.idxmin() if lower else grouped.idxmax()
    best = scored.loc[best_ids.to_numpy()]
    table = pd.DataFrame(
        {
            "estimator": best["estimator"],
            "run": best["run_name"],
            metric: best[column],
            **{name: best[f"metrics.{name}"] for name in runs.metrics if name != metric},
            "runs": best["estimator"].map(grouped.size()),
            "registered": best["registered"],
            "run_id": best["run_id"],
        }
    )
    table = table.sort_values(metric, ascending=lower, kind="stable").reset_index(drop=True)
    table.index = pd.RangeIndex(1, len(table) + 1, name="rank")
    return table


# --- registering a run's model ----------------------------------------------------------------


@dataclass(frozen=True)
class Registration:
    """A version registered from a run, and what became of the alias move (if one was asked for)."""

    run_id: str
    model_name: str
    version: int
    alias: str | None  # the alias now on the new version
    previous_version: int | None  # the alias's holder before the move
    alias_refused: str | None = None  # why the registry guardrails kept the alias where it was


def registrable(runs: RunSet, *, run_id: str) -> str | None:
    """``None`` when the run logged a model, else why its model cannot be registered."""
    if bool(runs.frame.at[run_id, "has_model"]):
        return None
    return (
        f"Run {runs.labels()[run_id]} has params and metrics but logged no model, so there is nothing to register. "
        f"Log one with `mlflow.<flavor>.log_model(..., name='model')`, or train with `{TRAIN_HINT}`."
    )


def with_models_first(runs: RunSet, *, run_ids: list[str]) -> list[str]:
    """``run_ids`` with the runs that logged a model first, each group keeping its order."""
    has_model = runs.frame["has_model"]
    return [run_id for run_id in run_ids if has_model[run_id]] + [run_id for run_id in run_ids if not has_model[run_id]]


def run_summary(runs: RunSet, *, run_id: str) -> str:
    """One line about a run: estimator, metrics, registered versions."""
    row = runs.frame.loc[run_id]
    metrics = ", ".join(
        f"{name} {_display(row[f'metrics.{name}'])}" for name in runs.metrics if not _is_missing(row[f"metrics.{name}"])
    )
    registered = f" · registered as {row['registered']}" if row["registered"] else " · not registered yet"
    return f"{row['estimator']} · {metrics or 'no metrics'}{registered}"


def token_required(settings: Settings) -> bool:
    """Moving an alias needs the admin token when ``LOUPE_ADMIN_TOKEN`` is set."""
    return promotion_is_protected(settings)


def default_actor() -> str:
    """The OS user, for the ledger's "who" when the operator does not type a name."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # a container user without a passwd entry
        return "unknown"


def register_run(
    settings: Settings,
    *,
    run_id: str,
    alias: str | None = None,
    estimator: str | None = None,
    actor: str,
    reason: str = "",
    token: str | None = None,
    sessions: sessionmaker[Session] | None = None,
) -> Registration:
    """Register the run's logged model as a new version of ``settings.model_name``; optionally move ``alias`` to it.

    ``estimator`` becomes the version's ``loupe.estimator`` tag. The alias move goes through the
    Registry's guardrails (:func:`core.promotion.promote`: token, pre-flight, ledger entry with origin
    ``page``). A wrong or missing token refuses before anything is registered; a failed pre-flight
    keeps the new version and leaves the alias where it was (``alias_refused`` says why).
    """
    if alias:
        if sessions is None:
            raise ValueError("sessions is required to record an alias move in the ledger")
        try:
            alias = valid_alias(alias)
            check_token(settings, token)
        except PromotionRefused as refused:
            raise CannotRegister(f"Cannot set `{alias}`: {refused}. Nothing was registered.") from refused
    model_uri = mlflow_io.logged_model_uri(settings, run_id=run_id)
    if model_uri is None:
        raise CannotRegister(
            f"Run {run_id} logged no model (params and metrics only), so there is nothing to register. "
            f"Train one with `{TRAIN_HINT}`."
        )
    version = mlflow_io.register_model_version(
        settings, model_uri=model_uri, tags={mlflow_io.ESTIMATOR_TAG: estimator} if estimator else None
    )
    registration = Registration(
        run_id=run_id, model_name=settings.model_name, version=version, alias=None, previous_version=None
    )
    if not alias:
        return registration
    try:
        move = promote(
            settings,
            sessions=sessions,
            version=version,
            alias=alias,
            reason=reason or f"registered from run {run_id} on the Experiments page",
            actor=actor or default_actor(),
            origin="page",
            token=token,
        )
    except PromotionRefused as refused:
        return replace(registration, alias_refused=str(refused))
    return replace(registration, alias=alias, previous_version=move.from_version)
