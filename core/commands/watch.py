"""``python -m core watch``."""

from __future__ import annotations

import argparse
import re
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.monitoring.incidents import CycleResult

HELP = (
    "Evaluate the alert rules and send a message when an alert fires and when it clears "
    "(LOUPE_ALERT_WEBHOOK_URL, LOUPE_ALERT_SLACK_URL); once, or --every 5m."
)
EVERY = re.compile(r"^\s*(?P<count>\d+)\s*(?P<unit>[smhd])\s*$")
SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86_400}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--every", help="repeat at this interval: 30s, 5m, 1h (default: one cycle, then exit)")
    parser.add_argument("--cycles", type=int, help="with --every: stop after this many cycles (default: until Ctrl-C)")
    parser.add_argument("--model", help="the registered model to watch (default: LOUPE_MODEL_NAME)")


def every_seconds(text: str) -> int:
    """``--every``'s interval in seconds; ``ValueError`` naming the option and the form it takes."""
    matched = EVERY.match(text)
    if matched is None or int(matched["count"]) < 1:
        raise ValueError(f"--every must be a whole number and a unit such as 30s, 5m or 1h, not {text!r}")
    return int(matched["count"]) * SECONDS[matched["unit"]]


def run(args: argparse.Namespace) -> int:
    from core.cli import describe
    from core.commands._console import fail, progress
    from core.monitoring.alert_delivery import channels
    from core.monitoring.incidents import watch_cycle
    from core.settings import get_settings
    from storage.db import migrated_sessions

    settings = get_settings()
    if args.model:
        settings = settings.model_copy(update={"model_name": args.model})
    try:
        interval = None if args.every is None else every_seconds(args.every)
        routes = channels(settings)
    except ValueError as error:
        return fail(str(error))
    if args.cycles is not None and (args.cycles < 1 or interval is None):
        return fail("--cycles must be at least 1 and goes with --every")
    if not routes:
        progress(
            "no alert channel configured: set LOUPE_ALERT_WEBHOOK_URL and/or LOUPE_ALERT_SLACK_URL "
            "(incidents are still recorded and shown on Monitoring)"
        )
    with migrated_sessions(settings.database_url) as sessions:
        if interval is None:
            result = watch_cycle(settings, sessions=sessions)
            return _report(settings.model_name, result)
        code, done = 0, 0
        while args.cycles is None or done < args.cycles:
            if done:
                time.sleep(interval)
            done += 1
            try:
                code = _report(settings.model_name, watch_cycle(settings, sessions=sessions))
            except Exception as error:  # one bad cycle (a locked log, a registry down) must not end the watch
                code = fail(f"cycle {done} failed: {describe(error)}; trying again in {args.every.strip()}")
        return code


def _report(model_name: str, result: CycleResult) -> int:
    from core.commands._console import fail, progress

    if result.skipped:
        progress(f"{model_name}: another watcher is evaluating and delivering right now; it covers this cycle")
        return 0
    firing = ", ".join(f"{alert.rule}" + (f" v{alert.version}" if alert.version else "") for alert in result.alerts)
    progress(f"{model_name}: {len(result.alerts)} alert(s) firing" + (f" ({firing})" if firing else ""))
    for label in result.opened:
        progress(f"opened: {label}")
    for label in result.resolved:
        progress(f"resolved: {label}")
    if result.channels:
        progress(f"sent {result.sent} message(s) to {', '.join(result.channels)}")
    for line in result.failed:
        progress(f"not delivered: {line}")
    if result.failed:
        return fail(f"{len(result.failed)} message(s) not delivered; they are tried again next cycle")
    return 0
