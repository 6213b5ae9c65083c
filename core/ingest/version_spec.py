"""What one version's ingested rows must look like: its task, its inputs (typed, with the form's rules), its classes.

Read from the registry the way serving reads it — the version's model (task, classes, signature) and its
reference (levels, ranges, rules) — so ingested inputs are typed and binned exactly like the form's and
land in the same roll-ups. A version Loupe never served works the same (it is loaded from the registry
once per run). When the model cannot be loaded here (artifacts gone, no signature and no reference), the
task comes from what is known without it (tag, the log, metric names), else from the rows themselves, and
the inputs from its reference, else every non-canonical column is an input, typed by its values.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from core import mlflow_io
from core.errors import LoupeError, VersionNotFound
from core.registry.version_task import version_task
from core.serving.input_schema import InputSchema, build_schema
from core.settings import Settings
from core.task import TASK_TAG, Task, class_text
from storage.db import Sessions, reading
from storage.evidence import version_evidence


@dataclass(frozen=True)
class VersionSpec:
    """How one version's rows are read."""

    version: int
    task: Task | None  # None: nothing tells without the model; the rows decide (probabilities or text: a classifier)
    schema: InputSchema | None  # None: every non-canonical column is an input, typed by its values
    classes: tuple[str, ...] = ()  # a classifier's classes as text, in its probability order; () when unknown
    note: str | None = None  # why the model was not used, when it was not


@dataclass(frozen=True)
class UnknownVersion:
    """A version the registry does not hold: its rows are refused naming it."""

    version: int
    message: str


SpecLookup = Callable[[int], "VersionSpec | UnknownVersion"]


def model_settings(settings: Settings, model_name: str) -> Settings:
    """The settings with ``model_name`` as the model operated (serving and the registry read it from there)."""
    return settings if model_name == settings.model_name else settings.model_copy(update={"model_name": model_name})


def version_spec(settings: Settings, *, version: int, sessions: Sessions) -> VersionSpec | UnknownVersion:
    """What ``version`` of ``settings.model_name`` takes and answers (see the module's docstring for the order)."""
    from core.serving.model_cache import load_version

    try:
        info = mlflow_io.get_version(settings, version=version)
    except VersionNotFound:
        return UnknownVersion(version, f"version {version} of {settings.model_name} is not in the registry")
    target = mlflow_io.AliasTarget(
        version=version,
        run_id=info.run_id,
        reference_run=info.tags.get(mlflow_io.REFERENCE_TAG),
        unit=info.unit,
        task_tag=info.tags.get(TASK_TAG),
    )
    try:
        served = load_version(settings, target=target)
    except LoupeError as error:
        why = str(error).splitlines()[0] if str(error) else type(error).__name__
    else:
        classes = tuple(class_text(value) for value in served.classes)
        return VersionSpec(version=version, task=served.task, schema=served.schema, classes=classes)
    with reading(sessions) as session:
        evidence = version_evidence(session, model_name=settings.model_name, version=version)
    schema = None
    try:
        profile = mlflow_io.load_version_profile(settings, run_id=info.run_id, reference_run=target.reference_run)
    except LoupeError:
        profile = None
    if profile is not None:
        schema = build_schema(None, profile)
    return VersionSpec(version=version, task=version_task(info, evidence), schema=schema, note=why)


def cached_lookup(settings: Settings, *, sessions: Sessions) -> SpecLookup:
    """A lookup that reads each version once (a file may hold many chunks of the same versions)."""
    known: dict[int, VersionSpec | UnknownVersion] = {}

    def lookup(version: int) -> VersionSpec | UnknownVersion:
        if version not in known:
            known[version] = version_spec(settings, version=version, sessions=sessions)
        return known[version]

    return lookup
