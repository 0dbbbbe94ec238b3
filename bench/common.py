"""What the end-to-end benchmarks (bench/organic.py, bench/ads.py) share: the fixed backfill, the standalone simulator
subprocess, the pipeline's environment, one measured `pinterest-etl` child process (wall time, GNU time, the RSS of
its process tree, the API calls it made) and the record of the machine and the code measured.

Only the standard library is used here (duckdb is imported by the benchmarks themselves, to count rows).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import importlib.metadata
import io
import json
import math
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent  # .venv/bin: pinterest-etl and python live here

TODAY = dt.date(2026, 11, 28)
SEED = 42
START, END = dt.date(2026, 8, 31), dt.date(2026, 11, 27)  # the backfill: 89 complete days, one 90-day window
START_DATE = START  # PINTEREST_START_DATE, the first daily partition
DAYS = (END - START).days + 1
CATEGORIES = ("org_analytics", "org_read", "org_write", "ads_analytics", "ads_read")
RAISED_BUDGET = 1_000_000  # calls per minute per category, on the simulator and in the client
TIME = Path("/usr/bin/time")  # GNU time: -v reports the peak RSS
SAMPLE_SECONDS = 0.2  # how often the process tree's memory is sampled

# The newest run of the Dagster instance in DAGSTER_HOME: its duration and each step's.
STEP_STATS = r"""
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
def pin_analytics_batches(pins: int, video_pins: int) -> int:
    """Bulk pin analytics calls per window: 100 pins a call, one pin type (standard or video) per call."""
    return math.ceil((pins - video_pins) / 100) + math.ceil(video_pins / 100)


def video_pins(warehouse: Path) -> int:
    """Video pins in a run's warehouse (its `pins` table): the bulk calls batch them apart from the others."""
    import duckdb

    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute("SELECT count(*) FILTER (WHERE is_video) FROM pins").fetchall()[0][0]


def delta(after: dict, before: dict) -> dict:
    """after - before per key, the keys that changed only."""
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


def storage(home: Path) -> dict:
    return {"warehouse": size_of(home / "warehouse.duckdb", home / "warehouse.duckdb.wal"),
            "lake": size_of(home / "lake"), "raw": size_of(home / "raw")}


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
        self.started, self.peak_at = time.perf_counter(), None  # when the summed RSS peaked, seconds after start
        self.series: list[tuple[float, int]] = []  # (seconds after start, summed RSS in kB)

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
            moment = round(time.perf_counter() - self.started, 2)
            if total > self.peak_tree_rss_kb:
                self.peak_tree_rss_kb, self.peak_at = total, moment
            if not self.series or moment - self.series[-1][0] >= 1.0 or total > self.series[-1][1]:
                self.series.append((moment, total))  # about one sample a second, and every new high
            self.samples += 1
            self.stop_event.wait(SAMPLE_SECONDS)

    def result(self) -> dict:
        return {"sampled_peak_tree_rss_mb": round(self.peak_tree_rss_kb / 1024, 1), "peak_at_seconds": self.peak_at,
                "series_seconds_mb": [(t, round(kb / 1024)) for t, kb in self.series],
                "samples": self.samples,
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


# ------------------------------------------------------------------------------------------ code under test
CODE: dict[str, str] = {}  # {"path": ...} when the code under test is a snapshot of a commit (--rev)


def warn_if_busy() -> list | None:
    """The load average before a run, with a warning when other work would skew the timings."""
    from bench.simulator import load_average

    load = load_average()
    if load and load[0] > 0.5:
        print(f"warning: load average {load[0]} before the run (other work skews the timings)", file=sys.stderr)
    return load


def code_under_test(stack: contextlib.ExitStack, rev: str | None, benchmark: str) -> dict:
    """Which code a benchmark measures: the working tree, or (with --rev) a snapshot of pipelines/ and assets/
    at that commit, unpacked into a temporary directory that `stack` removes."""
    if not rev:
        return {"source": "working tree", **git_state()}
    snapshot = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=f"bench-{benchmark}-code-")))
    sha = snapshot_code(rev, snapshot)
    CODE["path"] = str(snapshot)
    print(f"code under test: pipelines/ and assets/ of {sha[:12]} ({rev})", file=sys.stderr)
    return {"source": f"git archive of pipelines/ and assets/ at {rev}", "commit": sha, "working_tree": git_state()}


def write_and_introduce(report: dict, output: Path, title: str, load_before: list | None, setting: str) -> None:
    """Write the report's JSON and print its heading: title and date, the machine, the benchmark's setting."""
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=2) + "\n")
    m = report["machine"]
    print(f"{title} - {report['date_utc']}")
    print(f"{m['cpu_model']}, {m['cores']} cores ({m['cores_usable']} usable), Python {m['python']}, dagster "
          f"{m.get('dagster')}, duckdb {m.get('duckdb')}; load average {load_before} before, {m['load_average_after']} after")
    print(setting + "\n")


def base_env() -> dict[str, str]:
    """This process's environment without any PINTEREST_* or DAGSTER_HOME setting of the caller's; with --rev,
    the snapshot of pipelines/ and assets/ comes first on PYTHONPATH (before the editable install's finder)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PINTEREST_") and k != "DAGSTER_HOME"}
    env["PYTHONUNBUFFERED"] = "1"
    if "path" in CODE:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [CODE["path"], env.get("PYTHONPATH")]))
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
    return {**base_env(), "PINTEREST_ETL_HOME": str(home), **({"DAGSTER_HOME": str(dagster_home)} if dagster_home else {}),
            "PINTEREST_API_BASE_URL": base_url, "PINTEREST_ACCESS_TOKEN": "pina_SANDBOX",
            "PINTEREST_REFRESH_TOKEN": "pinr_SANDBOX", "PINTEREST_ETL_TODAY": TODAY.isoformat(),
            "PINTEREST_START_DATE": START_DATE.isoformat(),
            "PINTEREST_RATE_BUDGETS": ",".join(f"{c}={RAISED_BUDGET}" for c in CATEGORIES)}


# ------------------------------------------------------------------------------------------ simulator
class SimulatorProcess:
    """`pinterest-etl sandbox --port 0 ARGS` in a child process (its own, so it never competes for the pipeline's
    interpreter lock); `banner` holds its first `banner_lines` lines of output."""

    def __init__(self, args: list[str], log: Path, banner_lines: int = 1):
        self.command = [str(BIN / "pinterest-etl"), "sandbox", "--port", "0", *args]
        self.log = log.open("w")
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(self.command, cwd=log.parent, env=base_env(), stdout=subprocess.PIPE,
                                     stderr=self.log, text=True)
        first = self.proc.stdout.readline()
        if " at http" not in first:
            self.stop()
            raise RuntimeError(f"`{shlex.join(self.command)}` did not start: {first!r} (see {log})")
        self.ready_seconds = time.perf_counter() - t0
        self.base_url = first.rsplit(" at ", 1)[1].strip()
        self.root_url = self.base_url.removesuffix("/v5")
        self.banner = [first.strip(), *(self.proc.stdout.readline().strip() for _ in range(banner_lines - 1))]
        # Keep reading its stdout so the child can never block on a full pipe.
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


class Simulator(SimulatorProcess):
    """The benchmarks' simulator: today and seed fixed, every per-minute budget raised; `world` are the arguments
    that size its world (e.g. ["--pins", "20000"]); its banner includes the world line."""

    def __init__(self, world: list[str], log: Path):
        super().__init__(["--today", TODAY.isoformat(), "--seed", str(SEED), *world,
                          *[arg for c in CATEGORIES for arg in ("--rate-limit", f"{c}={RAISED_BUDGET}")]], log,
                         banner_lines=2)


# ------------------------------------------------------------------------------------------- one run
class Stopped(RuntimeError):
    """The child ran longer than its time limit and was stopped; `result` holds what was measured until then."""

    def __init__(self, message: str, result: dict):
        super().__init__(message)
        self.result = result


def run_pipeline(command: list[str], env: dict[str, str], workdir: Path, label: str, sim: Simulator | None,
                 during=None, timeout: float | None = None) -> tuple[dict, str]:
    """Run one pipeline command in a child process: its wall time, memory, CPU, API calls (the change in the
    simulator's /_sandbox/stats) and summary lines, and its stdout. `during`, if given, is a context manager
    factory called with the start time (time.perf_counter()) that is entered while the child runs. With a
    timeout, the child runs in a process group of its own, and the whole group (GNU time and the pipeline) is
    stopped after `timeout` seconds: Stopped is raised, with the calls made until then."""
    time_file = workdir / f"{label}.time"
    wrapped = [str(TIME), "-v", "-o", str(time_file), *command] if TIME.exists() else command
    before = sim.stats() if sim else None
    out_path, err_path = workdir / f"{label}.stdout", workdir / f"{label}.stderr"
    with out_path.open("w") as out, err_path.open("w") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(wrapped, cwd=workdir, env=env, stdout=out, stderr=err, start_new_session=timeout is not None)
        sampler = TreeSampler(proc.pid)
        sampler.start()
        stopped = False
        with during(t0) if during else contextlib.nullcontext():
            try:
                code = proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                stopped = True
                _stop_group(proc)
                code = proc.returncode
            wall = time.perf_counter() - t0
        sampler.stop_event.set()
        sampler.join()
    stdout = out_path.read_text()
    if stopped:
        result = {"command": shlex.join(command), "stopped_after_seconds": round(wall, 3),
                  "memory_sampling": sampler.result()}
        if sim:
            after = sim.stats()
            result["api_calls_before_stop"] = delta(after["requests"], before["requests"])
            result["api_responses_before_stop"] = delta(after["responses"], before["responses"])
        raise Stopped(f"`{shlex.join(command)}` was stopped after {wall:.0f} s (limit {timeout:g} s)", result)
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
        result["api_calls"] = delta(after["requests"], before["requests"])
        result["api_calls_total"] = sum(result["api_calls"].values())
        result["api_responses"] = delta(after["responses"], before["responses"])
    result["summary"] = [line.strip() for line in stdout.split("\nWarehouse ")[0].splitlines() if line.startswith("  ")]
    return result, stdout


def _stop_group(proc: subprocess.Popen) -> None:
    """SIGTERM, then SIGKILL after 10 s, to the child's own process group (started with start_new_session)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=10)
            return
        except subprocess.TimeoutExpired:
            continue


def lake_metric_rows(stdout: str, step: str) -> int | None:
    """The metric_rows a lake step reported in the run's summary (e.g. step='ads_lake')."""
    found = re.search(rf"{re.escape(step)}: metric_rows=(\d+)", stdout)
    return int(found.group(1)) if found else None


def dagster_steps(env: dict[str, str], workdir: Path) -> dict:
    """Step durations of the newest run recorded in env's DAGSTER_HOME ({} without one)."""
    if "DAGSTER_HOME" not in env:
        return {}
    done = subprocess.run([sys.executable, "-c", STEP_STATS], cwd=workdir, env=env, capture_output=True, text=True,
                          timeout=300)
    if done.returncode != 0:
        return {"error": (done.stderr.strip().splitlines() or ["unknown"])[-1]}
    return json.loads(done.stdout)


def supports_only(env: dict[str, str]) -> bool:
    """Whether the code under test has `pinterest-etl run --only organic|ads`."""
    done = subprocess.run([str(BIN / "pinterest-etl"), "run", "--help"], env=env, capture_output=True, text=True, timeout=60)
    return "--only" in done.stdout


@contextlib.contextmanager
def world(benchmark: str, name: str, sim_args: list[str], keep: bool) -> Iterator[dict]:
    """A fresh temporary PINTEREST_ETL_HOME (and working directory), a DAGSTER_HOME in memory (/dev/shm) to
    record the step timings of --from-raw runs, and a running simulator whose world `sim_args` size."""
    workdir = Path(tempfile.mkdtemp(prefix=f"bench-{benchmark}-{name}-"))
    home = workdir / "home"
    shm = Path("/dev/shm")
    dagster_home = Path(tempfile.mkdtemp(prefix=f"bench-{benchmark}-{name}-dagster-", dir=shm if shm.is_dir() else workdir))
    shutil.copy(ROOT / ".dagster" / "dagster.yaml", dagster_home / "dagster.yaml")  # the instance `make run` uses
    sim = None
    try:
        sim = Simulator(sim_args, workdir / "simulator.log")
        recorded = pipeline_env(home, dagster_home, sim.base_url)
        # Create the instance's SQLite storage now, as a first `make run` would have: not part of any timed run.
        subprocess.run([sys.executable, "-c", "import dagster; dagster.DagsterInstance.get().get_runs(limit=1)"],
                       cwd=workdir, env=recorded, check=True, capture_output=True, timeout=300)
        yield {"name": name, "workdir": workdir, "home": home, "sim": sim, "dagster_home": str(dagster_home),
               "env": pipeline_env(home, None, sim.base_url), "env_recorded": recorded}
    finally:
        if sim:
            sim.stop()
        if keep:
            print(f"  kept {workdir} and {dagster_home}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
            shutil.rmtree(dagster_home, ignore_errors=True)
