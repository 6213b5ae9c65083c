"""First-run set-up: runtime folder, prediction-log schema, and real models in the registry.

An empty registry gets two demo models, so the console shows both kinds from the start: the
diamond-price regressor (``LOUPE_MODEL_NAME``) and the tumour-triage classifier, each with a
``champion`` and a ``challenger``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine

from core import mlflow_io
from core.identity import os_user
from core.settings import Settings
from core.task import TASKS, Task
from core.training.classifier import classifier_settings, train_classifier
from core.training.train import Progress, TrainingResult, train
from storage.db import make_engine, make_sessionmaker, migrate
from storage.ledger import record_alias_change

BOOTSTRAP_MODELS = (("hgb", "champion"), ("rf", "challenger"))
CLASSIFIER_BOOTSTRAP_MODELS = (("logreg", "champion"), ("rf", "challenger"))
Overrides = Mapping[str, Mapping[str, Any]]


@dataclass(frozen=True)
class BootstrapResult:
    """What bootstrap did: the models it trained, if any, and the models it found (and left alone)."""

    trained: list[TrainingResult]
    found: list[str] = field(default_factory=list)

    @property
    def did_nothing(self) -> bool:
        return not self.trained


def bootstrap(
    settings: Settings,
    *,
    overrides: Overrides | None = None,
    classifier_overrides: Overrides | None = None,
    demo: bool = False,
    tasks: tuple[Task, ...] = TASKS,
    progress: Progress = lambda message: None,
) -> BootstrapResult:
    """Migrate the prediction log; into an empty registry, train the demo models with their aliases.

    ``tasks`` chooses the demo models: the regressor (``settings.model_name``: champion and challenger)
    and the classifier (``tumour-triage``: champion and challenger). A registry that already holds any
    model (a team's own) is never written to, unless ``demo`` asks for the demo models anyway; even
    then a model name that already has versions is left alone. ``overrides`` (regressor) and
    ``classifier_overrides`` map an estimator to hyperparameters that replace its defaults (a quick
    demo, or tests that need real but small models); each alias is set with a ledger entry of origin
    ``bootstrap``.
    """
    if settings.tracking_is_local or settings.database_url.startswith("sqlite"):
        settings.ensure_home()
    engine = make_engine(settings.database_url)
    try:
        progress("migrating the prediction log")
        migrate(engine)
        found = mlflow_io.registered_model_names(settings)
        if found and not demo:
            progress(
                f"the registry already holds {len(found)} model(s) ({', '.join(found[:5])}"
                f"{' …' if len(found) > 5 else ''}): nothing trained"
            )
            return BootstrapResult(trained=[], found=found)
        trained: list[TrainingResult] = []
        for task in tasks:
            target = settings if task == "regression" else classifier_settings(settings)
            if mlflow_io.has_any_version(target):
                progress(f"{target.model_name} already has versions: nothing trained")
                continue
            models = BOOTSTRAP_MODELS if task == "regression" else CLASSIFIER_BOOTSTRAP_MODELS
            chosen = (overrides if task == "regression" else classifier_overrides) or {}
            for estimator, alias in models:
                params = dict(chosen.get(estimator, {}))
                if task == "regression":
                    result = train(settings, estimator=estimator, overrides=params, progress=progress)
                else:
                    result = train_classifier(settings, estimator=estimator, overrides=params, progress=progress)
                _set_alias(target, engine=engine, alias=alias, result=result)
                progress(f"{target.model_name}: {alias} → version {result.version}")
                trained.append(result)
        return BootstrapResult(trained=trained, found=found if not trained else [])
    finally:
        engine.dispose()


def _set_alias(settings: Settings, *, engine: Engine, alias: str, result: TrainingResult) -> None:
    assert result.version is not None  # training registers by default
    with make_sessionmaker(engine).begin() as session:
        # The ledger row is flushed first: if the registry refuses the alias, the entry rolls back.
        record_alias_change(
            session,
            model_name=settings.model_name,
            alias=alias,
            from_version=None,
            to_version=result.version,
            actor=os_user(),
            reason="first run: bootstrap trained the demo model",
            origin="bootstrap",
        )
        mlflow_io.set_alias(settings, alias=alias, version=result.version)
