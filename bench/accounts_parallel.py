"""Benchmark of accounts in parallel: a 90-day backfill of 10 accounts with `pinterest-etl run --account-workers N`,
one worker against four, the simulator answering each call after 150 ms so that the work is API-bound.

Run from the repository root:

    .venv/bin/python -m bench.accounts_parallel                 # workers 1 and 4, about 5 min
    .venv/bin/python -m bench.accounts_parallel --workers 1,2,4

It prints a table and writes bench/results/accounts_parallel.json (numbers, machine, date, code measured and the exact
commands). Against one standalone simulator subprocess (`pinterest-etl sandbox --port 0 --today 2026-11-28 --users 10
--latency-ms 150`, the default world for each of its 10 users, every per-minute budget raised, as are the client's),
for each worker count in a fresh PINTEREST_ETL_HOME, without DAGSTER_HOME (the command's own instance):
`pinterest-etl run --start 2026-08-31 --end 2026-11-27 --account-workers N` (organic and ads) with an
accounts file of 10 accounts, one per simulator user: wall time, the peak RSS of the process tree (sampled from
/proc), the CPU time GNU time reports (with more than one worker it leaves out the step processes, which are the
fork server's children, not the command's: shown as "-" in the table), the API calls by
endpoint (the simulator's /_sandbox/stats) and the summary's lines. Only the standard library is used, plus
bench/common.py.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import shlex
import sys
import time
from pathlib import Path

from bench import common
from bench.common import (
    BIN,
    DAYS,
    END,
    ROOT,
    SEED,
    START,
    TODAY,
    code_under_test,
    run_pipeline,
    versions,
    warn_if_busy,
    write_and_introduce,
)
from bench.simulator import load_average, machine_info

RESULTS = ROOT / "bench" / "results" / "accounts_parallel.json"
ACCOUNTS, LATENCY_MS = 10, 150


def accounts_file(path: Path) -> dict[str, str]:
    """An accounts file of ACCOUNTS accounts, the n-th with the simulator's n-th user's development tokens; the
    variables that hold them."""
    tokens, text = {}, []
    for n in range(1, ACCOUNTS + 1):
        suffix = "" if n == 1 else f"_{n}"
        tokens[f"ACCOUNT_{n}_ACCESS_TOKEN"] = f"pina_SANDBOX{suffix}"
        tokens[f"ACCOUNT_{n}_REFRESH_TOKEN"] = f"pinr_SANDBOX{suffix}"
        text.append(f'[[account]]\nname = "account-{n}"\naccess_token_env = "ACCOUNT_{n}_ACCESS_TOKEN"\n'
                    f'refresh_token_env = "ACCOUNT_{n}_REFRESH_TOKEN"\n')
    path.write_text("\n".join(text))
    return tokens


def run_workers(w: dict, workers: int) -> dict:
    home = w["workdir"] / f"home-{workers}"
    home.mkdir()
    env = {k: v for k, v in w["env"].items() if k not in ("PINTEREST_ACCESS_TOKEN", "PINTEREST_REFRESH_TOKEN")}
    env.update(accounts_file(home / "accounts.toml"), PINTEREST_ETL_HOME=str(home))
    command = [str(BIN / "pinterest-etl"), "run", "--start", START.isoformat(), "--end", END.isoformat(),
               "--account-workers", str(workers)]
    print(f"  --account-workers {workers} ...", file=sys.stderr, flush=True)
    result, _ = run_pipeline(command, env, w["workdir"], f"workers-{workers}", w["sim"])
    return {"workers": workers, **result}


def table(results: list[dict]) -> str:
    lines = [f"{'workers':>7} {'wall s':>8} {'CPU s':>7} {'tree RSS MB':>11} {'API calls':>9}"]
    for r in results:
        cpu = f"{r.get('user_cpu_seconds', 0) + r.get('system_cpu_seconds', 0):.1f}" if r["workers"] == 1 else "-"
        tree_mb = r.get("memory_sampling", {}).get("sampled_peak_tree_rss_mb", 0)
        lines.append(f"{r['workers']:>7} {r['wall_seconds']:>8.1f} {cpu:>7} {tree_mb:>11.0f} "
                     f"{r.get('api_calls_total', 0):>9,}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.accounts_parallel", description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", default="1,4", help="comma-separated worker counts (default: 1,4)")
    parser.add_argument("--rev", help="measure pipelines/ and assets/ as committed in REV instead of the working tree")
    parser.add_argument("--output", type=Path, default=RESULTS, help=f"JSON file to write (default: {RESULTS.relative_to(ROOT)})")
    args = parser.parse_args(argv)
    counts = [int(n) for n in args.workers.split(",")]

    load_before = warn_if_busy()
    started = time.perf_counter()
    with contextlib.ExitStack() as stack:
        code = code_under_test(stack, args.rev, "accounts_parallel")
        sim_args = ["--users", str(ACCOUNTS), "--latency-ms", str(LATENCY_MS)]
        with common.world("accounts_parallel", "default", sim_args, keep=False) as w:
            results = [run_workers(w, workers) for workers in counts]
    report = {
        "benchmark": "accounts_parallel",
        "command": shlex.join(getattr(sys, "orig_argv", [sys.executable, "-m", "bench.accounts_parallel", *sys.argv[1:]])),
        "date_utc": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": {**machine_info(), **versions(), "load_average_before": load_before, "load_average_after": load_average()},
        "code": code,
        "settings": {"seed": SEED, "today": TODAY.isoformat(), "start": START.isoformat(), "end": END.isoformat(),
                     "days": DAYS, "accounts": ACCOUNTS, "latency_ms": LATENCY_MS,
                     "simulator": f"`pinterest-etl sandbox --port 0 {shlex.join(sim_args)}` subprocess, budgets raised",
                     "pipeline": "`.venv/bin/pinterest-etl run --account-workers N` subprocess without DAGSTER_HOME "
                                 "(a temporary Dagster instance when N > 1, the ephemeral one when N = 1)"},
        "results": results,
        "total_seconds": round(time.perf_counter() - started, 1),
    }
    write_and_introduce(report, args.output, "Accounts in parallel benchmark", load_before,
                        f"backfill {START}..{END} ({DAYS} days) of {ACCOUNTS} accounts, simulator latency {LATENCY_MS} ms")
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
