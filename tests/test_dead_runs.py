"""A run that died without cleanup (SIGKILL, OOM, power loss) never blocks the next one, with DAGSTER_HOME set
to an instance configured as the project's (.dagster/dagster.yaml: one run at a time, one warehouse writer).

The killed run is held inside its `organic_warehouse` step by an analyst's session on warehouse.duckdb (the
load waits for the lock while the step holds the `warehouse` pool slot), then its whole process group is
killed with SIGKILL. The next `pinterest-etl run` (or the UI) marks the dead run failed, frees what it held
in the instance, says so, and completes.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.instance.ref import InstanceRef

from pipelines.dagster_instance import (
    OWNER_BOOT_TAG,
    OWNER_HOST_TAG,
    OWNER_MACHINE_TAG,
    OWNER_PID_NAMESPACE_TAG,
    OWNER_PID_TAG,
    OWNER_START_TAG,
    free_dead_runs,
    owner_tags,
    place_tags,
    process_start_ticks,
)
from tests.conftest import TODAY
from tests.process_support import SMALL_WORLD, cli_env, range_args, read_until, start_cli
from tests.test_operations import free_port, session_processes
from tests.test_warehouse_lock import analyst_session

ROOT = Path(__file__).resolve().parents[1]
START, END = TODAY - dt.timedelta(days=4), TODAY - dt.timedelta(days=1)
RUN = ["run", *range_args(START, END, "--only", "organic")]


@pytest.fixture
def dagster_home(tmp_path) -> Path:
    """An empty Dagster instance with the project's dagster.yaml."""
    home = tmp_path / "dagster"
    home.mkdir()
    shutil.copy(ROOT / ".dagster" / "dagster.yaml", home / "dagster.yaml")
    return home


def instance_at(dagster_home: Path) -> dg.DagsterInstance:
    return dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(dagster_home)))


def claims_left(instance: dg.DagsterInstance) -> set[str]:
    """Runs that hold or wait for a pool slot in the instance's concurrency tables."""
    storage = instance.event_log_storage
    holders = {slot.run_id for key in storage.get_concurrency_keys()
               for slot in storage.get_concurrency_info(key).claimed_slots}
    return holders | set(storage.get_concurrency_run_ids())


def run_cli(args: list[str], env: dict[str, str], timeout: float = 240) -> subprocess.CompletedProcess:
    """`pinterest-etl ARGS` to its end; a run still going after `timeout` is killed (its whole process group)
    and fails the test, so a hang cannot outlive it."""
    process = start_cli(args, env, start_new_session=True)
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        stdout, stderr = process.communicate()
        raise AssertionError(f"`pinterest-etl {' '.join(args)}` did not end within {timeout} s:\n{stdout}{stderr}") from None
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def wait_for(condition: Callable[[], object], timeout: float, what: str):
    """Poll `condition` until it returns something true (returned), failing the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.5)
    raise AssertionError(f"{what}: not within {timeout} s")


def ended_process() -> tuple[int, int]:
    """The pid and start time of a process that has ended."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    ticks = process_start_ticks(child.pid)
    child.kill()
    child.wait()
    return child.pid, ticks


def started_run(instance: dg.DagsterInstance, tags: dict[str, str], pool: str | None = "warehouse") -> dg.DagsterRun:
    """A STARTED run with `tags` that holds a slot of `pool`, as a run killed in its warehouse step leaves it."""
    run = instance.add_run(dg.DagsterRun(job_name="pinterest_daily", status=dg.DagsterRunStatus.STARTED, tags=tags))
    if pool:
        instance.event_log_storage.set_concurrency_slots(pool, 1)
        assert instance.event_log_storage.claim_concurrency_slot(pool, run.run_id, "organic_warehouse").is_claimed
    return run


def reaped(instance: dg.DagsterInstance, launches_runs: bool = False) -> tuple[list[str], list[str]]:
    lines = []
    return free_dead_runs(instance, report=lines.append, launches_runs=launches_runs), lines


def test_a_run_whose_process_is_gone_is_marked_failed_and_its_pool_claim_freed(dagster_home):
    pid, ticks = ended_process()
    with instance_at(dagster_home) as instance:
        run = started_run(instance, {**owner_tags(), OWNER_PID_TAG: str(pid), OWNER_START_TAG: str(ticks)})
        assert reaped(instance) == ([run.run_id], [f"Marked run {run.run_id} failed: its process {pid} is gone; "
                                                   "freed its claim on pool(s) warehouse"])
        assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.FAILURE
        assert claims_left(instance) == set()
        assert reaped(instance) == ([], [])


def test_a_run_whose_process_is_alive_is_left_alone(dagster_home):
    with instance_at(dagster_home) as instance:
        run = started_run(instance, owner_tags())
        assert reaped(instance) == ([], [])
        assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.STARTED
        assert claims_left(instance) == {run.run_id}


def test_a_reused_pid_is_not_taken_for_the_process_that_ran_the_run(dagster_home):
    with instance_at(dagster_home) as instance:
        # This process's pid, but a start time it does not have: the run's own process is gone.
        run = started_run(instance, {**owner_tags(), OWNER_START_TAG: str(process_start_ticks(os.getpid()) - 1)})
        assert reaped(instance)[0] == [run.run_id]


def test_a_run_of_another_host_or_of_unknown_processes_is_left_alone(dagster_home):
    pid, ticks = ended_process()
    with instance_at(dagster_home) as instance:
        elsewhere = started_run(instance, {OWNER_PID_TAG: str(pid), OWNER_START_TAG: str(ticks),
                                           OWNER_HOST_TAG: f"not-{socket.gethostname()}"})
        unknown = started_run(instance, {}, pool=None)
        assert reaped(instance) == ([], [])
        assert {instance.get_run_by_id(r.run_id).status for r in (elsewhere, unknown)} == {dg.DagsterRunStatus.STARTED}


@pytest.mark.parametrize("place", [{OWNER_BOOT_TAG: "another-boot", OWNER_MACHINE_TAG: "another-machine"},
                                   {OWNER_BOOT_TAG: "another-boot", OWNER_MACHINE_TAG: ""},
                                   {OWNER_PID_NAMESPACE_TAG: "4026539999"},
                                   {OWNER_BOOT_TAG: "", OWNER_PID_NAMESPACE_TAG: ""}])
def test_a_run_of_another_boot_or_pid_namespace_or_of_no_known_place_is_left_alone(dagster_home, place):
    """A pid of another boot, or of another PID namespace (a container, `unshare -p`), is another process."""
    pid, ticks = ended_process()
    with instance_at(dagster_home) as instance:
        run = started_run(instance, {**owner_tags(), OWNER_PID_TAG: str(pid), OWNER_START_TAG: str(ticks), **place})
        launched = started_run(instance, {**place_tags(), **place}, pool=None)
        engine_event(instance, launched, pid, time.time() - 3600)
        assert reaped(instance, launches_runs=True) == ([], [])
        assert {instance.get_run_by_id(r.run_id).status for r in (run, launched)} == {dg.DagsterRunStatus.STARTED}


@pytest.mark.skipif(not place_tags()[OWNER_MACHINE_TAG], reason="this system has no /etc/machine-id")
def test_a_run_of_an_earlier_boot_of_this_machine_is_marked_failed_and_its_claim_freed(dagster_home):
    """A power loss or a reboot: the run was tagged on this machine (same machine id and host) during another
    boot, in whatever PID namespace: every process it had is gone, so it never blocks the next run."""
    with instance_at(dagster_home) as instance:
        command = started_run(instance, {**owner_tags(), OWNER_BOOT_TAG: "an-earlier-boot",
                                         OWNER_PID_NAMESPACE_TAG: "4026539999"})
        launched = started_run(instance, {**place_tags(), OWNER_BOOT_TAG: "an-earlier-boot"}, pool=None)
        engine_event(instance, launched, os.getpid(), time.time())  # a pid alive now: of this boot, not the run's
        freed, lines = reaped(instance)
        assert sorted(freed) == sorted([command.run_id, launched.run_id]), lines
        assert {instance.get_run_by_id(r.run_id).status for r in (command, launched)} == {dg.DagsterRunStatus.FAILURE}
        assert claims_left(instance) == set()


# A run recorded by a process in its own PID namespace (pid 1 there), which then waits until its stdin closes.
RUN_IN_A_PID_NAMESPACE = """
import sys
import dagster as dg
from dagster._core.instance.ref import InstanceRef
from pipelines.dagster_instance import owner_tags
with dg.DagsterInstance.from_ref(InstanceRef.from_dir(sys.argv[1])) as instance:
    run = instance.add_run(dg.DagsterRun(job_name="pinterest_daily", status=dg.DagsterRunStatus.STARTED,
                                         tags=owner_tags()))
print(run.run_id, flush=True)
sys.stdin.read()
"""


def pid_namespaces_refused() -> str | None:
    """Why this test cannot start a process in a new PID namespace here, or None when it can."""
    if shutil.which("unshare") is None:
        return "no unshare command"
    tried = subprocess.run(["unshare", "-p", "-f", "--mount-proc", "true"], capture_output=True, text=True)
    return None if tried.returncode == 0 else f"unshare -p -f --mount-proc is not permitted: {tried.stderr.strip()}"


def test_a_live_run_in_another_pid_namespace_is_left_alone(dagster_home):
    """A run whose process is pid 1 of its own PID namespace (as with `unshare -p -f --mount-proc` or a container
    sharing DAGSTER_HOME) is not judged by the host's pid 1."""
    refused = pid_namespaces_refused()
    if refused:
        pytest.skip(refused)
    inside = subprocess.Popen(["unshare", "-p", "-f", "--mount-proc", sys.executable, "-c", RUN_IN_A_PID_NAMESPACE,
                               str(dagster_home)], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        run_id = inside.stdout.readline().strip()
        with instance_at(dagster_home) as instance:
            assert instance.get_run_by_id(run_id).tags[OWNER_PID_TAG] == "1"
            assert reaped(instance, launches_runs=True) == ([], [])
            assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.STARTED
    finally:
        inside.stdin.close()
        inside.wait(timeout=30)


def engine_event(instance: dg.DagsterInstance, run: dg.DagsterRun, pid: int, at: float) -> None:
    """What a launched run's worker records when it starts: an engine event naming its pid."""
    from dagster._core.events import DagsterEvent, EngineEventData
    from dagster._core.events.log import EventLogEntry

    event = DagsterEvent(event_type_value=dg.DagsterEventType.ENGINE_EVENT.value, job_name=run.job_name,
                         message=f"Started process for run (pid: {pid}).",
                         event_specific_data=EngineEventData.in_process(pid))
    instance.store_event(EventLogEntry(error_info=None, level="DEBUG", user_message="", run_id=run.run_id,
                                       timestamp=at, dagster_event=event))


def test_a_launched_run_is_judged_by_the_processes_its_events_name(dagster_home):
    with instance_at(dagster_home) as instance:
        current = started_run(instance, place_tags())
        engine_event(instance, current, os.getpid(), time.time())
        # An hour ago this pid was another process's: this one started since.
        earlier = started_run(instance, place_tags(), pool=None)
        engine_event(instance, earlier, os.getpid(), time.time() - 3600)
        assert reaped(instance) == ([earlier.run_id], [f"Marked run {earlier.run_id} failed: its process "
                                                       f"{os.getpid()} is gone"])
        assert instance.get_run_by_id(current.run_id).status == dg.DagsterRunStatus.STARTED


def test_a_launched_run_not_tied_to_a_place_is_judged_only_by_the_ui_and_only_after_a_minute(dagster_home):
    """Untied, a launched run may be another machine's: `run`/`load` leave it alone; the UI, whose own live runs
    it ties within a check, judges one whose processes were last seen over a minute ago."""
    pid, _ = ended_process()
    with instance_at(dagster_home) as instance:
        earlier = started_run(instance, {}, pool=None)
        engine_event(instance, earlier, pid, time.time() - 3600)
        recent = started_run(instance, {}, pool=None)
        engine_event(instance, recent, pid, time.time() - 5)
        assert reaped(instance) == ([], [])
        assert reaped(instance, launches_runs=True)[0] == [earlier.run_id]
        assert instance.get_run_by_id(recent.run_id).status == dg.DagsterRunStatus.STARTED


def test_the_ui_ties_a_launched_run_whose_worker_is_its_descendant_to_its_place(dagster_home):
    """Once tied, the run is judged by any command of the same place: its worker killed, `run` marks it failed."""
    worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        with instance_at(dagster_home) as instance:
            run = started_run(instance, {}, pool=None)
            engine_event(instance, run, worker.pid, time.time())
            assert reaped(instance, launches_runs=True) == ([], [])
            assert {k: v for k, v in instance.get_run_by_id(run.run_id).tags.items() if k in place_tags()} == place_tags()
            worker.kill()
            worker.wait()
            assert reaped(instance)[0] == [run.run_id]
    finally:
        worker.kill()
        worker.wait()


def test_the_pool_claim_of_a_run_that_ended_is_freed(dagster_home):
    pid, ticks = ended_process()
    with instance_at(dagster_home) as instance:
        run = started_run(instance, {**owner_tags(), OWNER_PID_TAG: str(pid), OWNER_START_TAG: str(ticks)})
        instance.report_run_failed(run, "the run worker died")
        assert reaped(instance) == ([run.run_id], [f"Freed the claim of run {run.run_id} on pool(s) warehouse: "
                                                   "the run ended (FAILURE)"])
        assert claims_left(instance) == set()


@pytest.mark.parametrize("status", [dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING])
def test_a_cli_run_killed_before_it_started_is_marked_failed(dagster_home, status):
    pid, ticks = ended_process()
    with instance_at(dagster_home) as instance:
        dead = instance.add_run(dg.DagsterRun(job_name="pinterest_daily", status=status, tags={
            **owner_tags(), OWNER_PID_TAG: str(pid), OWNER_START_TAG: str(ticks)}))
        live = instance.add_run(dg.DagsterRun(job_name="pinterest_daily", status=status, tags=owner_tags()))
        # Not a command's run (no owner tags): Dagster's queue and run monitoring judge it.
        queues = instance.add_run(dg.DagsterRun(job_name="pinterest_daily", status=status))
        assert reaped(instance) == ([dead.run_id], [f"Marked run {dead.run_id} failed: its process {pid} is gone"])
        assert instance.get_run_by_id(dead.run_id).status == dg.DagsterRunStatus.FAILURE
        assert {instance.get_run_by_id(r.run_id).status for r in (live, queues)} == {status}


def queued_run(instance: dg.DagsterInstance) -> dg.DagsterRun:
    """A run submitted from the UI, waiting in the queue."""
    from dagster._core.events import DagsterEvent
    from dagster._core.remote_origin import RegisteredCodeLocationOrigin, RemoteJobOrigin, RemoteRepositoryOrigin

    origin = RemoteJobOrigin(RemoteRepositoryOrigin(RegisteredCodeLocationOrigin("pipelines"), "__repository__"),
                             "pinterest_daily")
    run = instance.add_run(dg.DagsterRun(job_name="pinterest_daily", status=dg.DagsterRunStatus.NOT_STARTED,
                                         remote_job_origin=origin))
    instance.report_dagster_event(DagsterEvent(event_type_value=dg.DagsterEventType.RUN_ENQUEUED.value,
                                               job_name=run.job_name), run.run_id)
    assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.QUEUED
    return run


def test_a_run_queued_for_a_minute_is_told_which_live_run_it_waits_for(dagster_home):
    from pipelines.dagster_instance import explain_queued_runs

    with instance_at(dagster_home) as instance:
        holder = started_run(instance, owner_tags(), pool=None)
        queued = queued_run(instance)
        lines, told, now = [], {}, time.time()
        explain_queued_runs(instance, lines.append, told, now=now)
        assert lines == []  # queued for less than a minute
        for later in (now + 61, now + 90, now + 122):
            explain_queued_runs(instance, lines.append, told, now=later)
        assert len(lines) == 2  # at most once a minute
        assert lines[0].startswith(f"Run {queued.run_id}, queued since ")
        assert f"waits for the run(s) in progress: run {holder.run_id} (STARTED, live process {os.getpid()}, since " \
            in lines[0]
        assert instance.get_run_by_id(holder.run_id).status == dg.DagsterRunStatus.STARTED


def kill_run_in_warehouse_step(env: dict[str, str], home: Path) -> str:
    """Start a run, hold it in its warehouse load with an analyst's session, SIGKILL its process group;
    return what it printed."""
    with analyst_session(home / "warehouse.duckdb") as session:
        run = start_cli(RUN, {**env, "PINTEREST_WAREHOUSE_LOCK_WAIT_SECONDS": "600"}, stderr=subprocess.STDOUT,
                        start_new_session=True)
        printed = read_until(run.stdout, f"is locked by process {session.pid} (")
        os.killpg(run.pid, signal.SIGKILL)
        run.communicate(timeout=60)
    assert run.returncode == -signal.SIGKILL
    return printed


@pytest.mark.slow
def test_a_cli_run_killed_in_the_warehouse_step_does_not_block_the_next_run(make_sandbox, tmp_path, dagster_home):
    server = make_sandbox(**SMALL_WORLD)
    home = tmp_path / "home"
    env = cli_env(home, server, TODAY, DAGSTER_HOME=str(dagster_home))
    kill_run_in_warehouse_step(env, home)
    with instance_at(dagster_home) as instance:
        [dead] = instance.get_runs()
        assert dead.status == dg.DagsterRunStatus.STARTED  # nothing could record its end

    after = run_cli(RUN, env, timeout=240)  # before the fix it waited for the dead run's pool slot forever

    assert after.returncode == 0, after.stdout + after.stderr
    assert f"Marked run {dead.run_id} failed: its process {dead.tags[OWNER_PID_TAG]} is gone" in after.stdout
    with instance_at(dagster_home) as instance:
        assert instance.get_run_by_id(dead.run_id).status == dg.DagsterRunStatus.FAILURE
        assert [run.status for run in instance.get_runs()] == [dg.DagsterRunStatus.SUCCESS,
                                                              dg.DagsterRunStatus.FAILURE]
        assert claims_left(instance) == set()


@pytest.mark.slow
def test_a_live_run_is_never_marked_failed(make_sandbox, tmp_path, dagster_home):
    server = make_sandbox(**SMALL_WORLD)
    home = tmp_path / "home"
    env = cli_env(home, server, TODAY, DAGSTER_HOME=str(dagster_home))
    with analyst_session(home / "warehouse.duckdb") as session:
        live = start_cli(RUN, {**env, "PINTEREST_WAREHOUSE_LOCK_WAIT_SECONDS": "600"}, stderr=subprocess.STDOUT)
        read_until(live.stdout, f"is locked by process {session.pid} (")
        # Another data directory, the same instance: the live run's process is alive, so it is left alone.
        other = run_cli(RUN, cli_env(tmp_path / "other", server, TODAY, DAGSTER_HOME=str(dagster_home)), timeout=240)
        with instance_at(dagster_home) as instance:
            [running] = [run for run in instance.get_runs() if run.tags[OWNER_PID_TAG] == str(live.pid)]
            assert running.status == dg.DagsterRunStatus.STARTED
            assert running.tags["pinterest-etl/process-start"] == str(process_start_ticks(live.pid))
    rest, _ = live.communicate(timeout=240)
    assert other.returncode == 0, other.stdout + other.stderr
    assert "Marked run" not in other.stdout
    assert live.returncode == 0, rest


def run_worker_pid(instance: dg.DagsterInstance, run_id: str) -> int | None:
    """The pid of a launched run's worker process, from the event it reports when it starts."""
    for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
        if entry.message.startswith("Started process for run (pid: "):
            return int(entry.dagster_event.event_specific_data.metadata["pid"].value)
    return None


def warehouse_step_holding_the_pool(instance: dg.DagsterInstance, run_id: str) -> bool:
    started = {entry.step_key for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_START)}
    return bool(started & {"organic_warehouse", "ads_warehouse"}) and claims_left(instance) == {run_id}


def stop(ui: subprocess.Popen) -> None:
    """Stop `pinterest-etl ui` as Ctrl+C would; whatever of its session is left after 30 s is killed."""
    ui.terminate()
    ui.wait(timeout=60)
    deadline = time.monotonic() + 30
    while session_processes(ui.pid) and time.monotonic() < deadline:
        time.sleep(0.5)
    if session_processes(ui.pid):
        os.killpg(ui.pid, signal.SIGKILL)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::DeprecationWarning:gql")  # dagster_graphql's own use of gql
def test_a_ui_run_whose_worker_was_killed_in_the_warehouse_step_does_not_block_the_next_ui_run(
        make_sandbox, tmp_path, dagster_home):
    from dagster_graphql import DagsterGraphQLClient, DagsterGraphQLClientError

    server = make_sandbox(**SMALL_WORLD)
    home = tmp_path / "home"
    env = cli_env(home, server, TODAY, DAGSTER_HOME=str(dagster_home), PINTEREST_WAREHOUSE_LOCK_WAIT_SECONDS="600")
    port = free_port()
    log = tmp_path / "ui.log"
    with open(log, "w") as output:  # a file, not a pipe: the UI writes much and must never block on it
        ui = start_cli(["ui", "--port", str(port)], env, stdout=output, stderr=subprocess.STDOUT,
                       start_new_session=True)
    client = DagsterGraphQLClient("127.0.0.1", port_number=port, timeout=30)

    def launch() -> str | None:
        # The daily job, in one process (the run worker) so that killing it kills the run.
        try:
            return client.submit_job_execution(
                "pinterest_daily", run_config={"execution": {"config": {"in_process": {}}}},
                tags={"dagster/asset_partition_range_start": START.isoformat(),
                      "dagster/asset_partition_range_end": END.isoformat()})
        except DagsterGraphQLClientError:
            assert ui.poll() is None, log.read_text()
            return None

    try:
        with analyst_session(home / "warehouse.duckdb"), instance_at(dagster_home) as instance:
            dead_id = wait_for(launch, 180, "the UI serving the code location")
            wait_for(lambda: warehouse_step_holding_the_pool(instance, dead_id), 240,
                     "the launched run in its warehouse step, holding the warehouse pool")
            wait_for(lambda: OWNER_PID_NAMESPACE_TAG in instance.get_run_by_id(dead_id).tags, 60,
                     "the UI tying its launched run to its place")
            assert {k: instance.get_run_by_id(dead_id).tags[k] for k in place_tags()} == place_tags()
            os.kill(run_worker_pid(instance, dead_id), signal.SIGKILL)
        with instance_at(dagster_home) as instance:
            wait_for(lambda: instance.get_run_by_id(dead_id).status == dg.DagsterRunStatus.FAILURE
                     and claims_left(instance) == set(), 120, "the killed run failed and its pool claim freed")
        next_id = wait_for(launch, 60, "the next run launched")
        final = wait_for(lambda: client.get_run_status(next_id) in (dg.DagsterRunStatus.SUCCESS,
                                                                    dg.DagsterRunStatus.FAILURE) and
                         client.get_run_status(next_id), 300, "the next run finished")
        assert final == dg.DagsterRunStatus.SUCCESS, log.read_text()
    finally:
        stop(ui)
    freed = [line for line in log.read_text().splitlines() if f"run {dead_id}" in line and "pinterest-etl ui" in line]
    assert freed and "pool(s) warehouse" in freed[0], log.read_text()


@pytest.mark.slow
def test_a_cli_run_never_waits_for_a_pool_slot_a_live_run_holds(make_sandbox, tmp_path, dagster_home):
    server = make_sandbox(**SMALL_WORLD)
    with instance_at(dagster_home) as instance:
        holder = started_run(instance, owner_tags())  # this test's process: alive, so never freed
        after = run_cli(RUN, cli_env(tmp_path / "home", server, TODAY, DAGSTER_HOME=str(dagster_home)))
        assert after.returncode == 0, after.stdout + after.stderr
        assert claims_left(instance) == {holder.run_id}


@pytest.mark.slow
def test_the_ui_frees_dead_runs_when_it_starts(tmp_path, dagster_home):
    pid, ticks = ended_process()
    with instance_at(dagster_home) as instance:
        dead = started_run(instance, {**owner_tags(), OWNER_PID_TAG: str(pid), OWNER_START_TAG: str(ticks)})
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PINTEREST_", "DAGSTER_"))}
    env.update(PINTEREST_ETL_HOME=str(tmp_path / "data"), DAGSTER_HOME=str(dagster_home))
    ui = start_cli(["ui", "--port", str(free_port())], env, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        printed = read_until(ui.stdout, "Dagster UI: http://127.0.0.1:")
    finally:
        stop(ui)
    assert f"pinterest-etl ui: Marked run {dead.run_id} failed: its process {pid} is gone; freed its claim on " \
           "pool(s) warehouse" in printed
    with instance_at(dagster_home) as instance:
        assert instance.get_run_by_id(dead.run_id).status == dg.DagsterRunStatus.FAILURE
        assert claims_left(instance) == set()
