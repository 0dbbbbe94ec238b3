"""The ephemeral Dagster instance of `pinterest-etl run`/`load` without DAGSTER_HOME: a range run of partitioned
assets still materializes each partition and evaluates each check once, with one planned event per asset (not
one per partition) and one stored materialization per asset (the run's result holds all of them), and its timing
line names each step."""

import re

import dagster as dg
import pytest

from pipelines.dagster_instance import command_instance
from pipelines.run_summary import step_timing

DAYS = dg.DailyPartitionsDefinition(start_date="2026-11-01", end_date="2026-11-11")


@dg.asset(partitions_def=DAYS, check_specs=[dg.AssetCheckSpec("rows_counted", asset="days")])
def days(context: dg.AssetExecutionContext):
    yield dg.MaterializeResult(metadata={"rows": len(context.partition_keys)})
    yield dg.AssetCheckResult(check_name="rows_counted", passed=False, severity=dg.AssetCheckSeverity.WARN)


@dg.asset(partitions_def=DAYS, deps=[days])
def later_days() -> None:
    pass


@pytest.fixture
def range_run(monkeypatch):
    """The ten days run as one run on the command's instance: (instance, result)."""
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    with command_instance() as instance:
        result = dg.materialize([days, later_days], instance=instance, tags={
            "dagster/asset_partition_range_start": "2026-11-01", "dagster/asset_partition_range_end": "2026-11-10"})
        yield instance, result


def test_a_range_run_materializes_each_partition_and_evaluates_each_check_once(range_run):
    _, result = range_run
    materialized = [(e.asset_key.to_user_string(), e.partition) for e in result.get_asset_materialization_events()]
    assert sorted(materialized) == sorted((name, f"2026-11-{day:02d}") for name in ("days", "later_days")
                                          for day in range(1, 11))
    assert [(e.check_name, e.passed) for e in result.get_asset_check_evaluations()] == [("rows_counted", False)]


def test_a_range_run_plans_each_asset_once_for_its_whole_range(range_run):
    instance, result = range_run
    planned = instance.all_logs(result.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED)
    assert sorted(entry.dagster_event.asset_key.to_user_string() for entry in planned) == ["days", "later_days"]


def test_the_timing_line_names_each_step_in_the_order_they_ran(range_run):
    instance, result = range_run
    assert re.fullmatch(r"  run: \d+\.\d\d s; steps: days \d+\.\d\d s, later_days \d+\.\d\d s",
                        step_timing(instance, result.run_id))


def test_the_ephemeral_log_keeps_one_materialization_per_asset_and_the_run_result_all_of_them(range_run):
    instance, result = range_run
    stored = instance.all_logs(result.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION)
    assert sorted(entry.dagster_event.asset_key.to_user_string() for entry in stored) == ["days", "later_days"]
    assert len(result.get_asset_materialization_events()) == 20
    latest = instance.get_latest_materialization_event(dg.AssetKey("days"))
    assert latest is not None and latest.dagster_event.partition == "2026-11-01"
