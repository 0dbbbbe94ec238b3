"""Benchmark of the pipeline end to end: an 89-day backfill with `pinterest-etl run`, as a user runs it.

Run from the repository root:

    .venv/bin/python -m bench.organic              # about 6 minutes on 2 cores
    .venv/bin/python -m bench.organic --rev HEAD   # the committed pipelines/ and assets/, not the working tree

It prints a table and writes bench/results/organic.json (numbers, machine, date, code measured and the exact
command). bench/README.md explains every number. For each world, the default one (500 pins) and a
20,000-pin one, in a fresh temporary PINTEREST_ETL_HOME and against a standalone simulator subprocess
(`pinterest-etl sandbox --port 0`, every per-minute budget raised, as are the client's):

1. `pinterest-etl run --start 2026-08-31 --end 2026-11-27` (PINTEREST_ETL_TODAY=2026-11-28): wall time, peak
   RSS, CPU time, API calls by endpoint (from the simulator's /_sandbox/stats) against the planned number, rows
   in the warehouse and the size of raw/, lake/ and the warehouse. Every run gets `--only organic` when the
   CLI has it; with --assets all the ads assets (a fixed world: 2 ad accounts) run too, reported apart;
2. the same range again with `--from-raw` (normalize + load only, zero API calls): wall time, metric rows per
   second and, from a DAGSTER_HOME in /dev/shm, the duration of each step. Recording the run costs seconds,
   so on the default world the --from-raw run is repeated without a DAGSTER_HOME;
3. `python -m cProfile -m pipelines.cli run --from-raw ...` on the 20,000-pin world: the top hot spots by
   cumulative time. If that world has already taken longer than --scenario-limit (default 240 s), it stops
   there: its profile is skipped and recorded as skipped, and the default world's --from-raw run is profiled
   instead (the same code on 40 times fewer pins; --force-profile profiles the big world anyway).

The pipeline runs as `.venv/bin/pinterest-etl` in a child process, under `/usr/bin/time -v` when it exists,
while this process samples the RSS of the child's whole process tree from /proc. Only the standard library
and duckdb (to count rows, read-only) are used, plus the helpers of bench/common.py (shared with
bench/ads.py) and bench/simulator.py.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import math
import pstats
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from bench import common
from bench.common import (
    BIN,
    DAYS,
    END,
    RAISED_BUDGET,
    ROOT,
    SEED,
    START,
    START_DATE,
    TIME,
    TODAY,
    Simulator,
    base_env,
    code_under_test,
    dagster_steps,
    lake_metric_rows,
    pin_analytics_batches,
    storage,
    supports_only,
    versions,
    video_pins,
    warn_if_busy,
    write_and_introduce,
)
from bench.simulator import load_average, machine_info

RESULTS = ROOT / "bench" / "results" / "organic.json"
BOARDS = 12  # the simulator's default
SPLITS = 1  # PINTEREST_ORGANIC_SPLITS unset: APP_TYPE only
CONTENT_TYPES = 3  # PINTEREST_CONTENT_TYPES unset: ALL, ORGANIC, PAID
WORLDS = {"default": 500, "20k": 20_000}
ORGANIC_STEPS = ("organic_dimensions", "organic_raw", "organic_lake", "organic_warehouse")
ADS_STEPS = ("ads_dimensions", "ads_raw", "ads_lake", "ads_warehouse")
ORGANIC_ENTITIES = ("user_account", "pin")


# --------------------------------------------------------------------------------------------- helpers
def expected_calls(pins: int, video_pins: int, days: int = DAYS, splits: int = SPLITS,
                   boards: int = BOARDS) -> dict[str, int]:
    """The plan: ceil(D/90) x (content types x (1 + splits) + ceil(standard pins/100) + ceil(video pins/100))
    analytics calls (one pin type per bulk call), plus paging the dimensions (250 items a page)."""
    windows = math.ceil(days / 90)
    return {"user_account/get": 1, "boards/list": max(1, math.ceil(boards / 250)), "pins/list": max(1, math.ceil(pins / 250)),
            "user_account/analytics": windows * CONTENT_TYPES * (1 + splits), "multi_pins/analytics": windows * pin_analytics_batches(pins, video_pins)}


# ------------------------------------------------------------------------------------------- one run
def run_pipeline(command: list[str], env: dict[str, str], workdir: Path, label: str, sim: Simulator | None) -> dict:
    """Run one pipeline command in a child process; its wall time, memory, CPU, calls, steps and output."""
    result, stdout = common.run_pipeline(command, env, workdir, label, sim)
    result["lake_metric_rows"] = lake_metric_rows(stdout, "organic_lake")
    return result


def warehouse_rows(path: Path) -> dict:
    """Rows in the warehouse (opened read-only): every table, and the organic part of the two fact tables."""
    import duckdb

    with duckdb.connect(str(path), read_only=True) as con:
        tables = [name for (name,) in con.execute("SELECT table_name FROM duckdb_tables() ORDER BY table_name").fetchall()]
        rows = {name: con.execute(f"SELECT count(*) FROM {name}").fetchall()[0][0] for name in tables}
        for name in ("metric_daily", "daily_status"):
            if name in rows:
                rows[f"{name}_organic"] = con.execute(f"SELECT count(*) FROM {name} WHERE entity_type IN (SELECT unnest(?))",
                                                      [list(ORGANIC_ENTITIES)]).fetchall()[0][0]
    return rows


def measured_run(command: list[str], env: dict, workdir: Path, label: str, sim: Simulator | None, home: Path) -> dict:
    result = run_pipeline(command, env, workdir, label, sim)
    result["dagster"] = dagster_steps(env, workdir)
    result["warehouse_rows"] = rows = warehouse_rows(home / "warehouse.duckdb")
    result["storage"] = storage(home)
    result["metric_rows_per_second_wall"] = round(rows["metric_daily"] / result["wall_seconds"])
    steps = result["dagster"].get("steps_seconds", {})
    if "run_seconds" in result["dagster"]:  # interpreter start-up, imports, the summary and exit
        result["outside_the_dagster_run_seconds"] = round(result["wall_seconds"] - result["dagster"]["run_seconds"], 3)
    if "organic_lake" in steps and "organic_warehouse" in steps:  # the organic normalize + load steps alone
        span = steps["organic_lake"] + steps["organic_warehouse"]
        result["organic_normalize_load_seconds"] = round(span, 3)
        result["organic_metric_rows_per_second_normalize_load"] = round(rows["metric_daily_organic"] / span)
    return result


# ------------------------------------------------------------------------------------------- profile
def profile_from_raw(env: dict, workdir: Path, top: int, only: list[str]) -> dict:
    """cProfile of `python -m pipelines.cli run --from-raw` (no API calls): wall time and the hot spots."""
    out = workdir / "from_raw.prof"
    command = [str(BIN / "python"), "-m", "cProfile", "-o", str(out), "-m", "pipelines.cli", "run", "--from-raw",
               "--start", START.isoformat(), "--end", END.isoformat(), *only]
    t0 = time.perf_counter()
    done = subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(f"`{shlex.join(command)}` exited with {done.returncode}:\n{done.stderr[-2000:]}")
    return {"command": shlex.join(command), "wall_seconds_under_profiler": round(wall, 3), **hot_spots(out, top)}


def hot_spots(profile: Path, top: int) -> dict:
    """The pipeline's own work in a profile. Every function of pipelines/ and assets/ (but `<module>` code and
    the entry points every run passes through), and every other function (DuckDB, Arrow, json, gzip, list.append...)
    with the time of its calls *from* those functions only, ranked by cumulative time. Dagster's machinery (and so
    `dg.materialize`, called from an entry point), imports and the interpreter's start-up are left out of the
    ranking; `top_cumulative_all` keeps them."""
    stats = pstats.Stats(str(profile))
    entries, everything = [], []
    for key, (_, calls, self_time, cumulative, callers) in stats.stats.items():
        everything.append({"function": _label(*key), "calls": calls, "self_seconds": round(self_time, 3),
                           "cumulative_seconds": round(cumulative, 3)})
        if _is_project(key):
            if key[2] != "<module>" and (Path(key[0]).name, key[2]) not in _ENTRY_POINTS:
                entries.append({"function": _label(*key), "calls": calls, "self_seconds": round(self_time, 3),
                                "cumulative_seconds": round(cumulative, 3)})
            continue
        if key[0].startswith("<frozen") or key[2] in _IMPORT_MACHINERY:
            continue
        mine = [v for caller, v in callers.items() if _is_project(caller) and caller[2] != "<module>"
                and (Path(caller[0]).name, caller[2]) not in _ENTRY_POINTS]
        if mine:
            entries.append({"function": _label(*key) + " [from project code]", "calls": sum(v[1] for v in mine),
                            "self_seconds": round(sum(v[2] for v in mine), 3),
                            "cumulative_seconds": round(sum(v[3] for v in mine), 3)})
    entries.sort(key=lambda e: -e["cumulative_seconds"])
    everything.sort(key=lambda e: -e["cumulative_seconds"])
    assets = {key[2]: v[3] for key, v in stats.stats.items() if _is_project(key) and Path(key[0]).parent.name == "assets"
              and key[2] in ORGANIC_STEPS + ADS_STEPS}
    return {"profiled_seconds": round(stats.total_tt, 3), "function_calls": stats.total_calls,
            "asset_seconds": {k: round(v, 3) for k, v in assets.items()},
            "outside_the_assets_seconds": round(stats.total_tt - sum(assets.values()), 3),
            "top_cumulative_hot_spots": entries[:top], "project_and_direct_calls": entries[:40],
            "top_cumulative_all": everything[:40],
            "top_self": sorted(everything, key=lambda e: -e["self_seconds"])[:top]}


_ENTRY_POINTS = {("cli.py", "main"), ("run.py", "_run"), ("orchestration.py", "run_range")}
_IMPORT_MACHINERY = {"<built-in method builtins.__import__>", "<built-in method builtins.exec>",
                     "<built-in method builtins.__build_class__>", "<built-in method _imp.exec_dynamic>",
                     "<built-in method _imp.create_dynamic>", "<built-in method marshal.loads>"}


def _project_roots() -> list[Path]:
    roots = [ROOT] + ([Path(common.CODE["path"])] if "path" in common.CODE else [])
    return [root / package for root in roots for package in ("pipelines", "assets")]


def _is_project(key: tuple) -> bool:
    file = key[0]
    return file != "~" and any(Path(file).is_relative_to(root) for root in _project_roots())


def _label(file: str, line: int, func: str) -> str:
    if file == "~":
        return func
    path = Path(file)
    for root in _project_roots():
        if path.is_relative_to(root):
            return f"{path.relative_to(root.parent)}:{line}({func})"
    parts = path.parts
    shown = Path(*parts[parts.index("site-packages") + 1:]) if "site-packages" in parts else Path(path.name)
    return f"{shown}:{line}({func})"


# ------------------------------------------------------------------------------------------- scenarios
@contextlib.contextmanager
def world(name: str, pins: int, keep: bool) -> Iterator[dict]:
    """A fresh temporary PINTEREST_ETL_HOME (and working directory), a DAGSTER_HOME in memory (/dev/shm) to
    record the step timings of --from-raw runs, and a running simulator of `pins` pins."""
    with common.world("organic", name, ["--pins", str(pins)], keep) as w:
        yield {**w, "pins": pins}


def run_world(w: dict, limit: float, profile: bool, force_profile: bool, top: int, extra_run: bool,
              only: list[str]) -> dict:
    started = time.perf_counter()
    cli = str(BIN / "pinterest-etl")
    window = ["--start", START.isoformat(), "--end", END.isoformat(), *only]
    result = {"world": w["name"], "pins": w["pins"], "simulator_command": shlex.join(w["sim"].command),
              "simulator_ready_seconds": round(w["sim"].ready_seconds, 3), "skipped": []}
    print(f"  {w['name']}: full run ...", file=sys.stderr, flush=True)
    full = measured_run([cli, "run", *window], w["env"], w["workdir"], "full", w["sim"], w["home"])
    # The plan depends on how many pins are videos (one pin type per bulk call): the run's warehouse knows.
    expected = expected_calls(w["pins"], video_pins(w["home"] / "warehouse.duckdb"))
    result.update(expected_organic_api_calls=expected, expected_organic_api_calls_total=sum(expected.values()))
    calls = full["api_calls"]
    full["organic_api_calls"] = {k: v for k, v in calls.items() if k in expected}
    full["other_api_calls"] = {k: v for k, v in calls.items() if k not in expected}  # the ads assets'
    full["organic_api_calls_match_plan"] = full["organic_api_calls"] == expected
    result["full_run"] = full
    print(f"    {full['wall_seconds']:.1f}s", file=sys.stderr, flush=True)
    if time.perf_counter() - started > limit:
        result["skipped"] += ["from_raw_run", "profile"]
        result["stopped"] = f"the full run alone took longer than {limit:g} s"
        return result
    # The --from-raw run is recorded in a DAGSTER_HOME (in memory) for its step timings; that costs some seconds
    # per run, so on the default world the same run is repeated without one, as the full run was made.
    print(f"  {w['name']}: --from-raw run (recorded in DAGSTER_HOME) ...", file=sys.stderr, flush=True)
    result["from_raw_run"] = measured_run([cli, "run", *window, "--from-raw"], w["env_recorded"], w["workdir"], "from_raw",
                                          w["sim"], w["home"])
    print(f"    {result['from_raw_run']['wall_seconds']:.1f}s", file=sys.stderr, flush=True)
    if extra_run:
        print(f"  {w['name']}: --from-raw run, ephemeral Dagster instance ...", file=sys.stderr, flush=True)
        result["from_raw_run_ephemeral_instance"] = measured_run([cli, "run", *window, "--from-raw"], w["env"],
                                                                 w["workdir"], "from_raw_ephemeral", w["sim"], w["home"])
        print(f"    {result['from_raw_run_ephemeral_instance']['wall_seconds']:.1f}s", file=sys.stderr, flush=True)
    result["world_seconds_before_profile"] = round(time.perf_counter() - started, 1)
    if not profile:
        return result
    if time.perf_counter() - started > limit and not force_profile:
        result["skipped"].append("profile")
        result["stopped"] = (f"{result['world_seconds_before_profile']:g} s for the full and --from-raw runs, more than "
                             f"the {limit:g} s limit: stopped there (--force-profile profiles it anyway)")
        return result
    print(f"  {w['name']}: cProfile of the --from-raw run ...", file=sys.stderr, flush=True)
    result["profile"] = profile_from_raw(w["env"], w["workdir"], top, only)
    return result


# ------------------------------------------------------------------------------------------- report
def _mb(n: int) -> str:
    return f"{n / 1e6:,.1f} MB"


def table(results: list[dict]) -> str:
    rows: list[tuple[str, ...]] = []

    def add(case: str, value) -> None:
        rows.append((case, *(value(r) for r in results)))

    def get(r: dict, run: str, *keys: str, fmt: str = "{}") -> str:
        value = r.get(run, {})
        for key in keys:
            value = value.get(key) if isinstance(value, dict) else None
        return "-" if value is None else fmt.format(value)

    def steps(run: str, names: tuple[str, ...]) -> None:
        for name in [n for n in names if any(n in r.get(run, {}).get("dagster", {}).get("steps_seconds", {}) for r in results)]:
            add(f"  step {name}", lambda r, n=name: get(r, run, "dagster", "steps_seconds", n, fmt="{:.1f} s"))
        add("  outside the Dagster run (start-up, summary)", lambda r: get(r, run, "outside_the_dagster_run_seconds",
                                                                            fmt="{:.1f} s"))

    add("full run: wall time", lambda r: get(r, "full_run", "wall_seconds", fmt="{:.1f} s"))
    add("  peak RSS (GNU time) / sampled tree", lambda r: f"{get(r, 'full_run', 'peak_rss_mb', fmt='{:,.0f}')} / "
        f"{get(r, 'full_run', 'memory_sampling', 'sampled_peak_tree_rss_mb', fmt='{:,.0f}')} MB")
    add("  CPU user + system", lambda r: f"{r['full_run'].get('user_cpu_seconds', 0):.1f} + "
        f"{r['full_run'].get('system_cpu_seconds', 0):.1f} s")
    add("  organic API calls (planned)", lambda r: f"{sum(r['full_run']['organic_api_calls'].values())} "
        f"({r['expected_organic_api_calls_total']})" + ("" if r["full_run"]["organic_api_calls_match_plan"] else " MISMATCH"))
    for endpoint in expected_calls(1, 0):
        add(f"    {endpoint}",
            lambda r, e=endpoint: f"{r['full_run']['organic_api_calls'].get(e, 0)} ({r['expected_organic_api_calls'][e]})")
    add("  other API calls (ads)", lambda r: str(sum(r["full_run"]["other_api_calls"].values())))
    add("  answers other than 200", lambda r: str(sum(n for code, n in r["full_run"]["api_responses"].items() if code != "200")))
    add("metric_daily rows: all (organic)", lambda r: f"{r['full_run']['warehouse_rows']['metric_daily']:,} "
        f"({r['full_run']['warehouse_rows']['metric_daily_organic']:,})")
    add("daily_status rows: all (organic)", lambda r: f"{r['full_run']['warehouse_rows']['daily_status']:,} "
        f"({r['full_run']['warehouse_rows']['daily_status_organic']:,})")
    add("--from-raw run: wall time (recorded run)", lambda r: get(r, "from_raw_run", "wall_seconds", fmt="{:.1f} s"))
    steps("from_raw_run", ORGANIC_STEPS[2:] + ADS_STEPS[2:])
    add("  metric rows/s (all rows / wall time)", lambda r: get(r, "from_raw_run", "metric_rows_per_second_wall", fmt="{:,}"))
    add("  organic rows/s, organic_lake + _warehouse steps",
        lambda r: get(r, "from_raw_run", "organic_metric_rows_per_second_normalize_load", fmt="{:,}"))
    add("  peak RSS (GNU time)", lambda r: get(r, "from_raw_run", "peak_rss_mb", fmt="{:,.0f} MB"))
    add("  API calls", lambda r: get(r, "from_raw_run", "api_calls_total"))
    add("  same without DAGSTER_HOME: wall time (rows/s)",
        lambda r: get(r, "from_raw_run_ephemeral_instance", "wall_seconds", fmt="{:.1f} s")
        + (get(r, "from_raw_run_ephemeral_instance", "metric_rows_per_second_wall", fmt=" ({:,})")
           if "from_raw_run_ephemeral_instance" in r else ""))
    for part in ("warehouse", "lake", "raw"):
        add(f"{part} on disk (after the full run)", lambda r, p=part: _mb(r["full_run"]["storage"][p]["on_disk_bytes"]))
    add("cProfile of --from-raw: wall time", lambda r: f"{r['profile']['wall_seconds_under_profiler']:.1f} s"
        if "profile" in r else ("skipped" if "profile" in r["skipped"] else "-"))
    header = ("case", *(f"{r['world']} ({r['pins']:,} pins)" for r in results))
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(cell.ljust(width) for cell, width in zip(cells, widths)).rstrip()

    return "\n".join([line(header), line(tuple("-" * w for w in widths)), *map(line, rows)])


def profile_table(profile: dict) -> str:
    lines = [f"{'cumulative':>10}  {'self':>7}  {'calls':>9}  function"]
    for e in profile["top_cumulative_hot_spots"]:
        lines.append(f"{e['cumulative_seconds']:>9.3f}s  {e['self_seconds']:>6.3f}s  {e['calls']:>9,}  {e['function']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.organic", description=__doc__.split("\n\n")[0])
    parser.add_argument("--worlds", default=",".join(WORLDS), help=f"comma-separated subset of {','.join(WORLDS)}")
    parser.add_argument("--big-pins", type=int, default=WORLDS["20k"], help="pins of the '20k' world (default: 20000)")
    parser.add_argument("--scenario-limit", type=float, default=240.0,
                        help="seconds a world may take before its next step is skipped (default: 240)")
    parser.add_argument("--force-profile", action="store_true", help="profile the big world even past --scenario-limit")
    parser.add_argument("--assets", choices=("organic", "all"), default="organic",
                        help="organic: `run --only organic` (when the CLI has --only); all: every asset, ads too "
                             "(default: organic)")
    parser.add_argument("--top", type=int, default=12, help="hot spots to report (default: 12)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directories (printed) for inspection")
    parser.add_argument("--rev", help="measure pipelines/ and assets/ as committed in REV (e.g. HEAD), extracted to a "
                                      "temporary directory, instead of the working tree (which may be mid-edit)")
    parser.add_argument("--output", type=Path, default=RESULTS, help=f"JSON file to write (default: {RESULTS.relative_to(ROOT)})")
    args = parser.parse_args(argv)
    chosen = [w.strip() for w in args.worlds.split(",") if w.strip()]
    if unknown := set(chosen) - set(WORLDS):
        parser.error(f"unknown world(s): {', '.join(sorted(unknown))}")
    pins = {**WORLDS, "20k": args.big_pins}

    load_before = warn_if_busy()
    started = time.perf_counter()
    results = []
    with contextlib.ExitStack() as stack:
        code = code_under_test(stack, args.rev, "organic")
        worlds = {}
        only: list[str] = []
        if args.assets == "organic":
            if supports_only(base_env()):
                only = ["--only", "organic"]
            else:
                print("warning: this pinterest-etl has no `run --only`: every asset runs", file=sys.stderr)
        for name in chosen:
            print(f"world {name} ({pins[name]:,} pins) ...", file=sys.stderr, flush=True)
            worlds[name] = stack.enter_context(world(name, pins[name], args.keep))
            results.append(run_world(worlds[name], args.scenario_limit, profile=name == "20k",
                                     force_profile=args.force_profile, top=args.top, extra_run=name == "default",
                                     only=only))
        profiled = next((r for r in results if "profile" in r), None)
        if profiled is None and "default" in worlds:
            # The big world stopped before its profile (or was not run): profile the default world's
            # --from-raw run instead, the same code on fewer rows.
            print("world default: cProfile of the --from-raw run (fallback) ...", file=sys.stderr, flush=True)
            results[chosen.index("default")]["profile"] = profile_from_raw(worlds["default"]["env"],
                                                                           worlds["default"]["workdir"], args.top, only)
            profiled = results[chosen.index("default")]
            profiled["profile"]["fallback"] = ("the 20k world stopped before its profile (see its 'stopped')"
                                               if "20k" in worlds else "the 20k world was not run")

    report = {
        "benchmark": "organic",
        "command": shlex.join(getattr(sys, "orig_argv", [sys.executable, "-m", "bench.organic", *sys.argv[1:]])),
        "cwd": str(Path.cwd()),
        "date_utc": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": {**machine_info(), **versions(), "load_average_before": load_before, "load_average_after": load_average(),
                    "gnu_time": TIME.exists()},
        "code": code,
        "settings": {"seed": SEED, "today": TODAY.isoformat(), "start": START.isoformat(), "end": END.isoformat(),
                     "days": DAYS, "start_date": START_DATE.isoformat(), "boards": BOARDS, "organic_splits": SPLITS,
                     "budget_per_minute_each_category": RAISED_BUDGET,
                     "simulator": "`pinterest-etl sandbox --port 0` subprocess; its universal 100 calls/s limit stays on",
                     "pipeline": "`.venv/bin/pinterest-etl run` subprocess, cwd = the world's temporary directory; "
                                 "full runs without DAGSTER_HOME (ephemeral Dagster instance); --from-raw runs with "
                                 "DAGSTER_HOME = a copy of .dagster/dagster.yaml in /dev/shm (storage created "
                                 "beforehand) for the step timings, and once more without it on the default world",
                     "scenario_limit_seconds": args.scenario_limit, "force_profile": args.force_profile,
                     "assets": args.assets, "run_arguments_added": only},
        "results": results,
        "total_seconds": round(time.perf_counter() - started, 1),
    }
    write_and_introduce(report, args.output, "Organic pipeline benchmark", load_before,
                        f"backfill {START}..{END} ({DAYS} days), today {TODAY}, seed {SEED}, "
                        f"budgets raised to {RAISED_BUDGET:,}/min")
    print(table(results))
    for r in results:
        if r.get("stopped"):
            print(f"\n{r['world']}: stopped - {r['stopped']}; skipped: {', '.join(r['skipped'])}")
    if profiled:
        p = profiled["profile"]
        print(f"\ncProfile of `run --from-raw` on the {profiled['world']} world ({p['profiled_seconds']:.1f} s profiled, "
              f"{p['wall_seconds_under_profiler']:.1f} s wall under the profiler; assets {p['asset_seconds']}, "
              f"everything else {p['outside_the_assets_seconds']:.1f} s), top {args.top} by cumulative time:")
        print(profile_table(p))
    out = args.output.resolve()
    print(f"\nwrote {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out} in {report['total_seconds']}s total")
    return 0 if all(r["full_run"]["organic_api_calls_match_plan"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
