"""Ads assets: ad accounts and their entities, raw answers, the lake's tidy rows and the warehouse load."""

import warnings

import dagster as dg
import duckdb
import pyarrow.parquet as pq

from assets.loading import check_specs, load_warehouse, normalize_to_lake
from assets.metadata import api_metadata, preview
from assets.organic import OWNERS, SINGLE_RUN, partition_range
from assets.partitions import DAILY
from assets.resources import PinterestResource, StorageResource
from pipelines import settings
from pipelines.ads.dimensions import SCHEMAS, AdsDimensions, extract_ads_dimensions
from pipelines.ads.extract import extract_ads
from pipelines.ads.normalize import ADS
from pipelines.pinterest.errors import AuthError
from pipelines.quality import ADS_CHECKS

warnings.filterwarnings("ignore", category=dg.BetaWarning)
ADS_DIMENSIONS = tuple(SCHEMAS)


def latest_ads_dimensions(storage: StorageResource) -> AdsDimensions:
    lake = storage.lake()
    tables = {}
    for name in ADS_DIMENSIONS:
        snapshot = lake.latest_snapshot(name)
        if snapshot is None:
            raise dg.Failure(f"no snapshot of {name} in {lake.root}; materialize the ads dimensions first")
        tables[name] = pq.read_table(snapshot)
    return AdsDimensions(**tables)


@dg.multi_asset(specs=[
    dg.AssetSpec("ad_accounts", group_name="ads", owners=OWNERS, kinds={"duckdb", "parquet"},
                 description="Ad accounts the token can read, shared ones included (latest state): one row per account."),
    dg.AssetSpec("campaigns", group_name="ads", owners=OWNERS, kinds={"duckdb", "parquet"},
                 description="Campaigns of every status, archived included (latest state): one row per campaign."),
    dg.AssetSpec("ad_groups", group_name="ads", owners=OWNERS, kinds={"duckdb", "parquet"},
                 description="Ad groups of every status (latest state): one row per ad group."),
    dg.AssetSpec("ads", group_name="ads", owners=OWNERS, kinds={"duckdb", "parquet"},
                 description="Ads of every status, with the pin each promotes (latest state): one row per ad."),
])
def ads_dimensions(context: dg.AssetExecutionContext, pinterest: PinterestResource, storage: StorageResource):
    """Every ad account (or those in PINTEREST_AD_ACCOUNT_IDS) and all their campaigns, ad groups and ads,
    as a dated snapshot in the lake. An account the token cannot read is reported and skipped."""
    client, _ = pinterest.client()
    with client:
        try:
            dimensions = extract_ads_dimensions(client, storage.raw(), settings.ad_account_allow_list())
        except AuthError as error:
            if error.code != 3:
                raise
            context.log.warning("the token has no ads:read scope: no ads data is extracted")
            dimensions = AdsDimensions(*(schema.empty_table() for schema in SCHEMAS.values()))
    for account, reason in dimensions.refused.items():
        context.log.warning(f"ad account {account} skipped: {reason}")
    lake, today = storage.lake(), pinterest.today()
    with duckdb.connect() as con:
        for name, table in dimensions.tables().items():
            con.register(name, table)
            lake.snapshot(con, name, today, f"SELECT * FROM {name}")
    for name, table in dimensions.tables().items():
        extra = {}
        if name == "ad_accounts":
            extra = {"refused_ad_accounts": dg.MetadataValue.json(dimensions.refused), **api_metadata(client.stats)}
        yield dg.MaterializeResult(asset_key=name, metadata={"rows": dg.MetadataValue.int(table.num_rows),
                                                             "preview": preview(table), **extra})


@dg.asset(partitions_def=DAILY, backfill_policy=SINGLE_RUN, deps=list(ADS_DIMENSIONS), group_name="ads",
          owners=OWNERS, kinds={"pinterest", "json"})
def ads_raw(context: dg.AssetExecutionContext, pinterest: PinterestResource, storage: StorageResource):
    """Raw answers of ads analytics (granularity DAY) at the ad account, campaign, ad group and ad levels for
    the partition range. Calls per account per 90-day window: 1 + ceil(campaigns/250) + ceil(ad groups/250)
    + ceil(ads/250), where ad groups and ads of campaigns without any row in the window are left out; plus
    about log2(30) metrics_ready_state calls to find which recent days are final. Dates older than 90 days
    (up to 914) come from async reports: one per account, level and 186 days."""
    requested = partition_range(context)
    dimensions = latest_ads_dimensions(storage)
    client, _ = pinterest.client()
    with client:
        summary = extract_ads(client, storage.raw(), dimensions, requested, pinterest.today(), settings.ads_columns(),
                              settings.ads_attribution(), settings.report_polling())
    if summary.beyond_reports:
        context.log.warning(f"{summary.beyond_reports} is older than even async reports serve (914 days): not requested")
    return dg.MaterializeResult(metadata={
        "range": str(requested), "analytics_calls": summary.analytics_calls,
        "ready_state_calls": summary.ready_state_calls, "skipped_ad_groups": summary.skipped_ad_groups,
        "skipped_ads": summary.skipped_ads, "ad_accounts": dimensions.ad_accounts.num_rows,
        "async_reports": summary.reports,
        "unreachable_dates": str(summary.beyond_reports) if summary.beyond_reports else "none",
        **api_metadata(client.stats)})


@dg.asset(partitions_def=DAILY, backfill_policy=SINGLE_RUN, deps=["ads_raw"], group_name="ads", owners=OWNERS,
          kinds={"parquet"})
def ads_lake(context: dg.AssetExecutionContext, storage: StorageResource, pinterest: PinterestResource):
    """Tidy ads rows in the Parquet lake: `metric_daily` (one row per entity per UTC day per attribution
    setting per metric) and `daily_status` (one row per entity per day with delivery, with is_final), for
    entity types ad_account, campaign, ad_group, ad. No API calls."""
    return normalize_to_lake(storage, partition_range(context), ADS, pinterest.today())


@dg.asset(partitions_def=DAILY, backfill_policy=SINGLE_RUN, deps=["ads_lake", *ADS_DIMENSIONS], group_name="warehouse",
          owners=OWNERS, kinds={"duckdb"}, pool="warehouse",
          check_specs=check_specs("ads_warehouse", ADS_CHECKS))
def ads_warehouse(context: dg.AssetExecutionContext, storage: StorageResource):
    """The ads rows of the lake for the range and the newest ads dimension snapshots, loaded into DuckDB in one
    transaction, behind `ad_account_daily`, `campaign_daily`, `ad_group_daily` and `ad_daily` (one row per
    entity per UTC day per attribution setting, with parent ids and the account's currency)."""
    return load_warehouse(storage, partition_range(context), ADS, ADS_DIMENSIONS, ADS_CHECKS, "campaign_daily")
