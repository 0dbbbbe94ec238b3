"""Benchmark of the object store: the S scenario's backfill with the lake and the raw zone on a local S3 server
(moto) against the same on local disk.

Run from the repository root (moto and boto3 come with the dev extra, `pip install -e .[dev]`):

    .venv/bin/python -m bench.object_store               # 3 repetitions, about 3 min
    .venv/bin/python -m bench.object_store --repeats 1

It prints a table and writes bench/results/object_store.json (numbers, machine, date, code measured and the exact
commands). Against one standalone simulator subprocess with the S scenario's world (bench/worlds.py: `pinterest-etl
sandbox --port 0 --today 2026-11-28 --epoch 2026-11-28 --seed 42 --pins 500 --ad-accounts 2 --campaigns 6 --ad-groups 2
--ads 3`, every per-minute budget raised, as are the client's), without DAGSTER_HOME (the command's ephemeral instance),
each repetition measures, for local disk and then for S3, in fresh PINTEREST_ETL_HOMEs:

1. `pinterest-etl run --start 2026-08-31 --end 2026-11-27` (the S scenario's first run);
2. the same command again at once, in the same home (an idempotent re-run);
3. `pinterest-etl load --start 2026-08-31 --end 2026-11-27` on a "second machine": a fresh PINTEREST_ETL_HOME with
   the same store. On S3 that is the same PINTEREST_LAKE_URI / PINTEREST_RAW_URI; on local disk the first home's
   `lake/` folder is copied into the new home first (shutil.copytree, timed apart: `copy_seconds`).

On S3, PINTEREST_LAKE_URI=s3://<bucket>/lake and PINTEREST_RAW_URI=s3://<bucket>/raw, with AWS_ENDPOINT_URL pointing at
moto's ThreadedMotoServer on 127.0.0.1 (started in this process, as tests/store_support.py does; a new bucket per
repetition, made with boto3). Every HTTP request the server receives while a step runs is counted by a WSGI
middleware wrapped around moto's application (by method, by S3 operation, by status, bytes in and out): exact, with
nothing sampled or parsed from logs. The store's objects and bytes are listed with boto3 after each step (those
listings are not counted). For each step: wall time, GNU time, the Dagster run's and each step's seconds (the
summary's `run:` line; on S3 the run's seconds outside the steps include pulling the lake), this process's CPU while
the step ran (moto's server threads, on S3), API calls by endpoint (the simulator's /_sandbox/stats), the local sizes (warehouse, lake/, raw/ and the object stores' copies under stores/), and the
warehouse's row count per table (which must be equal on disk and S3). The table shows medians over the repetitions.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import re
import shlex
import shutil
import statistics
import sys
import threading
import time
import urllib.parse
from collections import Counter
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
    size_of,
    versions,
    warn_if_busy,
    write_and_introduce,
)
from bench.simulator import load_average, machine_info
from bench.worlds import SCENARIOS

RESULTS = ROOT / "bench" / "results" / "object_store.json"
SCENARIO = SCENARIOS["S"]
ACCESS_KEY, SECRET_KEY = "AKIABENCHSTOREKEY001", "bench-store-secret-0000000000"
STEPS = ("first_run", "rerun", "second_machine_load")
MISSING = "moto and boto3 are needed for the local S3 server: `.venv/bin/pip install -e .[dev]`"


# ------------------------------------------------------------------------------------------ the S3 server
class CountingApp:
    """A WSGI middleware around moto's application: every request counted by method, S3 operation and status,
    with the payload bytes received (x-amz-decoded-content-length: the AWS SDK streams uploads aws-chunked, else
    Content-Length) and the response body's bytes sent; and the key of every PutObject."""

    def __init__(self, app):
        self.app, self.lock = app, threading.Lock()
        self.methods, self.operations, self.statuses, self.put_keys = Counter(), Counter(), Counter(), Counter()
        self.bytes_in = self.bytes_out = self.in_flight = 0

    def __call__(self, environ, start_response):
        # Counted as the request arrives (so a snapshot taken once the client has its answer includes it); the
        # status and the bytes sent when the answer has been written.
        method, path = environ.get("REQUEST_METHOD", "?"), environ.get("PATH_INFO", "")
        operation = s3_operation(method, path, environ.get("QUERY_STRING", ""), environ)
        with self.lock:
            self.in_flight += 1
            self.methods[method] += 1
            self.operations[operation] += 1
            self.bytes_in += int(environ.get("HTTP_X_AMZ_DECODED_CONTENT_LENGTH") or environ.get("CONTENT_LENGTH") or 0)
            if operation == "PutObject":
                self.put_keys[urllib.parse.unquote(path).lstrip("/")] += 1
        status = []

        def counting_start(code, headers, exc_info=None):
            status.append(code.split()[0])
            return start_response(code, headers, exc_info) if exc_info else start_response(code, headers)

        sent = 0
        try:
            body = self.app(environ, counting_start)
            try:
                for chunk in body:
                    sent += len(chunk)
                    yield chunk
            finally:
                if hasattr(body, "close"):
                    body.close()
        finally:
            with self.lock:
                self.in_flight -= 1
                self.statuses[status[0] if status else "?"] += 1
                self.bytes_out += sent

    def snapshot(self) -> dict:
        """The counts so far, once no request is in flight (waits up to 2 s for the last answers to be written)."""
        deadline = time.monotonic() + 2
        while self.in_flight and time.monotonic() < deadline:
            time.sleep(0.01)
        with self.lock:
            return {"methods": dict(self.methods), "operations": dict(self.operations), "statuses": dict(self.statuses),
                    "put_keys": dict(self.put_keys), "bytes_in": self.bytes_in, "bytes_out": self.bytes_out,
                    "in_flight": self.in_flight}


def s3_operation(method: str, path: str, query: str, environ: dict) -> str:
    """The S3 operation of a path-style request (`/bucket[/key]`), named as in S3's API reference."""
    has_key = "/" in path.strip("/")
    params = urllib.parse.parse_qs(query, keep_blank_values=True)
    if method == "GET":
        return "GetObject" if has_key else ("ListObjectsV2" if "list-type" in params else "ListObjects")
    if method == "HEAD":
        return "HeadObject" if has_key else "HeadBucket"
    if method == "PUT":
        if not has_key:
            return "CreateBucket"
        if "uploadId" in params:
            return "UploadPart"
        return "CopyObject" if "HTTP_X_AMZ_COPY_SOURCE" in environ else "PutObject"
    if method == "POST":
        if "uploads" in params:
            return "CreateMultipartUpload"
        if "uploadId" in params:
            return "CompleteMultipartUpload"
        return "DeleteObjects" if "delete" in params else "POST other"
    if method == "DELETE":
        return ("AbortMultipartUpload" if "uploadId" in params else "DeleteObject") if has_key else "DeleteBucket"
    return f"{method} other"


class S3Server:
    """moto's ThreadedMotoServer on a free port of 127.0.0.1 (as tests/store_support.py starts it), its
    application wrapped in CountingApp before the first request."""

    def __init__(self):
        import logging

        import boto3
        import moto.server

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # a line per request otherwise
        self._server = moto.server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._server.start()
        self.counter = CountingApp(self._server._server.app)
        self._server._server.app = self.counter  # werkzeug's handler reads server.app for each request
        host, port = self._server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
        self.client = boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id=ACCESS_KEY,
                                   aws_secret_access_key=SECRET_KEY, region_name="us-east-1")

    def stop(self) -> None:
        self._server.stop()

    def env(self, bucket: str) -> dict[str, str]:
        return {"PINTEREST_LAKE_URI": f"s3://{bucket}/lake", "PINTEREST_RAW_URI": f"s3://{bucket}/raw",
                "AWS_ENDPOINT_URL": self.endpoint, "AWS_ACCESS_KEY_ID": ACCESS_KEY,
                "AWS_SECRET_ACCESS_KEY": SECRET_KEY, "AWS_REGION": "us-east-1"}

    def inventory(self, bucket: str) -> dict:
        """Objects and bytes under lake/ and raw/ (and elsewhere) in the bucket."""
        out: dict[str, dict] = {}
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for obj in page.get("Contents", []):
                top = obj["Key"].split("/", 1)[0] if "/" in obj["Key"] else "(root)"
                entry = out.setdefault(top, {"objects": 0, "bytes": 0})
                entry["objects"] += 1
                entry["bytes"] += obj["Size"]
        out["total"] = {"objects": sum(e["objects"] for e in out.values()), "bytes": sum(e["bytes"] for e in out.values())}
        return out


def requests_delta(after: dict, before: dict) -> dict:
    out = {key: common.delta(after[key], before[key]) for key in ("methods", "operations", "statuses")}
    out["total"] = sum(out["methods"].values())
    puts = common.delta(after["put_keys"], before["put_keys"])
    out["put_distinct_keys"] = len(puts)
    out["put_keys_more_than_once"] = sorted(k for k, n in puts.items() if n > 1)
    if len(puts) <= 20:
        out["put_keys"] = puts
    out["bytes_in"] = after["bytes_in"] - before["bytes_in"]
    out["bytes_out"] = after["bytes_out"] - before["bytes_out"]
    out["in_flight_at_end"] = after["in_flight"]
    return out


# ------------------------------------------------------------------------------------------ measuring
def local_sizes(home: Path) -> dict:
    sizes = {"warehouse": size_of(home / "warehouse.duckdb", home / "warehouse.duckdb.wal"), "lake": size_of(home / "lake"),
             "raw": size_of(home / "raw"), "stores": size_of(home / "stores")}
    sizes["total"] = size_of(home)
    return sizes


def warehouse_rows(home: Path) -> dict[str, int]:
    """Rows per table of the home's warehouse."""
    import duckdb

    path = home / "warehouse.duckdb"
    if not path.exists():
        return {}
    with duckdb.connect(str(path), read_only=True) as con:
        tables = [r[0] for r in con.execute("SELECT table_schema || '.' || table_name FROM information_schema.tables "
                                            "WHERE table_type = 'BASE TABLE' ORDER BY 1").fetchall()]
        return {t: con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0] for t in tables}


def run_timing(summary: list[str]) -> dict:
    """The run's `run: X s; steps: name Y s, ...` line: the Dagster run's seconds and each step's."""
    for line in summary:
        if found := re.match(r"\s*run: ([\d.]+) s; steps: (.*)", line):
            steps = {name: float(sec) for name, sec in re.findall(r"(\w+) ([\d.]+) s", found.group(2))}
            return {"run_seconds": float(found.group(1)), "steps_seconds": steps}
    return {}


def step(w: dict, command: list[str], env: dict, home: Path, label: str, s3: S3Server | None, bucket: str | None) -> dict:
    before = s3.counter.snapshot() if s3 else None
    print(f"  {label} ...", file=sys.stderr, flush=True)
    cpu = time.process_time()
    result, _ = run_pipeline(command, env, w["workdir"], label, w["sim"])
    # This process's CPU while the child ran: moto's server threads (on S3) and the memory sampler (both).
    result["bench_process_cpu_seconds"] = round(time.process_time() - cpu, 2)
    result.update(run_timing(result["summary"]))
    if s3:
        result["s3_requests"] = requests_delta(s3.counter.snapshot(), before)
        result["store"] = s3.inventory(bucket)
    result["local"] = local_sizes(home)
    result["warehouse_rows"] = warehouse_rows(home)
    return result


def run_store(w: dict, kind: str, repetition: int, s3: S3Server | None) -> dict:
    """The three steps on one store ('disk' or 's3') in fresh homes."""
    rng = ["--start", START.isoformat(), "--end", END.isoformat()]
    run, load = [str(BIN / "pinterest-etl"), "run", *rng], [str(BIN / "pinterest-etl"), "load", *rng]
    home, home2 = w["workdir"] / f"{kind}-{repetition}" / "home", w["workdir"] / f"{kind}-{repetition}" / "home2"
    home.mkdir(parents=True)
    home2.mkdir()
    bucket = None
    env = {**w["env"], "PINTEREST_ETL_HOME": str(home)}
    if s3:
        bucket = f"bench-store-{repetition}"
        s3.client.create_bucket(Bucket=bucket)
        env.update(s3.env(bucket))
    out = {"store": kind, "repetition": repetition, "bucket": bucket}
    out["first_run"] = step(w, run, env, home, f"{kind}-{repetition}-first_run", s3, bucket)
    out["rerun"] = step(w, run, env, home, f"{kind}-{repetition}-rerun", s3, bucket)
    if not s3:
        t0 = time.perf_counter()
        shutil.copytree(home / "lake", home2 / "lake")
        out["copy_seconds"] = round(time.perf_counter() - t0, 3)
        out["copied"] = size_of(home2 / "lake")
    out["second_machine_load"] = step(w, load, {**env, "PINTEREST_ETL_HOME": str(home2)}, home2,
                                      f"{kind}-{repetition}-second_machine_load", s3, bucket)
    return out


def _median(values) -> float | None:
    values = [v for v in values if v is not None]
    return round(statistics.median(values), 3) if values else None


def medians(results: list[dict]) -> dict:
    """Per store and step: the median wall time over the repetitions, and the counts of the first repetition
    (requests, objects, sizes and API calls are the same in each)."""
    out: dict[str, dict] = {}
    for kind in ("disk", "s3"):
        runs = [r for r in results if r["store"] == kind]
        if not runs:
            continue
        out[kind] = {}
        for name in STEPS:
            walls = [r[name]["wall_seconds"] for r in runs]
            first = runs[0][name]
            out[kind][name] = {"wall_seconds_median": round(statistics.median(walls), 3), "wall_seconds_runs": walls,
                               "run_seconds_median": _median(r[name].get("run_seconds") for r in runs),
                               "bench_process_cpu_seconds_median": _median(r[name]["bench_process_cpu_seconds"] for r in runs),
                               "api_calls_total": first.get("api_calls_total", 0),
                               "s3_requests": first.get("s3_requests"), "store": first.get("store"),
                               "local_bytes": first["local"]["total"]["bytes"],
                               "stores_copy_bytes": first["local"]["stores"]["bytes"]}
        if kind == "disk":
            out[kind]["copy_seconds_median"] = round(statistics.median(r["copy_seconds"] for r in runs), 3)
    return out


def table(summary: dict) -> str:
    lines = [f"{'step':<20} {'disk s':>7} {'S3 s':>7} {'API d/S3':>9} {'S3 requests by method':<40} "
             f"{'objects':>7} {'store MB':>8} {'copy MB':>7}"]
    for name in STEPS:
        d, s = summary.get("disk", {}).get(name, {}), summary.get("s3", {}).get(name, {})
        req = s.get("s3_requests") or {}
        methods = ", ".join(f"{m} {n:,}" for m, n in sorted(req.get("methods", {}).items())) or "-"
        store = (s.get("store") or {}).get("total", {})
        lines.append(f"{name:<20} {d.get('wall_seconds_median', 0):>7.1f} {s.get('wall_seconds_median', 0):>7.1f} "
                     f"{d.get('api_calls_total', 0):>4}/{s.get('api_calls_total', 0):<4} {methods:<40} "
                     f"{store.get('objects', 0):>7,} {store.get('bytes', 0) / 1e6:>8.2f} "
                     f"{s.get('stores_copy_bytes', 0) / 1e6:>7.2f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.object_store", description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="repetitions of the three steps per store (default: 3)")
    parser.add_argument("--rev", help="measure pipelines/ and assets/ as committed in REV instead of the working tree")
    parser.add_argument("--keep", action="store_true", help="keep the temporary homes")
    parser.add_argument("--output", type=Path, default=RESULTS, help=f"JSON file to write (default: {RESULTS.relative_to(ROOT)})")
    args = parser.parse_args(argv)
    try:
        import boto3  # noqa: F401
        import moto.server  # noqa: F401
    except ImportError:
        print(MISSING, file=sys.stderr)
        return 2

    accounts, campaigns, groups, ads = SCENARIO.ads
    sim_args = ["--epoch", TODAY.isoformat(), "--pins", str(SCENARIO.pins), "--ad-accounts", str(accounts),
                "--campaigns", str(campaigns), "--ad-groups", str(groups), "--ads", str(ads)]
    load_before = warn_if_busy()
    started = time.perf_counter()
    results: list[dict] = []
    with contextlib.ExitStack() as stack:
        code = code_under_test(stack, args.rev, "object_store")
        s3 = S3Server()
        stack.callback(s3.stop)
        with common.world("object_store", "S", sim_args, keep=args.keep) as w:
            simulator_command = shlex.join(w["sim"].command)
            for repetition in range(1, args.repeats + 1):
                print(f"repetition {repetition}/{args.repeats}", file=sys.stderr, flush=True)
                results.append(run_store(w, "disk", repetition, None))
                results.append(run_store(w, "s3", repetition, s3))
    summary = medians(results)
    report = {
        "benchmark": "object_store",
        "command": shlex.join(getattr(sys, "orig_argv", [sys.executable, "-m", "bench.object_store", *sys.argv[1:]])),
        "date_utc": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": {**machine_info(), **versions(), "load_average_before": load_before, "load_average_after": load_average()},
        "code": code,
        "settings": {"scenario": SCENARIO.title, "seed": SEED, "today": TODAY.isoformat(), "start": START.isoformat(),
                     "end": END.isoformat(), "days": DAYS, "range_shortened": False, "repeats": args.repeats,
                     "simulator": simulator_command,
                     "pipeline": "`.venv/bin/pinterest-etl run|load --start .. --end ..` subprocess without DAGSTER_HOME",
                     "s3": "moto ThreadedMotoServer on 127.0.0.1 in the benchmark's process; PINTEREST_LAKE_URI="
                           "s3://<bucket>/lake, PINTEREST_RAW_URI=s3://<bucket>/raw, AWS_ENDPOINT_URL, AWS_REGION="
                           "us-east-1, a new bucket per repetition",
                     "second_machine": "a fresh PINTEREST_ETL_HOME; on S3 the same bucket, on disk the first home's "
                                       "lake/ folder copied into it first (copy_seconds, not in the load's wall time)"},
        "method": {"s3_requests": "exact: a WSGI middleware wrapped around moto's application (server.app, before the "
                                  "first request) counts every HTTP request the server answers, by method, by S3 "
                                  "operation (from method, path and query), by status, with request bytes "
                                  "(Content-Length) and response body bytes; the counters are read before and "
                                  "after each step, so the bench's own boto3 listings are not counted",
                   "store": "boto3 list_objects_v2 of the bucket after each step: objects and bytes by top folder",
                   "local": "apparent bytes under the home (warehouse, lake/, raw/, stores/: the object stores' "
                            "local copies) after each step",
                   "api_calls": "the change in the simulator's /_sandbox/stats during each step",
                   "wall_seconds": "spawn to exit of the child, medians over the repetitions in `summary`"},
        "summary": summary,
        "results": results,
        "total_seconds": round(time.perf_counter() - started, 1),
    }
    write_and_introduce(report, args.output, "Object store benchmark", load_before,
                        f"S scenario {START}..{END} ({DAYS} days), lake and raw zone on local disk vs local S3 (moto), "
                        f"median of {args.repeats}")
    print(table(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
