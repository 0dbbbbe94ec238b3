"""Every benchmark in bench/, one after the other: `.venv/bin/python -m bench [name ...]`.

Names: simulator, client_budget, organic, ads (default: all; bench.ads then runs its default world only, its
5x200x5x5 world is opt-in: `python -m bench.ads --large`). Each writes its own bench/results/<name>.json; arguments
for one benchmark are given by running it alone (`python -m bench.<name> --help`).
"""

from __future__ import annotations

import importlib
import sys

BENCHMARKS = ("simulator", "client_budget", "organic", "ads")


def main(argv: list[str] | None = None) -> int:
    names = list(argv if argv is not None else sys.argv[1:]) or list(BENCHMARKS)
    if unknown := [n for n in names if n not in BENCHMARKS]:
        print(f"unknown benchmark(s): {', '.join(unknown)} (known: {', '.join(BENCHMARKS)})", file=sys.stderr)
        return 2
    status = 0
    for name in names:
        print(f"== bench.{name}", flush=True)
        status = max(status, importlib.import_module(f"bench.{name}").main([]))
        print(flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
