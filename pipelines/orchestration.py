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

EXAMPLE_QUERIES = {
    "organic": """SELECT date, user_id, content_type, impression, save, pin_click, outbound_click, round(save_rate, 4) AS save_rate,
data_status FROM user_account_organic_daily WHERE split_field = 'NO_SPLIT' ORDER BY date DESC, user_id LIMIT 7""",
    "ads": """SELECT date, ad_account_id, currency, round(spend_in_micro_dollar / 1e6, 2) AS spend, paid_impression,
clickthrough_1, total_conversions, is_final FROM ad_account_daily ORDER BY date DESC, ad_account_id LIMIT 6""",
}

# The code location `make ui` loads (workspace.yaml's python_module, which names it), as the UI labels its repository.
# The UI lists a job's runs (its Runs tab, the Overview's timeline) by this tag, which only runs it launched get by
# themselves: a run of the shell carries it so that it shows there too.
CODE_LOCATION = "pipelines.definitions"
REPOSITORY_LABEL = f"__repository__@{CODE_LOCATION}"
_STEP_BOUNDS = (dg.DagsterEventType.STEP_START, dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE)


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
            timing = _step_timing(instance, result.run_id)
        descriptions = {spec.key: spec.description for asset in selection
                        for spec in getattr(asset, "check_specs", ()) if spec.description}
        if not result.success:
            # What the steps that succeeded loaded and checked, before the failure that stopped the run.
            _print_steps_summary(result, descriptions)
            for event in result.all_events:
                if event.is_step_failure:
                    error = event.step_failure_data.error
                    cause = cause_text(error)
                    print(f"pinterest-etl {command}: step {event.step_key} failed: {cause}"
                          f"{_resume_after_quota([cause], start, end, only)}{step_failure_text(error)}", file=sys.stderr)
            return 1
        print(timing)
        _print_steps_summary(result, descriptions)
        _print_warehouse_summary(EXAMPLE_QUERIES[only or "organic"])
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


def _step_timing(instance: dg.DagsterInstance, run_id: str) -> str:
    """The run's duration and each step's, in the order they ran (Dagster's own overhead is the difference). Read
    from the steps' start and end events only: Dagster's step statistics deserialize every materialization of the
    run too, one per asset per partition."""
    run = instance.get_run_stats(run_id)
    starts, ends = {}, {}
    for entry in instance.all_logs(run_id, of_type=set(_STEP_BOUNDS)):
        bounds = starts if entry.dagster_event_type == dg.DagsterEventType.STEP_START else ends
        bounds[entry.step_key] = entry.timestamp
    steps = sorted((start, step) for step, start in starts.items() if step in ends)
    parts = ", ".join(f"{step} {ends[step] - start:.2f} s" for start, step in steps)
    return f"  run: {run.end_time - run.start_time:.2f} s; steps: {parts}"


def _print_steps_summary(result: dg.ExecuteInProcessResult, descriptions: dict) -> None:
    """Each materialization's counts (and the wide tables' column changes of a load, when it made any) and each
    check's verdict; a failed warning check (it does not stop the run) says so with its description: what it means
    and what to do."""
    from assets.loading import qualified_columns

    for event in result.get_asset_materialization_events():
        materialization = event.event_specific_data.materialization
        metadata = {k: v.value for k, v in materialization.metadata.items()
                    if k in ("api_calls", "raw_files", "analytics_calls", "metric_rows", "status_rows", "rows",
                             "unreachable_dates", "dates_not_final", "api_retries", "api_429s", "api_replayed", "refused_ad_accounts",
                             "skipped_ad_groups", "skipped_ads", "accounts", "failed_accounts")}
        metadata.update({k: f"[{qualified_columns(v.value)}]" for k, v in materialization.metadata.items()
                         if k in ("columns_added", "columns_widened") and v.value})
        if metadata and (materialization.partition is None or materialization.partition == result.dagster_run.tags.get(
                "dagster/asset_partition_range_start")):
            print(f"  {materialization.asset_key.to_user_string()}: " + ", ".join(f"{k}={v}" for k, v in metadata.items()))
    for evaluation in result.get_asset_check_evaluations():
        verdict = "passed" if evaluation.passed else "FAILED"
        if not evaluation.passed:
            details = {k: v.value for k, v in evaluation.metadata.items() if k in ("violations", "failed_accounts")}
            verdict += f" ({', '.join(f'{k}: {v}' for k, v in details.items())})" if details else ""
            if evaluation.severity == dg.AssetCheckSeverity.WARN:
                meaning = evaluation.description or descriptions.get(
                    dg.AssetCheckKey(evaluation.asset_key, evaluation.check_name), "")
                verdict += f"; a warning (it does not stop the run): {meaning}" if meaning else "; a warning"
        print(f"  check {evaluation.asset_key.to_user_string()}.{evaluation.check_name}: {verdict}")


def _print_warehouse_summary(example: str) -> None:
    """The warehouse's tables with their row counts, and an example query with its answer."""
    from pipelines.sql_text import identifier
    from pipelines.warehouse import Warehouse

    warehouse = Warehouse(settings.etl_home() / "warehouse.duckdb")
    with warehouse.connect(read_only=True) as con:
        print(f"\nWarehouse {warehouse.path}:")
        for (name,) in con.execute("SELECT table_name FROM duckdb_tables() ORDER BY table_name").fetchall():
            print(f"  {name}: {con.execute(f'SELECT count(*) FROM {identifier(name)}').fetchall()[0][0]} rows")
        print(f"\nExample: pinterest-etl sql \"{' '.join(example.split())}\"")
        from pipelines.commands.sql import format_table

        print(format_table(con.execute(example)))
