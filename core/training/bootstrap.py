"""First-run set-up: runtime folder, prediction-log schema, and a real model in the registry."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from core import mlflow_io
from core.identity import os_user
from core.settings import Settings
from core.training.train import Progress, TrainingResult, train
from storage.db import make_engine, make_sessionmaker, migrate
from storage.ledger import record_alias_change

BOOTSTRAP_MODELS = (("hgb", "champion"), ("rf", "challenger"))


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
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    demo: bool = False,
    progress: Progress = lambda message: None,
) -> BootstrapResult:
    """Migrate the prediction log; into an empty registry, train the demo champion and challenger.

    A registry that already holds any model (a team's own) is never written to, unless ``demo`` asks
    for the demo models anyway; even then a model name that already has versions is left alone.
    ``overrides`` maps an estimator to hyperparameters that replace its defaults (a quick demo, or tests
    that need real but small models); each alias is set with a ledger entry of origin ``bootstrap``.
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
        if mlflow_io.has_any_version(settings):
            progress(f"{settings.model_name} already has versions: nothing trained")
            return BootstrapResult(trained=[], found=found)
        trained = []
        for estimator, alias in BOOTSTRAP_MODELS:
            result = train(
                settings, estimator=estimator, overrides=dict((overrides or {}).get(estimator, {})), progress=progress
            )
            assert result.version is not None  # train registers by default
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
            progress(f"{alias} → version {result.version}")
            trained.append(result)
        return BootstrapResult(trained=trained)
    finally:
        engine.dispose()
