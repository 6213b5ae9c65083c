"""``python -m core ledger``."""

from __future__ import annotations

import argparse

HELP = "Print every alias change on record (changes made outside Loupe are detected and recorded first)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--alias", help="only this alias")
    parser.add_argument(
        "--csv",
        action="store_true",
        help="print CSV instead of a table (text that would run as a spreadsheet formula is quoted)",
    )


def run(args: argparse.Namespace) -> int:
    from core.commands._console import fail
    from core.csv_export import csv_text
    from core.mlflow_io import RegistryUnavailable
    from core.registry.charts import ledger_frame
    from core.registry.guards import PromotionRefused, valid_alias
    from core.registry.ledger_sync import ledger
    from core.settings import get_settings
    from storage.db import migrated_sessions

    settings = get_settings()
    try:
        alias = None if args.alias is None else valid_alias(args.alias)
        with migrated_sessions(settings.database_url) as sessions:
            entries = ledger(settings, sessions=sessions, alias=alias)
    except (PromotionRefused, RegistryUnavailable) as error:
        return fail(str(error))
    if not entries:
        where = f" for {alias}" if alias else ""
        print(f"no alias change on record{where} for {settings.model_name}; `python -m core promote` makes one")
        return 0
    # Oldest first: a ledger reads top to bottom.
    frame = ledger_frame(entries).iloc[::-1]
    # CSV is opened in spreadsheets: a reason or an actor reading `=HYPERLINK(…)` must stay text there.
    print(csv_text(frame) if args.csv else frame.fillna("").to_string(index=False))
    return 0
