"""Runs the Dagster assets for a date range as one run (what `pinterest-etl run` and `load` do) and summarizes it."""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import multiprocessing
import os
import signal
import sys
import threading
import traceback
from multiprocessing.process import BaseProcess
from pathlib import Path

import dagster as dg
from dagster._core.storage.tags import REPOSITORY_LABEL_TAG

from assets.conventions import POOL_TAG
from pipelines import run_lock, settings
from pipelines.accounts import accounts_json, load_accounts
from pipelines.atomic_files import remove_stray_staging, remove_stray_temporaries
from pipelines.console_log import command_line_console
from pipelines.dagster_instance import (
    command_instance,
    free_dead_runs,
    owner_tags,
    remove_stray_steps_instance,
    steps_instance,
)
from pipelines.data_locations import data_locations
from pipelines.embedded import embedded_simulator_if_needed
from pipelines.known_errors import cause_text, step_failure_text
from pipelines.next_steps import cli_command, next_steps
from pipelines.object_store import StoreError
from pipelines.pinterest.errors import DailyQuotaError
from pipelines.run_summary import (
    EXAMPLE_QUERIES,
    asset_of_step,
    print_steps_summary,
    print_warehouse_summary,
    step_timing,
)

# The code location `make ui` loads (workspace.yaml's python_module, which names it), as the UI labels its repository.
# The UI lists a job's runs (its Runs tab, the Overview's timeline) by this tag, which only runs it launched get by
# themselves: a run of the shell carries it so that it shows there too.
CODE_LOCATION = "pipelines.definitions"
REPOSITORY_LABEL = f"__repository__@{CODE_LOCATION}"


def run_range(start: dt.date, end: dt.date, *, from_raw: bool = False, from_lake: bool = False,
              only: str | None = None, debug: bool = False, workers: int = 1, preload_steps: bool = False) -> int:
    """The range as one Dagster run: every asset, or (`from_raw`) the lake and warehouse assets, or (`from_lake`)
    only the warehouse loads. With `workers` > 1 Dagster's multiprocess executor runs that many steps at once
    (the accounts' extraction steps side by side), else every step runs in this process. `preload_steps`: fork
    the steps' processes from a server that imported the code location once (a step then starts in a fraction of
    the seconds a fresh interpreter takes to import Dagster and the pipeline), for a process that makes one run,
    as `pinterest-etl run` does: that server keeps the environment (settings, tokens, PINTEREST_ETL_HOME) it
    started with for the process's life, so a later run in the same process (a test, a notebook) would not see
    its own; without it each step is a fresh interpreter, which reads the environment of the moment. Holds the data
    directory's run lock throughout, and first removes temporary files an interrupted run left. A failed step is
    printed as one paragraph when its error is a known one (with its traceback too when `debug`). Returns the
    exit code."""
    command = "load" if from_lake else "run"
    home = settings.etl_home()
    try:
        with run_lock.run_lock(home, f"pinterest-etl {command} {start}..{end}", settings.run_lock_wait_seconds(),
                               on_wait=lambda message: print(f"pinterest-etl {command}: {message}", file=sys.stderr)):
            locations = data_locations(home)
            locations.check_stores()  # before any API call: a store that cannot be used fails the run now
            removed = [*remove_stray_temporaries(locations.lake), *remove_stray_temporaries(locations.raw),
                       *remove_stray_staging(home / "tmp"), *remove_stray_steps_instance(home / "tmp")]
            if removed:
                print(f"Removed {len(removed)} temporary file(s) an interrupted run left, e.g. {removed[0]}")
            return _run_range(start, end, command, from_raw=from_raw, from_lake=from_lake, only=only, debug=debug,
                              workers=workers, preload_steps=preload_steps, scratch=home / "tmp")
    except (run_lock.RunLockTimeout, OSError, StoreError) as error:
        if debug:
            traceback.print_exc()
        print(f"pinterest-etl {command}: error: {error}", file=sys.stderr)
        return 1


def _run_range(start: dt.date, end: dt.date, command: str, *, from_raw: bool, from_lake: bool, only: str | None,
               debug: bool, workers: int, preload_steps: bool, scratch: Path) -> int:
    # Loading from the lake calls no API, so it needs no simulator.
    with contextlib.nullcontext() if from_lake else embedded_simulator_if_needed() as simulator:
        if simulator:
            print(f"No Pinterest credentials configured: using the embedded simulator ({simulator.base_url}).")
        from assets.jobs import run_shape

        job_name, selection = run_shape(only, "load" if from_lake else "from_raw" if from_raw else "")
        how = " from the raw zone (no API calls)" if from_raw else " from the lake into the warehouse (no API calls)" \
            if from_lake else ""
        print(f"Running {start}..{end} as one Dagster run{how}...")
        # With DAGSTER_HOME (the Makefile sets ./.dagster) runs are recorded and show up in the UI.
        with command_instance() if workers == 1 else steps_instance(scratch) as instance:
            free_dead_runs(instance, report=print)
            tags = {REPOSITORY_LABEL_TAG: REPOSITORY_LABEL, "dagster/asset_partition_range_start": start.isoformat(),
                    "dagster/asset_partition_range_end": end.isoformat(), **owner_tags()}
            with _materialize(job_name, instance, simulator, debug=debug, tags=tags, workers=workers,
                              preload_steps=preload_steps) as result:
                timing = step_timing(instance, result.run_id)
        descriptions = {spec.key: spec.description for asset in selection
                        for spec in getattr(asset, "check_specs", ()) if spec.description}
        if not result.success:
            # What the steps that succeeded loaded and checked, before the failure that stopped the run.
            print_steps_summary(result, descriptions)
            failures = {}  # once per asset and cause: the accounts' steps one Ctrl+C interrupted fail alike
            for event in result.all_events:
                if event.is_step_failure:
                    error = event.step_failure_data.error
                    cause = cause_text(error)
                    failures[f"pinterest-etl {command}: step {asset_of_step(event.step_key)} failed: {cause}"
                             f"{_resume_after_quota([cause], start, end, only)}{step_failure_text(error)}"] = None
                elif event.event_type == dg.DagsterEventType.RESOURCE_INIT_FAILURE:
                    # Setting up the storage (a store's pull) failed before any step ran: no step failure tells it.
                    cause = cause_text(event.event_specific_data.error)
                    failures[f"pinterest-etl {command}: the run's resources could not be set up: {cause}"] = None
            if failures:
                print("\n".join(failures), file=sys.stderr)
            return 1
        print(timing)
        print_steps_summary(result, descriptions)
        print_warehouse_summary(EXAMPLE_QUERIES[only or "organic"])
        failures = {name: message for evaluation in result.get_asset_check_evaluations()
                    if evaluation.check_name == "every_account_succeeded" and not evaluation.passed
                    for name, message in evaluation.metadata["failed_accounts"].value.items()}
        if failures:
            print(f"pinterest-etl run: account(s) {', '.join(sorted(failures))} failed (see the messages above); "
                  f"the other accounts were loaded{_resume_after_quota(list(failures.values()), start, end, only)}",
                  file=sys.stderr)
            return 1
    print(next_steps(settings.etl_home(), only, cli_command()))
    return 0


def command_job(job_name: str) -> dg.JobDefinition:
    """The named job (assets/jobs.py `run_shape`: `pinterest_daily` or a backfill job, as the UI lists them) with
    the command line's console log (console_log.py) in place of Dagster's. A module-level function of the job's name,
    so that the multiprocess executor's step processes rebuild the same job (`build_reconstructable_job`); the
    first thing of ours such a process runs, which from then on ends with the command (`_end_with_the_command`)."""
    from assets.jobs import ALL_ASSETS, backfill_jobs, daily_job
    from pipelines.definitions import defs

    _end_with_the_command()

    return dg.Definitions(jobs=[daily_job, *backfill_jobs], assets=ALL_ASSETS, resources=defs.resources,
                          loggers={"console": command_line_console}).resolve_job_def(job_name)


@functools.cache
def _end_with_the_command() -> None:
    """In a process multiprocessing started (a step's), a daemon thread that SIGKILLs it as soon as the process
    that started it has ended, however it ended, or at once when it ended already; once per process, nothing in
    the command's own. A step's process is a child of the fork server (`preload_steps`) or spawned by the command:
    killed alone (`kill -9 <pid>`, the OOM killer), the command left them running, since the fork server outlives
    it as long as any process it forked lives (each holds its `alive` pipe open), so no signal on a parent's death
    reaches them; they went on calling the API and writing the raw zone and resume records after the run lock,
    held by the command's process only, was gone and the next run had taken it."""
    command = multiprocessing.parent_process()
    if command is not None:
        threading.Thread(target=_kill_this_process_when_gone, args=(command,), name="end-with-the-command",
                         daemon=True).start()


def _kill_this_process_when_gone(command: BaseProcess) -> None:
    command.join()  # waits on the sentinel multiprocessing gives a child: ready once the starting process is gone
    os.kill(os.getpid(), signal.SIGKILL)


def _materialize(job_name: str, instance: dg.DagsterInstance, simulator, *, debug: bool, tags: dict[str, str],
                 workers: int, preload_steps: bool
                 ) -> contextlib.AbstractContextManager[dg.ExecuteInProcessResult | dg.ExecuteJobResult]:
    """The named job's run: in this process, or with `workers` > 1 on Dagster's multiprocess executor with at most
    that many steps at once (each step a process that rebuilds the job: the embedded `simulator` reaches it as
    the Pinterest resource's configuration), forked from a server that imported the code location once when
    `preload_steps` (see `run_range`), else each a fresh interpreter. The executor runs one step of each pool at a
    time (assets/conventions.py POOL_TAG: the two loads, the two lake steps), counting this run's steps only: the
    instance's pools, which other runs of DAGSTER_HOME (the UI's) hold, are not claimed (`steps_instance`)."""
    # The accounts as the run starts: a step's process reads them from here, not from the accounts file then.
    pinterest = {"run_accounts": accounts_json(load_accounts())}
    if simulator:
        pinterest.update(api_base_url=simulator.base_url, embedded_simulator=True)
    run_config = {"loggers": {"console": {"config": {"log_level": "INFO", "debug": debug}}},
                  "resources": {"pinterest": {"config": pinterest}}}
    if workers == 1:
        return contextlib.nullcontext(command_job(job_name).execute_in_process(
            run_config=run_config, instance=instance, raise_on_error=False, tags=tags))
    start_method = {"forkserver": {"preload_modules": ["dagster", "pipelines.definitions", __name__]}} \
        if preload_steps else {"spawn": {}}
    one_step_per_pool = [{"key": POOL_TAG, "value": {"applyLimitPerUniqueValue": True}, "limit": 1}]
    run_config["execution"] = {"config": {"multiprocess": {"max_concurrent": workers, "start_method": start_method,
                                                           "tag_concurrency_limits": one_step_per_pool}}}
    job = dg.build_reconstructable_job(__name__, command_job.__name__, reconstructable_args=(job_name,))
    return dg.execute_job(job, instance, run_config=run_config, tags=tags, raise_on_error=False)


def _resume_after_quota(causes: list[str], start: dt.date, end: dt.date, only: str | None) -> str:
    """What to add to a failure when one of its `causes` is a spent daily quota (the client's DailyQuotaError, which
    names the rate-limit category and when it resets): where the answers fetched so far are and the command that
    resumes. Empty for any other failure, and when the cause says it already (the extraction assets add it, so that
    the Dagster UI shows it too: pipelines/resume.py)."""
    quota_stops = [cause for cause in causes if cause.startswith(f"{DailyQuotaError.__name__}: ")]
    if not quota_stops or all("resume with: " in cause for cause in quota_stops):
        return ""
    only_option = f" --only {only}" if only else ""
    return (f". Everything fetched so far is kept in the raw zone ({data_locations(settings.etl_home()).describe_raw()}); once the quota has "
            f"reset, resume with: pinterest-etl run --start {start} --end {end}{only_option}")
