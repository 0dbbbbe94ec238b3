"""Benchmark of the ads pipeline end to end: an 89-day backfill with `pinterest-etl run --only ads`, as a user runs it.

Run from the repository root:

    .venv/bin/python -m bench.ads                   # the default world only (2 x 6 x 2 x 3), about 30 s
    .venv/bin/python -m bench.ads --large           # and the 5 x 200 x 5 x 5 world (1,000 campaigns, 25,000 ads)
    .venv/bin/python -m bench.ads --large --rev HEAD   # the committed pipelines/ and assets/, not the working tree

`python -m bench ads` runs the default world only; the large world is opt-in (--large). It prints a table
and writes bench/results/ads.json (numbers, machine, date, code measured and the exact commands). bench/README.md
explains every number. For each world, in a fresh temporary PINTEREST_ETL_HOME and against a standalone simulator
subprocess (`pinterest-etl sandbox --port 0 --today 2026-11-28 --ad-accounts A --campaigns C --ad-groups G --ads N`,
every per-minute budget raised, as are the client's):

1. `pinterest-etl run --only ads --start 2026-08-31 --end 2026-11-27` (PINTEREST_ETL_TODAY=2026-11-28,
   PINTEREST_START_DATE=2026-08-31): wall time, peak RSS (GNU time), CPU time, the API calls by endpoint (the change in
   the simulator's /_sandbox/stats, which is also polled every 0.25 s to time the extraction), rows in the warehouse,
   the size of raw/, lake/ and the warehouse;
2. the calls compared with the planner's formula, computed from the warehouse after the run (which campaigns had rows
   in the window, and so which ad groups and ads had to be asked for), and with what Airbyte's source-pinterest would
   make for the same data by its own rules (computed, not measured);
3. the same range again with `--from-raw` (normalize + load only, zero API calls), recorded in a DAGSTER_HOME in
   /dev/shm for the duration of each step.

A world that runs longer than --scenario-limit (default 300 s) is stopped (its process group is killed) and recorded
as stopped. Only the standard library and duckdb (to count rows, read-only) are used, plus bench/common.py.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import math
import shlex
import sys
import threading
import time
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
    Stopped,
    base_env,
    code_under_test,
    dagster_steps,
    lake_metric_rows,
    storage,
    supports_only,
    versions,
    warn_if_busy,
    write_and_introduce,
)
from bench.simulator import load_average, machine_info
from pipelines.ads import levels as ads_levels

RESULTS = ROOT / "bench" / "results" / "ads.json"
# Ad accounts, campaigns per ad account, ad groups per campaign, ads per ad group.
WORLDS = {"default": {"ad_accounts": 2, "campaigns": 6, "ad_groups": 2, "ads": 3},
          "large": {"ad_accounts": 5, "campaigns": 200, "ad_groups": 5, "ads": 5}}
ADS_STEPS = ("ads_dimensions", "ads_raw", "ads_lake", "ads_warehouse")
LEVELS = ads_levels.NAMES
ANALYTICS = {level.name: level.analytics_endpoint for level in ads_levels.LEVELS}
LISTS = {level.name: level.list_endpoint for level in ads_levels.LEVELS}
UNDER_ACCOUNT = tuple(level.name for level in ads_levels.UNDER_ACCOUNT)  # listed and fetched per ad account
READY = "metrics_ready_state/get"
IDS_PER_CALL = 250  # the pipeline: MAX_AD_ENTITY_IDS ids per analytics call, and PAGE_SIZE items per list page
WINDOW_DAYS = 90  # a sync analytics call covers at most 90 dates, none older than 90 days
SETTLE_DAYS = 30  # default attribution (30-day click and engagement windows): days before a date is final
POLL_SECONDS = 0.25  # how often /_sandbox/stats is read during the full run
# Airbyte's source-pinterest (manifest.yaml, base_analytics_stream and the four ad analytics streams), see the README.
AIRBYTE_SLICE_DAYS = 30  # DatetimeBasedCursor step P30D, cursor_granularity P1D: 30 dates per request
AIRBYTE_PAGE_SIZE = 25  # its list requests send no page_size: the API's default page of 25


# --------------------------------------------------------------------------------------------- plans
def windows(start: dt.date = START, end: dt.date = END, today: dt.date = TODAY) -> list[tuple[dt.date, dt.date]]:
    """The sync windows the planner makes for the range: at most 90 dates each, none older than today - 90 days."""
    cursor, out = max(start, today - dt.timedelta(days=WINDOW_DAYS)), []
    while cursor <= min(end, today):
        last = min(cursor + dt.timedelta(days=WINDOW_DAYS - 1), end)
        out.append((cursor, last))
        cursor = last + dt.timedelta(days=1)
    return out


def ready_state_calls(spans: list[tuple[dt.date, dt.date]], today: dt.date = TODAY) -> tuple[int, int]:
    """(requested dates past the attribution window, the metrics_ready_state calls they take without faults): the
    pipeline asks about the newest of them first, and the answer that it is ready covers every older one, so one
    call when there is any, none otherwise (a binary search only when the newest is not ready yet)."""
    past = {start + dt.timedelta(days=i) for start, end in spans for i in range((end - start).days + 1)
            if (today - (start + dt.timedelta(days=i))).days >= SETTLE_DAYS}
    return len(past), 1 if past else 0


def pages(n: int, size: int = IDS_PER_CALL) -> int:
    """List pages for n items: at least one (an empty list is still one call)."""
    return max(1, math.ceil(n / size))


def batches(n: int) -> int:
    """Analytics calls for n ids: none for no ids."""
    return math.ceil(n / IDS_PER_CALL)


WAREHOUSE_SQL = {
    "entities": "SELECT ad_account_id, status, count(*) FROM {table} GROUP BY ALL",
    # A level's entities per ad account that belong to a campaign with a row in the window (a campaign: itself).
    "active": "SELECT ad_account_id, count(*) FROM {table} WHERE campaign_id IN (SELECT entity_id FROM "
              "daily_status WHERE entity_type = 'campaign' AND date BETWEEN ? AND ?) GROUP BY ALL",
}
TABLES = {level: ads_levels.BY_NAME[level].dimension for level in UNDER_ACCOUNT}


def warehouse_facts(path: Path, start: dt.date = START, end: dt.date = END, today: dt.date = TODAY) -> dict:
    """What the plans need, from the warehouse (read-only): entities per ad account and status, the campaigns with
    rows in each window of the range and their ad groups and ads, and the rows of every table."""
    import duckdb

    spans = windows(start, end, today)
    with duckdb.connect(str(path), read_only=True) as con:
        tables = [name for (name,) in con.execute("SELECT table_name FROM duckdb_tables() ORDER BY table_name").fetchall()]
        rows = {name: con.execute(f"SELECT count(*) FROM {name}").fetchall()[0][0] for name in tables}
        by_type = {}
        for name in ("metric_daily", "daily_status"):
            by_type[name] = dict(con.execute(f"SELECT entity_type, count(*) FROM {name} GROUP BY ALL ORDER BY 1").fetchall())
        accounts = sorted(a for (a,) in con.execute("SELECT ad_account_id FROM ad_accounts").fetchall())
        entities: dict[str, dict[str, dict[str, int]]] = {}  # level -> account -> status -> n
        for level, table in TABLES.items():
            entities[level] = {}
            for account, status, n in con.execute(WAREHOUSE_SQL["entities"].format(table=table)).fetchall():
                entities[level].setdefault(account, {})[status] = n
        active = []  # per window: level -> account -> n
        for start, end in spans:
            per_level = {}
            for level, table in TABLES.items():
                per_level[level] = dict(con.execute(WAREHOUSE_SQL["active"].format(table=table), [start, end]).fetchall())
            active.append(per_level)
    return {"accounts": accounts, "entities": entities, "active": active, "rows": rows, "rows_by_entity_type": by_type,
            "spans": spans, "today": today}


def planned_calls(facts: dict) -> dict:
    """The planner's formula on the data: per ad account and window, 1 + ceil(campaigns/250) + ceil(active ad
    groups/250) + ceil(active ads/250); the dimensions, one call per page of 250; metrics_ready_state, one call
    when a requested date is past the attribution window (ready_state_calls)."""
    spans = facts.get("spans") or windows()
    accounts, entities = facts["accounts"], facts["entities"]

    def total(level: str, account: str) -> int:
        return sum(entities[level].get(account, {}).values())

    plan = {LISTS["ad_account"]: pages(len(accounts))}
    for level in UNDER_ACCOUNT:
        plan[LISTS[level]] = sum(pages(total(level, a)) for a in accounts)
    plan[ANALYTICS["ad_account"]] = len(accounts) * len(spans)
    plan[ANALYTICS["campaign"]] = sum(batches(total("campaign", a)) for a in accounts) * len(spans)
    for level in ("ad_group", "ad"):
        plan[ANALYTICS[level]] = sum(batches(window[level].get(a, 0)) for window in facts["active"] for a in accounts)
    recent, plan[READY] = ready_state_calls(spans, facts.get("today", TODAY))
    return {"by_endpoint": plan, "total": sum(plan.values()),
            "analytics": sum(plan[ANALYTICS[level]] for level in LEVELS),
            "dimensions": sum(plan[LISTS[level]] for level in LEVELS), "ready_state": plan[READY],
            "ready_state_dates": recent, "windows": [f"{a}..{b}" for a, b in spans],
            "per_account": {a: {**{TABLES[level]: total(level, a) for level in UNDER_ACCOUNT},
                                **{f"active_{TABLES[level]}": [w[level].get(a, 0) for w in facts["active"]]
                                   for level in UNDER_ACCOUNT}} for a in accounts}}


def airbyte_calls(facts: dict, days: int = DAYS) -> dict:
    """What Airbyte's source-pinterest would make for the same data, computed from its rules (not measured): each of
    its four ad analytics streams makes one request per entity (one id per request) per 30-day slice; the entities'
    list streams page 25 items at a time. 'all statuses' counts every entity (its `status` option set to ACTIVE,
    PAUSED and ARCHIVED, which the same data needs); 'default statuses' counts what the API lists without
    entity_statuses (ACTIVE and PAUSED): archived campaigns, ad groups and ads, and their history, are then missing."""
    slices = math.ceil(days / AIRBYTE_SLICE_DAYS)
    accounts, entities = facts["accounts"], facts["entities"]
    out = {"slices": slices, "slice_days": AIRBYTE_SLICE_DAYS, "list_page_size": AIRBYTE_PAGE_SIZE}
    for label, statuses in (("all_statuses", None), ("default_statuses", {"ACTIVE", "PAUSED"})):
        def count(level: str, account: str, statuses=statuses) -> int:
            return sum(n for status, n in entities[level].get(account, {}).items() if statuses is None or status in statuses)

        analytics = {ANALYTICS["ad_account"]: len(accounts) * slices}
        for level in UNDER_ACCOUNT:
            analytics[ANALYTICS[level]] = sum(count(level, a) for a in accounts) * slices
        lists = {LISTS["ad_account"]: pages(len(accounts), AIRBYTE_PAGE_SIZE)}
        for level in UNDER_ACCOUNT:
            lists[LISTS[level]] = sum(pages(count(level, a), AIRBYTE_PAGE_SIZE) for a in accounts)
        out[label] = {"analytics_by_endpoint": analytics, "analytics": sum(analytics.values()), "lists_by_endpoint": lists,
                      "lists": sum(lists.values()), "total": sum(analytics.values()) + sum(lists.values()),
                      "entities": {level: sum(count(level, a) for a in accounts) for level in UNDER_ACCOUNT}}
    return out


# ------------------------------------------------------------------------------------------ call timeline
class CallTimeline(threading.Thread):
    """Reads the simulator's /_sandbox/stats every POLL_SECONDS while the run lasts (control calls are not counted
    as API calls), to time the extraction: when each endpoint was first and last called, relative to the start of
    the child process. The resolution is POLL_SECONDS."""

    def __init__(self, sim: Simulator, t0: float):
        super().__init__(daemon=True)
        self.sim, self.t0, self.stop_event = sim, t0, threading.Event()
        self.before = sim.stats()["requests"]
        self.first: dict[str, float] = {}
        self.last: dict[str, float] = {}
        self.seen: dict[str, int] = {}
        self.polls = 0

    def poll(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            now = common.delta(self.sim.stats()["requests"], self.before)
            t = round(time.perf_counter() - self.t0, 2)
            self.polls += 1
            for endpoint, n in now.items():
                if n != self.seen.get(endpoint, 0):
                    self.first.setdefault(endpoint, t)
                    self.last[endpoint] = t
                    self.seen[endpoint] = n

    def run(self) -> None:
        while not self.stop_event.wait(POLL_SECONDS):
            self.poll()

    @contextlib.contextmanager
    def running(self):
        self.start()
        try:
            yield self
        finally:
            self.stop_event.set()
            self.join()
            self.poll()

    def result(self, wall: float | None) -> dict:
        out: dict = {"poll_seconds": POLL_SECONDS, "polls": self.polls,
                     "endpoints": {e: {"first_seen_s": self.first[e], "last_seen_s": self.last[e]} for e in sorted(self.first)}}
        lists = [e for e in self.first if e in LISTS.values()]
        analytics = [e for e in self.first if e in ANALYTICS.values() or e == READY]
        if self.first:
            out["first_call_seen_s"] = min(self.first.values())
            out["last_call_seen_s"] = max(self.last.values())
        if lists:
            out["dimensions_s"] = [min(self.first[e] for e in lists), max(self.last[e] for e in lists)]
        if analytics:
            out["analytics_s"] = [min(self.first[e] for e in analytics), max(self.last[e] for e in analytics)]
        if self.first and wall is not None:
            out["after_last_call_s"] = round(wall - out["last_call_seen_s"], 2)
        return out


# ------------------------------------------------------------------------------------------- one world
def sim_args(world: dict) -> list[str]:
    return ["--ad-accounts", str(world["ad_accounts"]), "--campaigns", str(world["campaigns"]),
            "--ad-groups", str(world["ad_groups"]), "--ads", str(world["ads"])]


def full_run(w: dict, only: list[str], timeout: float | None) -> dict:
    cli = str(BIN / "pinterest-etl")
    command = [cli, "run", *only, "--start", START.isoformat(), "--end", END.isoformat()]
    holder: dict = {}

    @contextlib.contextmanager
    def timeline(t0: float):
        holder["timeline"] = CallTimeline(w["sim"], t0)
        with holder["timeline"].running():
            yield

    try:
        result, stdout = common.run_pipeline(command, w["env"], w["workdir"], "full", w["sim"], during=timeline,
                                             timeout=timeout)
    except Stopped as stopped:
        stopped.result["timeline"] = holder["timeline"].result(None)
        stopped.result["storage_at_stop"] = storage(w["home"])
        raise
    result["timeline"] = holder["timeline"].result(result["wall_seconds"])
    result["lake_metric_rows"] = lake_metric_rows(stdout, "ads_lake")
    result["storage"] = storage(w["home"])
    return result


def run_world(w: dict, spec: dict, limit: float, only: list[str]) -> dict:
    started = time.perf_counter()
    sim: Simulator = w["sim"]
    result = {"world": w["name"], **spec, "simulator_command": shlex.join(sim.command), "simulator_world": sim.banner[-1],
              "simulator_ready_seconds": round(sim.ready_seconds, 3), "skipped": []}
    print(f"  {w['name']}: full run ...", file=sys.stderr, flush=True)
    try:
        full = full_run(w, only, timeout=limit)
    except Stopped as stopped:
        result["full_run"] = stopped.result
        result["stopped"] = str(stopped)
        result["skipped"] += ["plans", "from_raw_run"]
        print(f"    stopped: {stopped}", file=sys.stderr, flush=True)
        return result
    print(f"    {full['wall_seconds']:.1f}s", file=sys.stderr, flush=True)
    facts = warehouse_facts(w["home"] / "warehouse.duckdb")
    full["warehouse_rows"] = facts["rows"]
    full["warehouse_rows_by_entity_type"] = facts["rows_by_entity_type"]
    metric_rows = facts["rows"].get("metric_daily", 0)
    full["metric_rows_per_second_wall"] = round(metric_rows / full["wall_seconds"])
    after = full["timeline"].get("after_last_call_s")
    if after:  # normalize + load + checks + summary: everything after the last API call
        full["metric_rows_per_second_after_last_call"] = round(metric_rows / after)
    result["full_run"] = full
    plan = planned_calls(facts)
    plan["matches_measured"] = full["api_calls"] == plan["by_endpoint"]
    result["plan"] = plan
    result["airbyte_computed"] = airbyte_calls(facts)
    result["entities"] = {level: {a: sum(n.values()) for a, n in facts["entities"][level].items()} for level in TABLES}
    result["entity_statuses"] = {level: _sum_statuses(facts["entities"][level]) for level in TABLES}
    # The --from-raw run redoes what came after the last call (normalize, load, checks) plus the start-up.
    elapsed, needed = time.perf_counter() - started, full["timeline"].get("first_call_seen_s", 0) + (after or 0)
    if elapsed + needed > limit:
        result["skipped"].append("from_raw_run")
        result["stopped"] = (f"the world had taken {elapsed:.0f} s; its --from-raw run (about {needed:.0f} s) would pass the "
                             f"{limit:g} s limit, so it was not made")
        return result
    print(f"  {w['name']}: --from-raw run (recorded in DAGSTER_HOME) ...", file=sys.stderr, flush=True)
    command = [str(BIN / "pinterest-etl"), "run", *only, "--start", START.isoformat(), "--end", END.isoformat(), "--from-raw"]
    remaining = max(limit - (time.perf_counter() - started), 30.0)
    try:
        raw, stdout = common.run_pipeline(command, w["env_recorded"], w["workdir"], "from_raw", sim, timeout=remaining)
    except Stopped as stopped:
        result["from_raw_run"] = stopped.result
        result["stopped"] = f"--from-raw run: {stopped}"
        return result
    raw["dagster"] = dagster_steps(w["env_recorded"], w["workdir"])
    if "run_seconds" in raw["dagster"]:
        raw["outside_the_dagster_run_seconds"] = round(raw["wall_seconds"] - raw["dagster"]["run_seconds"], 3)
    raw["lake_metric_rows"] = lake_metric_rows(stdout, "ads_lake")
    raw["storage"] = storage(w["home"])
    steps = raw["dagster"].get("steps_seconds", {})
    if "ads_lake" in steps and "ads_warehouse" in steps:
        raw["metric_rows_per_second_lake_and_warehouse_steps"] = round(metric_rows / (steps["ads_lake"] + steps["ads_warehouse"]))
    raw["metric_rows_per_second_wall"] = round(metric_rows / raw["wall_seconds"])
    print(f"    {raw['wall_seconds']:.1f}s", file=sys.stderr, flush=True)
    result["from_raw_run"] = raw
    return result


def _sum_statuses(per_account: dict[str, dict[str, int]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for statuses in per_account.values():
        for status, n in statuses.items():
            out[status] = out.get(status, 0) + n
    return dict(sorted(out.items()))


# ------------------------------------------------------------------------------------------- report
def _mb(n: int) -> str:
    return f"{n / 1e6:,.1f} MB"


def table(results: list[dict]) -> str:
    rows: list[tuple[str, ...]] = []

    def add(case: str, value) -> None:
        cells = []
        for r in results:
            try:
                cells.append(value(r))
            except (KeyError, TypeError, ZeroDivisionError):
                cells.append("-")
        rows.append((case, *cells))

    def calls(r: dict, endpoint: str) -> str:
        measured = r["full_run"]["api_calls"].get(endpoint, 0)
        return f"{measured:,} ({r['plan']['by_endpoint'][endpoint]:,})"

    full = lambda r: r["full_run"]  # noqa: E731
    add("full run: wall time", lambda r: f"{full(r)['wall_seconds']:.1f} s")
    add("  first API call / last API call (s)", lambda r: f"{full(r)['timeline']['first_call_seen_s']:.1f} / "
        f"{full(r)['timeline']['last_call_seen_s']:.1f}")
    add("  after the last call (normalize, load, checks)", lambda r: f"{full(r)['timeline']['after_last_call_s']:.1f} s")
    add("  peak RSS (GNU time) / sampled tree", lambda r: f"{full(r)['peak_rss_mb']:,.0f} / "
        f"{full(r)['memory_sampling']['sampled_peak_tree_rss_mb']:,.0f} MB")
    add("  CPU user + system", lambda r: f"{full(r)['user_cpu_seconds']:.1f} + {full(r)['system_cpu_seconds']:.1f} s")
    add("API calls, measured (plan)", lambda r: f"{full(r)['api_calls_total']:,} ({r['plan']['total']:,})"
        + ("" if r["plan"]["matches_measured"] else " MISMATCH"))
    for level in LEVELS:
        add(f"  {LISTS[level]}", lambda r, e=LISTS[level]: calls(r, e))
    add(f"  {READY}", lambda r: calls(r, READY))
    for level in LEVELS:
        add(f"  {ANALYTICS[level]}", lambda r, e=ANALYTICS[level]: calls(r, e))
    add("  answers other than 200", lambda r: str(sum(n for code, n in full(r)["api_responses"].items() if code != "200")))
    add("Airbyte, computed: analytics calls", lambda r: f"{r['airbyte_computed']['all_statuses']['analytics']:,}")
    add("  + list pages (25 a page)", lambda r: f"{r['airbyte_computed']['all_statuses']['lists']:,}")
    add("  analytics calls, default statuses only", lambda r: f"{r['airbyte_computed']['default_statuses']['analytics']:,}")
    add("metric_daily rows", lambda r: f"{full(r)['warehouse_rows']['metric_daily']:,}")
    add("daily_status rows", lambda r: f"{full(r)['warehouse_rows']['daily_status']:,}")
    add("  metric rows/s: whole run / after the last call", lambda r: f"{full(r)['metric_rows_per_second_wall']:,} / "
        f"{full(r)['metric_rows_per_second_after_last_call']:,}")
    for part in ("warehouse", "lake", "raw"):
        add(f"{part} on disk (after the full run)", lambda r, p=part: _mb(full(r)["storage"][p]["on_disk_bytes"])
            + f" ({full(r)['storage'][p]['files']:,} files)")
    add("--from-raw run: wall time (recorded)", lambda r: f"{r['from_raw_run']['wall_seconds']:.1f} s")
    for step in ADS_STEPS[2:]:
        add(f"  step {step}", lambda r, s=step: f"{r['from_raw_run']['dagster']['steps_seconds'][s]:.1f} s")
    add("  outside the Dagster run", lambda r: f"{r['from_raw_run']['outside_the_dagster_run_seconds']:.1f} s")
    add("  metric rows/s, ads_lake + ads_warehouse", lambda r: f"{r['from_raw_run']['metric_rows_per_second_lake_and_warehouse_steps']:,}")
    add("  peak RSS (GNU time)", lambda r: f"{r['from_raw_run']['peak_rss_mb']:,.0f} MB")
    header = ("case", *(f"{r['world']} ({r['ad_accounts']}x{r['campaigns']}x{r['ad_groups']}x{r['ads']})" for r in results))
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(cell.ljust(width) for cell, width in zip(cells, widths)).rstrip()

    return "\n".join([line(header), line(tuple("-" * w for w in widths)), *map(line, rows)])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ads", description=__doc__.split("\n\n")[0])
    parser.add_argument("--large", action="store_true",
                        help="also run the 5x200x5x5 world (1,000 campaigns, 5,000 ad groups, 25,000 ads); opt-in")
    parser.add_argument("--worlds", help=f"comma-separated subset of {','.join(WORLDS)} (overrides --large)")
    parser.add_argument("--scenario-limit", type=float, default=300.0,
                        help="seconds a world may take; a run still going then is stopped (default: 300)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directories (printed) for inspection")
    parser.add_argument("--rev", help="measure pipelines/ and assets/ as committed in REV (e.g. HEAD), extracted to a "
                                      "temporary directory, instead of the working tree (which may be mid-edit)")
    parser.add_argument("--output", type=Path, default=RESULTS, help=f"JSON file to write (default: {RESULTS.relative_to(ROOT)})")
    args = parser.parse_args(argv)
    chosen = [w.strip() for w in args.worlds.split(",") if w.strip()] if args.worlds else \
        ["default", "large"] if args.large else ["default"]
    if unknown := set(chosen) - set(WORLDS):
        parser.error(f"unknown world(s): {', '.join(sorted(unknown))}")

    load_before = warn_if_busy()
    started = time.perf_counter()
    results = []
    with contextlib.ExitStack() as stack:
        code = code_under_test(stack, args.rev, "ads")
        only = ["--only", "ads"] if supports_only(base_env()) else []
        if not only:
            print("warning: this pinterest-etl has no `run --only`: every asset runs", file=sys.stderr)
        for name in chosen:
            spec = WORLDS[name]
            print(f"world {name} ({spec['ad_accounts']} ad accounts x {spec['campaigns']} campaigns x {spec['ad_groups']} "
                  f"ad groups x {spec['ads']} ads) ...", file=sys.stderr, flush=True)
            with common.world("ads", name, sim_args(spec), args.keep) as w:
                results.append(run_world(w, spec, args.scenario_limit, only))

    report = {
        "benchmark": "ads",
        "command": shlex.join(getattr(sys, "orig_argv", [sys.executable, "-m", "bench.ads", *sys.argv[1:]])),
        "cwd": str(Path.cwd()),
        "date_utc": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": {**machine_info(), **versions(), "load_average_before": load_before, "load_average_after": load_average(),
                    "gnu_time": TIME.exists()},
        "code": code,
        "settings": {"seed": SEED, "today": TODAY.isoformat(), "start": START.isoformat(), "end": END.isoformat(),
                     "days": DAYS, "start_date": START_DATE.isoformat(), "budget_per_minute_each_category": RAISED_BUDGET,
                     "worlds": {name: WORLDS[name] for name in chosen},
                     "simulator": "`pinterest-etl sandbox --port 0` subprocess; its universal 100 calls/s limit stays on",
                     "pipeline": "`.venv/bin/pinterest-etl run` subprocess, cwd = the world's temporary directory; the full "
                                 "run without DAGSTER_HOME (ephemeral Dagster instance); the --from-raw run with "
                                 "DAGSTER_HOME = a copy of .dagster/dagster.yaml in /dev/shm (storage created beforehand)",
                     "scenario_limit_seconds": args.scenario_limit, "run_arguments_added": only,
                     "poll_seconds": POLL_SECONDS, "warehouse_sql": WAREHOUSE_SQL,
                     "plan_rule": "per ad account per window: 1 + ceil(campaigns/250) + ceil(active ad groups/250) + "
                                  "ceil(active ads/250), active = of a campaign with a daily_status row in the window; "
                                  "dimensions: max(1, ceil(n/250)) pages per list (ad accounts once, the rest per ad "
                                  "account); metrics_ready_state: 1 when a requested date is past the 30-day attribution window, else 0",
                     "airbyte_rule": airbyte_calls.__doc__ and " ".join(airbyte_calls.__doc__.split())},
        "results": results,
        "total_seconds": round(time.perf_counter() - started, 1),
    }
    write_and_introduce(report, args.output, "Ads pipeline benchmark", load_before,
                        f"backfill {START}..{END} ({DAYS} days), today {TODAY}, seed {SEED}, "
                        f"budgets raised to {RAISED_BUDGET:,}/min")
    print(table(results))
    for r in results:
        if r.get("stopped"):
            print(f"\n{r['world']}: stopped - {r['stopped']}; skipped: {', '.join(r['skipped']) or 'nothing'}")
    out = args.output.resolve()
    print(f"\nwrote {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out} in {report['total_seconds']}s total")
    return 0 if all(r["plan"]["matches_measured"] for r in results if "plan" in r) else 1


if __name__ == "__main__":
    sys.exit(main())
