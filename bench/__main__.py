"""Run the benchmarks, merge their figures into bench/results.json and the README's benchmark table.

Each benchmark is a module ``bench/<name>.py`` with ``run(workdir: Path) -> dict[str, float | int | str]``;
every key is one figure (ratios included), stored as ``<name>.<key>``.
``python -m bench`` runs them all; ``python -m bench serving monitoring`` runs some.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

BENCH_DIR = Path(__file__).parent
RESULTS = BENCH_DIR / "results.json"
README = BENCH_DIR.parent / "README.md"
START, END = "<!-- bench:start -->", "<!-- bench:end -->"


def available() -> list[str]:
    return sorted(info.name for info in pkgutil.iter_modules([str(BENCH_DIR)]) if not info.name.startswith("_"))


def render_table(results: dict[str, object]) -> str:
    lines = ["| figure | value |", "| --- | --- |"]
    for key, value in sorted(results.items()):
        shown = f"{value:,.3f}" if isinstance(value, float) else str(value)
        lines.append(f"| `{key}` | {shown} |")
    return "\n".join(lines)


def write_readme(results: dict[str, object]) -> None:
    if not README.exists():
        return
    text = README.read_text()
    if START not in text or END not in text:
        return
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    README.write_text(f"{head}{START}\n{render_table(results)}\n{END}{tail}")


def main(argv: list[str]) -> int:
    names = argv or available()
    unknown = sorted(set(names) - set(available()))
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; available: {', '.join(available())}", file=sys.stderr)
        return 2
    results: dict[str, object] = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    for name in names:
        module = importlib.import_module(f"bench.{name}")
        print(f"== {name}", flush=True)
        started = time.monotonic()
        with tempfile.TemporaryDirectory(prefix=f"loupe-bench-{name}-") as workdir:
            figures = module.run(Path(workdir))
        for key, value in figures.items():
            results[f"{name}.{key}"] = value
            print(f"  {key}: {value}", flush=True)
        print(f"  ({time.monotonic() - started:.0f}s)", flush=True)
    results["meta.machine"] = f"{platform.machine()} · {platform.python_version()}"
    results["meta.measured_at"] = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    RESULTS.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    write_readme(results)
    print(f"wrote {RESULTS.relative_to(BENCH_DIR.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
