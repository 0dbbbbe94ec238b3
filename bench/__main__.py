"""The benchmarks: `.venv/bin/python -m bench [--large] [scenario ...]` or `python -m bench component ...`.

Without component names it runs the scenarios of bench/scenarios.py (S, M, Daily and With-latency; --large adds L),
writes bench/results/<scenario>.json and rewrites BENCHMARKS.md. The component benchmarks (simulator, client_budget,
organic, ads, accounts_parallel, object_store) run when named, each writing its own bench/results/<name>.json;
arguments for one of them are given by running it alone (`python -m bench.<name> --help`).
"""

from __future__ import annotations

import importlib
import sys

COMPONENTS = ("simulator", "client_budget", "organic", "ads", "accounts_parallel", "object_store")


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    components = [a for a in args if a in COMPONENTS]
    if not components:
        from bench import scenarios

        return scenarios.main(args)
    if others := [a for a in args if a not in COMPONENTS]:
        print(f"run scenarios ({', '.join(others)}) and components ({', '.join(components)}) separately",
              file=sys.stderr)
        return 2
    status = 0
    for name in components:
        print(f"== bench.{name}", flush=True)
        status = max(status, importlib.import_module(f"bench.{name}").main([]))
        print(flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
