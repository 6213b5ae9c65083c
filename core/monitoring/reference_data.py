"""Reference data for any version: a profile built from the data a team trained or validated on, attached in MLflow.

Loupe's own training logs a profile with every run. A team's model has none, so drift, ranges and
form defaults have nothing to compare with until one is attached: from a CSV or Parquet file the
team provides, else from a dataset its run logged with a local source, else — thin, and said so —
from the model's input example.
"""

from __future__ import annotations

import io
import tempfile
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pandas as pd

from core import mlflow_io
from core.errors import InvalidInput, first_line
from core.profile import TrainingProfile, build_profile
from core.registry.guards import check_token
from core.settings import Settings
from storage.db import Sessions, reading
from storage.prediction_log import first_answer_time, logged_inputs

READERS = {".csv": pd.read_csv, ".parquet": pd.read_parquet, ".pq": pd.read_parquet}
FEW_ROWS = 100  # below this, a reference says little: drift tests have no power
TRAFFIC_ROWS = 200_000  # a traffic reference reads at most this many answers (memory stays bounded)


@dataclass(frozen=True)
class ReferenceResult:
    """A reference attached to a version: where it came from, what it covers, and the run holding it."""

    version: int
    source: str
    rows: int
    features: list[str]
    run_id: str
    skipped: list[str] = field(default_factory=list)  # columns not profiled, with why

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
    settings: Settings, *, version: int, data: pd.DataFrame, target: str | None = None
) -> tuple[TrainingProfile, list[str]]:
    """The version's inputs in ``data`` profiled; columns it cannot use are listed with the reason."""
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
    return build_profile(data[profiled], target=target), skipped


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
    profile, skipped = profile_for(settings, version=version, data=data, target=target)
    note = f"Reference profile of {settings.model_name} v{version}: {len(data):,} rows from {source}."
    run_id = mlflow_io.attach_reference_profile(settings, version=version, profile=profile, note=note)
    return ReferenceResult(
        version=version, source=source, rows=len(data), features=list(profile.features), run_id=run_id, skipped=skipped
    )


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
    frame = _pivot(ids, values)
    source = f"its own first {days:g} day(s) of traffic ({first:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC)"
    return attach_reference(settings, version=version, data=frame, source=source, token=token)


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
