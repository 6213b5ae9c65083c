"""Experiments and runs: the experiment list, paged run search, and logging a training run with its model."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import mlflow
from mlflow.entities import Run, ViewType
from mlflow.exceptions import MlflowException

from core.errors import LoupeError, first_line
from core.mlflow_io.connection import client, configure, mlflow_errors
from core.settings import Settings


class InvalidSearchFilter(LoupeError, ValueError):
    """MLflow rejected a run search filter; ``reason`` is MLflow's one-line explanation."""

    def __init__(self, filter_string: str, reason: str) -> None:
        super().__init__(f"{reason} (filter: {filter_string})")
        self.filter_string = filter_string
        self.reason = reason


@dataclass(frozen=True)
class ExperimentInfo:
    """An active MLflow experiment."""

    experiment_id: str
    name: str


@dataclass(frozen=True)
class RunRecord:
    """One run as the search returned it: no further call is needed to show it."""

    run_id: str
    run_name: str
    experiment_id: str
    status: str
    start_ms: int | None
    end_ms: int | None
    params: dict[str, str]
    metrics: dict[str, float]
    tags: dict[str, str]
    model_ids: tuple[str, ...]  # MLflow 3 logged models this run produced


@dataclass(frozen=True)
class RunSearch:
    """The runs matching a search, newest first; ``truncated`` when more matched than the limit."""

    runs: list[RunRecord]
    truncated: bool


@dataclass(frozen=True)
class TrainingRun:
    """Everything one training run records: the fitted scikit-learn model and what describes it."""

    run_name: str
    model: Any
    input_example: Any  # a few rows of model input: the signature is inferred from them and the model's answers
    params: Mapping[str, Any] = field(default_factory=dict)
    metrics: Mapping[str, float] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)
    texts: Mapping[str, str] = field(default_factory=dict)  # artifact path -> text
    dicts: Mapping[str, Any] = field(default_factory=dict)  # artifact path -> JSON-able object
    figures: Mapping[str, Any] = field(default_factory=dict)  # artifact path -> plotly figure
    pip_requirements: Sequence[str] = ()  # pinned, so MLflow skips its slow environment inference
    skops_trusted_types: Sequence[str] = ()  # classes skops must trust to load the model again


@dataclass(frozen=True)
class LoggedRun:
    """A finished run and the URI of the model it logged."""

    run_id: str
    model_uri: str


def ensure_experiment(settings: Settings) -> str:
    """The id of Loupe's experiment, created (with artifacts under ``LOUPE_HOME`` when local) if missing."""
    mlflow_client = client(settings)
    with mlflow_errors(settings):
        experiment = mlflow_client.get_experiment_by_name(settings.experiment_name)
        if experiment is not None:
            return experiment.experiment_id
        artifact_location = settings.artifact_root.as_uri() if settings.tracking_is_local else None
        return mlflow_client.create_experiment(settings.experiment_name, artifact_location=artifact_location)


def log_training_run(settings: Settings, run: TrainingRun) -> LoggedRun:
    """Log params, metrics, tags, artifacts and the model (scikit-learn flavor) in one run of Loupe's experiment."""
    from mlflow.models import infer_signature

    experiment_id = ensure_experiment(settings)
    configure(settings)
    with mlflow_errors(settings), mlflow.start_run(experiment_id=experiment_id, run_name=run.run_name) as active:
        mlflow.log_params(dict(run.params))
        mlflow.log_metrics(dict(run.metrics))
        mlflow.set_tags(dict(run.tags))
        for path, text in run.texts.items():
            mlflow.log_text(text, path)
        for path, payload in run.dicts.items():
            mlflow.log_dict(payload, path)
        for path, figure in run.figures.items():
            mlflow.log_figure(figure, path)
        info = mlflow.sklearn.log_model(
            run.model,
            name="model",
            signature=infer_signature(run.input_example, run.model.predict(run.input_example)),
            input_example=run.input_example,
            pip_requirements=list(run.pip_requirements),
            skops_trusted_types=list(run.skops_trusted_types),
        )
        return LoggedRun(run_id=active.info.run_id, model_uri=info.model_uri)


def list_experiments(settings: Settings) -> list[ExperimentInfo]:
    """Every active experiment, by name."""
    mlflow_client = client(settings)
    experiments: list[ExperimentInfo] = []
    page_token: str | None = None
    with mlflow_errors(settings):
        while True:
            page = mlflow_client.search_experiments(
                view_type=ViewType.ACTIVE_ONLY, max_results=1000, page_token=page_token
            )
            experiments += [ExperimentInfo(experiment.experiment_id, experiment.name) for experiment in page]
            page_token = page.token
            if not page_token:
                break
    return sorted(experiments, key=lambda experiment: experiment.name.lower())


def search_runs(
    settings: Settings, *, experiment_id: str, filter_string: str = "", limit: int = 10_000, page_size: int = 1_000
) -> RunSearch:
    """Active runs of one experiment with params, metrics, tags and logged models, a page per call.

    An invalid ``filter_string`` raises :class:`InvalidSearchFilter` with MLflow's reason.
    """
    mlflow_client = client(settings)
    records: list[RunRecord] = []
    page_token: str | None = None
    with mlflow_errors(settings):
        try:
            while len(records) < limit:
                page = mlflow_client.search_runs(
                    [experiment_id],
                    filter_string=filter_string,
                    run_view_type=ViewType.ACTIVE_ONLY,
                    max_results=min(page_size, limit - len(records)),
                    order_by=["attributes.start_time DESC"],
                    page_token=page_token,
                )
                records += [_run_record(run) for run in page]
                page_token = page.token
                if not page_token:
                    break
        except MlflowException as error:
            if filter_string and error.error_code in {"INVALID_PARAMETER_VALUE", "BAD_REQUEST"}:
                # Over REST the message carries the code as a prefix; the local store's does not.
                reason = first_line(error).removeprefix(f"{error.error_code}: ")
                raise InvalidSearchFilter(filter_string, reason) from error
            raise
    return RunSearch(runs=records, truncated=bool(page_token))


def _run_record(run: Run) -> RunRecord:
    outputs = run.outputs.model_outputs if run.outputs is not None else []
    return RunRecord(
        run_id=run.info.run_id,
        run_name=run.info.run_name or run.info.run_id[:8],
        experiment_id=run.info.experiment_id,
        status=run.info.status,
        start_ms=run.info.start_time,
        end_ms=run.info.end_time,
        params=run.data.params,
        metrics=run.data.metrics,
        tags=run.data.tags,
        model_ids=tuple(output.model_id for output in outputs),
    )


def run_experiment_id(settings: Settings, *, run_id: str) -> str | None:
    """The experiment a run belongs to (``None`` when the run is gone)."""
    with mlflow_errors(settings):
        try:
            return client(settings).get_run(run_id).info.experiment_id
        except MlflowException as error:
            if error.error_code == "RESOURCE_DOES_NOT_EXIST":
                return None
            raise


def logged_model_uri(settings: Settings, *, run_id: str) -> str | None:
    """``models:/<model_id>`` of the model a run logged, or ``None`` for a run with params and metrics only.

    MLflow 3 records each ``log_model`` as a run output; with several, the one of the latest step wins.
    """
    with mlflow_errors(settings):
        run = client(settings).get_run(run_id)
    outputs = run.outputs.model_outputs if run.outputs is not None else []
    if not outputs:
        return None
    return f"models:/{max(outputs, key=lambda output: output.step).model_id}"
