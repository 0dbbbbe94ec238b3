"""What `pinterest-etl run` and `load` print after a run: its duration and each step's, what each materialization
counted and each check decided, and the warehouse's tables with an example query and its answer."""

from __future__ import annotations

import dagster as dg

from pipelines import settings
from pipelines.analyst_sql import format_table
from pipelines.sql_text import identifier
from pipelines.warehouse import Warehouse, qualified_columns

EXAMPLE_QUERIES = {
    "organic": """SELECT date, user_id, content_type, impression, save, pin_click, outbound_click, round(save_rate, 4) AS save_rate,
data_status FROM user_account_organic_daily WHERE split_field = 'NO_SPLIT' ORDER BY date DESC, user_id LIMIT 7""",
    "ads": """SELECT date, ad_account_id, currency, round(spend_in_micro_dollar / 1e6, 2) AS spend, paid_impression,
clickthrough_1, total_conversions, is_final FROM ad_account_daily ORDER BY date DESC, ad_account_id LIMIT 6""",
}
_STEP_BOUNDS = (dg.DagsterEventType.STEP_START, dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE)


def asset_of_step(step_key: str) -> str:
    """The asset a step is of: itself, or for a step of a graph-backed asset's graph the asset
    (`organic_raw.extract_account[default]` is organic_raw's, for one account)."""
    return step_key.split(".", 1)[0]


def step_timing(instance: dg.DagsterInstance, run_id: str) -> str:
    """The run's duration and each asset's step (of a graph-backed asset: from its graph's first step's start to
    its last one's end), in the order they ran (Dagster's own overhead is the difference). Read from the steps'
    start and end events only: Dagster's step statistics deserialize every materialization of the run too, one per
    asset per partition."""
    run = instance.get_run_stats(run_id)
    starts, ends = {}, {}
    for entry in instance.all_logs(run_id, of_type=set(_STEP_BOUNDS)):
        bounds = starts if entry.dagster_event_type == dg.DagsterEventType.STEP_START else ends
        bounds[entry.step_key] = entry.timestamp
    assets: dict[str, tuple[float, float]] = {}
    for step, start in starts.items():
        if step in ends:
            first, last = assets.get(asset_of_step(step), (start, ends[step]))
            assets[asset_of_step(step)] = (min(first, start), max(last, ends[step]))
    parts = ", ".join(f"{asset} {end - start:.2f} s" for asset, (start, end) in sorted(assets.items(),
                                                                                      key=lambda item: item[1]))
    return f"  run: {run.end_time - run.start_time:.2f} s; steps: {parts}"


def _in_step_order(result: dg.ExecuteInProcessResult | dg.ExecuteJobResult,
                   events: list[dg.DagsterEvent]) -> list[dg.DagsterEvent]:
    """`events` in the order of the assets' steps in the run's job, as one worker runs them (by the number of steps
    on the longest path of upstream steps before the asset's, then by name), each step's own in the order it
    emitted them: the same whatever order steps side by side finished in."""
    upstream = {node.name: set() for node in result.job_def.graph.nodes}
    for invocation, inputs in result.job_def.graph.dependencies.items():
        upstream[invocation.name].update(each.node for dependency in inputs.values()
                                         for each in dependency.get_node_dependencies())
    depths: dict[str, int] = {}

    def depth(step: str) -> int:
        if step not in depths:
            depths[step] = 1 + max((depth(before) for before in upstream[step]), default=-1)
        return depths[step]

    return sorted(events, key=lambda event: (depth(asset_of_step(event.step_key)), asset_of_step(event.step_key)))


def print_steps_summary(result: dg.ExecuteInProcessResult | dg.ExecuteJobResult, descriptions: dict) -> None:
    """Each materialization's counts (and the wide tables' column changes of a load, when it made any) and each
    check's verdict, in the order of their assets' steps (`_in_step_order`); a failed warning check (it does not
    stop the run) says so with its description: what it means and what to do."""
    for event in _in_step_order(result, result.get_asset_materialization_events()):
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
    for event in _in_step_order(result, [event for event in result.all_events
                                         if event.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION]):
        evaluation = event.event_specific_data
        verdict = "passed" if evaluation.passed else "FAILED"
        if not evaluation.passed:
            details = {k: v.value for k, v in evaluation.metadata.items() if k in ("violations", "failed_accounts")}
            verdict += f" ({', '.join(f'{k}: {v}' for k, v in details.items())})" if details else ""
            if evaluation.severity == dg.AssetCheckSeverity.WARN:
                meaning = evaluation.description or descriptions.get(
                    dg.AssetCheckKey(evaluation.asset_key, evaluation.check_name), "")
                verdict += f"; a warning (it does not stop the run): {meaning}" if meaning else "; a warning"
        print(f"  check {evaluation.asset_key.to_user_string()}.{evaluation.check_name}: {verdict}")


def print_warehouse_summary(example: str) -> None:
    """The warehouse's tables with their row counts, and an example query with its answer."""
    warehouse = Warehouse(settings.etl_home() / "warehouse.duckdb")
    with warehouse.connect(read_only=True) as con:
        print(f"\nWarehouse {warehouse.path}:")
        for (name,) in con.execute("SELECT table_name FROM duckdb_tables() ORDER BY table_name").fetchall():
            print(f"  {name}: {con.execute(f'SELECT count(*) FROM {identifier(name)}').fetchall()[0][0]} rows")
        print(f"\nExample: pinterest-etl sql \"{' '.join(example.split())}\"")
        print(format_table(con.execute(example)))
