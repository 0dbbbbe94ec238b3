"""The visual report asset: PINTEREST_ETL_HOME/report.html of the trailing 28 complete days, after the warehouse loads."""

import dagster as dg

from assets.conventions import OWNERS, REPORT, WAREHOUSE_POOL, asset_tags, in_pool
from assets.resources import PinterestResource, StorageResource
from pipelines.report import REPORT_FILE, ReportError, ReportWriteError, write_report


# Not partitioned: the page always covers the trailing 28 complete days, whatever range a run loaded. In a job's run
# (pinterest_daily, the shell's backfill jobs) it is materialized once after both loads of the range; in the UI's
# asset backfill of partitions it gets a run of its own once the partitioned runs are done (Dagster launches an
# unpartitioned asset downstream of partitioned ones that way). The file is not a table: the warehouse is only read.
@dg.asset(deps=["organic_warehouse", "ads_warehouse"], group_name="warehouse", owners=OWNERS, kinds={"html"},
          tags=asset_tags(REPORT), **in_pool(WAREHOUSE_POOL))
def pinterest_report(context: dg.AssetExecutionContext, storage: StorageResource,
                     pinterest: PinterestResource) -> dg.MaterializeResult:
    """PINTEREST_ETL_HOME/report.html: one self-contained HTML page over the trailing 28 complete UTC days with data
    in the warehouse, compared with the 28 before, whatever range the run loaded (a 3-day backfill still leaves a
    28-day report): organic trend per UTC day, top pins, spend vs conversions per campaign, final vs not-final rows
    per day. Renders what exists: a source without rows in the range gets a "no data" panel."""
    path = storage.root / REPORT_FILE
    try:
        summary = write_report(storage.warehouse(), path, today=pinterest.today())
    except (FileNotFoundError, ReportError, ReportWriteError) as error:
        raise dg.Failure(f"no report: {error}") from None
    context.log.info(f"Report of {summary.range} written to {summary.path}")
    return dg.MaterializeResult(metadata={
        "path": dg.MetadataValue.path(str(summary.path.resolve())),
        "url": dg.MetadataValue.url(summary.path.resolve().as_uri()),
        "range": str(summary.range), "bytes": dg.MetadataValue.int(summary.bytes),
        **{f"rows_{chart}": dg.MetadataValue.int(count) for chart, count in summary.row_counts.items()}})
