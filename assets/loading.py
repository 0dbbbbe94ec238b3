"""What the lake and warehouse assets of every source do: normalize a range, then load it with checks."""

import datetime as dt

import dagster as dg

from assets.metadata import dates_text, preview
from assets.resources import StorageResource
from pipelines import transform
from pipelines.accounts import Account
from pipelines.planning import DateRange
from pipelines.quality import Check, run_check


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
                   stale_before: dt.date | None = None) -> dg.MaterializeResult:
    """The range's lake files of the source and the newest snapshots of its dimensions, in one transaction;
    then the source's checks and a preview of its main view."""
    warehouse, lake = storage.warehouse(), storage.lake()
    snapshots = {name: lake.latest_snapshots(name) for name in dimensions}
    rows = warehouse.load(lake, source.name, source.entity_types, requested.dates(),
                          {name: paths for name, paths in snapshots.items() if paths})
    with warehouse.connect(read_only=True) as con:
        results = [dg.AssetCheckResult(check_name=c.name, passed=(bad := run_check(con, c, source.entity_types, requested, stale_before)) == 0,
                                       severity=dg.AssetCheckSeverity.ERROR if c.blocking else dg.AssetCheckSeverity.WARN,
                                       metadata={"violations": bad}) for c in checks]
        sample = con.sql(f"SELECT * FROM {preview_view} WHERE date BETWEEN ? AND ? {preview_filter} "
                         "ORDER BY date DESC LIMIT 5", params=[requested.start, requested.end]).to_arrow_table()
    return dg.MaterializeResult(metadata={
        "range": str(requested), **{f"rows_{k}": dg.MetadataValue.int(v) for k, v in rows.items()},
        f"preview_{preview_view}": preview(sample)}, check_results=results)
