"""Benchmark of the local Pinterest API v5 simulator (pipelines/sandbox) over real HTTP.

Run from the repository root:

    .venv/bin/python -m bench.simulator            # or: make bench

It prints a table and writes bench/results/simulator.json (numbers plus machine, Python, date, git
commit and the exact command). bench/README.md explains every number. What is measured:

1. start-up: constructing `SandboxServer` until the first 200 of GET /v5/user_account, in a fresh
   process (500 and 100,000 pins), plus the end-to-end start of `pinterest-etl sandbox --port 0`;
2. GET /v5/pins/analytics for 100 pins x 90 days: median/p95 latency and response size;
3. requests per second of GET /v5/user_account with 1 and 4 client threads (keep-alive sessions);
4. GET /v5/user_account/analytics for 90 days on 100,000 pins: first (uncached) and cached calls;
5. GET /v5/ad_accounts/{id}/campaigns/analytics, DAY granularity, 90 days, 200 campaigns.

Every simulator under test runs in its own process (the world is fixed by --seed and --today), so the
client's Python threads never compete with the server's for one interpreter lock. Only the standard
library, requests and numpy are used.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import hashlib
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import requests

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "simulator.json"

TODAY = dt.date(2026, 11, 28)  # a fixed clock: same seed + same today = byte-identical answers
SEED = 42
TOKEN = "pina_SANDBOX"
BIG_WORLD_PINS = 100_000
# Raise every per-minute budget so the limiter never answers 429 during a benchmark.
UNLIMITED = {category: 10**9 for category in ("org_analytics", "org_read", "org_write", "ads_analytics", "ads_read")}
WARMUP = 5  # untimed calls before each latency series (connection, caches, heap growth)
DAYS = 90  # every analytics window: the last 90 days, today included
START, END = (TODAY - dt.timedelta(days=DAYS - 1)).isoformat(), TODAY.isoformat()
PIN_METRICS = "IMPRESSION,SAVE,PIN_CLICK,OUTBOUND_CLICK,SAVE_RATE"
CAMPAIGN_COLUMNS = "SPEND_IN_MICRO_DOLLAR,IMPRESSION_1,CLICKTHROUGH_1,TOTAL_CONVERSIONS,CTR"
ADS_WORLD = {"ad_accounts": 5, "campaigns": 200, "ad_groups": 5, "ads": 5}

# A simulator in a child process: builds SandboxServer from a JSON config, prints its base URL, serves
# until its stdin is closed. The universal limit (100 calls/s per user, a constant of the simulator that
# SandboxConfig cannot change) is lifted in that process only, so the throughput case is not throttled.
_SERVE = r"""
import datetime as dt, json, sys
from pipelines.sandbox import SandboxConfig, SandboxServer, ratelimit
spec = json.loads(sys.argv[1])
if spec.pop("lift_universal_limit", False):
    assert hasattr(ratelimit, "UNIVERSAL_LIMIT_PER_SECOND"), "the simulator's universal limit moved; update bench"
    ratelimit.UNIVERSAL_LIMIT_PER_SECOND = 10**9
spec["today"] = dt.date.fromisoformat(spec["today"])
server = SandboxServer(SandboxConfig(**spec)).start()
print(server.base_url, flush=True)
sys.stdin.read()
server.stop()
"""

# Start-up in a fresh process: time from constructing SandboxServer to the first 200 of GET /v5/user_account.
_STARTUP = r"""
import time
t_process = time.perf_counter()
import datetime as dt, json, sys, urllib.request
t_import = time.perf_counter()
from pipelines.sandbox import SandboxConfig, SandboxServer
t_construct = time.perf_counter()
server = SandboxServer(SandboxConfig(today=dt.date.fromisoformat(sys.argv[2]), pins=int(sys.argv[1]))).start()
t_built = time.perf_counter()
request = urllib.request.Request(server.base_url + "/user_account", headers={"Authorization": "Bearer " + sys.argv[3]})
while True:
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            response.read()
            if response.status == 200:
                break
    except OSError:
        time.sleep(0.001)
t_answer = time.perf_counter()
server.stop()
print(json.dumps({"import_s": t_construct - t_import, "build_s": t_built - t_construct, "ready_s": t_answer - t_construct}))
"""


# --------------------------------------------------------------------------------------------- helpers
def _child_env() -> dict[str, str]:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def _ms(seconds: float) -> float:
    return round(seconds * 1000.0, 3)


def summarize(samples: list[float]) -> dict:
    """Median, p95 (numpy's linear interpolation), min and max of latencies in seconds, as milliseconds."""
    arr = np.asarray(samples, dtype=np.float64)
    return {"n": len(samples), "median_ms": _ms(float(np.median(arr))), "p95_ms": _ms(float(np.percentile(arr, 95))),
            "min_ms": _ms(float(arr.min())), "max_ms": _ms(float(arr.max()))}


@contextlib.contextmanager
def child_process(serve_code: str, spec: dict) -> Iterator[tuple[subprocess.Popen, str]]:
    """Run `serve_code` (a `python -c` program that serves a simulator built from the JSON `spec`, prints its
    base URL and stops when its stdin closes) in a child process; yields the process and that URL."""
    proc = subprocess.Popen([sys.executable, "-c", serve_code, json.dumps(spec)], cwd=ROOT, env=_child_env(),
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        base_url = proc.stdout.readline().strip()
        if not base_url.startswith("http"):
            raise RuntimeError(f"the simulator did not start (exit code {proc.wait(timeout=10)})")
        yield proc, base_url
    finally:
        proc.stdin.close()  # the child stops its server and exits
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def simulator(**settings) -> Iterator[str]:
    """A simulator in a child process (fixed seed and today, no rate limiting); yields its base URL (.../v5)."""
    spec = {"seed": SEED, "today": TODAY.isoformat(), "rate_limits": UNLIMITED, "lift_universal_limit": True, **settings}
    with child_process(_SERVE, spec) as (_, base_url):
        yield base_url


def session() -> requests.Session:
    s = requests.Session()
    s.headers["Authorization"] = f"Bearer {TOKEN}"
    return s


def get(s: requests.Session, url: str, params: dict | None = None) -> requests.Response:
    response = s.get(url, params=params, timeout=120)
    if response.status_code != 200:
        raise RuntimeError(f"GET {response.url} answered {response.status_code}: {response.text[:300]}")
    return response


def timed(s: requests.Session, url: str, params: dict | None, n: int, warmup: int) -> tuple[list[float], requests.Response]:
    """`warmup` untimed calls, then `n` timed calls (request sent until body read); the last response."""
    response = None
    for _ in range(warmup):
        get(s, url, params)
    samples = []
    for _ in range(n):
        t0 = time.perf_counter()
        response = get(s, url, params)
        samples.append(time.perf_counter() - t0)
    return samples, response


# ------------------------------------------------------------------------------------------- benchmarks
def bench_startup(repeats: int) -> dict:
    out = {}
    for pins in (500, BIG_WORLD_PINS):
        runs = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            done = subprocess.run([sys.executable, "-c", _STARTUP, str(pins), TODAY.isoformat(), TOKEN], cwd=ROOT,
                                  env=_child_env(), capture_output=True, text=True, check=True, timeout=120)
            run = json.loads(done.stdout)
            run["process_s"] = time.perf_counter() - t0  # interpreter start + imports + start + first answer + exit
            runs.append(run)
        cli = [_cli_start(pins) for _ in range(repeats)]
        out[str(pins)] = {
            "pins": pins,
            "ready_ms": _ms(statistics.median(r["ready_s"] for r in runs)),
            "ready_ms_runs": [_ms(r["ready_s"]) for r in runs],
            "build_ms": _ms(statistics.median(r["build_s"] for r in runs)),
            "import_ms": _ms(statistics.median(r["import_s"] for r in runs)),
            "cli_spawn_to_first_answer_ms": _ms(statistics.median(cli)),
            "cli_spawn_to_first_answer_ms_runs": [_ms(c) for c in cli],
        }
    return out


def _cli_start(pins: int) -> float:
    """Seconds from spawning `pinterest-etl sandbox --port 0` until GET /v5/user_account answers 200."""
    script = Path(sys.executable).with_name("pinterest-etl")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "pipelines.cli"]
    command += ["sandbox", "--port", "0", "--pins", str(pins), "--today", TODAY.isoformat(), "--seed", str(SEED)]
    t0 = time.perf_counter()
    proc = subprocess.Popen(command, cwd=ROOT, env=_child_env(), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        base_url = None
        for line in proc.stdout:
            if " at http" in line:
                base_url = line.rsplit(" at ", 1)[1].strip()
                break
        if base_url is None:
            raise RuntimeError(f"`{' '.join(command)}` did not print its URL (exit code {proc.wait(timeout=10)})")
        s = session()
        while True:
            try:
                if s.get(f"{base_url}/user_account", timeout=30).status_code == 200:
                    return time.perf_counter() - t0
            except requests.ConnectionError:
                time.sleep(0.001)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def spread_pin_ids(pins: int, count: int = 100) -> list[str]:
    """`count` pin ids spread evenly over the account's pins (newest to oldest), so both worlds are asked
    about a like mix of pin ages. (The first page of GET /pins holds the newest pins only, and on a
    100,000-pin world those are all younger than a week: most of their days would be empty.) The ids are
    read from a World built with the simulator's own seed and clock, which is what the server builds."""
    from pipelines.sandbox.config import SandboxConfig
    from pipelines.sandbox.world import World

    world = World(SandboxConfig(seed=SEED, today=TODAY, pins=pins, rate_limits=UNLIMITED))
    return [world.pin_ids[int(i)] for i in np.linspace(0, pins - 1, count).round()]


def bench_bulk_pin_analytics(n: int) -> dict:
    out = {}
    for pins in (500, BIG_WORLD_PINS):
        with simulator(pins=pins) as base:
            s = session()
            pin_ids = spread_pin_ids(pins)
            params = {"pin_ids": ",".join(pin_ids), "start_date": START, "end_date": END, "metric_types": PIN_METRICS}
            samples, response = timed(s, f"{base}/pins/analytics", params, n, warmup=WARMUP)
            body = response.json()
            if len(body) != len(pin_ids):
                raise RuntimeError(f"GET /pins/analytics answered {len(body)} of {len(pin_ids)} pins")
            with_metrics = sum(1 for pin in body.values() for day in pin["all"]["daily_metrics"] if day["metrics"])
            out[str(pins)] = {"world_pins": pins, "pins_per_request": len(body), "days": DAYS,
                              "pin_days_with_metrics": with_metrics, **summarize(samples),
                              "response_bytes": len(response.content)}
    return out


def bench_small_requests(seconds: float) -> dict:
    with simulator() as base:
        return {f"{threads}_thread{'s' if threads > 1 else ''}": throughput(f"{base}/user_account", threads, seconds)
                for threads in (1, 4)}


def throughput(url: str, threads: int, seconds: float) -> dict:
    """`threads` threads, each with its own keep-alive session, call `url` back to back for `seconds`."""
    sessions = [session() for _ in range(threads)]
    for s in sessions:  # open the keep-alive connections and warm up
        for _ in range(20):
            get(s, url)
    counts, latencies, errors = [0] * threads, [[] for _ in range(threads)], []
    barrier = threading.Barrier(threads + 1)
    deadline = [0.0]

    def worker(i: int) -> None:
        s, local = sessions[i], latencies[i]
        barrier.wait()
        try:
            while (t0 := time.perf_counter()) < deadline[0]:
                response = s.get(url, timeout=30)
                if response.status_code != 200:
                    raise RuntimeError(f"GET {url} answered {response.status_code}")
                local.append(time.perf_counter() - t0)
                counts[i] += 1
        except Exception as error:  # reported after the run
            errors.append(error)

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    started = time.perf_counter()
    deadline[0] = started + seconds
    barrier.wait()
    for t in pool:
        t.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise RuntimeError(f"throughput run with {threads} threads failed: {errors[0]}")
    total = sum(counts)
    return {"threads": threads, "requests": total, "seconds": round(elapsed, 3),
            "requests_per_second": round(total / elapsed, 1),
            **{k: v for k, v in summarize([x for lat in latencies for x in lat]).items() if k != "n"}}


def bench_user_account_analytics(repeats: int, cached_calls: int) -> dict:
    params = {"start_date": START, "end_date": END}
    first, second, cached, size = [], [], [], 0
    for _ in range(repeats):  # a fresh simulator each time: its per-day account cache starts empty
        with simulator(pins=BIG_WORLD_PINS) as base:
            s = session()
            get(s, f"{base}/user_account")  # open the connection outside the timed call
            samples, _ = timed(s, f"{base}/user_account/analytics", params, 2, warmup=0)
            first.append(samples[0])
            second.append(samples[1])
            if not cached:
                more, response = timed(s, f"{base}/user_account/analytics", params, cached_calls, warmup=0)
                cached, size = more, len(response.content)
    return {
        "world_pins": BIG_WORLD_PINS, "days": DAYS, "response_bytes": size,
        "first_call_ms": _ms(statistics.median(first)), "first_call_ms_runs": [_ms(x) for x in first],
        "second_call_ms": _ms(statistics.median(second)), "second_call_ms_runs": [_ms(x) for x in second],
        "cached": summarize(cached),
    }


def bench_campaign_analytics(n: int) -> dict:
    with simulator(**ADS_WORLD) as base:
        s = session()
        account = get(s, f"{base}/ad_accounts").json()["items"][0]["id"]
        campaigns = get(s, f"{base}/ad_accounts/{account}/campaigns",
                        {"page_size": 250, "entity_statuses": "ACTIVE,PAUSED,ARCHIVED"}).json()["items"]
        ids = [c["id"] for c in campaigns][:250]
        params = {"campaign_ids": ",".join(ids), "start_date": START, "end_date": END, "granularity": "DAY",
                  "columns": CAMPAIGN_COLUMNS}
        samples, response = timed(s, f"{base}/ad_accounts/{account}/campaigns/analytics", params, n, warmup=WARMUP)
        return {"world": ADS_WORLD, "campaigns_per_request": len(ids), "days": DAYS, "rows": len(response.json()),
                **summarize(samples), "response_bytes": len(response.content)}


# ------------------------------------------------------------------------------------------ reporting
def machine_info() -> dict:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"cpu_model": cpu, "cores": os.cpu_count(), "cores_usable": usable,
            "python": platform.python_version(), "python_implementation": platform.python_implementation(),
            "platform": platform.platform(), "numpy": np.__version__, "requests": requests.__version__}


def load_average() -> list[float] | None:
    with contextlib.suppress(OSError, AttributeError):
        return [round(x, 2) for x in os.getloadavg()]
    return None


def git_revision() -> dict:
    """The commit measured, and whether (and how) pipelines/ differed from it: the simulator is the code under test."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10).stdout
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        diff = git("diff", "HEAD", "--", "pipelines")
        return {"commit": git("rev-parse", "HEAD").strip() or None, "pipelines_modified": bool(diff),
                "pipelines_diff_sha1": hashlib.sha1(diff.encode()).hexdigest() if diff else None}
    return {"commit": None, "pipelines_modified": None, "pipelines_diff_sha1": None}


def table(results: dict, repeats: int) -> str:
    rows: list[tuple[str, str, str]] = []
    for key, r in results["startup"].items():
        pins = f"{int(key):,} pins"
        rows.append((f"start-up: construct -> first 200 (median of {repeats})", pins, f"{r['ready_ms']:.1f} ms"))
        rows.append(("  `pinterest-etl sandbox --port 0`: spawn -> first 200", pins,
                     f"{r['cli_spawn_to_first_answer_ms']:.0f} ms"))
    for key, r in results["bulk_pin_analytics"].items():
        pins = f"{int(key):,} pins"
        rows.append((f"GET /pins/analytics {r['pins_per_request']} pins x {r['days']} d: median / p95", pins,
                     f"{r['median_ms']:.1f} / {r['p95_ms']:.1f} ms (n={r['n']})"))
        rows.append(("  response size", pins,
                     f"{r['response_bytes']:,} B ({r['pin_days_with_metrics']:,} pin-days with metrics)"))
    for r in results["small_requests"].values():
        rows.append((f"GET /user_account, {r['threads']} client thread{'s' if r['threads'] > 1 else ''}", "500 pins",
                     f"{r['requests_per_second']:,.0f} req/s (median {r['median_ms']:.2f} ms)"))
    u = results["user_account_analytics"]
    pins = f"{u['world_pins']:,} pins"
    rows.append((f"GET /user_account/analytics {u['days']} d: first call (median of {repeats})", pins,
                 f"{u['first_call_ms']:.0f} ms"))
    rows.append(("  second call (cached)", pins, f"{u['second_call_ms']:.1f} ms"))
    c = results["campaign_analytics"]
    world = "{ad_accounts}x{campaigns}x{ad_groups}x{ads}".format(**c["world"])
    rows.append((f"GET campaigns/analytics {c['campaigns_per_request']} campaigns x {c['days']} d DAY: median / p95",
                 world, f"{c['median_ms']:.1f} / {c['p95_ms']:.1f} ms (n={c['n']})"))
    rows.append(("  response size", world, f"{c['response_bytes']:,} B ({c['rows']:,} rows)"))
    header = ("case", "world", "result")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(3)]

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(cell.ljust(width) for cell, width in zip(cells, widths)).rstrip()

    return "\n".join([line(header), line(tuple("-" * w for w in widths)), *map(line, rows)])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.simulator", description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=30, help="timed requests per latency case (default: 30)")
    parser.add_argument("--seconds", type=float, default=3.0, help="duration of each throughput run (default: 3)")
    parser.add_argument("--repeats", type=int, default=3, help="fresh processes per start-up / first-call case (default: 3)")
    parser.add_argument("--output", type=Path, default=RESULTS, help=f"JSON file to write (default: {RESULTS.relative_to(ROOT)})")
    args = parser.parse_args(argv)

    load_before = load_average()
    if load_before and load_before[0] > 0.5:
        print(f"warning: load average {load_before[0]} before the run (other work, or a run just before, skews the numbers)",
              file=sys.stderr)
    started = time.perf_counter()
    steps = (("startup", lambda: bench_startup(args.repeats)),
             ("bulk_pin_analytics", lambda: bench_bulk_pin_analytics(args.requests)),
             ("small_requests", lambda: bench_small_requests(args.seconds)),
             ("user_account_analytics", lambda: bench_user_account_analytics(args.repeats, args.requests)),
             ("campaign_analytics", lambda: bench_campaign_analytics(args.requests)))
    results = {}
    for name, run in steps:
        t0 = time.perf_counter()
        print(f"running {name} ...", file=sys.stderr, flush=True)
        results[name] = run()
        print(f"  done in {time.perf_counter() - t0:.1f}s", file=sys.stderr, flush=True)

    report = {
        "benchmark": "simulator",
        "command": shlex.join(getattr(sys, "orig_argv", [sys.executable, "-m", "bench.simulator", *sys.argv[1:]])),
        "cwd": str(Path.cwd()),
        "date_utc": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": {**machine_info(), "load_average_before": load_before, "load_average_after": load_average()},
        "git": git_revision(),
        "settings": {"seed": SEED, "today": TODAY.isoformat(), "window": [START, END], "requests": args.requests,
                     "warmup_requests": WARMUP,
                     "throughput_seconds": args.seconds, "repeats": args.repeats, "rate_limits": UNLIMITED,
                     "universal_limit_lifted": True, "server": "own process per simulator (ThreadingHTTPServer)"},
        "results": results,
        "total_seconds": round(time.perf_counter() - started, 1),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    m = report["machine"]
    print(f"Pinterest API simulator benchmark - {report['date_utc']}")
    print(f"{m['cpu_model']}, {m['cores']} cores ({m['cores_usable']} usable), Python {m['python']}, numpy {m['numpy']}")
    print(f"seed {SEED}, today {TODAY}, window {START}..{END}; load average {load_before} before, "
          f"{report['machine']['load_average_after']} after\n")
    print(table(results, args.repeats))
    out = args.output.resolve()
    print(f"\nwrote {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out} in {report['total_seconds']}s total")
    return 0


if __name__ == "__main__":
    sys.exit(main())
