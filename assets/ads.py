"""Ads assets: ad accounts and their entities, raw answers, the lake's tidy rows and the warehouse load."""

import datetime as dt

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq

from assets.account_steps import AccountWork, account_steps, after
from assets.accounts import AccountResults, ApiProgress, accounts_check, for_each_account
from assets.conventions import (
    EXTRACT,
    LOAD,
    NORMALIZE,
    NORMALIZE_POOL,
    OWNERS,
    SINGLE_RUN,
    WAREHOUSE_POOL,
    asset_tags,
    in_pool,
    partition_range,
)
from assets.loading import check_specs, lake_check_specs, load_warehouse, normalize_to_lake
from assets.metadata import api_metadata, column_schema, fact_table_schema, preview
from assets.partitions import DAILY, warehouse_freshness_policy
from assets.resources import PinterestResource, StorageResource
from pipelines.accounts import Account
from pipelines.ads.dimensions import SCHEMAS, AdsDimensions, extract_ads_dimensions
from pipelines.ads.extract import AdsExtractSummary, extract_ads, planned_analytics_calls
from pipelines.ads.levels import ACCOUNT
from pipelines.ads.normalize import ADS
from pipelines.pinterest.accounting import CallStats
from pipelines.pinterest.errors import AuthError
from pipelines.planning import REPORT_BACK_DAYS, DateRange
from pipelines.quality import ADS_CHECKS
from pipelines.resume import Resumption
from pipelines.settings import Settings

ADS_DIMENSIONS = tuple(SCHEMAS)


def latest_ads_dimensions(storage: StorageResource, account: Account) -> AdsDimensions:
    """The ad accounts the account's latest extraction took, with their entities (the snapshots of each)."""
    lake = storage.lake()
    ad_accounts = lake.account_identities(account.name, "ads")
    if ad_accounts is None:
        raise dg.Failure(f"no ads dimensions of {account.describe()} in {lake.root}; materialize the ads dimensions first")
    tables = {}
    for name in ADS_DIMENSIONS:
        parts = []
        for ad_account in ad_accounts:
            snapshot = lake.latest_snapshot(name, ad_account)
            if snapshot is None:
                raise dg.Failure(f"no snapshot of {name} for {ad_account} of {account.describe()} in {lake.root}; "
                                 "materialize the ads dimensions first")
            parts.append(pq.read_table(snapshot))
        tables[name] = pa.concat_tables(parts) if parts else SCHEMAS[name].empty_table()
    return AdsDimensions(**tables)


@dg.multi_asset(specs=[
    dg.AssetSpec("ad_accounts", group_name="ads", owners=OWNERS, kinds={"duckdb", "parquet"},
                 tags=asset_tags(EXTRACT, "ads"),
                 metadata=column_schema("ad_accounts", SCHEMAS["ad_accounts"]),
                 description="Ad accounts the token can read, shared ones included (latest state): one row per account."),
    dg.AssetSpec("campaigns", group_name="ads", owners=OWNERS, kinds={"duckdb", "parquet"},
                 tags=asset_tags(EXTRACT, "ads"),
                 metadata=column_schema("campaigns", SCHEMAS["campaigns"]),
                 description="Campaigns of every status, archived included (latest state): one row per campaign."),
    dg.AssetSpec("ad_groups", group_name="ads", owners=OWNERS, kinds={"duckdb", "parquet"},
                 tags=asset_tags(EXTRACT, "ads"),
                 metadata=column_schema("ad_groups", SCHEMAS["ad_groups"]),
                 description="Ad groups of every status (latest state): one row per ad group."),
    dg.AssetSpec("ads", group_name="ads", owners=OWNERS, kinds={"duckdb", "parquet"},
                 tags=asset_tags(EXTRACT, "ads"),
                 metadata=column_schema("ads", SCHEMAS["ads"]),
                 description="Ads of every status, with the pin each promotes (latest state): one row per ad."),
], check_specs=[accounts_check("ad_accounts")])
def ads_dimensions(context: dg.AssetExecutionContext, pinterest: PinterestResource, storage: StorageResource):
    """Every ad account of each Pinterest account (or those in its allow-list) and all their campaigns, ad
    groups and ads, as a dated snapshot in the lake. An ad account the token cannot read is reported and
    skipped; one that several Pinterest accounts see is extracted once, under the first of them."""
    lake, today, taken = storage.lake(), pinterest.today(), {}

    def extract(account: Account, stats) -> AdsDimensions:
        client, _ = pinterest.client(account, stats)
        with client:
            try:
                dimensions = extract_ads_dimensions(client, storage.raw(account),
                                                    pinterest.account_settings(account).ad_account_ids, taken)
            except AuthError as error:
                if error.code != 3:
                    raise
                context.log.warning(f"{account.describe()}: the token has no ads:read scope: no ads data is extracted")
                dimensions = AdsDimensions(*(schema.empty_table() for schema in SCHEMAS.values()))
        for ad_account, reason in dimensions.refused.items():
            context.log.warning(f"{account.describe()}: ad account {ad_account} skipped: {reason}")
        for ad_account, other in dimensions.taken.items():
            context.log.info(f"{account.describe()}: ad account {ad_account} is extracted under account {other!r}")
        taken.update(dict.fromkeys(dimensions.ad_accounts.column("ad_account_id").to_pylist(), account.name))
        lake.write_dimension_snapshots(account.name, "ads", today, dimensions.tables_by_identity())
        return dimensions

    with storage.publishing(context.log):
        results = for_each_account(context, pinterest, extract)
    for name in ADS_DIMENSIONS:
        tables = [getattr(d, name) for d in results.done.values()]
        table = pa.concat_tables(tables) if tables else SCHEMAS[name].empty_table()
        extra = {}
        if name == ACCOUNT.dimension:
            refused = {k: v for d in results.done.values() for k, v in d.refused.items()}
            extra = {"refused_ad_accounts": dg.MetadataValue.json(refused), **results.metadata(),
                     **api_metadata(results.stats)}
        yield dg.MaterializeResult(asset_key=name, metadata={"rows": dg.MetadataValue.int(table.num_rows),
                                                             "preview": preview(table), **extra})
    yield results.check_result(ACCOUNT.dimension)


def _ads_request_settings(configured: Settings) -> str:
    return (f"{configured.api_base_url} columns={configured.ads_columns} "
            f"attribution={configured.ads_attribution.label}")


def _extract_ads(context: dg.OpExecutionContext, pinterest: PinterestResource, storage: StorageResource,
                 account: Account, stats: CallStats, resume: Resumption,
                 progress: ApiProgress) -> tuple[AdsExtractSummary, int]:
    """One account's ads analytics for the run's range: its summary and its ad accounts."""
    requested, configured = partition_range(context), pinterest.settings
    dimensions = latest_ads_dimensions(storage, account)
    client, _ = pinterest.client(account, stats)
    client.use_replay(resume.index(account.name, storage.raw(account)))
    day = resume.planning_day(account.name, pinterest.today())
    with client, progress.account(client, planned_analytics_calls(dimensions.tables(), requested, day), stats):
        summary = extract_ads(client, storage.raw(account), dimensions, requested,
                              day, configured.ads_columns, configured.ads_attribution, configured.report_polling)
    return summary, dimensions.ad_accounts.num_rows


def _ads_raw_metadata(context: dg.OpExecutionContext, results: AccountResults, requested: DateRange) -> dict:
    done = list(results.done.values())
    beyond = next((s.beyond_reports for s, _ in done if s.beyond_reports), None)
    if beyond:
        context.log.warning(f"{beyond} is older than async reports are asked for ({REPORT_BACK_DAYS} days back, one day inside "
                            "the API's 914): not requested")
    return {
        "range": str(requested), "analytics_calls": sum(s.analytics_calls for s, _ in done),
        "ready_state_calls": sum(s.ready_state_calls for s, _ in done),
        "skipped_ad_groups": sum(s.skipped_ad_groups for s, _ in done), "skipped_ads": sum(s.skipped_ads for s, _ in done),
        "ad_accounts": sum(n for _, n in done), "async_reports": sum(s.reports for s, _ in done),
        "unreachable_dates": str(beyond) if beyond else "none", **results.metadata(), **api_metadata(results.stats)}


ADS_RAW = AccountWork("ads_raw", "ads", "ads_analytics", _ads_request_settings, _extract_ads, _ads_raw_metadata)


@dg.graph_asset(ins=after(*ADS_DIMENSIONS), partitions_def=DAILY, backfill_policy=SINGLE_RUN, group_name="ads",
                owners=OWNERS, kinds={"pinterest", "json"}, tags=asset_tags(EXTRACT, "ads"),
                check_specs=[accounts_check("ads_raw")])
def ads_raw(ad_accounts, campaigns, ad_groups, ads):
    """Raw answers of ads analytics (granularity DAY) at the ad account, campaign, ad group and ad levels for
    the partition range, one step per Pinterest account. Calls per ad account per 90-day window: 1 +
    ceil(campaigns/250) + ceil(ad groups/250) + ceil(ads/250), where ad groups and ads of campaigns without
    any row in the window are left out; plus one metrics_ready_state call in the usual case (a binary search
    when the newest date past the attribution window is not ready yet) to find which days are final. Dates
    older than the sync endpoints' reach (89 days back, one day inside the API's 90) come from async reports
    (up to 913 days back, one inside the API's 914): one per ad account, level and 186 days."""
    return account_steps(ADS_RAW, ad_accounts, campaigns, ad_groups, ads)


@dg.asset(partitions_def=DAILY, backfill_policy=SINGLE_RUN, deps=["ads_raw"], group_name="ads", owners=OWNERS,
          kinds={"parquet"}, tags=asset_tags(NORMALIZE, "ads"), **in_pool(NORMALIZE_POOL), metadata=fact_table_schema("campaign_daily", "ad_account_daily", "ad_group_daily", "ad_daily", lake=True), check_specs=lake_check_specs("ads_lake"))
def ads_lake(context: dg.AssetExecutionContext, storage: StorageResource, pinterest: PinterestResource):
    """Tidy ads rows in the Parquet lake, as the wide tables `ad_account_daily`, `campaign_daily`,
    `ad_group_daily` and `ad_daily` (one row per entity per UTC day with delivery per attribution setting, one
    typed column per requested ads column, with is_final; the warehouse adds the parents' ids and currency).
    No API calls."""
    return normalize_to_lake(context, storage, pinterest, partition_range(context), ADS)


@dg.asset(partitions_def=DAILY, backfill_policy=SINGLE_RUN, deps=["ads_lake", *ADS_DIMENSIONS], group_name="warehouse",
          owners=OWNERS, kinds={"duckdb"}, tags=asset_tags(LOAD, "ads"), **in_pool(WAREHOUSE_POOL),
          freshness_policy=warehouse_freshness_policy(), metadata=fact_table_schema("campaign_daily", "ad_account_daily", "ad_group_daily", "ad_daily"),
          check_specs=check_specs("ads_warehouse", ADS_CHECKS))
def ads_warehouse(context: dg.AssetExecutionContext, storage: StorageResource, pinterest: PinterestResource):
    """The ads rows of the lake for the range and the newest ads dimension snapshots, loaded into DuckDB in one
    transaction as the wide tables `ad_account_daily`, `campaign_daily`, `ad_group_daily` and `ad_daily`
    (one row per entity per UTC day per attribution setting, with parent ids, the account's currency and one
    column per ads column)."""
    yield from load_warehouse(context, storage, partition_range(context), ADS, ADS_DIMENSIONS, ADS_CHECKS, "campaign_daily",
                              stale_before=pinterest.today() - dt.timedelta(days=pinterest.settings.ads_repull_days))
