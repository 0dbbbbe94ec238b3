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
and duckdb (to count rows, read-only) are used, plus the helpers of bench/simulator.py.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import hashlib
import importlib.metadata
import io
import json
import math
import os
import pstats
import re
import shlex
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from bench.simulator import load_average, machine_info

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "organic.json"
BIN = Path(sys.executable).parent  # .venv/bin: pinterest-etl and python live here

TODAY = dt.date(2026, 11, 28)
SEED = 42
START, END = dt.date(2026, 8, 31), dt.date(2026, 11, 27)  # the backfill: 89 complete days, one 90-day window
START_DATE = START  # PINTEREST_START_DATE, the first daily partition
DAYS = (END - START).days + 1
BOARDS = 12  # the simulator's default
SPLITS = 1  # PINTEREST_ORGANIC_SPLITS unset: APP_TYPE only
CATEGORIES = ("org_analytics", "org_read", "org_write", "ads_analytics", "ads_read")
RAISED_BUDGET = 1_000_000  # calls per minute per category, on the simulator and in the client
WORLDS = {"default": 500, "20k": 20_000}
ORGANIC_STEPS = ("organic_dimensions", "organic_raw", "organic_lake", "organic_warehouse")
ADS_STEPS = ("ads_dimensions", "ads_raw", "ads_lake", "ads_warehouse")
ORGANIC_ENTITIES = ("user_account", "pin")
TIME = Path("/usr/bin/time")  # GNU time: -v reports the peak RSS
SAMPLE_SECONDS = 0.2  # how often the process tree's memory is sampled

# The newest run of the Dagster instance in DAGSTER_HOME: its duration and each step's.
_STEP_STATS = r"""
import json, dagster as dg
instance = dg.DagsterInstance.get()
runs = instance.get_runs(limit=1)
if runs:
    run = runs[0]
    stats = instance.get_run_stats(run.run_id)
    steps = {s.step_key: round(s.end_time - s.start_time, 3) for s in instance.get_run_step_stats(run.run_id)
             if s.start_time and s.end_time}
    print(json.dumps({"run_id": run.run_id, "status": run.status.value,
                      "run_seconds": round(stats.end_time - stats.start_time, 3), "steps_seconds": steps}))
else:
    print(json.dumps({}))
"""


# --------------------------------------------------------------------------------------------- helpers
def expected_calls(pins: int, days: int = DAYS, splits: int = SPLITS, boards: int = BOARDS) -> dict[str, int]:
    """The plan: ceil(D/90) x (1 + splits + ceil(P/100)) analytics calls, plus paging the dimensions
    (250 items a page)."""
    windows = math.ceil(days / 90)
    return {"user_account/get": 1, "boards/list": max(1, math.ceil(boards / 250)), "pins/list": max(1, math.ceil(pins / 250)),
            "user_account/analytics": windows * (1 + splits), "multi_pins/analytics": windows * math.ceil(pins / 100)}


def _delta(after: dict, before: dict) -> dict:
    return {k: after.get(k, 0) - before.get(k, 0) for k in sorted(set(after) | set(before)) if after.get(k, 0) != before.get(k, 0)}


def size_of(*paths: Path) -> dict:
    """Apparent bytes and bytes allocated on disk (st_blocks) under the paths, files and folders alike."""
    apparent = allocated = files = 0
    for top in paths:
        if not top.exists():
            continue
        walk = [(str(top.parent), [], [top.name])] if top.is_file() else os.walk(top)
        for folder, _, names in walk:
            for name in names:
                st = os.lstat(os.path.join(folder, name))
                apparent += st.st_size
                allocated += st.st_blocks * 512
                files += 1
    return {"bytes": apparent, "on_disk_bytes": allocated, "files": files}


def versions() -> dict:
    out = {}
    for package in ("dagster", "duckdb", "pyarrow", "requests"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            out[package] = importlib.metadata.version(package)
    return out


def git_state() -> dict:
    """The commit measured, and whether (and how) the code under test (pipelines/, assets/) differed from it."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10).stdout
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        diff = git("diff", "HEAD", "--", "pipelines", "assets")
        untracked = git("ls-files", "--others", "--exclude-standard", "--", "pipelines", "assets").split()
        return {"commit": git("rev-parse", "HEAD").strip() or None, "code_modified": bool(diff or untracked),
                "code_diff_sha1": hashlib.sha1(diff.encode()).hexdigest() if diff else None, "untracked": untracked}
    return {"commit": None, "code_modified": None, "code_diff_sha1": None, "untracked": None}


class TreeSampler(threading.Thread):
    """Samples, every SAMPLE_SECONDS, the summed VmRSS of a process and all its descendants (from /proc), and
    the VmHWM (peak RSS) the kernel keeps for each of them. Linux only; does nothing elsewhere."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid, self.stop_event = pid, threading.Event()
        self.peak_tree_rss_kb = 0
        self.hwm_kb: dict[int, int] = {}  # pid -> last VmHWM seen
        self.names: dict[int, str] = {}
        self.samples = 0

    def _tree(self) -> list[int]:
        children: dict[int, list[int]] = {}
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            with contextlib.suppress(OSError, ValueError, IndexError):
                stat = Path(entry.path, "stat").read_text()
                ppid = int(stat.rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(entry.name))
        tree, todo = [], [self.pid]
        while todo:
            pid = todo.pop()
            tree.append(pid)
            todo.extend(children.get(pid, []))
        return tree

    def run(self) -> None:
        if not Path("/proc/self/status").exists():
            return
        while not self.stop_event.is_set():
            total = 0
            for pid in self._tree():
                with contextlib.suppress(OSError):
                    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
                    total += int(fields.get("VmRSS", "0 kB").split()[0])
                    self.hwm_kb[pid] = max(self.hwm_kb.get(pid, 0), int(fields.get("VmHWM", "0 kB").split()[0]))
                    self.names[pid] = fields.get("Name", "?").strip()
            self.peak_tree_rss_kb = max(self.peak_tree_rss_kb, total)
            self.samples += 1
            self.stop_event.wait(SAMPLE_SECONDS)

    def result(self) -> dict:
        return {"sampled_peak_tree_rss_mb": round(self.peak_tree_rss_kb / 1024, 1), "samples": self.samples,
                "processes_seen": sorted({name for name in self.names.values()}),
                "max_vmhwm_mb": round(max(self.hwm_kb.values(), default=0) / 1024, 1)}


def parse_gnu_time(text: str) -> dict:
    """The fields of `/usr/bin/time -v` that matter here."""
    fields = {}
    for line in text.splitlines():
        key, _, value = line.strip().rpartition(": ")
        fields[key] = value
    out = {}
    if "Maximum resident set size (kbytes)" in fields:
        out["peak_rss_mb"] = round(int(fields["Maximum resident set size (kbytes)"]) / 1024, 1)
    for key, name in (("User time (seconds)", "user_cpu_seconds"), ("System time (seconds)", "system_cpu_seconds")):
        if key in fields:
            out[name] = float(fields[key])
    if (cpu := fields.get("Percent of CPU this job got", "").rstrip("%")).isdigit():
        out["cpu_percent"] = int(cpu)
    return out


# ------------------------------------------------------------------------------------------ simulator
class Simulator:
    """`pinterest-etl sandbox --port 0` in a child process, every per-minute budget raised."""

    def __init__(self, pins: int, log: Path):
        command = [str(BIN / "pinterest-etl"), "sandbox", "--port", "0", "--today", TODAY.isoformat(), "--seed", str(SEED),
                   "--pins", str(pins), *[arg for c in CATEGORIES for arg in ("--rate-limit", f"{c}={RAISED_BUDGET}")]]
        self.command = command
        self.log = log.open("w")
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(command, cwd=log.parent, env=_base_env(), stdout=subprocess.PIPE, stderr=self.log,
                                     text=True)
        first = self.proc.stdout.readline()
        if " at http" not in first:
            self.stop()
            raise RuntimeError(f"`{shlex.join(command)}` did not start: {first!r} (see {log})")
        self.ready_seconds = time.perf_counter() - t0
        self.base_url = first.rsplit(" at ", 1)[1].strip()
        self.root_url = self.base_url.removesuffix("/v5")
        # Keep reading its stdout, so the child can never block on a full pipe.
        threading.Thread(target=lambda: [None for _ in self.proc.stdout], daemon=True).start()

    def stats(self) -> dict:
        with urllib.request.urlopen(f"{self.root_url}/_sandbox/stats", timeout=30) as response:
            return json.loads(response.read())

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


_CODE: dict[str, str] = {}  # {"path": ...} when the code under test is a snapshot of a commit (--rev)


def _base_env() -> dict[str, str]:
    """This process's environment without any PINTEREST_* or DAGSTER_HOME setting of the caller's; with --rev,
    the snapshot of pipelines/ and assets/ comes first on PYTHONPATH (before the editable install's finder)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PINTEREST_") and k != "DAGSTER_HOME"}
    env["PYTHONUNBUFFERED"] = "1"
    if "path" in _CODE:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [_CODE["path"], env.get("PYTHONPATH")]))
    return env


def snapshot_code(rev: str, dest: Path) -> str:
    """Extract pipelines/ and assets/ of a commit into dest (the working tree is left alone); its full hash."""
    sha = subprocess.run(["git", "rev-parse", "--verify", f"{rev}^{{commit}}"], cwd=ROOT, capture_output=True, text=True,
                         check=True, timeout=10).stdout.strip()
    archive = subprocess.run(["git", "archive", "--format=tar", sha, "pipelines", "assets"], cwd=ROOT, capture_output=True,
                             check=True, timeout=60).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(dest, filter="data")
    return sha


def pipeline_env(home: Path, dagster_home: Path | None, base_url: str) -> dict[str, str]:
    """What `pinterest-etl run` reads. With a DAGSTER_HOME (as `make run` sets) the run and its step timings are
    recorded there; without one the run uses an ephemeral, in-memory Dagster instance."""
    return {**_base_env(), "PINTEREST_ETL_HOME": str(home), **({"DAGSTER_HOME": str(dagster_home)} if dagster_home else {}),
            "PINTEREST_API_BASE_URL": base_url, "PINTEREST_ACCESS_TOKEN": "pina_SANDBOX",
            "PINTEREST_REFRESH_TOKEN": "pinr_SANDBOX", "PINTEREST_ETL_TODAY": TODAY.isoformat(),
            "PINTEREST_START_DATE": START_DATE.isoformat(),
            "PINTEREST_RATE_BUDGETS": ",".join(f"{c}={RAISED_BUDGET}" for c in CATEGORIES)}


# ------------------------------------------------------------------------------------------- one run
def run_pipeline(command: list[str], env: dict[str, str], workdir: Path, label: str, sim: Simulator | None) -> dict:
    """Run one pipeline command in a child process; its wall time, memory, CPU, calls, steps and output."""
    time_file = workdir / f"{label}.time"
    wrapped = [str(TIME), "-v", "-o", str(time_file), *command] if TIME.exists() else command
    before = sim.stats() if sim else None
    out_path, err_path = workdir / f"{label}.stdout", workdir / f"{label}.stderr"
    with out_path.open("w") as out, err_path.open("w") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(wrapped, cwd=workdir, env=env, stdout=out, stderr=err)
        sampler = TreeSampler(proc.pid)
        sampler.start()
        code = proc.wait()
        wall = time.perf_counter() - t0
        sampler.stop_event.set()
        sampler.join()
    stdout = out_path.read_text()
    if code != 0:
        tail = "\n".join(err_path.read_text().splitlines()[-15:])
        raise RuntimeError(f"`{shlex.join(command)}` exited with {code}:\n{tail}")
    result = {"command": shlex.join(command), "wall_seconds": round(wall, 3)}
    if TIME.exists():
        result.update(parse_gnu_time(time_file.read_text()), peak_rss_source="GNU time -v: the largest single process")
    else:
        result.update(peak_rss_mb=sampler.result()["max_vmhwm_mb"], peak_rss_source="/proc VmHWM, sampled")
    result["memory_sampling"] = sampler.result()
    if sim:
        after = sim.stats()
        result["api_calls"] = _delta(after["requests"], before["requests"])
        result["api_calls_total"] = sum(result["api_calls"].values())
        result["api_responses"] = _delta(after["responses"], before["responses"])
    result["summary"] = [line.strip() for line in stdout.split("\nWarehouse ")[0].splitlines() if line.startswith("  ")]
    metric_rows = re.search(r"organic_lake: metric_rows=(\d+)", stdout)
    result["lake_metric_rows"] = int(metric_rows.group(1)) if metric_rows else None
    return result


def dagster_steps(env: dict[str, str], workdir: Path) -> dict:
    """Step durations of the newest run recorded in env's DAGSTER_HOME ({} without one)."""
    if "DAGSTER_HOME" not in env:
        return {}
    done = subprocess.run([sys.executable, "-c", _STEP_STATS], cwd=workdir, env=env, capture_output=True, text=True,
                          timeout=300)
    if done.returncode != 0:
        return {"error": (done.stderr.strip().splitlines() or ["unknown"])[-1]}
    return json.loads(done.stdout)


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


def storage(home: Path) -> dict:
    return {"warehouse": size_of(home / "warehouse.duckdb", home / "warehouse.duckdb.wal"),
            "lake": size_of(home / "lake"), "raw": size_of(home / "raw")}


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
    roots = [ROOT] + ([Path(_CODE["path"])] if "path" in _CODE else [])
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
    workdir = Path(tempfile.mkdtemp(prefix=f"bench-organic-{name}-"))
    home = workdir / "home"
    shm = Path("/dev/shm")
    dagster_home = Path(tempfile.mkdtemp(prefix=f"bench-organic-{name}-dagster-", dir=shm if shm.is_dir() else workdir))
    shutil.copy(ROOT / ".dagster" / "dagster.yaml", dagster_home / "dagster.yaml")  # the instance `make run` uses
    sim = None
    try:
        sim = Simulator(pins, workdir / "simulator.log")
        recorded = pipeline_env(home, dagster_home, sim.base_url)
        # Create the instance's SQLite storage now, as a first `make run` would have: not part of any timed run.
        subprocess.run([sys.executable, "-c", "import dagster; dagster.DagsterInstance.get().get_runs(limit=1)"],
                       cwd=workdir, env=recorded, check=True, capture_output=True, timeout=300)
        yield {"name": name, "pins": pins, "workdir": workdir, "home": home, "sim": sim, "dagster_home": str(dagster_home),
               "env": pipeline_env(home, None, sim.base_url), "env_recorded": recorded}
    finally:
        if sim:
            sim.stop()
        if keep:
            print(f"  kept {workdir} and {dagster_home}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
            shutil.rmtree(dagster_home, ignore_errors=True)


def supports_only(env: dict[str, str]) -> bool:
    """Whether the code under test has `pinterest-etl run --only organic|ads`."""
    done = subprocess.run([str(BIN / "pinterest-etl"), "run", "--help"], env=env, capture_output=True, text=True, timeout=60)
    return "--only" in done.stdout


def run_world(w: dict, limit: float, profile: bool, force_profile: bool, top: int, extra_run: bool,
              only: list[str]) -> dict:
    started = time.perf_counter()
    cli = str(BIN / "pinterest-etl")
    window = ["--start", START.isoformat(), "--end", END.isoformat(), *only]
    expected = expected_calls(w["pins"])
    result = {"world": w["name"], "pins": w["pins"], "simulator_command": shlex.join(w["sim"].command),
              "simulator_ready_seconds": round(w["sim"].ready_seconds, 3), "expected_organic_api_calls": expected,
              "expected_organic_api_calls_total": sum(expected.values()), "skipped": []}
    print(f"  {w['name']}: full run ...", file=sys.stderr, flush=True)
    full = measured_run([cli, "run", *window], w["env"], w["workdir"], "full", w["sim"], w["home"])
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
    for endpoint in expected_calls(1):
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

    load_before = load_average()
    if load_before and load_before[0] > 0.5:
        print(f"warning: load average {load_before[0]} before the run (other work skews the timings)", file=sys.stderr)
    started = time.perf_counter()
    results = []
    code = {"source": "working tree", **git_state()}
    with contextlib.ExitStack() as stack:
        if args.rev:
            snapshot = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-organic-code-")))
            sha = snapshot_code(args.rev, snapshot)
            _CODE["path"] = str(snapshot)
            code = {"source": f"git archive of pipelines/ and assets/ at {args.rev}", "commit": sha,
                    "working_tree": git_state()}
            print(f"code under test: pipelines/ and assets/ of {sha[:12]} ({args.rev})", file=sys.stderr)
        worlds = {}
        only: list[str] = []
        if args.assets == "organic":
            if supports_only(_base_env()):
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
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    m = report["machine"]
    print(f"Organic pipeline benchmark - {report['date_utc']}")
    print(f"{m['cpu_model']}, {m['cores']} cores ({m['cores_usable']} usable), Python {m['python']}, dagster "
          f"{m.get('dagster')}, duckdb {m.get('duckdb')}; load average {load_before} before, {m['load_average_after']} after")
    print(f"backfill {START}..{END} ({DAYS} days), today {TODAY}, seed {SEED}, budgets raised to {RAISED_BUDGET:,}/min\n")
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
