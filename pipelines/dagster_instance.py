"""The Dagster instance the commands use, and the cleanup that keeps a dead run from blocking the next one.

A run whose process died without cleanup (SIGKILL, OOM, power loss) stays STARTED in the instance, and a pool
slot it claimed stays claimed: with `max_concurrent_runs: 1` and the `warehouse` pool limited to 1, every later
run would wait for it forever. `free_dead_runs` finds such runs by their processes (a process is the same one
only if its start time matches, so a reused PID is not taken for it), marks them failed and frees their pool
claims. A command's run killed before it started (NOT_STARTED or STARTING, with the command's owner tags) is
marked failed likewise. A run with any live process, or whose processes are unknown here, is never touched; the
UI says instead, once a minute, which runs in progress a run queued for over a minute waits for
(`explain_queued_runs`): a stopped (SIGSTOP) `pinterest-etl run` holds the UI's queue until it ends.

A pid means something only on its host, since its boot, in its PID namespace (a container, `unshare -p`: pid 1
there is not the host's init), and one instance's storage can be shared by all of them. So a run is judged only
where it was tagged (`place_tags`: host, boot id, PID namespace inode): a command's run by its owner tags; a
run launched from the UI by the `pinterest-etl ui` that started its `dagster dev`, which ties the run to its
place as soon as it sees the run's worker among its own descendants (every check, `launches_runs`). Until then
only that kind of process judges it, and only once its processes were last seen over a minute ago (a live
worker is tied within the first check); `run`/`load` leave untied runs alone.

`pinterest-etl run`/`load` runs claim no pool slot at all (`command_instance`, `steps_instance`): the run lock
already admits one of them per data directory, a run with steps in processes of their own keeps its own steps of
a pool apart itself, and the warehouse's own lock (bounded by PINTEREST_WAREHOUSE_LOCK_WAIT_SECONDS) serializes
their loads with UI runs', so no claim of theirs can outlive them and they never wait on a pool.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import os
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import dagster as dg
import yaml
from dagster._core.events.log import EventLogEntry
from dagster._core.instance.ref import InstanceRef
from dagster._core.instance.types import InstanceType
from dagster._core.launcher.sync_in_memory_run_launcher import SyncInMemoryRunLauncher
from dagster._core.run_coordinator import DefaultRunCoordinator
from dagster._core.storage.event_log import InMemoryEventLogStorage
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from dagster._core.storage.noop_compute_log_manager import NoOpComputeLogManager
from dagster._core.storage.root import TemporaryLocalArtifactStorage
from dagster._core.storage.runs import InMemoryRunStorage
from dagster._serdes.config_class import ConfigurableClassData

OWNER_PID_TAG = "pinterest-etl/pid"
OWNER_START_TAG = "pinterest-etl/process-start"  # the process's start time, in clock ticks after boot
OWNER_HOST_TAG = "pinterest-etl/host"
OWNER_BOOT_TAG = "pinterest-etl/boot-id"
OWNER_PID_NAMESPACE_TAG = "pinterest-etl/pid-namespace"  # the inode of /proc/self/ns/pid
# /etc/machine-id: with the host, it tells that a run of another boot ran on this machine, which has rebooted since.
OWNER_MACHINE_TAG = "pinterest-etl/machine-id"
_PLACE_TAGS = (OWNER_HOST_TAG, OWNER_BOOT_TAG, OWNER_PID_NAMESPACE_TAG)
# A launched run not tied to a place is judged (by a `pinterest-etl ui`) only when its processes were last seen
# this long ago: the UI that launched it ties it within one check (DEAD_RUN_CHECK_SECONDS) while they live.
UNTIED_RUN_JUDGED_AFTER_SECONDS = 60.0
# The folder, under PINTEREST_ETL_HOME/tmp, of the instance of a run whose steps run in processes of their own.
STEPS_INSTANCE_FOLDER = "dagster-steps"
# Dagster runs in these statuses can only end by their own process; STARTING ones are Dagster's run monitoring's
# (start_timeout_seconds), QUEUED ones hold nothing.
_RUNNING = [dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]
# A `pinterest-etl run`/`load` killed in its first seconds leaves its run so, and nothing of Dagster's ends it;
# such runs are judged only when they carry the command's owner tags (the UI's are the queue's and the daemon's).
_NOT_YET_RUNNING = [dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING]
# A run queued this long is told, once a minute at most, which runs in progress it waits for.
QUEUED_RUN_EXPLAINED_AFTER_SECONDS = 60.0
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
# /proc's start time has a resolution of one tick and the event timestamps are wall clock: allow for both.
_START_TIME_TOLERANCE_SECONDS = 1.0


def command_instance() -> dg.DagsterInstance:
    """The instance of `pinterest-etl run`/`load`: DAGSTER_HOME's (runs show in the UI) with pools enforced per
    run, which for a run not launched through the queue means no pool claims; an ephemeral one without it."""
    home = os.environ.get("DAGSTER_HOME")
    if not home:
        return _ephemeral_instance()
    return dg.DagsterInstance.from_ref(InstanceRef.from_dir(home, overrides=_run_granularity_pools(Path(home))))


@contextlib.contextmanager
def steps_instance(scratch: Path) -> Iterator[dg.DagsterInstance]:
    """The instance of a `pinterest-etl run` whose steps run in processes of their own (the multiprocess executor
    hands them the instance's ref, so it cannot live in memory). Its steps claim no pool slot, as with
    `command_instance`: the executor itself runs one step of each pool at a time within the run
    (orchestration.py), so a slot another run of DAGSTER_HOME holds (a load launched from the UI, or a run whose
    worker died that only the UI judges) never makes it wait without bound; the warehouse's own lock serializes
    its loads with theirs. DAGSTER_HOME's instance; without it, one in `scratch`/dagster-steps (the steps' outputs
    and the run's event log), removed once the run is done, or by the next run when this one was killed
    (`remove_stray_steps_instance`)."""
    home = os.environ.get("DAGSTER_HOME")
    if home:
        overrides = {**_run_granularity_pools(Path(home)), **_quiet_step_workers(Path(home))}
        with dg.DagsterInstance.from_ref(InstanceRef.from_dir(home, overrides=overrides)) as instance:
            yield instance
        return
    folder = scratch / STEPS_INSTANCE_FOLDER
    folder.mkdir(parents=True)
    try:
        overrides = {**_run_granularity_pools(folder), "telemetry": {"enabled": False},
                     "event_log_storage": {"module": __name__, "class": OneRunSqliteEventLog.__name__,
                                           "config": {"base_dir": str(folder / "history" / "runs")}},
                     **_quiet_step_workers(folder)}
        with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(folder), overrides=overrides)) as instance:
            yield instance
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def remove_stray_steps_instance(scratch: Path) -> list[Path]:
    """Remove the instance `steps_instance` made in `scratch` for a run that was killed before it could (SIGKILL,
    out of memory, power loss). Called under the data directory's run lock: no run of it is using one."""
    folder = scratch / STEPS_INSTANCE_FOLDER
    if not folder.exists():
        return []
    shutil.rmtree(folder)
    return [folder]


class _OneRunEvents:
    """What an event log read only by the run it records and its summary keeps.

    What a partitioned run plans, Dagster records per partition: one event per asset per partition (89 days x 14
    assets at the default world), so that a persistent instance can mark each partition of a failed run failed,
    and one row per check per partition, each holding the whole serialized event, for the UI's check history; a
    range's output is then recorded as one materialization per partition, each a copy of the asset's metadata
    (at the default world's 89 days, 631 events: about 2 s of a 10 s run, serializing and indexing copies).
    Nothing outlives such a log, and the command reads the run's outcome from the run's own events, not from the
    UI's indexes: it takes one planned event per asset for the run's whole range, no planned check rows (a check's
    evaluation is stored as its row all the same, as for a check run without a plan), and of the materializations
    of one asset in the run only the first (so that Dagster's own look-ups of an asset's latest materialization, as
    a check's evaluation makes, still find one). An asset materializes in one step, so in one process: the set of
    those seen is the process's."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._materialized: set[tuple[str, dg.AssetKey]] = set()

    @property
    def supports_partition_subset_in_asset_materialization_planned_events(self) -> bool:
        return True

    def store_event(self, event: EventLogEntry) -> None:
        if event.dagster_event_type == dg.DagsterEventType.ASSET_MATERIALIZATION:
            key = (event.run_id, event.get_dagster_event().asset_key)
            if key in self._materialized:
                return
            self._materialized.add(key)
        super().store_event(event)

    def store_asset_check_event(self, event: EventLogEntry, event_id: int | None) -> None:
        if event.dagster_event_type != dg.DagsterEventType.ASSET_CHECK_EVALUATION_PLANNED:
            super().store_asset_check_event(event, event_id)


class OneRunEventLog(_OneRunEvents, InMemoryEventLogStorage):
    """The event log of an ephemeral instance: in memory, gone with the process (`_OneRunEvents`)."""


class OneRunSqliteEventLog(_OneRunEvents, SqliteEventLogStorage):
    """The event log of the temporary instance of a run whose steps run in processes of their own
    (`steps_instance`): SQLite files the step processes share, removed with the instance (`_OneRunEvents`). Without
    it, creating a run of the default world's 89 days recorded each asset's planned event per partition, seconds
    before the first step started."""

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData | None, config_value: dict) -> OneRunSqliteEventLog:
        return cls(inst_data=inst_data, **config_value)


def _ephemeral_instance() -> dg.DagsterInstance:
    """Dagster's ephemeral instance (`DagsterInstance.ephemeral`), with OneRunEventLog as its event log."""
    return dg.DagsterInstance(instance_type=InstanceType.EPHEMERAL, local_artifact_storage=TemporaryLocalArtifactStorage(),
                              run_storage=InMemoryRunStorage(), event_storage=OneRunEventLog(),
                              compute_log_manager=NoOpComputeLogManager(), run_coordinator=DefaultRunCoordinator(),
                              run_launcher=SyncInMemoryRunLauncher())


def _settings(home: Path) -> dict:
    """The settings of the instance in `home` (its dagster.yaml; none without one)."""
    path = home / "dagster.yaml"
    return (yaml.safe_load(path.read_text()) if path.exists() else None) or {}


def _run_granularity_pools(home: Path) -> dict:
    """The instance's `concurrency` settings with `pools.granularity: run` (overrides replace a whole section)."""
    concurrency = dict(_settings(home).get("concurrency") or {})
    concurrency["pools"] = {**(concurrency.get("pools") or {}), "granularity": "run"}
    return {"concurrency": concurrency}


def _quiet_step_workers(home: Path) -> dict:
    """What a step's process of the instance in `home` writes on standard error beside the run's log: Dagster's
    line that it started is logged at the level of the instance's Python logs (`python_logs: python_log_level`),
    here INFO unless the instance sets one (DEBUG by default); its stdout and stderr are not captured (no
    `compute_logs`: the steps log through the run's event log), so no `tail` and `watch_orphans` processes stand
    beside it, whose tracebacks a Ctrl+C printed."""
    python_logs = dict(_settings(home).get("python_logs") or {})
    python_logs.setdefault("python_log_level", "INFO")
    return {"python_logs": python_logs, "compute_logs": {"module": NoOpComputeLogManager.__module__,
                                                         "class": NoOpComputeLogManager.__name__}}


def process_start_ticks(pid: int) -> int | None:
    """When process `pid` started (clock ticks after boot), or None when there is no such live process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    fields = stat[stat.rindex(")") + 2:].split()  # the command name may hold spaces and parentheses
    state, start_ticks = fields[0], fields[19]
    return None if state in ("Z", "X") else int(start_ticks)


def _boot_time() -> float:
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith("btime "):
            return float(line.split()[1])
    raise OSError("/proc/stat has no btime line")


def _parent_pid(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return int(stat[stat.rindex(")") + 2:].split()[1])


def _descends_from_this_process(pid: int) -> bool:
    me = os.getpid()
    seen = set()
    while pid not in seen and pid > 1:  # pid 0 and 1 have no parent worth following
        if pid == me:
            return True
        seen.add(pid)
        pid = _parent_pid(pid) or 0
    return False


def place_tags() -> dict[str, str]:
    """Tags naming where this process's pids mean something: its host, its boot, its PID namespace (empty when
    unknown: a run so tagged is judged nowhere)."""
    try:
        boot_id = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        boot_id = ""
    try:
        namespace = str(os.stat("/proc/self/ns/pid").st_ino)
    except OSError:
        namespace = ""
    return {OWNER_HOST_TAG: socket.gethostname(), OWNER_BOOT_TAG: boot_id, OWNER_PID_NAMESPACE_TAG: namespace,
            OWNER_MACHINE_TAG: _machine_id()}


def _machine_id() -> str:
    for path in ("/etc/machine-id", "/var/lib/dbus/machine-id"):
        try:
            return Path(path).read_text().strip()
        except OSError:
            continue
    return ""


def _tied_here(tags: dict[str, str]) -> bool:
    here = place_tags()
    return all(here[name] and tags.get(name) == here[name] for name in _PLACE_TAGS)


def _rebooted_since(tags: dict[str, str]) -> bool:
    """Whether the run was tagged on this machine (same machine id and host) during an earlier boot: every
    process it had died with that boot (a power loss, a reboot), whatever its PID namespace was."""
    here = place_tags()
    return bool(here[OWNER_MACHINE_TAG] and here[OWNER_BOOT_TAG] and tags.get(OWNER_BOOT_TAG)
                and tags.get(OWNER_MACHINE_TAG) == here[OWNER_MACHINE_TAG]
                and tags.get(OWNER_HOST_TAG) == here[OWNER_HOST_TAG] and tags[OWNER_BOOT_TAG] != here[OWNER_BOOT_TAG])


def owner_tags() -> dict[str, str]:
    """Tags naming this process as the one that runs a run, and where."""
    return {OWNER_PID_TAG: str(os.getpid()), OWNER_START_TAG: str(process_start_ticks(os.getpid())), **place_tags()}


@dataclasses.dataclass(frozen=True)
class RunProcess:
    """A process that executed (part of) a run: known by its start time, or seen working for it at `seen_at`."""

    pid: int
    start_ticks: int | None = None
    seen_at: float | None = None
    of_an_earlier_boot: bool = False  # its machine has rebooted since: it is gone, whatever runs under its pid now

    def is_alive(self) -> bool:
        if self.of_an_earlier_boot:
            return False
        ticks = process_start_ticks(self.pid)
        if ticks is None:
            return False
        if self.start_ticks is not None:
            return ticks == self.start_ticks
        # A process that started after it was seen working for the run is another one with a reused PID.
        return _boot_time() + ticks / _CLOCK_TICKS <= (self.seen_at or 0.0) + _START_TIME_TOLERANCE_SECONDS


def run_processes(instance: dg.DagsterInstance, run: dg.DagsterRun, launches_runs: bool = False) -> list[RunProcess]:
    """The processes of this machine that executed `run`: the command's own (its tags), or the run worker and
    step workers a launched run's events name. Empty when they cannot be known here: a system without /proc
    (a live process could not be told from a dead one), a run tagged with another place (host, boot, PID
    namespace), or a launched run not tied to any place unless this process launches runs (`pinterest-etl ui`)
    and they were last seen over UNTIED_RUN_JUDGED_AFTER_SECONDS ago."""
    if not Path("/proc/self/stat").exists():
        return []
    if OWNER_PID_TAG in run.tags:
        if not run.tags.get(OWNER_START_TAG, "").isdigit() or not run.tags[OWNER_PID_TAG].isdigit():
            return []
        process = RunProcess(int(run.tags[OWNER_PID_TAG]), start_ticks=int(run.tags[OWNER_START_TAG]))
        if _rebooted_since(run.tags):
            return [dataclasses.replace(process, of_an_earlier_boot=True)]
        return [process] if _tied_here(run.tags) else []
    tied = OWNER_HOST_TAG in run.tags
    if tied and _rebooted_since(run.tags):
        return [dataclasses.replace(p, of_an_earlier_boot=True) for p in _launched_processes(instance, run)]
    if (tied and not _tied_here(run.tags)) or (not tied and not launches_runs):
        return []
    processes = _launched_processes(instance, run)
    if not tied and any(time.time() - (p.seen_at or 0.0) < UNTIED_RUN_JUDGED_AFTER_SECONDS for p in processes):
        return []
    return processes


def _launched_processes(instance: dg.DagsterInstance, run: dg.DagsterRun) -> list[RunProcess]:
    """The run worker and step workers a launched run's events name, each when it was last seen."""
    events = instance.all_logs(run.run_id, of_type={dg.DagsterEventType.ENGINE_EVENT,
                                                   dg.DagsterEventType.STEP_WORKER_STARTED})
    processes: dict[int, RunProcess] = {}
    for entry in events:
        metadata = entry.dagster_event.event_specific_data.metadata if entry.dagster_event.event_specific_data else {}
        pid = metadata.get("pid")
        if pid is not None and str(pid.value).isdigit():
            processes[int(pid.value)] = RunProcess(int(pid.value), seen_at=entry.timestamp)
    return list(processes.values())


def tie_launched_runs(instance: dg.DagsterInstance) -> None:
    """Tag each run in progress whose events name a live descendant of this process (the run workers of the
    `dagster dev` this `pinterest-etl ui` started) with this process's place, where it can then be judged."""
    if not Path("/proc/self/stat").exists():
        return
    for run in instance.get_runs(filters=dg.RunsFilter(statuses=[*_RUNNING, *_NOT_YET_RUNNING])):
        if OWNER_PID_TAG in run.tags or OWNER_HOST_TAG in run.tags:
            continue
        if any(p.is_alive() and _descends_from_this_process(p.pid) for p in _launched_processes(instance, run)):
            instance.add_run_tags(run.run_id, place_tags())


def _claims_by_run(instance: dg.DagsterInstance) -> dict[str, set[str]]:
    """Every run holding or waiting for a pool slot, with the pools."""
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return {}
    claims: dict[str, set[str]] = {}
    for pool in storage.get_concurrency_keys():
        info = storage.get_concurrency_info(pool)
        for run_id in {slot.run_id for slot in info.claimed_slots} | {step.run_id for step in info.pending_steps}:
            claims.setdefault(run_id, set()).add(pool)
    return claims


def _gone(processes: Iterable[RunProcess]) -> str:
    pids = sorted(p.pid for p in processes)
    return f"its process {pids[0]} is gone" if len(pids) == 1 else \
        f"its processes {', '.join(map(str, pids))} are gone"


def free_dead_runs(instance: dg.DagsterInstance, report: Callable[[str], None], launches_runs: bool = False) -> list[str]:
    """Mark every run whose processes all died failed and free the pool claims of dead or finished runs; tell
    `report` one line per run; return their ids. `launches_runs`: this process started the `dagster dev` that
    launches the instance's runs (`pinterest-etl ui`): it ties them to its place first, and judges untied ones."""
    if launches_runs:
        tie_launched_runs(instance)
    claims = _claims_by_run(instance)
    freed = []
    for run in instance.get_runs(filters=dg.RunsFilter(statuses=[*_RUNNING, *_NOT_YET_RUNNING])):
        if run.status in _NOT_YET_RUNNING and OWNER_PID_TAG not in run.tags:
            continue
        processes = run_processes(instance, run, launches_runs)
        if not processes or any(p.is_alive() for p in processes):
            continue
        gone = _gone(processes)
        instance.report_run_failed(run, f"Marked failed by pinterest-etl: {gone} (killed, or the machine stopped), "
                                        "so the run can never finish.")
        pools = claims.pop(run.run_id, set())
        if pools:
            instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        report(f"Marked run {run.run_id} failed: {gone}" + (f"; freed its claim on pool(s) {', '.join(sorted(pools))}"
                                                             if pools else ""))
        freed.append(run.run_id)
    for run_id, pools in claims.items():
        run = instance.get_run_by_id(run_id)
        if run is not None and not (run.is_finished and not any(p.is_alive()
                                                                for p in run_processes(instance, run, launches_runs))):
            continue
        instance.event_log_storage.free_concurrency_slots_for_run(run_id)
        status = "no longer exists" if run is None else f"ended ({run.status.value})"
        report(f"Freed the claim of run {run_id} on pool(s) {', '.join(sorted(pools))}: the run {status}")
        freed.append(run_id)
    return freed


def explain_queued_runs(instance: dg.DagsterInstance, report: Callable[[str], None], told: dict[str, float],
                        now: float | None = None) -> None:
    """For each run queued longer than QUEUED_RUN_EXPLAINED_AFTER_SECONDS, tell `report` which runs in progress
    it waits for (their processes and since when), at most once a minute per run (`told`: run id -> when).
    A live run is never ended for it: one stopped (SIGSTOP, Ctrl+Z) or slow holds the queue until it ends."""
    now = time.time() if now is None else now
    queued = [r for r in instance.get_run_records(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.QUEUED]))
              if now - r.create_timestamp.timestamp() >= QUEUED_RUN_EXPLAINED_AFTER_SECONDS
              and now - told.get(r.dagster_run.run_id, float("-inf")) >= QUEUED_RUN_EXPLAINED_AFTER_SECONDS]
    if not queued:
        return
    in_progress = instance.get_run_records(filters=dg.RunsFilter(statuses=[*_NOT_YET_RUNNING, *_RUNNING]))
    holders = "; ".join(_describe_in_progress(instance, r) for r in in_progress) or \
        "none (it waits for the queue's daemon, or for a pool or tag limit)"
    for record in queued:
        since = dt.datetime.fromtimestamp(record.create_timestamp.timestamp(), dt.timezone.utc)
        report(f"Run {record.dagster_run.run_id}, queued since {since:%Y-%m-%d %H:%M:%S} UTC, waits for the run(s) "
               f"in progress: {holders}")
        told[record.dagster_run.run_id] = now


def _describe_in_progress(instance: dg.DagsterInstance, record) -> str:
    run = record.dagster_run
    started = dt.datetime.fromtimestamp(record.start_time or record.create_timestamp.timestamp(), dt.timezone.utc)
    processes = run_processes(instance, run)
    live = sorted(p.pid for p in processes if p.is_alive())
    who = f"live process {', '.join(map(str, live))}" if live else \
        "processes unknown here" if not processes else "its processes are gone"
    return f"run {run.run_id} ({run.status.value}, {who}, since {started:%Y-%m-%d %H:%M:%S} UTC)"


def free_dead_runs_until(stop: threading.Event, interval: float, report: Callable[[str], None]) -> None:
    """`free_dead_runs` on DAGSTER_HOME's instance every `interval` seconds until `stop` is set (the UI's runs
    end while it serves them), and `explain_queued_runs`; for the `pinterest-etl ui` that launches its runs."""
    told: dict[str, float] = {}
    with dg.DagsterInstance.get() as instance:
        while not stop.wait(interval):
            try:
                free_dead_runs(instance, report, launches_runs=True)
                explain_queued_runs(instance, report, told)
            except Exception as error:  # noqa: BLE001 - a failed check (say, SQLite busy) must not end the checks
                report(f"could not check for dead runs this time: {type(error).__name__}: {error}")
