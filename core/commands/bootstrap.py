"""``python -m core bootstrap``."""

from __future__ import annotations

import argparse

HELP = (
    "Prepare the runtime folder and prediction log; train the demo models (a regressor and a classifier, each with "
    "a champion and a challenger) into an empty registry."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--demo",
        action="store_true",
        help="add the demo models missing from a registry that holds other models (never over existing versions)",
    )


def run(args: argparse.Namespace) -> int:
    from core.commands._console import fail, progress
    from core.formats import measured
    from core.mlflow_io import RegistryUnavailable
    from core.registry.holdout import KNOWN_NAMES
    from core.settings import get_settings, mask_url
    from core.training.bootstrap import bootstrap
    from core.training.train import DEMO_UNIT

    settings = get_settings()
    progress(f"tracking: {mask_url(settings.tracking_uri)}; prediction log: {mask_url(settings.database_url)}")
    try:
        result = bootstrap(settings, demo=args.demo, progress=progress)
    except RegistryUnavailable as error:
        return fail(str(error))
    for trained in result.trained:
        unit = DEMO_UNIT if trained.task == "regression" else None
        metrics = ", ".join(
            f"{name} {measured(KNOWN_NAMES.get(name), value, unit)}" for name, value in trained.metrics.items()
        )
        which = trained.estimator if trained.task == "regression" else f"{trained.model_name} {trained.estimator}"
        progress(f"{which}: version {trained.version} ({metrics})")
    if result.trained:
        progress("bootstrap complete")
    elif result.found and settings.model_name not in result.found:
        progress(
            f"{settings.model_name} is not among them: choose one of the registry's models with LOUPE_MODEL_NAME, "
            "or add the demo models with: python -m core bootstrap --demo"
        )
    else:
        progress("nothing to do")
    return 0
