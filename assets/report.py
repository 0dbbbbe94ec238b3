"""The visual report asset: PINTEREST_ETL_HOME/report.html of the trailing 28 complete days, after the warehouse loads."""

import dagster as dg

from assets.organic import OWNERS, SINGLE_RUN, partition_range
from assets.partitions import DAILY
from assets.resources import StorageResource
from pipelines import settings
from pipelines.report import ReportError, write_report

REPORT_FILE = "report.html"


# Partitioned like the warehouse assets, with the same single-run backfill policy, so a run or a UI backfill
# of a range renders the report in the same run, after both loads (an unpartitioned asset downstream of
# partitioned ones would get a run of its own in an asset backfill). The file is not a table: the
# warehouse is only read.
@dg.asset(partitions_def=DAILY, backfill_policy=SINGLE_RUN, deps=["organic_warehouse", "ads_warehouse"],
          group_name="warehouse", owners=OWNERS, kinds={"html"}, pool="warehouse")
def pinterest_report(context: dg.AssetExecutionContext, storage: StorageResource) -> dg.MaterializeResult:
    """PINTEREST_ETL_HOME/report.html: one self-contained HTML page over the trailing 28 complete UTC days with data
    in the warehouse, compared with the 28 before, whatever range the run loaded (a 3-day backfill still leaves a
    28-day report): organic trend per UTC day, top pins, spend vs conversions per campaign, final vs not-final rows
    per day. Renders what exists: a source without rows in the range gets a "no data" panel."""
    loaded = partition_range(context)
    path = storage.root / REPORT_FILE
    try:
        summary = write_report(storage.warehouse(), path, today=settings.today())
    except (FileNotFoundError, ReportError) as error:
        raise dg.Failure(f"no report after loading {loaded}: {error}") from None
    context.log.info(f"Report of {summary.range} written to {summary.path}")
    return dg.MaterializeResult(metadata={
        "path": dg.MetadataValue.path(str(summary.path.resolve())),
        "url": dg.MetadataValue.url(summary.path.resolve().as_uri()),
        "range": str(summary.range), "bytes": dg.MetadataValue.int(summary.bytes),
        **{f"rows_{chart}": dg.MetadataValue.int(count) for chart, count in summary.row_counts.items()}})
