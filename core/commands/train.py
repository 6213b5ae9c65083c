"""``python -m core train``."""

from __future__ import annotations

import argparse

from core.commands._console import add_token_arguments, admin_token, configured_token

HELP = (
    "Train a demo model (diamond prices, or --task classification: tumour triage), log it to MLflow and register "
    "a new version (--alias moves an alias, guarded)."
)
DEFAULT_ESTIMATOR = {"regression": "hgb", "classification": "logreg"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--task",
        choices=("regression", "classification"),
        help="regression: the diamond-price model (LOUPE_MODEL_NAME); classification: the tumour-triage classifier "
        "(default: classification when the model named is tumour-triage, else regression)",
    )
    parser.add_argument(
        "--estimator",
        choices=("hgb", "rf", "ridge", "logreg"),
        help="regression: hgb (default), rf, ridge; classification: logreg (default), rf",
    )
    parser.add_argument(
        "--model", help="registered model name (default: LOUPE_MODEL_NAME; tumour-triage for classification)"
    )
    parser.add_argument("--seed", type=int, default=42, help="split and model seed (default: 42)")
    parser.add_argument("--no-register", action="store_true", help="log the run without registering a version")
    parser.add_argument("--run-name", help="MLflow run name (default: ESTIMATOR-seedSEED)")
    moving = parser.add_argument_group(
        "moving an alias to the new version (through the same pre-flight checks and ledger as promote)"
    )
    moving.add_argument("--alias", help="point this alias (e.g. challenger) at the new version")
    moving.add_argument("--reason", help="why, for the ledger (required with --force)")
    moving.add_argument("--force", action="store_true", help="override failed pre-flight checks")
    add_token_arguments(moving)
    moving.add_argument(
        "--origin", choices=("cli", "ci"), default="cli", help="who moves the alias, for the ledger (default: cli)"
    )
    tuning = parser.add_argument_group("hyperparameters (unset ones keep the estimator's defaults)")
    tuning.add_argument("--learning-rate", type=float, help="hgb")
    tuning.add_argument("--max-iter", type=int, help="hgb")
    tuning.add_argument("--max-leaf-nodes", type=int, help="hgb")
    tuning.add_argument("--l2-regularization", type=float, help="hgb")
    tuning.add_argument("--min-samples-leaf", type=int, help="hgb, rf")
    tuning.add_argument("--n-estimators", type=int, help="rf")
    tuning.add_argument("--max-depth", type=int, help="rf")
    tuning.add_argument("--alpha", type=float, help="ridge")
    tuning.add_argument("--C", type=float, dest="C", help="logreg (inverse regularisation strength)")
    tuning.add_argument("--log-target", action=argparse.BooleanOptionalAction, default=None, help="fit on log(price)")


HYPERPARAMETERS = (
    "learning_rate",
    "max_iter",
    "max_leaf_nodes",
    "l2_regularization",
    "min_samples_leaf",
    "n_estimators",
    "max_depth",
    "alpha",
    "log_target",
    "C",
)


def run(args: argparse.Namespace) -> int:
    from core.commands._console import fail, progress, report_checks
    from core.formats import measured
    from core.identity import os_user
    from core.registry.guards import check_token, valid_alias
    from core.registry.preflight import PreflightBlocked
    from core.registry.promotion import promote
    from core.settings import get_settings
    from core.training.classifier import CLASSIFIER_MODEL_NAME, classifier_settings, train_classifier
    from core.training.train import DEMO_UNIT, train
    from storage.db import migrated_sessions

    if args.alias is not None:
        if args.no_register:
            return fail("--alias needs a registered version; drop --no-register")
        if args.force and not (args.reason or "").strip():
            return fail("--force needs a --reason, recorded in the ledger")
        valid_alias(args.alias)  # a bad alias is refused before minutes of training
    settings = get_settings()
    if args.alias is not None:
        check_token(settings, admin_token(args, configured_token(settings)))  # so is a missing or wrong token
    task = args.task or (
        "classification" if (args.model or settings.model_name) == CLASSIFIER_MODEL_NAME else "regression"
    )
    estimator = args.estimator or DEFAULT_ESTIMATOR[task]
    overrides = {name: getattr(args, name) for name in HYPERPARAMETERS}
    if task == "classification":
        result = train_classifier(
            settings,
            estimator=estimator,
            overrides=overrides,
            seed=args.seed,
            register=not args.no_register,
            run_name=args.run_name,
            model_name=args.model,
            progress=progress,
        )
        settings = classifier_settings(settings, result.model_name)
        headline = (
            f"accuracy {measured('accuracy', result.metrics['accuracy'])}, "
            f"roc_auc {measured('roc_auc', result.metrics['roc_auc'])}"
        )
    else:
        if args.model:
            settings = settings.model_copy(update={"model_name": args.model})
        result = train(
            settings,
            estimator=estimator,
            overrides=overrides,
            seed=args.seed,
            register=not args.no_register,
            run_name=args.run_name,
            progress=progress,
        )
        headline = f"rmse {measured('rmse', result.metrics['rmse'], DEMO_UNIT)}"
    where = f"version {result.version}" if result.version is not None else "not registered"
    if task == "classification":
        where += f" of {result.model_name}"
    progress(f"done: run {result.run_id}, {where}, {headline}")
    if args.alias is None or result.version is None:
        return 0
    reason = args.reason or f"new {estimator} model from `python -m core train` (run {result.run_id})"
    try:
        with migrated_sessions(settings.database_url) as sessions:
            move = promote(
                settings,
                sessions=sessions,
                version=result.version,
                alias=args.alias,
                reason=reason,
                actor=os_user(),
                origin=args.origin,
                token=admin_token(args, configured_token(settings)),
                override=args.force,
            )
    except PreflightBlocked as blocked:
        report_checks(blocked.preflight.checks)
        failed = ", ".join(check.name for check in blocked.preflight.failed)
        return fail(
            f"version {result.version} is registered, but {args.alias} was not moved: failed checks {failed} "
            f"(promote it later, or use --force with a --reason)"
        )
    assert move.preflight is not None
    report_checks(move.preflight.checks)
    replaced = "nothing" if move.from_version is None else f"version {move.from_version}"
    progress(f"{move.alias} → version {move.to_version} (was {replaced}); ledger entry {move.ledger_id}")
    return 0
