"""Registering a run's logged model as a new version of the console's model, optionally behind an alias move."""

from __future__ import annotations

from dataclasses import dataclass, replace

from sqlalchemy.orm import Session, sessionmaker

from core import mlflow_io
from core.errors import LoupeError
from core.experiments.comparison import display_value, is_missing
from core.experiments.runs import TRAIN_HINT, RunSet
from core.identity import os_user
from core.registry.guards import PromotionRefused, check_token, promotion_is_protected, valid_alias
from core.registry.promotion import promote
from core.settings import Settings


class CannotRegister(LoupeError, ValueError):
    """The run's model cannot be registered (no logged model, or the admin token is missing)."""


class AlreadyRegistered(CannotRegister):
    """The run's model already is a version of the console's model and nobody said to register it again."""

    def __init__(self, message: str, *, versions: list[int]) -> None:
        super().__init__(message)
        self.versions = versions


def existing_versions(settings: Settings, *, run_id: str) -> list[int]:
    """The versions of the console's model already registered from this run, oldest first."""
    return sorted(
        version
        for name, version in mlflow_io.registrations_of_run(settings, run_id=run_id)
        if name == settings.model_name
    )


def already_registered(settings: Settings, *, run_id: str, versions: list[int] | None = None) -> str | None:
    """A sentence naming the versions of the console's model this run already is, else ``None``."""
    versions = existing_versions(settings, run_id=run_id) if versions is None else versions
    if not versions:
        return None
    named = ", ".join(f"version {version}" for version in versions)
    holds = "is already" if len(versions) == 1 else "already is"
    return (
        f"This run's model {holds} {named} of {settings.model_name}. Registering it again makes another version "
        "with the same model (its own metrics, tags and aliases); usually you want the existing one "
        "(move an alias to it on the Registry page)."
    )


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
        f"{name} {display_value(row[f'metrics.{name}'])}"
        for name in runs.metrics
        if not is_missing(row[f"metrics.{name}"])
    )
    registered = f" · registered as {row['registered']}" if row["registered"] else " · not registered yet"
    return f"{row['estimator']} · {metrics or 'no metrics'}{registered}"


def elsewhere(settings: Settings, *, run_id: str) -> str | None:
    """A sentence when the run's model is registered under other models than the console's, else ``None``."""
    others = [
        f"{name} v{version}"
        for name, version in mlflow_io.registrations_of_run(settings, run_id=run_id)
        if name != settings.model_name
    ]
    if not others:
        return None
    return (
        f"This run's model is already registered as {', '.join(others)}. Registering it here adds it to "
        f"{settings.model_name}; if its inputs differ, the pre-flight's signature check blocks any alias move."
    )


def token_required(settings: Settings) -> bool:
    """Moving an alias needs the admin token when ``LOUPE_ADMIN_TOKEN`` is set."""
    return promotion_is_protected(settings)


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
    again: bool = False,
) -> Registration:
    """Register the run's logged model as a new version of ``settings.model_name``; optionally move ``alias`` to it.

    ``estimator`` becomes the version's ``loupe.estimator`` tag. The alias move goes through the
    Registry's guardrails (:func:`core.promotion.promote`: token, pre-flight, ledger entry with origin
    ``page``). A wrong or missing token refuses before anything is registered; a failed pre-flight
    keeps the new version and leaves the alias where it was (``alias_refused`` says why). A run already
    registered as a version of the model raises :class:`AlreadyRegistered` (naming the versions) unless
    ``again`` says to make another one.
    """
    if alias:
        if sessions is None:
            raise ValueError("sessions is required to record an alias move in the ledger")
        try:
            alias = valid_alias(alias)
            check_token(settings, token)
        except PromotionRefused as refused:
            raise CannotRegister(f"Cannot set `{alias}`: {refused}. Nothing was registered.") from refused
    if not again:
        versions = existing_versions(settings, run_id=run_id)
        if versions:
            raise AlreadyRegistered(
                f"{already_registered(settings, run_id=run_id, versions=versions)} Nothing was registered.",
                versions=versions,
            )
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
        assert sessions is not None  # checked above, before anything was registered
        move = promote(
            settings,
            sessions=sessions,
            version=version,
            alias=alias,
            reason=reason or f"registered from run {run_id} on the Experiments page",
            actor=actor or os_user(),
            origin="page",
            token=token,
        )
    except PromotionRefused as refused:
        return replace(registration, alias_refused=str(refused))
    return replace(registration, alias=alias, previous_version=move.from_version)
