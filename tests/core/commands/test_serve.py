"""``python -m core serve``: its options, and a bad one refused in a sentence (the server itself: tests/core/server)."""

from __future__ import annotations

from core.cli import build_parser, main


def test_serve_takes_host_port_and_workers() -> None:
    args = build_parser().parse_args(["serve", "--host", "0.0.0.0", "--port", "6000", "--workers", "4"])
    assert (args.host, args.port, args.workers) == ("0.0.0.0", 6000, 4)
    defaults = build_parser().parse_args(["serve"])
    assert (defaults.host, defaults.port, defaults.workers) == (None, None, None)  # then LOUPE_SERVER_*


def test_a_bad_port_or_worker_count_is_refused_without_starting(capsys) -> None:
    assert main(["serve", "--port", "70000"]) == 1
    assert "--port must be between 1 and 65535" in capsys.readouterr().err
    assert main(["serve", "--workers", "0"]) == 1
    assert "--workers must be at least 1" in capsys.readouterr().err
