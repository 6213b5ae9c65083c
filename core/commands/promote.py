"""``python -m core promote``."""

from __future__ import annotations

import argparse

from core.commands._console import add_token_arguments, admin_token, configured_token

HELP = "Move an alias to a model version behind the pre-flight checks; the move is recorded in the ledger."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--version", type=int, required=True, help="the model version to point the alias at")
    parser.add_argument("--alias", required=True, help="champion, challenger or any other alias")
    parser.add_argument("--reason", required=True, help="why (recorded in the ledger; also the override's reason)")
    parser.add_argument(
        "--challenger",
        default="keep",
        metavar="keep|clear|VERSION",
        help="when --alias champion goes to the version holding challenger: keep challenger there (default; "
        "both aliases on one version leave shadow scoring idle, and the command says so), clear it, or point "
        "it at VERSION (checked like a promotion)",
    )
    parser.add_argument("--force", action="store_true", help="override failed pre-flight checks")
    add_token_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from core import mlflow_io
    from core.commands._console import fail, progress, report_checks
    from core.identity import os_user
    from core.mlflow_io import RegistryUnavailable
    from core.registry.guards import PromotionRefused
    from core.registry.preflight import PreflightBlocked
    from core.registry.promotion import challenger_choice, promote
    from core.registry.status import shared_version
    from core.settings import get_settings
    from storage.db import migrated_sessions

    settings = get_settings()
    try:
        challenger = challenger_choice(args.challenger)
        with migrated_sessions(settings.database_url) as sessions:
            move = promote(
                settings,
                sessions=sessions,
                version=args.version,
                alias=args.alias,
                reason=args.reason,
                actor=os_user(),
                origin="cli",
                token=admin_token(args, configured_token(settings)),
                override=args.force,
                challenger=challenger,
            )
            holders = mlflow_io.alias_map(settings)
    except PreflightBlocked as blocked:
        report_checks(blocked.preflight.checks)
        failed = ", ".join(check.name for check in blocked.preflight.failed)
        return fail(f"promotion blocked by failed checks: {failed} (use --force with a reason to override)")
    except (PromotionRefused, RegistryUnavailable) as error:
        return fail(str(error))
    assert move.preflight is not None
    report_checks(move.preflight.checks)
    replaced = "nothing" if move.from_version is None else f"version {move.from_version}"
    overridden = " (failed checks overridden)" if move.override else ""
    progress(f"{move.alias} → version {move.to_version} (was {replaced}){overridden}; ledger entry {move.ledger_id}")
    for also in move.also:
        now = "cleared" if also.to_version is None else f"→ version {also.to_version}"
        progress(f"{also.alias} {now} (was version {also.from_version}); ledger entry {also.ledger_id}")
    shared = shared_version(holders)
    if shared is not None:
        progress(
            f"note: champion and challenger both point to version {shared}, so shadow scoring is idle; "
            "use --challenger clear or --challenger VERSION next time, or promote another version to challenger"
        )
    return 0
