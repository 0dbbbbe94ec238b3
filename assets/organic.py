"""Organic assets: dimensions, raw answers, the lake's tidy tables and their load into the warehouse."""

import datetime as dt
import traceback

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
from pipelines.organic.dimensions import BOARDS, PINS, USER_ACCOUNTS, OrganicDimensions, extract_dimensions
from pipelines.organic.extract import ExtractSummary, OrganicPlan, PinNote, extract_organic, first_note_per_pin, plan_organic
from pipelines.organic.source import ORGANIC, organic_source
from pipelines.organic.top_pins import SORT_METRICS, TOP_PINS_API, fetch_top_pins, top_pins_window
from pipelines.pinterest.accounting import CallStats
from pipelines.pinterest.errors import PinterestError, shown_value
from pipelines.planning import SYNC_BACK_DAYS, DateRange
from pipelines.quality import ORGANIC_CHECKS
from pipelines.resume import Resumption
from pipelines.settings import Settings

# Pins left without analytics named in the materialization's metadata and in the log line (the count is always whole).
FIRST_PINS_LISTED, FIRST_PINS_LOGGED = 20, 5


def pins_without_analytics_metadata(done: dict[Account, tuple[ExtractSummary, int]]) -> dict:
    """Pins worth a look, each kind as a count and the first ones by account and pin id with what happened: left
    without analytics (refused alone, or answered alone without a readable block or any day), answered without
    some days of their window, answered with the other pin type's metrics (then asked alone with that type's set),
    answered with days outside their window (dropped by normalization); and how many pins bulk answers left out or
    answered unusably (each then asked alone once)."""
    kinds = {"pins_without_analytics": lambda s: s.skipped_pins, "pins_with_missing_days": lambda s: s.short_answers,
             "pins_answered_as_other_type": lambda s: s.retyped_pins,
             "pins_answered_outside_window": lambda s: s.outside_window_answers}
    metadata = {}
    for name, notes in kinds.items():
        listed = [{"account": account.name, "pin_id": shown_value(pin), "reason": reason}
                  for account, (summary, _) in done.items() for pin, reason in first_note_per_pin(notes(summary)).items()]
        metadata[name] = len(listed)
        metadata[f"{name}_first"] = dg.MetadataValue.json(listed[:FIRST_PINS_LISTED])
    return {**metadata,
            "pins_missing_from_bulk_answers": sum(summary.pins_missing_from_bulk for summary, _ in done.values())}


def log_pin_notes(context: dg.AssetExecutionContext, account: Account, notes: list[PinNote], what: str) -> None:
    """One warning for pins with notes of one kind: how many, what happened, the first ones."""
    first_notes = first_note_per_pin(notes)
    if first_notes:
        first = "; ".join(f"{shown_value(pin)} ({note})" for pin, note in list(first_notes.items())[:FIRST_PINS_LOGGED])
        context.log.warning(f"{account.describe()}: {len(first_notes)} pin(s) {what}; first: {first}")


def latest_dimensions(storage: StorageResource, account: Account) -> OrganicDimensions:
    """The account's user, boards and pins as its latest extraction left them (the snapshots of its user)."""
    lake = storage.lake()
    users = lake.account_identities(account.name, "organic")
    tables = {}
    for name in ("user_accounts", "boards", "pins"):
        snapshot = lake.latest_snapshot(name, users[0]) if users else None
        if snapshot is None:
            raise dg.Failure(f"no snapshot of {name} for {account.describe()} in {lake.root}; "
                             "materialize the organic dimensions first")
        tables[name] = pq.read_table(snapshot)
    return OrganicDimensions(**tables)


ORGANIC_DIMENSIONS = ("user_accounts", "boards", "pins")


def _user_id(lake, account: Account, user: str) -> str:
    """The Pinterest user id of an account's lake identity, from its newest user_accounts snapshot."""
    snapshot = lake.latest_snapshot("user_accounts", user)
    if snapshot is None:
        raise dg.Failure(f"no snapshot of user_accounts for {account.describe()} in {lake.root}; "
                         "materialize the organic dimensions first")
    return pq.read_table(snapshot, columns=["user_id"]).column("user_id")[0].as_py()


@dg.multi_asset(
    specs=[
        dg.AssetSpec("user_accounts", group_name="organic", owners=OWNERS, kinds={"duckdb", "parquet"},
                     tags=asset_tags(EXTRACT, "organic"),
                     metadata=column_schema("user_accounts", USER_ACCOUNTS),
                     description="The Pinterest user account (latest state): one row per account."),
        dg.AssetSpec("boards", group_name="organic", owners=OWNERS, kinds={"duckdb", "parquet"},
                     tags=asset_tags(EXTRACT, "organic"),
                     metadata=column_schema("boards", BOARDS),
                     description="Boards of the account (latest state, secret ones when the token may read them): "
                                 "one row per board."),
        dg.AssetSpec("pins", group_name="organic", owners=OWNERS, kinds={"duckdb", "parquet"},
                     tags=asset_tags(EXTRACT, "organic"),
                     metadata=column_schema("pins", PINS),
                     description="Pins of the account (latest state): one row per pin."),
    ],
    check_specs=[accounts_check("user_accounts")],
)
def organic_dimensions(context: dg.AssetExecutionContext, pinterest: PinterestResource, storage: StorageResource):
    """Every page of each account, its boards and its pins, as a dated snapshot in the lake (the warehouse
    load makes the newest snapshots the latest state in DuckDB)."""
    lake, today, users = storage.lake(), pinterest.today(), {}

    def extract(account: Account, stats) -> OrganicDimensions:
        client, source = pinterest.client(account, stats)
        context.log.info(f"{account.describe()}: Pinterest API {client.base_url}, tokens from the {source}")
        with client:
            dimensions = extract_dimensions(client, storage.raw(account))
        if users.setdefault(dimensions.user_id, account.name) != account.name:
            raise dg.Failure(f"{account.describe()} is the same Pinterest user as account {users[dimensions.user_id]!r}; "
                             "list every Pinterest account once in the accounts file")
        lake.write_dimension_snapshots(account.name, "organic", today, dimensions.tables_by_identity())
        return dimensions

    with storage.publishing(context.log):
        results = for_each_account(context, pinterest, extract)
    for name in ORGANIC_DIMENSIONS:
        tables = [getattr(d, name) for d in results.done.values()]
        table = pa.concat_tables(tables) if tables else None
        yield dg.MaterializeResult(asset_key=name, metadata={
            "rows": dg.MetadataValue.int(table.num_rows if table is not None else 0),
            "preview": preview(table) if table is not None else dg.MetadataValue.md("(no rows)"),
            **(api_metadata(results.stats) | results.metadata() if name == "user_accounts" else {})})
    yield results.check_result("user_accounts")


def _organic_request_settings(configured: Settings) -> str:
    return f"{configured.api_base_url} splits={configured.organic_splits} content_types={configured.content_types}"


def _extract_organic(context: dg.OpExecutionContext, pinterest: PinterestResource, storage: StorageResource,
                     account: Account, stats: CallStats, resume: Resumption,
                     progress: ApiProgress) -> tuple[ExtractSummary, int, OrganicPlan]:
    """One account's organic analytics for the run's range: its summary, its pins and its plan."""
    requested, configured = partition_range(context), pinterest.settings
    dimensions = latest_dimensions(storage, account)
    plan = plan_organic(requested, resume.planning_day(account.name, pinterest.today()), dimensions.pin_refs(),
                        configured.organic_splits, configured.content_types)
    client, _ = pinterest.client(account, stats)
    client.use_replay(resume.index(account.name, storage.raw(account)))
    with client, progress.account(client, plan.analytics_calls, stats):
        summary = extract_organic(client, storage.raw(account), plan, dimensions.user_id)
    if not summary.bulk_available:
        context.log.warning(f"{account.describe()}: multi_pins/analytics refused one-pin calls for pins that "
                            "pins/analytics answers: taken to be unavailable to this app, one call per pin")
    for notes, what in ((summary.skipped_pins, "have no analytics for (part of) the range: the API refused them "
                         "when asked alone (private, deleted or not this account's) or answered without any day"),
                        (summary.short_answers, "were answered without some days of their window"),
                        (summary.retyped_pins, "were answered with the other pin type's metrics (asked again "
                         "with that type's set; check their media type in the pins listing)"),
                        (summary.outside_window_answers, "were answered with days outside the window asked for "
                         "(normalization drops those days)")):
        log_pin_notes(context, account, notes, what)
    return summary, len(dimensions.pin_refs()), plan


def _organic_raw_metadata(context: dg.OpExecutionContext, results: AccountResults, requested: DateRange) -> dict:
    done = list(results.done.values())
    plans = [plan for _, _, plan in done]
    unreachable = plans[0].unreachable if plans else None
    if unreachable:
        context.log.warning(f"{unreachable} is older than {SYNC_BACK_DAYS} days back (one day inside the API's 90-day "
                            "window): not requested; "
                            "the lake keeps what earlier runs stored, and the raw zone can re-normalize it")
    return {
        "range": str(requested), "raw_files": sum(s.files for s, _, _ in done),
        "planned_analytics_calls": sum(p.analytics_calls for p in plans),
        "unreachable_dates": str(unreachable) if unreachable else "none",
        "bulk_pin_analytics": all(s.bulk_available for s, _, _ in done), "pins": sum(n for _, n, _ in done),
        **pins_without_analytics_metadata({account: (s, n) for account, (s, n, _) in results.done.items()}),
        **results.metadata(), **api_metadata(results.stats)}


ORGANIC_RAW = AccountWork("organic_raw", "organic", "org_analytics", _organic_request_settings, _extract_organic,
                          _organic_raw_metadata)


@dg.graph_asset(ins=after("user_accounts", "pins"), partitions_def=DAILY, backfill_policy=SINGLE_RUN,
                group_name="organic", owners=OWNERS, kinds={"pinterest", "json"}, tags=asset_tags(EXTRACT, "organic"),
                check_specs=[accounts_check("organic_raw")])
def organic_raw(user_accounts, pins):
    """Raw answers of user-account and pin analytics for the partition range, gzipped in the raw zone
    (immutable), one step per account. Calls per account:
    ceil(days/90) x (content types x (1 + splits) + ceil(standard pins/100) + ceil(video pins/100)).
    Dates older than 89 days back (one day inside the API's 90-day window) are not requested: they are
    reported as unreachable."""
    return account_steps(ORGANIC_RAW, user_accounts, pins)


RANKINGS_CHECK = dg.AssetCheckSpec(
    "rankings_fetched", asset="top_pins_api",
    description="The API's top-pins rankings were fetched for every account. The ranking is secondary: an account "
                "whose ranking the API refuses or answers unusably keeps its previous one, and the run goes on.")


@dg.asset(partitions_def=DAILY, backfill_policy=SINGLE_RUN, deps=["organic_raw"], group_name="organic",
          owners=OWNERS, kinds={"pinterest", "parquet"}, tags=asset_tags(EXTRACT, "organic"),
          metadata=column_schema("top_pins_api", TOP_PINS_API),
          check_specs=[RANKINGS_CHECK])
def top_pins_api(context: dg.AssetExecutionContext, pinterest: PinterestResource, storage: StorageResource):
    """The API's own top-pins rankings (by impressions, saves and outbound clicks, 50 pins each) over the 28 days
    ending at the range's last date, as a dated snapshot in the lake: one row per account per ranking per place.
    One call per ranking per account (3); the answers are kept in the raw zone. The warehouse's `top_pins` ranks
    the stored pin data the same way, so the two can be compared. After `organic_raw`, so that a tight quota is
    spent on the daily numbers first. An API error or an unusable answer fails the `rankings_fetched` check (a
    warning), not the run: the account keeps its previous ranking."""
    lake, today = storage.lake(), pinterest.today()
    window = top_pins_window(partition_range(context), today)
    refused: dict[str, str] = {}

    def extract(account: Account, stats) -> pa.Table | None:
        user = _organic_identity(lake, account)
        client, _ = pinterest.client(account, stats)
        try:
            with client:
                rows = fetch_top_pins(client, storage.raw(account), window, _user_id(lake, account, user))
        except Exception as error:  # the ranking is secondary: nothing about it may stop the day's data
            refused[account.name] = f"{type(error).__name__}: {error}"
            unexpected = "" if isinstance(error, PinterestError) else f"\n{traceback.format_exc()}"
            context.log.warning(f"{account.describe()}: no top-pins ranking this run ({refused[account.name]}); "
                                f"the previous one stays{unexpected}")
            return None
        lake.snapshot_rows("top_pins_api", today, user, rows)
        return rows

    if window is None:
        context.log.warning(f"{partition_range(context)} has no day the API still serves: no top-pins ranking fetched")
        yield dg.MaterializeResult(metadata={"window": "none", "rows": 0})
        yield dg.AssetCheckResult(check_name="rankings_fetched", passed=True, metadata={"window": "none"})
        return
    with storage.publishing(context.log):
        results = for_each_account(context, pinterest, extract)
    tables = [table for table in results.done.values() if table is not None]
    table = pa.concat_tables(tables) if tables else None
    failed = {**results.failed, **refused}
    yield dg.MaterializeResult(metadata={
        "window": str(window), "rankings": ", ".join(SORT_METRICS),
        "rows": dg.MetadataValue.int(table.num_rows if table is not None else 0),
        "preview": preview(table) if table is not None else dg.MetadataValue.md("(no rows)"),
        **results.metadata(), "failed_accounts": dg.MetadataValue.json(failed), **api_metadata(results.stats)})
    yield dg.AssetCheckResult(check_name="rankings_fetched", passed=not failed, severity=dg.AssetCheckSeverity.WARN,
                              metadata={"window": str(window), "failed_accounts": dg.MetadataValue.json(failed)})


def _organic_identity(lake, account: Account) -> str:
    """The lake identity (`user=<id>`) of an account's Pinterest user, recorded by the organic dimensions."""
    users = lake.account_identities(account.name, "organic")
    if not users:
        raise dg.Failure(f"no user account of {account.describe()} in {lake.root}; "
                         "materialize the organic dimensions first")
    return users[0]


@dg.asset(partitions_def=DAILY, backfill_policy=SINGLE_RUN, deps=["organic_raw"], group_name="organic",
          owners=OWNERS, kinds={"parquet"}, tags=asset_tags(NORMALIZE, "organic"), **in_pool(NORMALIZE_POOL),
          metadata=fact_table_schema("user_account_daily", "pin_daily", lake=True),
          check_specs=lake_check_specs("organic_lake"))
def organic_lake(context: dg.AssetExecutionContext, storage: StorageResource, pinterest: PinterestResource):
    """Tidy organic rows in the Parquet lake, as the wide tables `user_account_daily` (one row per account per UTC
    day per split bucket per content type) and `pin_daily` (one row per pin per UTC day), one typed column per
    metric, from the newest raw answer per key; user-account answers only of the content types in
    PINTEREST_CONTENT_TYPES. No API calls: this is also the re-normalize path."""
    return normalize_to_lake(context, storage, pinterest, partition_range(context),
                             organic_source(pinterest.settings.content_types))


@dg.asset(partitions_def=DAILY, backfill_policy=SINGLE_RUN,
          deps=["organic_lake", "user_accounts", "boards", "pins", "top_pins_api"],
          group_name="warehouse",
          owners=OWNERS, kinds={"duckdb"}, tags=asset_tags(LOAD, "organic"), **in_pool(WAREHOUSE_POOL),
          freshness_policy=warehouse_freshness_policy(), metadata=fact_table_schema("user_account_daily", "pin_daily"),
          check_specs=check_specs("organic_warehouse", ORGANIC_CHECKS))
def organic_warehouse(context: dg.AssetExecutionContext, storage: StorageResource, pinterest: PinterestResource):
    """The organic rows of the lake for the partition range and the newest dimension snapshots, loaded into
    DuckDB in one transaction (delete the range, insert) as the wide tables `user_account_daily` (one row per
    account per UTC day per split bucket per content type, one column per metric) and `pin_daily` (one row per pin
    per UTC day), behind the view `user_account_organic_daily` (the organic numbers: per account per UTC day per
    split bucket, content type ORGANIC where stored, else ALL). The preview shows the organic account totals."""
    yield from load_warehouse(context, storage, partition_range(context), ORGANIC, ("user_accounts", "boards", "pins", "pin_lifetime", "top_pins_api"),
                              ORGANIC_CHECKS, "user_account_organic_daily", "AND split_field = 'NO_SPLIT'",
                              pinterest.today() - dt.timedelta(days=pinterest.settings.organic_repull_days))
