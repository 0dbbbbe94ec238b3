"""Runs started from the shell as the Dagster UI shows them: under a named job (`pinterest_daily` for every asset, a
backfill job for any other shape), each partition's materialization with that day's rows and the run's totals
beside them, the report once per run (not partitioned), and the raw steps' progress in API calls on standard
error and in the step's log."""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import re
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.definitions.repository_definition.valid_definitions import SINGLETON_REPOSITORY_NAME
from dagster._core.storage.tags import REPOSITORY_LABEL_TAG
from dagster._core.workspace.load import location_origins_from_yaml_paths

from assets.jobs import ALL_ASSETS, daily_job, run_shape
from pipelines.definitions import defs
from pipelines.sandbox import SandboxConfig, running_sandbox
from tests.conftest import TODAY, UNLIMITED
from tests.pipeline_support import pipeline_env, query, run
from tests.process_support import SMALL_WORLD

ROOT = Path(__file__).resolve().parents[1]
START, END = TODAY - dt.timedelta(days=3), TODAY - dt.timedelta(days=1)
DAYS = [str(START + dt.timedelta(days=i)) for i in range(3)]
# The one account's extraction step of organic_raw (assets/account_steps.py): its progress line is its own log's.
RAW_STEP = "organic_raw.extract_account[default]"
SHAPES = {(None, ""): "pinterest_daily", ("organic", ""): "pinterest_organic", ("ads", ""): "pinterest_ads",
          (None, "from_raw"): "pinterest_from_raw", ("organic", "from_raw"): "pinterest_organic_from_raw",
          ("ads", "from_raw"): "pinterest_ads_from_raw", (None, "load"): "pinterest_load",
          ("organic", "load"): "pinterest_organic_load", ("ads", "load"): "pinterest_ads_load"}


def keys(assets: list) -> set[str]:
    return {key.to_user_string() for asset in assets for key in asset.keys}


def test_every_shape_of_a_shell_run_is_a_job_the_code_location_lists():
    assert {shape: run_shape(*shape)[0] for shape in SHAPES} == SHAPES
    assert {job.name for job in defs.jobs} == set(SHAPES.values())
    assert keys(run_shape()[1]) == keys(ALL_ASSETS) == {k.to_user_string() for k in
                                                         daily_job.selection.resolve(defs.resolve_asset_graph())}
    assert keys(run_shape("organic", "load")[1]) == {"organic_warehouse", "pinterest_report"}
    assert keys(run_shape("ads", "from_raw")[1]) == {"ads_lake", "ads_warehouse", "pinterest_report"}


def test_the_report_is_not_partitioned_and_depends_on_both_warehouse_loads():
    report = defs.resolve_asset_graph().get(dg.AssetKey("pinterest_report"))
    assert report.partitions_def is None
    assert {key.to_user_string() for key in report.parent_keys} == {"organic_warehouse", "ads_warehouse"}


@pytest.fixture(scope="module")
def organic_run(tmp_path_factory):
    """A 3-day organic run from the shell with DAGSTER_HOME set (as `make run` does), then a load of the same range:
    (home, DAGSTER_HOME, what the run printed on standard error)."""
    root = tmp_path_factory.mktemp("shell_runs")
    home, dagster_home = root / "home", root / "dagster"
    dagster_home.mkdir()
    with running_sandbox(SandboxConfig(today=TODAY, rate_limits=dict(UNLIMITED), **SMALL_WORLD)) as server, \
            pytest.MonkeyPatch.context() as monkeypatch:
        pipeline_env(monkeypatch, home, server, TODAY, DAGSTER_HOME=str(dagster_home))
        with contextlib.redirect_stderr(io.StringIO()) as stderr:
            assert run(START, END, only="organic") == 0
        assert run(START, END, only="organic", from_lake=True) == 0
    return home, dagster_home, stderr.getvalue()


def materializations(instance: dg.DagsterInstance, run_id: str, asset: str) -> list:
    return [entry.dagster_event.event_specific_data.materialization
            for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION)
            if entry.dagster_event.asset_key == dg.AssetKey(asset)]


def test_shell_runs_show_in_the_instance_under_their_job(organic_run):
    _, dagster_home, _ = organic_run
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        runs = instance.get_runs()
        assert [(r.job_name, r.status) for r in runs] == [("pinterest_organic_load", dg.DagsterRunStatus.SUCCESS),
                                                          ("pinterest_organic", dg.DagsterRunStatus.SUCCESS)]
        assert runs[1].tags["dagster/asset_partition_range_start"] == DAYS[0]
        # What the UI asks for a job's runs (its Runs tab, the Overview): the job's name in the code location that
        # workspace.yaml loads, by the repository label Dagster gives the runs it launches itself.
        (location,) = location_origins_from_yaml_paths([str(ROOT / "workspace.yaml")])
        label = f"{SINGLETON_REPOSITORY_NAME}@{location.location_name}"
        for shell_run in runs:
            listed = instance.get_runs(dg.RunsFilter(job_name=shell_run.job_name, tags={REPOSITORY_LABEL_TAG: label}))
            assert [r.run_id for r in listed] == [shell_run.run_id]


def test_each_partition_carries_that_days_rows_and_every_one_the_runs_totals(organic_run):
    home, dagster_home, _ = organic_run
    expected = {table: dict(query(home, f"SELECT CAST(date AS VARCHAR), count(*) FROM {table} GROUP BY ALL"))
                for table in ("user_account_daily", "pin_daily")}
    assert all(len(per_day) == 3 and len(set(per_day.values())) >= 1 for per_day in expected.values())
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        run_id = instance.get_runs()[1].run_id
        for asset in ("organic_lake", "organic_warehouse"):
            events = materializations(instance, run_id, asset)
            assert sorted(e.partition for e in events) == DAYS
            for event in events:
                for table, per_day in expected.items():
                    assert event.metadata[f"rows_{table}"].value == per_day[event.partition], (asset, table)
                    assert event.metadata[f"run_rows_{table}"].value == sum(per_day.values()), (asset, table)


def test_the_report_is_materialized_once_by_each_run(organic_run):
    _, dagster_home, _ = organic_run
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        for shell_run in instance.get_runs():
            reports = materializations(instance, shell_run.run_id, "pinterest_report")
            assert [r.partition for r in reports] == [None], shell_run.job_name
            assert reports[0].metadata["range"].value == f"{END - dt.timedelta(days=27)}..{END}"


def test_the_raw_step_prints_its_api_calls_once_at_the_end_and_logs_them(organic_run):
    _, dagster_home, printed = organic_run
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        run_id = instance.get_runs()[1].run_id
        logged = [entry.user_message for entry in instance.all_logs(run_id)
                  if entry.step_key == RAW_STEP and "API calls" in entry.user_message]
        metadata = materializations(instance, run_id, "organic_raw")[0].metadata
    calls = metadata["api_calls"].value
    assert calls == metadata["planned_analytics_calls"].value > 0
    line = f"organic_raw: {calls:,} of {calls:,} API calls (100 %), done"
    assert logged == [line]
    # Not a terminal: no live line, only the log's line (the command line prints the step's log on stderr).
    assert "\r" not in printed
    assert len(re.findall(rf" - {re.escape(RAW_STEP)} - {re.escape(line)}\n", printed)) == 1


def test_the_lake_and_warehouse_steps_log_answers_normalized_and_rows_loaded(organic_run):
    home, dagster_home, printed = organic_run
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        run_id = instance.get_runs()[1].run_id
        logged = {entry.step_key: entry.user_message for entry in instance.all_logs(run_id)
                  if entry.step_key in ("organic_lake", "organic_warehouse") and "%), done" in entry.user_message}
        raw_files = materializations(instance, run_id, "organic_raw")[0].metadata["raw_files"].value
    assert logged["organic_lake"] == f"organic_lake: {raw_files:,} of {raw_files:,} answers normalized (100 %), done"
    loaded = query(home, "SELECT (SELECT count(*) FROM user_account_daily) + (SELECT count(*) FROM pin_daily)")[0][0]
    assert logged["organic_warehouse"] == f"organic_warehouse: {loaded:,} of {loaded:,} rows loaded (100 %), done"
    assert "\r" not in printed
