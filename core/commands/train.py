"""``python -m core train``."""

from __future__ import annotations

import argparse

HELP = "Train a diamond-price model, log it to MLflow and register a new version."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--estimator", choices=("hgb", "rf", "ridge"), default="hgb", help="default: hgb")
    parser.add_argument("--seed", type=int, default=42, help="split and model seed (default: 42)")
    parser.add_argument("--alias", help="set this alias (e.g. champion, challenger) on the new version")
    parser.add_argument("--no-register", action="store_true", help="log the run without registering a version")
    parser.add_argument("--run-name", help="MLflow run name (default: ESTIMATOR-seedSEED)")
    tuning = parser.add_argument_group("hyperparameters (unset ones keep the estimator's defaults)")
    tuning.add_argument("--learning-rate", type=float, help="hgb")
    tuning.add_argument("--max-iter", type=int, help="hgb")
    tuning.add_argument("--max-leaf-nodes", type=int, help="hgb")
    tuning.add_argument("--l2-regularization", type=float, help="hgb")
    tuning.add_argument("--min-samples-leaf", type=int, help="hgb, rf")
    tuning.add_argument("--n-estimators", type=int, help="rf")
    tuning.add_argument("--max-depth", type=int, help="rf")
    tuning.add_argument("--alpha", type=float, help="ridge")
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
)


def run(args: argparse.Namespace) -> int:
    from core.commands._console import fail, progress
    from core.mlflow_io import RegistryUnavailable
    from core.settings import get_settings
    from core.training.train import train

    overrides = {name: getattr(args, name) for name in HYPERPARAMETERS}
    try:
        result = train(
            get_settings(),
            estimator=args.estimator,
            overrides=overrides,
            seed=args.seed,
            alias=args.alias,
            register=not args.no_register,
            run_name=args.run_name,
            progress=progress,
        )
    except (ValueError, RegistryUnavailable) as error:
        return fail(str(error))
    where = f"version {result.version}" if result.version is not None else "not registered"
    progress(f"done: run {result.run_id}, {where}, rmse {result.metrics['rmse']:,.1f}")
    return 0
