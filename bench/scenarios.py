"""The scenarios of issue 8, each one `pinterest-etl run` in a fresh data directory, as a user runs it.

    .venv/bin/python -m bench.scenarios                  # S, M, Daily and With-latency (make bench)
    .venv/bin/python -m bench.scenarios --large          # and L (make bench-large)
    .venv/bin/python -m bench.scenarios S daily          # the named ones only

Per scenario: a standalone simulator child process with the scenario's world flags, then `.venv/bin/pinterest-etl run`
as a child process under `/usr/bin/time -v` in a fresh PINTEREST_ETL_HOME with no DAGSTER_HOME (Dagster's ephemeral
instance, as the command is documented). Recorded: API calls by endpoint (the simulator's /_sandbox/stats) against the
planners' minimum, and what Airbyte's and MeltanoLabs' rules would call for the same data; wall time split into start-up,
extraction, normalization, loading and Dagster's overhead (from the step timings the run prints); metric rows per second
through normalize + load; the peak RSS of the process tree (sampled from /proc); sizes on disk; the load average during
the run and the machine. Each scenario writes bench/results/<name>.json; bench/report.py turns them into BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import math
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench import ads as ads_plan
from bench.common import (
    BIN,
    CATEGORIES,
    RAISED_BUDGET,
    ROOT,
    TIME,
    SimulatorProcess,
    TreeSampler,
    base_env,
    delta,
    git_state,
    parse_gnu_time,
    pin_analytics_batches,
    size_of,
    versions,
    video_pins,
)
from bench.simulator import load_average, machine_info
from bench.worlds import (
    AIRBYTE_PAGE_SIZE,
    AIRBYTE_SLICE_DAYS,
    BACKFILL,
    BOARDS,
    CONTENT_TYPES,
    DEFAULT_BUDGETS,
    DEFAULT_SCENARIOS,
    LOAD_SAMPLE_SECONDS,
    PAGE_SIZE,
    RESULTS,
    SCENARIOS,
    SPLITS,
    TODAY,
    WINDOW_DAYS,
    Scenario,
)
from pipelines.organic.top_pins import SORT_METRICS as TOP_PINS_RANKINGS


# ------------------------------------------------------------------------------------------- processes
class LoadSampler(threading.Thread):
    """The 1-minute load average every LOAD_SAMPLE_SECONDS while a run lasts."""

    def __init__(self):
        super().__init__(daemon=True)
        self.stop_event, self.samples = threading.Event(), []

    def run(self) -> None:
        while True:
            self.samples.append(os.getloadavg()[0])
            if self.stop_event.wait(LOAD_SAMPLE_SECONDS):
                return

    def result(self) -> dict:
        s = self.samples or [float("nan")]
        return {"min": round(min(s), 2), "mean": round(sum(s) / len(s), 2), "max": round(max(s), 2), "samples": len(s)}


def pipeline_env(home: Path, sim: SimulatorProcess, today: dt.date, default_budgets: bool) -> dict[str, str]:
    env = {**base_env(), "PINTEREST_ETL_HOME": str(home), "PINTEREST_API_BASE_URL": sim.base_url,
           "PINTEREST_ACCESS_TOKEN": "pina_SANDBOX", "PINTEREST_REFRESH_TOKEN": "pinr_SANDBOX",
           "PINTEREST_ETL_TODAY": today.isoformat(), "PINTEREST_START_DATE": BACKFILL[0].isoformat()}
    if not default_budgets:
        env["PINTEREST_RATE_BUDGETS"] = ",".join(f"{c}={RAISED_BUDGET}" for c in CATEGORIES)
    return env


def measured_run(command: list[str], env: dict[str, str], workdir: Path, sim: SimulatorProcess) -> dict:
    """One `pinterest-etl run` child: wall time, when each stdout line arrived, GNU time, the RSS of its process tree,
    the load average while it ran, and the API calls it made (with when each endpoint was first and last seen)."""
    time_file = workdir / "run.time"
    wrapped = [str(TIME), "-v", "-o", str(time_file), *command] if TIME.exists() else command
    before = sim.stats()
    lines: list[tuple[float, str]] = []
    load = LoadSampler()
    load_before = load_average()
    t0 = time.perf_counter()
    with (workdir / "run.stderr").open("w") as err:
        proc = subprocess.Popen(wrapped, cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=err, text=True)
        memory, timeline = TreeSampler(proc.pid), ads_plan.CallTimeline(sim, t0)
        for thread in (memory, load, timeline):
            thread.start()
        for line in proc.stdout:
            lines.append((time.perf_counter() - t0, line.rstrip("\n")))
        code = proc.wait()
        wall = time.perf_counter() - t0
        for thread in (memory, load, timeline):
            thread.stop_event.set()
            thread.join()
    timeline.poll()
    (workdir / "run.stdout").write_text("\n".join(text for _, text in lines) + "\n")
    if code != 0:
        tail = "\n".join((workdir / "run.stderr").read_text().splitlines()[-20:])
        raise RuntimeError(f"`{shlex.join(command)}` exited with {code}:\n{tail}")
    after = sim.stats()
    result = {"command": shlex.join(command), "wall_seconds": round(wall, 3), "load_average_before": load_before,
              "load_average_during": load.result(), "load_average_after": load_average(),
              "memory_sampling": memory.result(), "stdout_line_seconds": _line_times(lines),
              "api_calls": delta(after["requests"], before["requests"]),
              "api_responses": delta(after["responses"], before["responses"]),
              "call_timeline": {e: [timeline.first[e], timeline.last[e]] for e in sorted(timeline.first)}}
    if TIME.exists():
        result["gnu_time"] = parse_gnu_time(time_file.read_text())
    sampled = result["memory_sampling"]
    result["peak_rss_tree_mb"] = max(sampled["sampled_peak_tree_rss_mb"], sampled["max_vmhwm_mb"])
    result["summary_lines"] = [text for _, text in lines if text.startswith("  ") and ":" in text][:60]
    return result


def _line_times(lines: list[tuple[float, str]]) -> dict[str, float]:
    """When the lines that delimit the phases arrived: the run starting, the run's timing line, the end of output."""
    out = {}
    for t, text in lines:
        if text.startswith("Running ") and "started" not in out:
            out["started"] = round(t, 3)
        if text.startswith("  run: "):
            out["run_finished"] = round(t, 3)
    if lines:
        out["last_line"] = round(lines[-1][0], 3)
    return out


# ------------------------------------------------------------------------------------------- what it did
STEP_LINE = re.compile(r"^  run: ([\d.]+) s; steps: (.*)$")
PHASES = {"extraction": ("organic_dimensions", "ads_dimensions", "organic_raw", "ads_raw"),
          "normalization": ("organic_lake", "ads_lake"), "loading": ("organic_warehouse", "ads_warehouse")}


def timing(run: dict) -> dict:
    """Wall time split into phases. Dagster start-up: spawn to the 'Running' line (interpreter, imports, settings,
    the code location), plus Dagster's time outside the steps until the run's timing line (building and launching the
    run, its events); extraction, normalization and loading: the step timings the run prints; summary: from the
    timing line to the exit (row counts, the example query)."""
    steps, run_seconds = {}, None
    for line in run["summary_lines"]:
        if found := STEP_LINE.match(line):
            run_seconds = float(found.group(1))
            for part in found.group(2).split(", "):
                name, seconds, _ = part.rsplit(" ", 2)
                steps[name] = float(seconds)
    times = run["stdout_line_seconds"]
    if run_seconds is None or "started" not in times:
        return {"error": "the run printed no step timings (a pinterest-etl without them?)"}
    out = {"steps_seconds": steps, "run_seconds": run_seconds, "startup_seconds": times["started"]}
    for phase, names in PHASES.items():
        out[f"{phase}_seconds"] = round(sum(steps.get(n, 0.0) for n in names), 3)
    other = {n: v for n, v in steps.items() if not any(n in names for names in PHASES.values())}
    out["other_steps_seconds"] = round(sum(other.values()), 3)
    out["other_steps"] = sorted(other)
    # From the 'Running' line to the timing line, what was not a step: building and launching the run, its events.
    out["dagster_outside_steps_seconds"] = round(times["run_finished"] - times["started"] - sum(steps.values()), 3)
    out["dagster_startup_seconds"] = round(out["startup_seconds"] + out["dagster_outside_steps_seconds"], 3)
    out["summary_seconds"] = round(run["wall_seconds"] - times["run_finished"], 3)
    out["peak_rss_during"] = _step_at(run["memory_sampling"].get("peak_at_seconds"), steps, times["run_finished"])
    peaks: dict[str, float] = {}
    for moment, mb in run["memory_sampling"].get("series_seconds_mb", []):
        step = _step_at(moment, steps, times["run_finished"])
        peaks[step] = max(peaks.get(step, 0), mb)
    out["peak_rss_mb_by_step"] = peaks
    return out


def _step_at(moment: float | None, steps: dict[str, float], run_finished: float) -> str | None:
    """The step running at `moment` (seconds after spawn), reconstructed backwards from the run's end: steps run
    one after another (Dagster's in-process executor), with gaps of well under a second between them."""
    if moment is None:
        return None
    if moment > run_finished:
        return "summary"
    end = run_finished
    for name, seconds in reversed(list(steps.items())):
        if end - seconds <= moment:
            return name
        end -= seconds
    return "start-up"


def summary_values(run: dict, key: str) -> dict[str, int]:
    """`key=N` of each asset's summary line, e.g. metric_rows of organic_lake and ads_lake."""
    out = {}
    for line in run["summary_lines"]:
        name, _, rest = line.strip().partition(": ")
        if found := re.search(rf"(?:^|, ){re.escape(key)}=(\d+)", rest):
            out[name] = int(found.group(1))
    return out


def warehouse_rows(path: Path, start: dt.date, end: dt.date) -> dict:
    import duckdb

    with duckdb.connect(str(path), read_only=True) as con:
        tables = [n for (n,) in con.execute("SELECT table_name FROM duckdb_tables() ORDER BY 1").fetchall()]
        rows = {n: con.execute(f"SELECT count(*) FROM {n}").fetchall()[0][0] for n in tables}
        in_range = {n: dict(con.execute(f"SELECT entity_type, count(*) FROM {n} WHERE date BETWEEN ? AND ? GROUP BY 1 "
                                        "ORDER BY 1", [start, end]).fetchall()) for n in ("metric_daily", "daily_status")}
    return {"tables": rows, "in_range_by_entity_type": in_range}


# ------------------------------------------------------------------------------------------- call plans
def organic_minimum(pins: int, videos: int, days: int) -> dict[str, int]:
    """The organic planner: ceil(days/90) x (content types x (1 + splits) + ceil(standard pins/100) + ceil(video
    pins/100)) analytics calls (one pin type per bulk call), plus the dimension pages and one top-pins ranking per
    sort metric."""
    windows = math.ceil(days / WINDOW_DAYS)
    return {"user_account/get": 1, "boards/list": max(1, math.ceil(BOARDS / PAGE_SIZE)),
            "pins/list": max(1, math.ceil(pins / PAGE_SIZE)), "user_account/analytics": windows * CONTENT_TYPES * (1 + SPLITS),
            "multi_pins/analytics": windows * pin_analytics_batches(pins, videos),
            "user_account/analytics/top_pins": len(TOP_PINS_RANKINGS)}


def organic_airbyte(pins: int, days: int) -> dict[str, int]:
    """One request per entity per 30-day slice per stream (the account once per split view), lists 25 a page."""
    slices = math.ceil(days / AIRBYTE_SLICE_DAYS)
    return {"user_account/get": 1, "boards/list": max(1, math.ceil(BOARDS / AIRBYTE_PAGE_SIZE)),
            "pins/list": max(1, math.ceil(pins / AIRBYTE_PAGE_SIZE)), "user_account/analytics": slices * (1 + SPLITS),
            "pins/analytics": slices * pins}


def organic_meltano(pins: int, days: int) -> dict[str, int]:
    """MeltanoLabs' tap: one pin analytics call per pin (per 90-day window), the account as ours, lists as ours."""
    windows = math.ceil(days / WINDOW_DAYS)
    return {**{k: v for k, v in organic_minimum(pins, 0, days).items()
               if k not in ("multi_pins/analytics", "user_account/analytics/top_pins")},
            "pins/analytics": windows * pins}


def call_plans(scenario: Scenario, home: Path) -> dict:
    start, end, today = scenario.measured_range()
    days = (end - start).days + 1
    facts = ads_plan.warehouse_facts(home / "warehouse.duckdb", start, end, today)
    ads = ads_plan.planned_calls(facts)
    airbyte_ads = ads_plan.airbyte_calls(facts, days)["all_statuses"]
    minimum = {**organic_minimum(scenario.pins, video_pins(home / "warehouse.duckdb"), days), **ads["by_endpoint"]}
    airbyte = {**organic_airbyte(scenario.pins, days), **airbyte_ads["analytics_by_endpoint"],
               **airbyte_ads["lists_by_endpoint"]}
    meltano = organic_meltano(scenario.pins, days)
    return {"minimum": minimum, "minimum_total": sum(minimum.values()),
            "ads_ready_state_dates": ads["ready_state_dates"], "ads_windows": ads["windows"],
            "ads_per_account": ads["per_account"],
            "airbyte": airbyte, "airbyte_total": sum(airbyte.values()),
            "meltano_organic": meltano, "meltano_organic_total": sum(meltano.values()),
            "rules": {"minimum": "organic: ceil(days/90) x (1 + splits + ceil(standard pins/100) + ceil(video pins/100)) + dimension "
                                 "pages (250 a page) + one top-pins ranking per sort metric (3); "
                                 "ads: per ad account per window 1 + ceil(campaigns/250) + ceil(active ad groups/250) + "
                                 "ceil(active ads/250) (active: of a campaign with rows in the window), list pages of 250, "
                                 "and one metrics_ready_state call when a requested date is past the 30-day attribution "
                                 "window (none otherwise)",
                      "airbyte": "one request per entity per 30-day slice per stream (the user account once per split "
                                 "view, every pin, every ad account, campaign, ad group and ad of every status); lists "
                                 "25 a page",
                      "meltano": "organic only: one pins/analytics call per pin per 90-day window; the user account and "
                                 "lists as this pipeline"}}


# Calls another step makes once per run, after the lake steps (top_pins_api: 3 rankings): in a category's span they
# would measure the time between steps, not how the extraction paces its calls.
NOT_PACED = frozenset({"user_account/analytics/top_pins"})


def rates_by_category(run: dict, budgets: dict[str, int]) -> dict:
    """Achieved calls per minute per rate category, between the first and last call seen in it (0.25 s polls), of
    the endpoints the extraction paces (not NOT_PACED)."""
    from pipelines.pinterest.endpoints import ENDPOINTS

    out = {}
    for category, budget in budgets.items():
        endpoints = [e for e in run["api_calls"] if e in ENDPOINTS and ENDPOINTS[e].category == category
                     and e not in NOT_PACED]
        calls = sum(run["api_calls"][e] for e in endpoints)
        seen = [run["call_timeline"][e] for e in endpoints if e in run["call_timeline"]]
        if calls < 2 or not seen:
            continue
        span = max(s[1] for s in seen) - min(s[0] for s in seen)
        per_minute = (calls - 1) / span * 60 if span > 0 else None
        out[category] = {"calls": calls, "span_seconds": round(span, 2), "budget_per_minute": budget,
                         "calls_per_minute": round(per_minute, 1) if per_minute else None,
                         "percent_of_budget": round(100 * per_minute / budget, 1) if per_minute else None}
    return out


# ------------------------------------------------------------------------------------------- a scenario
def prepare_daily_base(scenario: Scenario, workdir: Path, home: Path) -> dict:
    """The M backfill a daily run builds on (not measured): its own simulator at TODAY, then stopped."""
    sim = SimulatorProcess(scenario.sim_args(TODAY), workdir / "base-simulator.log")
    try:
        env = pipeline_env(home, sim, TODAY, scenario.default_budgets)
        command = [str(BIN / "pinterest-etl"), "run", "--start", BACKFILL[0].isoformat(), "--end", BACKFILL[1].isoformat()]
        t0 = time.perf_counter()
        done = subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"the base backfill `{shlex.join(command)}` failed:\n{done.stderr[-3000:]}")
        return {"command": shlex.join(command), "simulator": shlex.join(sim.command),
                "wall_seconds": round(time.perf_counter() - t0, 1)}
    finally:
        sim.stop()


def run_scenario(scenario: Scenario, keep: bool, base_home: Path | None = None) -> tuple[dict, Path]:
    """Run one scenario in a fresh temporary directory; its record and the directory (removed unless `keep`)."""
    workdir = Path(tempfile.mkdtemp(prefix=f"bench-{scenario.name}-"))
    home = workdir / "home"
    start, end, today = scenario.measured_range()
    record: dict = {"scenario": scenario.name, "title": scenario.title, "pins": scenario.pins,
                    "ads_world": dict(zip(("ad_accounts", "campaigns", "ad_groups", "ads"), scenario.ads)),
                    "latency_ms": scenario.latency_ms, "default_budgets": scenario.default_budgets,
                    "range": [start.isoformat(), end.isoformat()], "days": (end - start).days + 1, "today": today.isoformat()}
    if scenario.daily_on_top:
        if base_home is not None:
            shutil.copytree(base_home, home)
            record["base"] = {"reused": "the M scenario's data directory, copied"}
        else:
            print(f"  {scenario.name}: the M backfill it builds on (not measured) ...", file=sys.stderr, flush=True)
            record["base"] = prepare_daily_base(scenario, workdir, home)
    sim = SimulatorProcess(scenario.sim_args(today), workdir / "simulator.log")
    try:
        record["simulator_command"] = shlex.join(sim.command)
        env = pipeline_env(home, sim, today, scenario.default_budgets)
        command = [str(BIN / "pinterest-etl"), "run", "--start", start.isoformat(), "--end", end.isoformat()]
        print(f"  {scenario.name}: {shlex.join(command[1:])} ...", file=sys.stderr, flush=True)
        run = measured_run(command, env, workdir, sim)
    finally:
        sim.stop()
    record["run"] = run
    record["environment"] = {k: v for k, v in env.items() if k.startswith("PINTEREST_") and "TOKEN" not in k}
    record["timing"] = timing(run)
    record["plans"] = plans = call_plans(scenario, home)
    measured = run["api_calls"]
    record["calls"] = {"measured_total": sum(measured.values()), "minimum_total": plans["minimum_total"],
                       "equal_to_minimum": measured == plans["minimum"],
                       "over_minimum": {e: measured.get(e, 0) - plans["minimum"].get(e, 0)
                                        for e in sorted(set(measured) | set(plans["minimum"]))
                                        if measured.get(e, 0) != plans["minimum"].get(e, 0)},
                       "answers_not_200": sum(n for code, n in run["api_responses"].items() if code != "200"),
                       "client_retries": sum(summary_values(run, "api_retries").values()),
                       "client_429s": sum(summary_values(run, "api_429s").values())}
    lake_rows = summary_values(run, "metric_rows")
    record["rows"] = {"metric_rows_normalized": sum(lake_rows.values()), "by_lake_step": lake_rows,
                      **warehouse_rows(home / "warehouse.duckdb", start, end)}
    t = record["timing"]
    if "normalization_seconds" in t and t["normalization_seconds"] + t["loading_seconds"] > 0:
        span = t["normalization_seconds"] + t["loading_seconds"]
        record["rows"]["metric_rows_per_second_normalize_load"] = round(record["rows"]["metric_rows_normalized"] / span)
    from bench.queries import measure

    record["queries"] = measure(home / "warehouse.duckdb")
    record["storage"] = {"warehouse": size_of(home / "warehouse.duckdb", home / "warehouse.duckdb.wal"),
                         "lake": size_of(home / "lake"), "raw": size_of(home / "raw")}
    if scenario.default_budgets:
        budgets = dict(DEFAULT_BUDGETS)
        record["rates"] = rates_by_category(run, budgets)
    if keep:
        print(f"  kept {workdir}", file=sys.stderr)
    return record, workdir


def write_record(record: dict, machine: dict, code: dict, argv: list[str]) -> Path:
    import json

    record = {**record, "date_utc": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "machine": machine,
              "code": code, "benchmark_command": shlex.join(["python", "-m", "bench.scenarios", *argv])}
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{record['scenario']}.json"
    path.write_text(json.dumps(record, indent=2) + "\n")
    return path


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="python -m bench.scenarios", description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help=f"scenarios to run (default: {' '.join(DEFAULT_SCENARIOS)}; "
                                                 f"known: {' '.join(SCENARIOS)})")
    parser.add_argument("--large", action="store_true", help="add L (100,000 pins, 5x200x5x5 ads) to the default set")
    parser.add_argument("--keep", action="store_true", help="keep each scenario's temporary directory (printed)")
    parser.add_argument("--no-report", action="store_true", help="do not rewrite BENCHMARKS.md afterwards")
    args = parser.parse_args(argv)
    by_lower = {k.lower(): k for k in SCENARIOS}
    if unknown := [n for n in args.names if n.lower() not in by_lower]:
        parser.error(f"unknown scenario(s) {', '.join(unknown)}; known: {', '.join(SCENARIOS)}")
    names = [by_lower[n.lower()] for n in args.names] or [*DEFAULT_SCENARIOS, *(["L"] if args.large else [])]
    load = load_average()
    if load and load[0] > 0.5:
        print(f"warning: load average {load[0]} before the benchmark: other work skews the timings", file=sys.stderr)
    code = {"source": "working tree", **git_state()}
    _byte_compile_project()
    status, m_home = 0, None
    with contextlib.ExitStack() as cleanup:
        for name in names:
            scenario = SCENARIOS[name]
            print(f"== {scenario.title}", file=sys.stderr, flush=True)
            record, workdir = run_scenario(scenario, args.keep, m_home if scenario.daily_on_top else None)
            keep_for_daily = name == "M" and "daily" in names
            if keep_for_daily:
                m_home = workdir / "home"  # Daily builds on it
                if not args.keep:
                    cleanup.callback(shutil.rmtree, workdir, ignore_errors=True)
            machine = {**machine_info(), **versions(), "gnu_time": TIME.exists(),
                       "memory_total_mb": _memory_total_mb()}
            path = write_record(record, machine, code, argv)
            print(f"   {record['run']['wall_seconds']:.1f} s, calls {record['calls']['measured_total']} "
                  f"(minimum {record['calls']['minimum_total']}), peak RSS {record['run']['peak_rss_tree_mb']:.0f} MB "
                  f"-> {path.relative_to(ROOT)}", file=sys.stderr, flush=True)
            if not record["calls"]["equal_to_minimum"]:
                status = 1
            if not args.keep and not keep_for_daily:
                shutil.rmtree(workdir, ignore_errors=True)
    if not args.no_report:
        from bench import report

        print(f"wrote {report.write().relative_to(ROOT)}", file=sys.stderr)
    return status


def _byte_compile_project() -> None:
    """Byte-compile the project's modules before measuring, as Python does on a user's first run: an environment
    with PYTHONDONTWRITEBYTECODE set (this machine's) would otherwise recompile every module of the project at each
    start of the command, about 0.5 s that no user's daily run pays. (Installed packages are compiled by pip.)"""
    import compileall

    for package in ("pipelines", "assets"):
        compileall.compile_dir(ROOT / package, quiet=1)


def _memory_total_mb() -> int | None:
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    return None


if __name__ == "__main__":
    sys.exit(main())
