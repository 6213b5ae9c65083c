"""``python -m core rollback``."""

from __future__ import annotations

import argparse

from core.commands._console import add_token_arguments, admin_token, configured_token

HELP = (
    "Step an alias back one version through the ledger (repeat to go further back; rollbacks are undone, not toggled)."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--alias", required=True, help="the alias to roll back, e.g. champion")
    parser.add_argument("--reason", required=True, help="why (recorded in the ledger)")
    parser.add_argument("--force", action="store_true", help="override failed pre-flight checks")
    add_token_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from core.commands._console import fail, progress, report_checks
    from core.identity import os_user
    from core.mlflow_io import RegistryUnavailable
    from core.registry.guards import PromotionRefused
    from core.registry.preflight import PreflightBlocked
    from core.registry.promotion import rollback
    from core.settings import get_settings
    from storage.db import migrated_sessions

    settings = get_settings()
    try:
        with migrated_sessions(settings.database_url) as sessions:
            move = rollback(
                settings,
                sessions=sessions,
                alias=args.alias,
                reason=args.reason,
                actor=os_user(),
                token=admin_token(args, configured_token(settings)),
                override=args.force,
            )
    except PreflightBlocked as blocked:
        report_checks(blocked.preflight.failed)
        return fail(f"rollback blocked by failed checks (use --force with a reason to override): {blocked}")
    except (PromotionRefused, RegistryUnavailable) as error:
        return fail(str(error))
    progress(
        f"{move.alias} rolled back: version {move.from_version} → version {move.to_version}; ledger entry {move.ledger_id}"
    )
    return 0
