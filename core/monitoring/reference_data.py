"""Reference data for any version: a profile built from the data a team trained or validated on, attached in MLflow.

Loupe's own training logs a profile with every run. A team's model has none, so drift, ranges and
form defaults have nothing to compare with until one is attached: from a CSV or Parquet file the
team provides, else from a dataset its run logged with a local source, else — thin, and said so —
from the model's input example.

Beside the inputs, a reference records the target when the data has it (a classifier's class counts,
a regressor's value bins: the model's task decides which) and the model's own answers on the
reference rows (a classifier's scores, a regressor's predictions), so that what the model says can
drift too. A model that cannot be loaded or answer still gets its inputs profiled.
"""

from __future__ import annotations

import io
import tempfile
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from core import mlflow_io
from core.errors import InvalidInput, LoupeError, first_line
from core.profile import NumericProfile, TrainingProfile, build_profile, profile_predictions
from core.registry.guards import check_token
from core.serving.served_model import ServedModel
from core.settings import Settings
from core.task import TASK_TAG, Task, class_text
from storage.db import Sessions, reading
from storage.prediction_log import first_answer_time, logged_answers, logged_inputs

READERS = {".csv": pd.read_csv, ".parquet": pd.read_parquet, ".pq": pd.read_parquet}
FEW_ROWS = 100  # below this, a reference says little: drift tests have no power
TRAFFIC_ROWS = 200_000  # a traffic reference reads at most this many answers (memory stays bounded)
ANSWER_CHUNK = 50_000  # reference rows the model answers at a time


@dataclass(frozen=True)
class ReferenceResult:
    """A reference attached to a version: where it came from, what it covers, and the run holding it."""

    version: int
    source: str
    rows: int
    features: list[str]
    run_id: str
    skipped: list[str] = field(default_factory=list)  # columns not profiled, with why
    notes: list[str] = field(default_factory=list)  # what else was (or could not be) recorded: target, answers

    @property
    def thin(self) -> bool:
        return self.rows < FEW_ROWS


def read_table(path: Path | str, data: bytes | None = None) -> pd.DataFrame:
    """A CSV or Parquet file (``data``: its bytes, as uploaded) as a frame; :class:`InvalidInput` naming it otherwise."""
    path = Path(path)
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise InvalidInput(f"{path.name}: reference data must be a .csv or .parquet file")
    try:
        return reader(io.BytesIO(data) if data is not None else path)
    except FileNotFoundError as error:
        raise InvalidInput(f"{path}: no such file") from error
    except (OSError, ValueError, UnicodeDecodeError) as error:
        raise InvalidInput(
            f"{path.name} could not be read as {path.suffix.lstrip('.')}: {first_line(error)}"
        ) from error


def profile_for(
    settings: Settings, *, version: int, data: pd.DataFrame, target: str | None = None, task: Task | None = None
) -> tuple[TrainingProfile, list[str]]:
    """The version's inputs in ``data`` profiled; columns it cannot use are listed with the reason.

    ``target`` (a column of ``data``) is profiled too: as class counts for a classifier (``task``), as
    bins for a regressor; without a task, as its values look (text or few integers: classes).
    """
    if target is not None and target not in data.columns:
        raise InvalidInput(f"the reference data has no target column {target!r}")
    inputs = mlflow_io.input_schema(settings, version=version)
    skipped: list[str] = []
    if inputs is not None:
        names = [str(column["name"]) for column in inputs if "name" in column]
        required = [str(column["name"]) for column in inputs if column.get("required", True) and "name" in column]
        missing = [name for name in required if name not in data.columns]
        if missing:
            raise InvalidInput(
                f"the reference data lacks {len(missing)} input(s) version {version} takes: {', '.join(missing[:10])}"
            )
        types = {str(column["name"]): column.get("type") for column in inputs if "name" in column}
        columns = [name for name in names if name in data.columns]
    else:
        # Without a signature the reference also defines the inputs: every column but the target.
        types = {}
        columns = [name for name in data.columns if name != target]
    profiled = []
    for name in columns:
        if types.get(name) == "datetime" or pd.api.types.is_datetime64_any_dtype(data[name].dtype):
            skipped.append(f"{name} (date and time: not profiled for drift)")
        elif data[name].isna().all():
            skipped.append(f"{name} (empty)")
        else:
            profiled.append(name)
    if not profiled:
        raise InvalidInput(f"the reference data has no column version {version} can be compared on")
    if data.empty:
        raise InvalidInput("the reference data has no rows")
    target_values = None
    if target is not None:
        target_values = data[target]
        if task == "classification":  # classes as the log writes them: 1.0 read from a CSV is class "1"
            target_values = target_values.dropna().map(class_text)
    categorical = None if task is None else task == "classification"
    profile = build_profile(
        data[profiled],
        target=target,
        target_values=target_values,
        categorical_target=categorical,
        pca_variance=settings.drift_pca_variance,
        segment_max_values=settings.segment_max_values,
    )
    return profile, skipped


def attach_reference(
    settings: Settings,
    *,
    version: int,
    data: pd.DataFrame,
    source: str,
    target: str | None = None,
    token: str | None = None,
) -> ReferenceResult:
    """Profile ``data`` for ``version`` and attach it as the version's reference in MLflow (a guarded write)."""
    check_token(settings, token)
    served, why_not = _loaded(settings, version=version)
    task = served.task if served is not None else None
    profile, skipped = profile_for(settings, version=version, data=data, target=target, task=task)
    notes = (
        [] if why_not is None else [f"the model's answers on the reference were not recorded (not loadable: {why_not})"]
    )
    if served is not None:
        scores, said = _answers_on(served, data=data)
        notes += said
        if scores is not None:
            profile = replace(profile, prediction_profile=scores)
    notes += _target_notes(profile, served)
    result = _attach(
        settings, version=version, profile=profile, rows=len(data), source=source, skipped=skipped, notes=notes
    )
    return replace(
        result,
        notes=[*result.notes, _estimator_note(settings, version=version, served=served, data=data, target=target)],
    )


def _estimator_note(
    settings: Settings, *, version: int, served: ServedModel | None, data: pd.DataFrame, target: str | None
) -> str:
    """Fit and keep the version's performance estimator on the reference rows with true values (DLE / CBPE)."""
    from core.monitoring.estimators import NO_ESTIMATOR, fit_and_store_note, fit_for_reference

    if target is None:
        return f"no target column given: {NO_ESTIMATOR}"
    if served is None:
        return "estimated performance not fitted: the model could not be loaded"
    return fit_and_store_note(
        settings, version=version, fit=lambda: fit_for_reference(served, data=data, target=target)
    )


def _attach(
    settings: Settings,
    *,
    version: int,
    profile: TrainingProfile,
    rows: int,
    source: str,
    skipped: list[str],
    notes: list[str],
) -> ReferenceResult:
    note = f"Reference profile of {settings.model_name} v{version}: {rows:,} rows from {source}."
    run_id = mlflow_io.attach_reference_profile(settings, version=version, profile=profile, note=note)
    return ReferenceResult(
        version=version,
        source=source,
        rows=rows,
        features=list(profile.features),
        run_id=run_id,
        skipped=skipped,
        notes=notes,
    )


def _loaded(settings: Settings, *, version: int) -> tuple[ServedModel | None, str | None]:
    """The version's model as serving loads it (its task, classes and schema), or why it could not be."""
    from core.serving.model_cache import load_version

    info = mlflow_io.get_version(settings, version=version)
    target = mlflow_io.AliasTarget(
        version=version,
        run_id=info.run_id,
        reference_run=info.tags.get(mlflow_io.REFERENCE_TAG),
        unit=info.unit,
        task_tag=info.tags.get(TASK_TAG),
    )
    try:
        return load_version(settings, target=target), None
    except LoupeError as error:  # e.g. no signature and no reference yet: the inputs are still profiled
        return None, first_line(error)


def _answers_on(served: ServedModel, *, data: pd.DataFrame) -> tuple[NumericProfile | None, list[str]]:
    """The model's answers on the reference rows it accepts, profiled (a classifier's scores), and what was said."""
    inputs = [spec.name for spec in served.schema.fields if spec.name in data.columns]
    check = served.schema.validate_frame(data[inputs])
    if not check.accepted_mask.any():
        return None, ["the model's answers on the reference were not recorded: it accepts none of its rows"]
    model_input = served.model_input(check.clean)
    try:
        values = np.concatenate(
            [
                served.answer(model_input.iloc[low : low + ANSWER_CHUNK]).values
                for low in range(0, len(model_input), ANSWER_CHUNK)
            ]
        )
    except LoupeError as error:
        return None, [f"the model's answers on the reference were not recorded: {first_line(error)}"]
    values = values[np.isfinite(values)]
    if not len(values):  # a classifier without probabilities has no score to profile
        return None, ["the model gives no probabilities: no scores recorded"]
    name = "score" if served.task == "classification" else served.answer_label
    what = "scores" if served.task == "classification" else "predictions"
    return profile_predictions(values, name=name), [f"the model's {what} on {len(values):,} reference rows recorded"]


def _target_notes(profile: TrainingProfile, served: ServedModel | None) -> list[str]:
    """What was recorded of the target, and classes the model does not know (a mislabelled column, often)."""
    if profile.target_profile is None:
        return []
    if not profile.classes:
        return [f"target {profile.target!r} recorded as values"]
    notes = [f"target {profile.target!r} recorded as {len(profile.classes)} classes ({', '.join(profile.classes[:6])})"]
    known = {class_text(value) for value in served.classes} if served is not None else set()
    unknown = [name for name in profile.classes if known and name not in known]
    if unknown:
        notes.append(f"classes the model does not answer with: {', '.join(unknown[:6])}")
    return notes


def attach_reference_file(
    settings: Settings, *, version: int, path: Path, target: str | None = None, token: str | None = None
) -> ReferenceResult:
    """Attach the data in a CSV or Parquet file as ``version``'s reference."""
    check_token(settings, token)
    mlflow_io.get_version(settings, version=version)  # a missing version is said before reading the file
    data = read_table(path)
    return attach_reference(settings, version=version, data=data, source=path.name, target=target, token=token)


def attach_traffic_reference(
    settings: Settings, *, sessions: Sessions, version: int, days: float = 3.0, token: str | None = None
) -> ReferenceResult:
    """Attach the version's own first ``days`` of logged answers as its reference — labelled as such.

    For a version nobody kept the training data of: drift then means "moved away from how it started".
    Its answers are the ones it logged (a classifier's scores), its target the true values or labels
    that came back for them, if any.
    """
    check_token(settings, token)
    if days <= 0:
        raise InvalidInput("--days must be a positive number")
    with reading(sessions) as session:
        first = first_answer_time(session, model_name=settings.model_name, model_version=version)
        if first is None:
            raise InvalidInput(
                f"version {version} of {settings.model_name} has answered nothing yet: no traffic to use"
            )
        end = first + timedelta(days=days)
        ids, values = logged_inputs(
            session, model_name=settings.model_name, model_version=version, start=first, end=end, limit=TRAFFIC_ROWS
        )
        answers = logged_answers(session, ids=ids)
    frame = _pivot(ids, values)
    source = f"its own first {days:g} day(s) of traffic ({first:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC)"
    served, _ = _loaded(settings, version=version)
    classifier = served.task == "classification" if served is not None else any(row[2] is not None for row in answers)
    profile, skipped = profile_for(
        settings, version=version, data=frame, task="classification" if classifier else "regression"
    )
    scores = np.array([row[1] for row in answers if row[1] is not None], dtype=float)
    scores = scores[np.isfinite(scores)]
    truths = pd.Series([row[4] if classifier else row[3] for row in answers], dtype=object).dropna()
    notes = []
    if len(scores):
        name = "score" if classifier else (served.answer_label if served is not None else "prediction")
        profile = replace(profile, prediction_profile=profile_predictions(scores, name=name))
        notes.append(f"the {'scores' if classifier else 'predictions'} it logged recorded")
    if len(truths):
        target = build_profile(
            frame.iloc[:0],
            target="actual",
            target_values=truths if classifier else truths.astype(float),
            categorical_target=classifier,
        )
        profile = replace(profile, target="actual", target_profile=target.target_profile)
        notes += _target_notes(profile, served)
    else:
        notes.append("no true values came back for these answers: no target recorded")
    return _attach(
        settings, version=version, profile=profile, rows=len(frame), source=source, skipped=skipped, notes=notes
    )


def _pivot(ids: list[int], values: list[tuple[int, str, float | None, str | None]]) -> pd.DataFrame:
    # One row per answer, one column per input: numbers where they were logged as numbers, else text.
    long = pd.DataFrame(values, columns=["id", "feature", "num", "cat"])
    if long.empty:
        return pd.DataFrame(index=ids)
    long["value"] = long["num"].astype(object).where(long["num"].notna(), long["cat"])
    wide = long.pivot(index="id", columns="feature", values="value").reindex(ids)
    for column in wide.columns:
        numbers = pd.to_numeric(wide[column], errors="coerce")
        wide[column] = numbers if numbers.notna().sum() == wide[column].notna().sum() else wide[column].astype(object)
    wide.columns.name = None
    return wide.reset_index(drop=True)


def attach_logged_reference(settings: Settings, *, version: int, token: str | None = None) -> ReferenceResult:
    """Attach what the version's run logged: a dataset with a local source, else the model's input example."""
    check_token(settings, token)
    info = mlflow_io.get_version(settings, version=version)
    if info.run_id:
        with tempfile.TemporaryDirectory() as folder:
            found = mlflow_io.logged_dataset_file(settings, run_id=info.run_id, destination=Path(folder))
            if found is not None:
                path, name = found
                return attach_reference(
                    settings,
                    version=version,
                    data=read_table(path),
                    source=f"the run's logged dataset {name!r}",
                    token=token,
                )
    example = mlflow_io.input_example(settings, version=version)
    if isinstance(example, pd.DataFrame) and not example.empty:
        return attach_reference(
            settings, version=version, data=example, source="the model's input example", token=token
        )
    raise InvalidInput(
        f"version {version} has no data Loupe can use as its reference (no logged dataset with a local source, "
        "no input example): attach the data it was trained or validated on (a CSV or Parquet file)"
    )
