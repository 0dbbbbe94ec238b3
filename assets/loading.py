"""What the lake and warehouse assets of every source do: normalize a range, then load it with checks."""

import contextlib
import datetime as dt
from collections.abc import Iterator

import dagster as dg
import pyarrow as pa

from assets.metadata import (
    add_rows_per_partition,
    dates_text,
    fact_tables_of,
    lake_rows_per_date,
    preview,
    warehouse_rows_per_date,
)
from assets.resources import PinterestResource, StorageResource
from pipelines import transform
from pipelines.pinterest.errors import shown_value
from pipelines.planning import DateRange
from pipelines.progress import StepProgress
from pipelines.quality import Check, CheckOutcome
from pipelines.warehouse import BlockingCheckError, column_changes_text


def check_specs(asset: str, checks: tuple[Check, ...]) -> list[dg.AssetCheckSpec]:
    return [dg.AssetCheckSpec(c.name, asset=asset, description=c.description, blocking=c.blocking) for c in checks]


# Warnings of the lake assets: what normalization did instead of taking every answer as it came.
LAKE_CHECKS = {
    "no_final_value_regressed": "No final value was taken back by a newer answer: none was less final than an older "
                                "one (a READY day answered PROCESSING or empty later; an ads day final when fetched, "
                                "then not), and no newer final organic answer lacked a metric its request asked for "
                                "that an older final one had (absent or null). Such keys keep their final values; the "
                                "metadata `final_values_kept` counts them (per date: `final_values_kept_per_date`). "
                                "A newer final ads answer replaces its keys wholly (the API leaves out zeros and rows "
                                "without delivery), and a metric a narrower request did not ask for is not kept.",
    "no_unrequested_rows": "No answer held entities its request did not ask for (a pin not in pin_ids, an ad account, "
                           "campaign, ad group or ad not in the call's ids). Their rows are dropped; the metadata "
                           "`unrequested_entities` names the endpoint, the ids and the raw file.",
    "no_rows_outside_window": "No answer held days outside the window its request asked for. Their rows are dropped "
                              "(they would replace what the answers of those days said); the metadata "
                              "`rows_outside_window` names the endpoint, the window, the days and the raw file.",
}
_LOGGED_IDS = 10  # ids named per answer in a log line (the metadata holds all of them)


def lake_check_specs(asset: str) -> list[dg.AssetCheckSpec]:
    return [dg.AssetCheckSpec(name, asset=asset, description=description, blocking=False)
            for name, description in LAKE_CHECKS.items()]


def normalize_to_lake(context: dg.AssetExecutionContext, storage: StorageResource, pinterest: PinterestResource,
                      requested: DateRange, source: transform.Source) -> dg.MaterializeResult:
    """The raw answers of the range, of every account's raw folder, into the lake files of their Pinterest
    identities (no API calls), with the warnings of LAKE_CHECKS in the log, the metadata and the checks' results.
    Each day's materialization carries the rows the lake holds of that day per wide table (`rows_<table>`); the
    run's counts (`metric_rows`, `status_rows`: rows this run normalized; `run_rows_<table>`) are on every one."""
    storage.pull_raw(requested, context.log)
    with storage.publishing(context.log), _step_progress(context, "answers normalized") as progress:
        summaries = [transform.normalize_range(storage.raw_zones(), storage.lake(), requested, source, pinterest.today(),
                                               storage.temp_directory(), progress=progress,
                                               available_workers=pinterest.settings.normalize_workers)]
    daily_rows = lake_rows_per_date(storage.lake(), fact_tables_of(source.name), requested.dates(), source.name)
    add_rows_per_partition(context, requested.dates(), daily_rows)
    kept = _per_date_sum(s.final_values_kept for s in summaries)
    unrequested = [u for s in summaries for u in s.unrequested]
    log = dg.get_dagster_logger()
    if kept:
        log.warning(f"{source.name}: {sum(kept.values())} key(s) kept final value(s) over a newer answer that was "
                    f"not final or lacked them ({', '.join(f'{d}: {n}' for d, n in kept.items())}); the API took back "
                    "values it had sent as final: report it if it persists")
    for rows in unrequested:
        ids = ", ".join(map(shown_value, rows.entity_ids[:_LOGGED_IDS])) + (", ..." if len(rows.entity_ids) > _LOGGED_IDS else "")
        log.warning(f"{shown_value(rows.endpoint)}: {len(rows.entity_ids)} entit(ies) the request did not ask for ({ids}): "
                    f"{rows.rows} row(s) dropped, raw file {rows.raw_file}")
    unreadable = [u for s in summaries for u in s.unreadable]
    for answer in unreadable:
        parts = "; ".join(f"{what}: {why}" for what, why in list(answer.parts.items())[:_LOGGED_IDS])
        log.warning(f"{shown_value(answer.endpoint)}: {len(answer.parts)} part(s) of an answer cannot be read and were "
                    f"skipped ({parts}), raw file {answer.raw_file}; a later readable answer of the same keys is used")
    outside_window = [o for s in summaries for o in s.outside_window]
    for rows in outside_window:
        log.warning(f"{shown_value(rows.endpoint)}: {rows.rows} row(s) of day(s) outside the window {rows.window} its "
                    f"request asked for ({dates_text(list(rows.dates))}) dropped, raw file {rows.raw_file}")
    dropped = sum(u.rows for u in unrequested)
    return dg.MaterializeResult(metadata={
        "range": str(requested), "accounts": ", ".join(a.name for a in pinterest.accounts()),
        "identities": ", ".join(sorted({i for s in summaries for i in s.identities})) or "none",
        "legacy_files_retired": dg.MetadataValue.int(sum(s.legacy_files_retired for s in summaries)),
        "raw_files_read": sum(s.raw_files for s in summaries),
        "dates_written": dates_text(sorted({d for s in summaries for d in s.dates_written})),
        "metric_rows": sum(s.metric_rows for s in summaries), "status_rows": sum(s.status_rows for s in summaries),
        "dates_not_final": dates_text(sorted({d for s in summaries for d in s.not_final_dates})),
        "pin_lifetime_rows": sum(s.lifetime_rows for s in summaries),
        **{f"run_rows_{table}": dg.MetadataValue.int(sum(per_date.values())) for table, per_date in daily_rows.items()},
        "final_values_kept": dg.MetadataValue.int(sum(kept.values())),
        "final_values_kept_per_date": dg.MetadataValue.json({str(d): n for d, n in kept.items()}),
        "unrequested_rows_dropped": dg.MetadataValue.int(dropped),
        "unrequested_entities": dg.MetadataValue.json([
            {"endpoint": shown_value(u.endpoint), "ids": list(map(shown_value, u.entity_ids)), "rows": u.rows,
             "raw_file": u.raw_file}
            for u in unrequested]),
        "rows_outside_window_dropped": dg.MetadataValue.int(sum(o.rows for o in outside_window)),
        "rows_outside_window": dg.MetadataValue.json([
            {"endpoint": shown_value(o.endpoint), "window": str(o.window), "dates": dates_text(list(o.dates)),
             "rows": o.rows, "raw_file": o.raw_file} for o in outside_window]),
        "unreadable_parts_skipped": dg.MetadataValue.int(sum(len(u.parts) for u in unreadable)),
        "unreadable_parts": dg.MetadataValue.json([
            {"endpoint": shown_value(u.endpoint), "parts": dict(u.parts), "raw_file": u.raw_file} for u in unreadable])},
        check_results=[
            dg.AssetCheckResult(check_name="no_final_value_regressed", passed=not kept, severity=dg.AssetCheckSeverity.WARN,
                                metadata={"violations": dg.MetadataValue.int(sum(kept.values())),
                                          "dates": dates_text(list(kept))}),
            dg.AssetCheckResult(check_name="no_unrequested_rows", passed=not unrequested,
                                severity=dg.AssetCheckSeverity.WARN,
                                metadata={"violations": dg.MetadataValue.int(dropped),
                                          "ids": ", ".join(shown_value(i) for u in unrequested for i in u.entity_ids) or "none"}),
            dg.AssetCheckResult(check_name="no_rows_outside_window", passed=not outside_window,
                                severity=dg.AssetCheckSeverity.WARN,
                                metadata={"violations": dg.MetadataValue.int(sum(o.rows for o in outside_window)),
                                          "raw_files": ", ".join(o.raw_file for o in outside_window) or "none"})])


def _per_date_sum(counts) -> dict[dt.date, int]:
    """Per-date counts of several accounts added up, by date."""
    total: dict[dt.date, int] = {}
    for per_date in counts:
        for date, count in per_date.items():
            total[date] = total.get(date, 0) + count
    return dict(sorted(total.items()))


def load_warehouse(context: dg.AssetExecutionContext, storage: StorageResource, requested: DateRange,
                   source: transform.Source, dimensions: tuple[str, ...],
                   checks: tuple[Check, ...], preview_view: str, preview_filter: str = "",
                   stale_before: dt.date | None = None):
    """The range's lake files of the source and the newest snapshots of its dimensions, in one transaction whose
    checks run before COMMIT; then a preview of its main view. A failing blocking check yields every check's
    result (so the UI shows which one failed, with its sample rows) and fails the step: nothing is published. Each
    day's materialization carries that day's rows per wide table (`rows_<table>`); the run's totals are
    `run_rows_<table>` (and `rows_<dimension>`: the dimension tables are not dated)."""
    warehouse, lake = storage.warehouse(), storage.lake()
    snapshots = {name: lake.latest_snapshots(name) for name in dimensions}
    try:
        with _step_progress(context, "rows loaded") as progress:
            _plan_rows(progress, lake, source.name, requested)
            loaded = warehouse.load(lake, source.name, source.entity_types, requested.dates(),
                                    {name: paths for name, paths in snapshots.items() if paths}, checks, stale_before,
                                    progress)
    except BlockingCheckError as error:
        yield from (check_result(outcome) for outcome in error.outcomes)
        raise dg.Failure(description=str(error), allow_retries=False) from None
    if loaded.added_columns or loaded.widened_columns:
        dg.get_dagster_logger().warning(f"{source.name}: {column_changes_text(loaded.added_columns, loaded.widened_columns)}")
    facts = [table for table in fact_tables_of(source.name) if table in loaded.rows]
    with warehouse.connect(read_only=True) as con:
        add_rows_per_partition(context, requested.dates(),
                               warehouse_rows_per_date(con, facts, requested.start, requested.end))
        sample = con.sql(f"SELECT * FROM {preview_view} WHERE date BETWEEN ? AND ? {preview_filter} "
                         "ORDER BY date DESC LIMIT 5", params=[requested.start, requested.end]).to_arrow_table()
    yield dg.MaterializeResult(metadata={
        "range": str(requested),
        **{f"{'run_rows' if k in facts else 'rows'}_{k}": dg.MetadataValue.int(v) for k, v in loaded.rows.items()},
        "columns_added": dg.MetadataValue.json(loaded.added_columns),
        "columns_widened": dg.MetadataValue.json(loaded.widened_columns),
        f"preview_{preview_view}": preview(sample)}, check_results=[check_result(o) for o in loaded.checks])


def check_result(outcome: CheckOutcome) -> dg.AssetCheckResult:
    """A check's verdict as Dagster shows it: passed or not, its severity, the number of offending rows and a
    sample of them."""
    metadata = {"violations": dg.MetadataValue.int(outcome.violations)}
    if outcome.sample:
        metadata["sample"] = dg.MetadataValue.json(list(outcome.sample))
    return dg.AssetCheckResult(check_name=outcome.check.name, passed=outcome.passed,
                               severity=dg.AssetCheckSeverity.ERROR if outcome.check.blocking else dg.AssetCheckSeverity.WARN,
                               metadata=metadata)


@contextlib.contextmanager
def _step_progress(context: dg.AssetExecutionContext, unit: str) -> Iterator[StepProgress]:
    """The step's progress in `unit`: live on a terminal, its last line in the step's log (also when it fails)."""
    progress = StepProgress(context.op_execution_context.op_handle.name, unit, log=context.log.info)
    stopped = True
    try:
        yield progress
        stopped = False
    finally:
        progress.finish(stopped=stopped)


def _plan_rows(progress: StepProgress, lake, source: str, requested: DateRange) -> None:
    """The rows the load will insert, from the lake files' footers; a file that cannot be read leaves the plan
    open (the load names it: it checks every file before reading it)."""
    try:
        per_table = lake_rows_per_date(lake, fact_tables_of(source), requested.dates(), source)
    except (OSError, pa.ArrowException):
        return
    progress.plan(sum(n for per_date in per_table.values() for n in per_date.values()))
