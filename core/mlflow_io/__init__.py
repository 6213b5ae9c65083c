"""All of Loupe's MLflow access — tracking, registry and artifacts — behind one door.

Nothing outside this package imports ``mlflow``. Every call configures MLflow once per process with
bounded retries (:mod:`.connection`) and raises Loupe's own errors (:mod:`core.errors`), never
``MlflowException``:

- :mod:`.registry` — versions, aliases and tags of the console's model;
- :mod:`.runs` — experiments, run search, logging a training run;
- :mod:`.artifacts` — profiles, JSON artifacts, signatures, local copies of model versions.
"""

from core.errors import ArtifactMissing, RegistryRefused, RegistryUnavailable, VersionNotFound
from core.mlflow_io.artifacts import (
    HOLDOUT_ARTIFACT,
    LocalModel,
    attach_reference_profile,
    download_model_version,
    input_example,
    input_schema,
    load_json_artifact,
    load_json_artifact_if_present,
    load_local_model,
    load_profile,
    load_version_profile,
    logged_dataset_file,
)
from core.mlflow_io.connection import client, configure
from core.mlflow_io.registry import (
    ESTIMATOR_TAG,
    REFERENCE_TAG,
    UNIT_TAG,
    AliasTarget,
    VersionInfo,
    alias_map,
    check_reachable,
    delete_alias,
    get_version,
    has_any_version,
    list_versions,
    register_model_version,
    registered_model_names,
    registry_change_token,
    resolve_alias,
    set_alias,
    set_version_tag,
    version_for_alias,
    versions_by_run,
)
from core.mlflow_io.runs import (
    ExperimentInfo,
    InvalidSearchFilter,
    LoggedRun,
    RunRecord,
    RunSearch,
    TrainingRun,
    ensure_experiment,
    list_experiments,
    log_training_run,
    logged_model_uri,
    run_experiment_id,
    search_runs,
)

__all__ = [
    "ESTIMATOR_TAG",
    "HOLDOUT_ARTIFACT",
    "REFERENCE_TAG",
    "UNIT_TAG",
    "AliasTarget",
    "ArtifactMissing",
    "ExperimentInfo",
    "InvalidSearchFilter",
    "LocalModel",
    "LoggedRun",
    "RegistryRefused",
    "RegistryUnavailable",
    "RunRecord",
    "RunSearch",
    "TrainingRun",
    "VersionInfo",
    "VersionNotFound",
    "alias_map",
    "attach_reference_profile",
    "check_reachable",
    "client",
    "configure",
    "delete_alias",
    "download_model_version",
    "ensure_experiment",
    "get_version",
    "has_any_version",
    "input_example",
    "input_schema",
    "list_experiments",
    "list_versions",
    "load_json_artifact",
    "load_json_artifact_if_present",
    "load_local_model",
    "load_profile",
    "load_version_profile",
    "log_training_run",
    "logged_dataset_file",
    "logged_model_uri",
    "register_model_version",
    "registered_model_names",
    "registry_change_token",
    "resolve_alias",
    "run_experiment_id",
    "search_runs",
    "set_alias",
    "set_version_tag",
    "version_for_alias",
    "versions_by_run",
]
