"""Organic assets: dimensions, raw answers, the lake's tidy tables and their load into the warehouse."""

import datetime as dt
import warnings

import dagster as dg
import duckdb
import pyarrow.parquet as pq

from assets.loading import check_specs, load_warehouse, normalize_to_lake
from assets.metadata import api_metadata, preview
from assets.partitions import DAILY
from assets.resources import PinterestResource, StorageResource
from pipelines import settings
from pipelines.organic.dimensions import OrganicDimensions, extract_dimensions
from pipelines.organic.extract import extract_organic, plan_organic
from pipelines.organic.source import ORGANIC
from pipelines.planning import DateRange
from pipelines.quality import ORGANIC_CHECKS

# BackfillPolicy is marked beta in Dagster 1.13; it is what makes a backfill one run.
warnings.filterwarnings("ignore", category=dg.BetaWarning)

OWNERS = ["team:marketing-analytics"]
SINGLE_RUN = dg.BackfillPolicy.single_run()


def partition_range(context: dg.AssetExecutionContext) -> DateRange:
    window = context.partition_time_window
    return DateRange(window.start.date(), (window.end - dt.timedelta(days=1)).date())


def latest_dimensions(storage: StorageResource) -> OrganicDimensions:
    lake = storage.lake()
    tables = {}
    for name in ("user_accounts", "boards", "pins"):
        snapshot = lake.latest_snapshot(name)
        if snapshot is None:
            raise dg.Failure(f"no snapshot of {name} in {lake.root}; materialize the organic dimensions first")
        tables[name] = pq.read_table(snapshot)
    return OrganicDimensions(**tables)


@dg.multi_asset(
    specs=[
        dg.AssetSpec("user_accounts", group_name="organic", owners=OWNERS, kinds={"duckdb", "parquet"},
                     description="The Pinterest user account (latest state): one row per account."),
        dg.AssetSpec("boards", group_name="organic", owners=OWNERS, kinds={"duckdb", "parquet"},
                     description="Boards of the account (latest state, secret ones when the token may read them): "
                                 "one row per board."),
        dg.AssetSpec("pins", group_name="organic", owners=OWNERS, kinds={"duckdb", "parquet"},
                     description="Pins of the account (latest state): one row per pin."),
    ],
)
def organic_dimensions(context: dg.AssetExecutionContext, pinterest: PinterestResource, storage: StorageResource):
    """Every page of the account, its boards and its pins, as a dated snapshot in the lake (the warehouse
    load makes the newest snapshot the latest state in DuckDB)."""
    client, source = pinterest.client()
    context.log.info(f"Pinterest API {client.base_url}, tokens from the {source}")
    with client:
        dimensions = extract_dimensions(client, storage.raw())
    lake, today = storage.lake(), pinterest.today()
    with duckdb.connect() as con:
        for name in ("user_accounts", "boards", "pins"):
            con.register(name, getattr(dimensions, name))
            lake.snapshot(con, name, today, f"SELECT * FROM {name}")
    for name in ("user_accounts", "boards", "pins"):
        yield dg.MaterializeResult(asset_key=name, metadata={
            "rows": dg.MetadataValue.int(getattr(dimensions, name).num_rows), "preview": preview(getattr(dimensions, name)),
            **(api_metadata(client.stats) if name == "user_accounts" else {})})


@dg.asset(partitions_def=DAILY, backfill_policy=SINGLE_RUN, deps=["user_accounts", "pins"], group_name="organic",
          owners=OWNERS, kinds={"pinterest", "json"})
def organic_raw(context: dg.AssetExecutionContext, pinterest: PinterestResource, storage: StorageResource):
    """Raw answers of user-account and pin analytics for the partition range, gzipped in the raw zone
    (immutable). Calls: ceil(days/90) x (1 + splits + ceil(pins/100)). Dates older than the API's
    90-day window are not requested: they are reported as unreachable."""
    requested = partition_range(context)
    dimensions = latest_dimensions(storage)
    plan = plan_organic(requested, pinterest.today(), dimensions.pin_refs(), settings.organic_splits())
    if plan.unreachable:
        context.log.warning(f"{plan.unreachable} is older than the API's 90-day window: not requested; "
                            "the lake keeps what earlier runs stored, and the raw zone can re-normalize it")
    client, _ = pinterest.client()
    with client:
        summary = extract_organic(client, storage.raw(), plan, dimensions.user_id)
    if not summary.bulk_available:
        context.log.warning("bulk pin analytics unavailable to this app: fell back to one call per pin")
    return dg.MaterializeResult(metadata={
        "range": str(requested), "raw_files": summary.files, "planned_analytics_calls": plan.analytics_calls,
        "unreachable_dates": str(plan.unreachable) if plan.unreachable else "none",
        "bulk_pin_analytics": summary.bulk_available, "pins": len(dimensions.pin_refs()),
        **api_metadata(client.stats)})


@dg.asset(partitions_def=DAILY, backfill_policy=SINGLE_RUN, deps=["organic_raw"], group_name="organic",
          owners=OWNERS, kinds={"parquet"})
def organic_lake(context: dg.AssetExecutionContext, storage: StorageResource, pinterest: PinterestResource):
    """Tidy organic rows in the Parquet lake: `metric_daily` (one row per entity per UTC day per split
    per metric) and `daily_status` (one row per entity per UTC day per split), entity types user_account
    and pin, from the newest raw answer per key. No API calls: this is also the re-normalize path."""
    return normalize_to_lake(storage, partition_range(context), ORGANIC, pinterest.today())


@dg.asset(partitions_def=DAILY, backfill_policy=SINGLE_RUN, deps=["organic_lake", "user_accounts", "boards", "pins"],
          group_name="warehouse",
          owners=OWNERS, kinds={"duckdb"}, pool="warehouse",
          check_specs=check_specs("organic_warehouse", ORGANIC_CHECKS))
def organic_warehouse(context: dg.AssetExecutionContext, storage: StorageResource):
    """The organic rows of the lake for the partition range and the newest dimension snapshots, loaded into
    DuckDB in one transaction (delete the range, insert), behind the wide views `user_account_daily` (one
    row per account per UTC day per split) and `pin_daily` (one row per pin per UTC day)."""
    return load_warehouse(storage, partition_range(context), ORGANIC, ("user_accounts", "boards", "pins", "pin_lifetime"),
                          ORGANIC_CHECKS, "user_account_daily", "AND split_field = 'NO_SPLIT'")
