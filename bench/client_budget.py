"""Benchmark of the API client's rate budgets (pipelines/pinterest/budgets.py) against the simulator.

Run from the repository root:

    .venv/bin/python -m bench.client_budget

It prints a table and writes bench/results/client_budget.json (numbers, machine, date, git commit and the
exact command). bench/README.md explains every number. The requirement under test:

    With the simulator adding 100 ms latency per call and a budget of 300 calls/minute, an extraction of
    100 independent calls keeps the achieved call rate within 90 % of the budget and makes zero 429s.

The simulator runs in a child process (its own interpreter lock) with latency_ms=100, org_analytics=300
calls/minute and every other category unthrottled. A PinterestClient with concurrency 4 lists the pins
(GET /pins, org_read) and then makes 100 bulk pin analytics calls (GET /pins/analytics, org_analytics),
one per batch of pin ids, through `client.map`. Scenarios:

- paced: the client's default budgets (org_analytics 300/minute, the same as the server's);
- oblivious: the client is configured with 3000/minute and has to adopt the server's X-RateLimit-Limit;
- spent: default budgets, but the server's org_analytics budget was used up just before the run (as
  after another run in the same minute), so the client can only go as fast as the server refills;
- unpaced (a control): the client is configured with 3000/minute and the simulator sends no X-RateLimit-*
  headers, so nothing slows the client down. It shows what "zero 429s" is worth against this simulator.

Only the standard library, requests and numpy are used (plus the client under test).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import shlex
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import requests

from bench.simulator import child_process, git_revision, load_average, machine_info
from pipelines.pinterest.accounting import CallStats
from pipelines.pinterest.budgets import DEFAULT_BUDGETS_PER_MINUTE, DEFAULT_BURST_SECONDS, RateBudgets
from pipelines.pinterest.client import ClientConfig, PinterestClient
from pipelines.pinterest.credentials import AppCredentials, Secret, Tokens
from pipelines.pinterest.oauth import TokenManager

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "client_budget.json"

TODAY = dt.date(2026, 11, 28)  # the same fixed world as bench/simulator.py
SEED = 42
PINS = 500  # the default world: 100 batches of 5 pins
CATEGORY = "org_analytics"  # GET /pins/analytics
OTHER_CATEGORIES = ("org_read", "org_write", "ads_analytics", "ads_read")
UNTHROTTLED = 10**6
WINDOW_DAYS = 30
START, END = (TODAY - dt.timedelta(days=WINDOW_DAYS - 1)).isoformat(), TODAY.isoformat()
STEADY_FROM_SECONDS = 2.0
TARGET_FRACTION = 0.9  # "within 90 % of the budget": at least 90 % of it
SIMULATOR_APP = AppCredentials("1234567", Secret("sandbox-secret"))  # the simulator's development app
DEV_TOKENS = Tokens(Secret("pina_SANDBOX"), Secret("pinr_SANDBOX"))

# A simulator in a child process: builds SandboxServer from a JSON config and prints its base URL. Then
# it reads commands from stdin until stdin is closed: "drain <category>" spends the development user's
# budget of that category through the simulator's own limiter (as calls would) and prints what it did.
# The universal 100 calls/s limit is left as it is.
_SERVE = r"""
import datetime as dt, json, sys, time
from pipelines.sandbox import SandboxConfig, SandboxServer
spec = json.loads(sys.argv[1])
spec["today"] = dt.date.fromisoformat(spec["today"])
server = SandboxServer(SandboxConfig(**spec)).start()
print(server.base_url, flush=True)
for line in sys.stdin:
    command, category = line.split()
    assert command == "drain", command
    user, spent, t0 = server.state.world.user_id, 0, time.monotonic()
    while True:
        decision = server.state.limiter.acquire(user, category)
        spent += decision.allowed
        if decision.remaining == 0:
            break
        if not decision.allowed:  # the universal per-second limit, not the category: wait for it
            time.sleep(0.01)
    print(json.dumps({"spent": spent, "seconds": round(time.monotonic() - t0, 3)}), flush=True)
server.stop()
"""


class RecordingBudgets(RateBudgets):
    """The client's RateBudgets, unchanged, plus the moment each call was let through (its send time)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.admitted: list[tuple[str, float]] = []
        self._record_lock = threading.Lock()
        self._thread = threading.local()

    def acquire(self, category: str) -> float:
        waited = super().acquire(category)
        now = time.perf_counter()
        self._thread.last = now
        with self._record_lock:
            self.admitted.append((category, now))
        return waited

    def last_admitted(self) -> float:
        """When this thread's latest call was let through."""
        return self._thread.last


class Simulator:
    """A simulator in a child process (see _SERVE)."""

    def __init__(self, proc: subprocess.Popen, base_url: str):
        self.proc, self.base_url = proc, base_url
        self.root_url = base_url.removesuffix("/v5")

    def stats(self) -> dict:
        return requests.get(f"{self.root_url}/_sandbox/stats", timeout=30).json()

    def drain(self, category: str) -> dict:
        self.proc.stdin.write(f"drain {category}\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())


@contextlib.contextmanager
def simulator(latency_ms: int, server_budget: int, rate_limit_headers: bool = True) -> Iterator[Simulator]:
    rate_limits = {CATEGORY: server_budget, **dict.fromkeys(OTHER_CATEGORIES, UNTHROTTLED)}
    spec = {"seed": SEED, "today": TODAY.isoformat(), "pins": PINS, "latency_ms": latency_ms, "rate_limits": rate_limits,
            "rate_limit_headers": rate_limit_headers}
    with child_process(_SERVE, spec) as (proc, base_url):
        yield Simulator(proc, base_url)


def make_client(base_url: str, budgets: RateBudgets, concurrency: int) -> PinterestClient:
    """A client as the pipeline builds one (clients.client_from_settings), but with the simulator's development tokens and
    the default retry policy, timeouts and session."""
    config = ClientConfig(base_url=base_url, concurrency=concurrency, today=lambda: TODAY)
    stats = CallStats()
    session = requests.Session()
    tokens = TokenManager(DEV_TOKENS, session, config.base_url, SIMULATOR_APP, None, config.limits,
                          on_refresh=lambda: stats.add(token_refreshes=1), retry=config.retry)
    return PinterestClient(config, tokens, budgets=budgets, stats=stats, session=session)


def client_files_modified() -> list[str] | None:
    """Files of the client under test (pipelines/pinterest/) that differ from the commit measured."""
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        done = subprocess.run(["git", "diff", "--name-only", "HEAD", "--", "pipelines/pinterest"], cwd=ROOT,
                              capture_output=True, text=True, timeout=10, check=True)
        return done.stdout.split()
    return None


def _delta(after: dict, before: dict) -> dict:
    return {k: after.get(k, 0) - before.get(k, 0) for k in sorted(set(after) | set(before)) if after.get(k, 0) != before.get(k, 0)}


def run_scenario(name: str, *, calls: int, latency_ms: int, server_budget: int, client_budget: int | None,
                 concurrency: int, spend_server_budget: bool, rate_limit_headers: bool = True) -> dict:
    per_minute = {CATEGORY: client_budget} if client_budget is not None else None
    budgets = RecordingBudgets(per_minute)
    configured = budgets.budget(CATEGORY)
    with simulator(latency_ms, server_budget, rate_limit_headers) as sim, make_client(sim.base_url, budgets, concurrency) as client:
        # Untimed: the pin ids, from GET /pins (org_read, another category and bucket).
        pin_ids = [pin["id"] for pin in client.paginate("pins/list")]
        size = max(1, len(pin_ids) // calls)
        batches = [[pin_ids[(i * size + j) % len(pin_ids)] for j in range(size)] for i in range(calls)]
        drained = sim.drain(CATEGORY) if spend_server_budget else None
        server_before, client_before = sim.stats(), client.stats.snapshot()
        budgets.admitted.clear()
        finished: list[float] = []
        exchanges: list[float] = []  # last attempt of each call: sent until its answer was parsed
        done_lock = threading.Lock()

        def one(batch: list[str]) -> int:
            body = client.get("multi_pins/analytics", params={"pin_ids": batch, "start_date": START, "end_date": END,
                                                              "metric_types": ["IMPRESSION"]})
            now = time.perf_counter()
            with done_lock:
                finished.append(now)
                exchanges.append(now - budgets.last_admitted())
            if len(body) != len(batch):
                raise RuntimeError(f"GET /pins/analytics answered {len(body)} of {len(batch)} pins")
            return len(body)

        t0 = time.perf_counter()
        client.map(one, batches)
        elapsed = time.perf_counter() - t0
        server_after, client_after = sim.stats(), client.stats.snapshot()
        adopted = budgets.current_budget(CATEGORY)

    sends = sorted(t - t0 for category, t in budgets.admitted if category == CATEGORY)  # every attempt, retries too
    done = sorted(t - t0 for t in finished)
    responses = _delta(server_after["responses"], server_before["responses"])
    throttled = responses.get("429", 0)
    achieved = calls / elapsed * 60.0
    # Steady state: the attempts sent from STEADY_FROM_SECONDS after the first one on. That leaves out the
    # 1 s burst, and in 'spent' the retries that all go out together once the server's Retry-After (1 s) is over.
    later = [t for t in sends if t >= sends[0] + STEADY_FROM_SECONDS]
    steady = (len(later) - 1) / (later[-1] - later[0]) * 60.0 if len(later) > 1 and later[-1] > later[0] else None
    peak_1s = max(sum(1 for u in sends if t <= u < t + 1.0) for t in sends)
    # A perfect token bucket at the server's budget with a 1 s burst: `burst` calls at once, then one per 1/rate.
    burst = max(1.0, server_budget / 60.0 * DEFAULT_BURST_SECONDS)
    ideal_seconds = max(calls - burst, 0) / (server_budget / 60.0) + latency_ms / 1000.0
    stats_delta = {k: round(client_after[k] - client_before[k], 3)
                   for k in ("calls", "retries", "throttled_429", "server_errors_5xx", "transport_errors",
                             "limiter_wait_seconds", "retry_wait_seconds")}
    return {
        "scenario": name,
        "calls": calls,
        "client_budget_configured_per_minute": configured,
        "client_budget_after_run_per_minute": adopted,
        "server_budget_per_minute": server_budget,
        "server_budget_spent_before_run": drained,
        "server_rate_limit_headers": rate_limit_headers,
        "latency_ms": latency_ms,
        "concurrency": concurrency,
        "pins_per_call": size,
        "elapsed_seconds": round(elapsed, 3),
        "achieved_calls_per_minute": round(achieved, 1),
        "achieved_fraction_of_budget": round(achieved / server_budget, 3),
        "steady_state_calls_per_minute": round(steady, 1) if steady is not None else None,
        "steady_state_fraction_of_budget": round(steady / server_budget, 3) if steady is not None else None,
        "steady_state_from_seconds": STEADY_FROM_SECONDS,
        "attempts_sent": len(sends),
        "attempts_in_first_second": sum(1 for t in sends if t < 1.0),
        "peak_attempts_in_any_1s_window": peak_1s,
        "ideal_token_bucket_seconds": round(ideal_seconds, 3),
        "ideal_token_bucket_calls_per_minute": round(calls / ideal_seconds * 60.0, 1),
        "first_completion_seconds": round(done[0], 3),
        "median_exchange_seconds": round(statistics.median(exchanges), 3),
        "max_exchange_seconds": round(max(exchanges), 3),
        "server_429": throttled,
        "server_responses": responses,
        "server_requests": _delta(server_after["requests"], server_before["requests"]),
        "client_stats_delta": stats_delta,
        "client_stats_total": client_after,
        "target_rate_met": achieved >= TARGET_FRACTION * server_budget,
        "target_no_429_met": throttled == 0,
        "send_offsets_seconds": [round(t, 4) for t in sends],
    }


def table(results: list[dict]) -> str:
    header = ("scenario", "client budget", "wall time", "calls/min (% of budget)", "steady, from 2 s", "1st s / peak 1 s",
              "429s", "retries", "limiter wait", ">= 90 % and no 429")
    rows = []
    for r in results:
        budget = f"{r['client_budget_configured_per_minute']}"
        if r["client_budget_after_run_per_minute"] != r["client_budget_configured_per_minute"]:
            budget += f" -> {r['client_budget_after_run_per_minute']:g}"
        steady = r["steady_state_calls_per_minute"]
        verdict = "met" if r["target_rate_met"] and r["target_no_429_met"] else "NOT met"
        if not r["target_no_429_met"]:
            verdict += f" ({r['server_429']} x 429)"
        if not r["target_rate_met"]:
            verdict += f" ({r['achieved_fraction_of_budget']:.0%} < {TARGET_FRACTION:.0%})"
        if steady is not None and steady > 1.05 * r["server_budget_per_minute"]:
            verdict += ", far above the budget"
        rows.append((
            r["scenario"],
            budget,
            f"{r['elapsed_seconds']:.2f} s",
            f"{r['achieved_calls_per_minute']:.0f} ({r['achieved_fraction_of_budget']:.0%})",
            f"{steady:.0f} ({r['steady_state_fraction_of_budget']:.0%})" if steady is not None else "-",
            f"{r['attempts_in_first_second']} / {r['peak_attempts_in_any_1s_window']}",
            str(r["server_429"]),
            str(r["client_stats_delta"]["retries"]),
            f"{r['client_stats_delta']['limiter_wait_seconds']:.1f} s",
            verdict,
        ))
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(cell.ljust(width) for cell, width in zip(cells, widths)).rstrip()

    return "\n".join([line(header), line(tuple("-" * w for w in widths)), *map(line, rows), "",
                      *(f"{name}: {text}" for name, text in DESCRIPTIONS.items() if name in {r["scenario"] for r in results})])


DESCRIPTIONS = {
    "paced": "default client budgets (org_analytics 300/min), the server's budget is full (the requirement)",
    "oblivious": "client configured with a higher budget; it adopts the server's X-RateLimit-Limit from the first answer",
    "spent": "default client budgets, but the server's org_analytics budget was used up just before the run",
    "unpaced": "control: client configured with a higher budget and the server sends no X-RateLimit-* headers",
}
SCENARIOS = ("paced", "oblivious", "spent", "unpaced")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.client_budget", description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=100, help="independent org_analytics calls per scenario (default: 100)")
    parser.add_argument("--latency-ms", type=int, default=100, help="simulator latency per call (default: 100)")
    parser.add_argument("--budget", type=int, default=300, help="server's org_analytics calls/minute (default: 300)")
    parser.add_argument("--oblivious-budget", type=int, default=3000,
                        help="client budget of the 'oblivious' and 'unpaced' scenarios, unaware of the server's (default: 3000)")
    parser.add_argument("--concurrency", type=int, default=4, help="client thread pool size (default: 4)")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help=f"comma-separated subset of {','.join(SCENARIOS)}")
    parser.add_argument("--output", type=Path, default=RESULTS, help=f"JSON file to write (default: {RESULTS.relative_to(ROOT)})")
    args = parser.parse_args(argv)
    chosen = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    if unknown := set(chosen) - set(SCENARIOS):
        parser.error(f"unknown scenario(s): {', '.join(sorted(unknown))}")

    settings = {
        "paced": {"client_budget": None, "spend_server_budget": False},
        "oblivious": {"client_budget": args.oblivious_budget, "spend_server_budget": False},
        "spent": {"client_budget": None, "spend_server_budget": True},
        "unpaced": {"client_budget": args.oblivious_budget, "spend_server_budget": False, "rate_limit_headers": False},
    }
    load_before = load_average()
    if load_before and load_before[0] > 0.5:
        print(f"warning: load average {load_before[0]} before the run (other work skews the timings)", file=sys.stderr)
    started = time.perf_counter()
    results = []
    for name in chosen:
        t0 = time.perf_counter()
        print(f"running {name} ...", file=sys.stderr, flush=True)
        results.append(run_scenario(name, calls=args.calls, latency_ms=args.latency_ms, server_budget=args.budget,
                                    concurrency=args.concurrency, **settings[name]))
        print(f"  done in {time.perf_counter() - t0:.1f}s", file=sys.stderr, flush=True)

    report = {
        "benchmark": "client_budget",
        "requirement": ("With the simulator adding 100 ms latency per call and a budget of 300 calls/minute, an extraction "
                        "of 100 independent calls keeps the achieved call rate within 90 % of the budget and makes zero 429s."),
        "command": shlex.join(getattr(sys, "orig_argv", [sys.executable, "-m", "bench.client_budget", *sys.argv[1:]])),
        "cwd": str(Path.cwd()),
        "date_utc": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": {**machine_info(), "load_average_before": load_before, "load_average_after": load_average()},
        "git": {**git_revision(), "client_files_modified": client_files_modified()},
        "settings": {"seed": SEED, "today": TODAY.isoformat(), "pins": PINS, "window": [START, END],
                     "endpoint": "multi_pins/analytics (GET /v5/pins/analytics, metric_types=IMPRESSION)",
                     "category": CATEGORY, "calls": args.calls, "latency_ms": args.latency_ms,
                     "server_budget_per_minute": args.budget, "server_other_categories_per_minute": UNTHROTTLED,
                     "client_default_budgets_per_minute": DEFAULT_BUDGETS_PER_MINUTE,
                     "client_burst_seconds": DEFAULT_BURST_SECONDS, "concurrency": args.concurrency,
                     "target": f"achieved calls/minute >= {TARGET_FRACTION:.0%} of the server budget, zero 429s",
                     "server": "own process (ThreadingHTTPServer); universal 100 calls/s limit left on"},
        "results": results,
        "total_seconds": round(time.perf_counter() - started, 1),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    m = report["machine"]
    print(f"Pinterest client rate-budget benchmark - {report['date_utc']}")
    print(f"{m['cpu_model']}, {m['cores']} cores ({m['cores_usable']} usable), Python {m['python']}; "
          f"load average {load_before} before, {m['load_average_after']} after")
    print(f"{args.calls} x GET /pins/analytics ({CATEGORY}), simulator latency {args.latency_ms} ms, server budget "
          f"{args.budget}/min, concurrency {args.concurrency}; ideal token bucket: "
          f"{results[0]['ideal_token_bucket_seconds'] if results else '-'} s\n")
    print(table(results))
    out = args.output.resolve()
    print(f"\nwrote {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out} in {report['total_seconds']}s total")
    paced = [r for r in results if r["scenario"] == "paced"]
    if paced:
        verdict = "met" if paced[0]["target_rate_met"] and paced[0]["target_no_429_met"] else "NOT met"
        print(f"requirement (scenario 'paced'): {verdict}")
    return 0 if all(r["target_rate_met"] and r["target_no_429_met"] for r in paced) else 1


if __name__ == "__main__":
    sys.exit(main())
