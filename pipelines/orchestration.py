"""Runs the Dagster assets for a date range as one run (what `pinterest-etl run` and `load` do) and summarizes it."""

from __future__ import annotations

import contextlib
import datetime as dt
import sys
import traceback

import dagster as dg
from dagster._core.storage.tags import REPOSITORY_LABEL_TAG

from pipelines import run_lock, settings
from pipelines.atomic_files import remove_stray_staging, remove_stray_temporaries
from pipelines.console_log import command_line_console
from pipelines.dagster_instance import command_instance, free_dead_runs, owner_tags
from pipelines.embedded import embedded_simulator_if_needed
from pipelines.known_errors import cause_text, step_failure_text
from pipelines.next_steps import cli_command, next_steps
from pipelines.pinterest.errors import DailyQuotaError
from pipelines.run_summary import EXAMPLE_QUERIES, print_steps_summary, print_warehouse_summary, step_timing

# The code location `make ui` loads (workspace.yaml's python_module, which names it), as the UI labels its repository.
# The UI lists a job's runs (its Runs tab, the Overview's timeline) by this tag, which only runs it launched get by
# themselves: a run of the shell carries it so that it shows there too.
CODE_LOCATION = "pipelines.definitions"
REPOSITORY_LABEL = f"__repository__@{CODE_LOCATION}"


def run_range(start: dt.date, end: dt.date, *, from_raw: bool = False, from_lake: bool = False,
              only: str | None = None, debug: bool = False) -> int:
    """The range as one Dagster run: every asset, or (`from_raw`) the lake and warehouse assets, or (`from_lake`)
    only the warehouse loads. Holds the data directory's run lock throughout, and first removes temporary
    files an interrupted run left. A failed step is printed as one paragraph when its error is a known one (with
    its traceback too when `debug`). Returns the exit code."""
    command = "load" if from_lake else "run"
    home = settings.etl_home()
    try:
        with run_lock.run_lock(home, f"pinterest-etl {command} {start}..{end}", settings.run_lock_wait_seconds(),
                               on_wait=lambda message: print(f"pinterest-etl {command}: {message}", file=sys.stderr)):
            removed = [*remove_stray_temporaries(home / "lake"), *remove_stray_temporaries(home / "raw"),
                       *remove_stray_staging(home / "tmp")]
            if removed:
                print(f"Removed {len(removed)} temporary file(s) an interrupted run left, e.g. {removed[0]}")
            return _run_range(start, end, command, from_raw=from_raw, from_lake=from_lake, only=only, debug=debug)
    except (run_lock.RunLockTimeout, OSError) as error:
        if debug:
            traceback.print_exc()
        print(f"pinterest-etl {command}: error: {error}", file=sys.stderr)
        return 1


def _run_range(start: dt.date, end: dt.date, command: str, *, from_raw: bool, from_lake: bool, only: str | None,
               debug: bool) -> int:
    # Loading from the lake calls no API, so it needs no simulator.
    with contextlib.nullcontext() if from_lake else embedded_simulator_if_needed() as simulator:
        if simulator:
            print(f"No Pinterest credentials configured: using the embedded simulator ({simulator.base_url}).")
        from assets.jobs import ALL_ASSETS, run_shape
        from pipelines.definitions import defs

        resources = {**defs.resources, "pinterest": defs.resources["pinterest"].with_simulator(simulator)} \
            if simulator else defs.resources

        job_name, selection = run_shape(only, "load" if from_lake else "from_raw" if from_raw else "")
        how = " from the raw zone (no API calls)" if from_raw else " from the lake into the warehouse (no API calls)" \
            if from_lake else ""
        print(f"Running {start}..{end} as one Dagster run{how}...")
        # With DAGSTER_HOME (the Makefile sets ./.dagster) runs are recorded and show up in the UI.
        with command_instance() as instance:
            free_dead_runs(instance, report=print)
            result = _materialize(job_name, ALL_ASSETS, resources, instance, debug=debug,
                                  tags={REPOSITORY_LABEL_TAG: REPOSITORY_LABEL,
                                        "dagster/asset_partition_range_start": start.isoformat(),
                                        "dagster/asset_partition_range_end": end.isoformat(), **owner_tags()})
            timing = step_timing(instance, result.run_id)
        descriptions = {spec.key: spec.description for asset in selection
                        for spec in getattr(asset, "check_specs", ()) if spec.description}
        if not result.success:
            # What the steps that succeeded loaded and checked, before the failure that stopped the run.
            print_steps_summary(result, descriptions)
            for event in result.all_events:
                if event.is_step_failure:
                    error = event.step_failure_data.error
                    cause = cause_text(error)
                    print(f"pinterest-etl {command}: step {event.step_key} failed: {cause}"
                          f"{_resume_after_quota([cause], start, end, only)}{step_failure_text(error)}", file=sys.stderr)
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


def _materialize(job_name: str, assets: list, resources: dict, instance: dg.DagsterInstance, *, debug: bool,
                 tags: dict[str, str]) -> dg.ExecuteInProcessResult:
    """The named job's run (assets/jobs.py `run_shape`: `pinterest_daily` or a backfill job, as the UI lists
    them), in this process, with the command line's console log (console_log.py) in place of Dagster's."""
    from assets.jobs import backfill_jobs, daily_job

    defs = dg.Definitions(jobs=[daily_job, *backfill_jobs], assets=assets, resources=resources,
                          loggers={"console": command_line_console})
    return defs.resolve_job_def(job_name).execute_in_process(
        run_config={"loggers": {"console": {"config": {"log_level": "INFO", "debug": debug}}}},
        instance=instance, raise_on_error=False, tags=tags)


def _resume_after_quota(causes: list[str], start: dt.date, end: dt.date, only: str | None) -> str:
    """What to add to a failure when one of its `causes` is a spent daily quota (the client's DailyQuotaError, which
    names the rate-limit category and when it resets): where the answers fetched so far are and the command that
    resumes. Empty for any other failure, and when the cause says it already (the extraction assets add it, so that
    the Dagster UI shows it too: pipelines/resume.py)."""
    quota_stops = [cause for cause in causes if cause.startswith(f"{DailyQuotaError.__name__}: ")]
    if not quota_stops or all("resume with: " in cause for cause in quota_stops):
        return ""
    only_option = f" --only {only}" if only else ""
    return (f". Everything fetched so far is kept in the raw zone ({settings.etl_home() / 'raw'}); once the quota has "
            f"reset, resume with: pinterest-etl run --start {start} --end {end}{only_option}")
