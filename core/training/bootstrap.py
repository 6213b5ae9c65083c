"""First-run set-up: runtime folder, prediction-log schema, and a real model in the registry."""

from __future__ import annotations

import getpass
from dataclasses import dataclass

from core import mlflow_io
from core.settings import Settings
from core.training.train import Progress, TrainingResult, train
from storage.db import make_engine, make_sessionmaker, migrate
from storage.ledger import record_alias_change

BOOTSTRAP_MODELS = (("hgb", "champion"), ("rf", "challenger"))


@dataclass(frozen=True)
class BootstrapResult:
    """What bootstrap did: the models it trained, if any."""

    trained: list[TrainingResult]

    @property
    def did_nothing(self) -> bool:
        return not self.trained


def bootstrap(settings: Settings, *, progress: Progress = lambda message: None) -> BootstrapResult:
    """Migrate the prediction log; if the registry has no version, train a champion and a challenger."""
    if settings.tracking_is_local or settings.database_url.startswith("sqlite"):
        settings.ensure_home()
    engine = make_engine(settings.database_url)
    try:
        progress("migrating the prediction log")
        migrate(engine)
        if mlflow_io.has_any_version(settings):
            progress(f"registry already holds {settings.model_name}: nothing to train")
            return BootstrapResult(trained=[])
        trained = []
        for estimator, alias in BOOTSTRAP_MODELS:
            result = train(settings, estimator=estimator, alias=alias, progress=progress)
            trained.append(result)
            with make_sessionmaker(engine).begin() as session:
                record_alias_change(
                    session,
                    model_name=settings.model_name,
                    alias=alias,
                    from_version=None,
                    to_version=result.version,
                    actor=getpass.getuser(),
                    reason="first run: bootstrap trained the demo model",
                    origin="bootstrap",
                )
        return BootstrapResult(trained=trained)
    finally:
        engine.dispose()
