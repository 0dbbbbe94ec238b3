"""What the lake and warehouse assets of every source do: normalize a range, then load it with checks."""

import datetime as dt

import dagster as dg

from assets.metadata import dates_text, preview
from assets.resources import StorageResource
from pipelines import transform
from pipelines.accounts import Account
from pipelines.planning import DateRange
from pipelines.quality import Check, CheckOutcome
from pipelines.warehouse import BlockingCheckError


def check_specs(asset: str, checks: tuple[Check, ...]) -> list[dg.AssetCheckSpec]:
    return [dg.AssetCheckSpec(c.name, asset=asset, description=c.description, blocking=c.blocking) for c in checks]


def normalize_to_lake(storage: StorageResource, requested: DateRange, source: transform.Source, today,
                      accounts: list[Account]) -> dg.MaterializeResult:
    """Each account's raw answers of the range into its own lake files (no API calls)."""
    summaries = [transform.normalize_range(storage.raw(account), storage.lake(), requested, source, today,
                                           storage.temp_directory(), None if account.is_default else account.name)
                 for account in accounts]
    return dg.MaterializeResult(metadata={
        "range": str(requested), "accounts": ", ".join(a.name for a in accounts),
        "raw_files_read": sum(s.raw_files for s in summaries),
        "dates_written": dates_text(sorted({d for s in summaries for d in s.dates_written})),
        "metric_rows": sum(s.metric_rows for s in summaries), "status_rows": sum(s.status_rows for s in summaries),
        "dates_not_final": dates_text(sorted({d for s in summaries for d in s.not_final_dates})),
        "pin_lifetime_rows": sum(s.lifetime_rows for s in summaries)})


def load_warehouse(storage: StorageResource, requested: DateRange, source: transform.Source, dimensions: tuple[str, ...],
                   checks: tuple[Check, ...], preview_view: str, preview_filter: str = "",
                   stale_before: dt.date | None = None):
    """The range's lake files of the source and the newest snapshots of its dimensions, in one transaction whose
    checks run before COMMIT; then a preview of its main view. A failing blocking check yields every check's
    result (so the UI shows which one failed, with its sample rows) and fails the step: nothing is published."""
    warehouse, lake = storage.warehouse(), storage.lake()
    snapshots = {name: lake.latest_snapshots(name) for name in dimensions}
    try:
        loaded = warehouse.load(lake, source.name, source.entity_types, requested.dates(),
                                {name: paths for name, paths in snapshots.items() if paths}, checks, stale_before)
    except BlockingCheckError as error:
        yield from (check_result(outcome) for outcome in error.outcomes)
        raise dg.Failure(description=str(error), allow_retries=False) from None
    with warehouse.connect(read_only=True) as con:
        sample = con.sql(f"SELECT * FROM {preview_view} WHERE date BETWEEN ? AND ? {preview_filter} "
                         "ORDER BY date DESC LIMIT 5", params=[requested.start, requested.end]).to_arrow_table()
    yield dg.MaterializeResult(metadata={
        "range": str(requested), **{f"rows_{k}": dg.MetadataValue.int(v) for k, v in loaded.rows.items()},
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
