"""``python -m core bootstrap``."""

from __future__ import annotations

import argparse

HELP = "Prepare the runtime folder and prediction log; train champion and challenger if the registry is empty."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    del parser  # no options


def run(args: argparse.Namespace) -> int:
    from core.commands._console import fail, progress
    from core.mlflow_io import RegistryUnavailable
    from core.settings import get_settings, mask_url
    from core.training.bootstrap import bootstrap

    settings = get_settings()
    progress(f"tracking: {mask_url(settings.tracking_uri)}; prediction log: {mask_url(settings.database_url)}")
    try:
        result = bootstrap(settings, progress=progress)
    except RegistryUnavailable as error:
        return fail(str(error))
    for trained in result.trained:
        metrics = ", ".join(f"{name} {value:,.3f}" for name, value in trained.metrics.items())
        progress(f"{trained.estimator}: version {trained.version} ({metrics})")
    progress("bootstrap complete" if result.trained else "nothing to do")
    return 0
