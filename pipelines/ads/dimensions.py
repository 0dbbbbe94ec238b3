"""Ads dimensions: ad accounts (shared ones included) and, of every status, their campaigns, ad groups, ads."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Mapping

import pyarrow as pa
import pyarrow.compute as pc

from pipelines.ads.levels import ACCOUNT, BY_DIMENSION, UNDER_ACCOUNT
from pipelines.lake import AD_ACCOUNT, identity
from pipelines.pinterest.client import PinterestClient
from pipelines.pinterest.errors import ForbiddenError, NotFoundError, ResponseShapeError
from pipelines.raw_zone import RawZone

log = logging.getLogger(__name__)

# The API lists only ACTIVE and PAUSED entities by default; archived ones would silently lose their history.
ENTITY_STATUSES = ("ACTIVE", "PAUSED", "ARCHIVED")
_TS = pa.timestamp("us", tz="UTC")
_SECONDS = pa.timestamp("s", tz="UTC")

AD_ACCOUNTS = pa.schema([
    ("ad_account_id", pa.string()), ("name", pa.string()), ("owner_user_id", pa.string()),
    ("owner_username", pa.string()), ("country", pa.string()), ("currency", pa.string()),
    ("permissions", pa.string()), ("created_time", _SECONDS), ("updated_time", _SECONDS), ("extracted_at", _TS),
])
CAMPAIGNS = pa.schema([
    ("campaign_id", pa.string()), ("ad_account_id", pa.string()), ("name", pa.string()), ("status", pa.string()),
    ("summary_status", pa.string()), ("objective_type", pa.string()), ("daily_spend_cap", pa.int64()),
    ("lifetime_spend_cap", pa.int64()), ("start_time", _SECONDS), ("end_time", _SECONDS),
    ("created_time", _SECONDS), ("updated_time", _SECONDS), ("extracted_at", _TS),
])
AD_GROUPS = pa.schema([
    ("ad_group_id", pa.string()), ("campaign_id", pa.string()), ("ad_account_id", pa.string()), ("name", pa.string()),
    ("status", pa.string()), ("summary_status", pa.string()), ("budget_in_micro_currency", pa.int64()),
    ("budget_type", pa.string()), ("bid_in_micro_currency", pa.int64()), ("start_time", _SECONDS),
    ("end_time", _SECONDS), ("created_time", _SECONDS), ("updated_time", _SECONDS), ("extracted_at", _TS),
])
ADS = pa.schema([
    ("ad_id", pa.string()), ("ad_group_id", pa.string()), ("campaign_id", pa.string()), ("ad_account_id", pa.string()),
    ("pin_id", pa.string()), ("name", pa.string()), ("status", pa.string()), ("summary_status", pa.string()),
    ("review_status", pa.string()), ("creative_type", pa.string()), ("destination_url", pa.string()),
    ("created_time", _SECONDS), ("updated_time", _SECONDS), ("extracted_at", _TS),
])
SCHEMAS = {"ad_accounts": AD_ACCOUNTS, "campaigns": CAMPAIGNS, "ad_groups": AD_GROUPS, "ads": ADS}
# The dimensions listed under each ad account, in the order they are extracted.
LISTED_PER_ACCOUNT = tuple(level.dimension for level in UNDER_ACCOUNT)


@dataclasses.dataclass
class AdsDimensions:
    """Latest state of the ads entities, one row per entity; `refused` lists ad accounts the token
    could not read (403/404), which the run reports and skips; `taken` those another Pinterest account of
    the run already extracted (an ad account shared with several of an agency's logins is read once)."""

    ad_accounts: pa.Table
    campaigns: pa.Table
    ad_groups: pa.Table
    ads: pa.Table
    refused: dict[str, str] = dataclasses.field(default_factory=dict)
    taken: dict[str, str] = dataclasses.field(default_factory=dict)

    def tables(self) -> dict[str, pa.Table]:
        return {name: getattr(self, name) for name in SCHEMAS}

    def tables_by_identity(self) -> dict[str, dict[str, pa.Table]]:
        """Each ad account's rows of every table under its lake identity (`ad_account=<id>`), as the lake keeps
        their snapshots: an ad account without campaigns gets empty ones."""
        return {identity(AD_ACCOUNT, ad_account_id): {name: table.filter(pc.equal(table.column(ACCOUNT.id_column),
                                                                                   ad_account_id))
                                                      for name, table in self.tables().items()}
                for ad_account_id in self.ad_accounts.column(ACCOUNT.id_column).to_pylist()}


def _when(seconds) -> dt.datetime | None:
    return dt.datetime.fromtimestamp(seconds, dt.timezone.utc) if seconds is not None else None


def _id(item: dict, name: str, endpoint: str) -> str:
    if item.get(name) is None:
        raise ResponseShapeError(f"{endpoint}: an item lacks the field {name!r}")
    return str(item[name])


def _row(item: dict, schema: pa.Schema, renames: dict[str, str], extracted_at: dt.datetime, endpoint: str) -> dict:
    row = {}
    for field in schema:
        source = renames.get(field.name, field.name)
        value = item.get(source)
        if field.type == _SECONDS:
            value = _when(value)
        row[field.name] = value
    row[schema.names[0]] = _id(item, renames.get(schema.names[0], "id"), endpoint)
    row["extracted_at"] = extracted_at
    return row


def normalize(name: str, items: list[dict], extracted_at: dt.datetime) -> pa.Table:
    schema = SCHEMAS[name]
    endpoint = BY_DIMENSION[name].list_endpoint
    renames = {schema.names[0]: "id"}
    rows = []
    for item in items:
        row = _row(item, schema, renames, extracted_at, endpoint)
        if name == ACCOUNT.dimension:
            owner = item.get("owner") or {}
            row.update(owner_user_id=owner.get("id"), owner_username=owner.get("username"),
                       permissions=",".join(item.get("permissions") or []))
        rows.append(row)
    return pa.Table.from_pylist(rows, schema=schema)


def extract_ads_dimensions(client: PinterestClient, raw: RawZone, allow: frozenset[str] | None = None,
                           taken: Mapping[str, str] | None = None) -> AdsDimensions:
    """Every ad account the token can see (or the allow-listed ones), and all their entities; ad accounts in
    `taken` (id -> the Pinterest account that extracted it in this run) are left out."""
    now = dt.datetime.now(dt.timezone.utc)
    wanted: list[dict] = []
    skipped: dict[str, str] = {}
    params = {"include_shared_accounts": True}
    for page in client.pages(ACCOUNT.list_endpoint, params=params):
        raw.write(ACCOUNT.list_endpoint, page.content, params=params, fetched_at=now, request_id=page.request_id)
        for account in page.data["items"]:
            account_id = _id(account, "id", ACCOUNT.list_endpoint)
            if taken and account_id in taken:
                skipped[account_id] = taken[account_id]
            elif allow is None or account_id in allow:
                wanted.append(account)
    refused: dict[str, str] = {}
    missing = sorted((allow or frozenset()) - {str(a.get("id")) for a in wanted} - set(skipped))
    for account_id in missing:
        refused[account_id] = "not among the ad accounts this token can see"
    readable, levels = [], {name: [] for name in LISTED_PER_ACCOUNT}
    for account in wanted:
        account_id = str(account["id"])
        try:
            tables = {name: _account_entities(client, raw, name, account_id, now) for name in LISTED_PER_ACCOUNT}
        except (ForbiddenError, NotFoundError) as error:
            log.warning("ad account %s cannot be read (%s); it is skipped", account_id, error.api_message)
            refused[account_id] = f"HTTP {error.status}: {error.api_message}"
            continue
        readable.append(account)
        for name, table in tables.items():
            levels[name].append(table)
    return AdsDimensions(normalize(ACCOUNT.dimension, readable, now),
                         **{name: pa.concat_tables([normalize(name, [], now), *tables]).combine_chunks()
                            for name, tables in levels.items()},
                         refused=refused, taken=skipped)


def _account_entities(client: PinterestClient, raw: RawZone, name: str, account_id: str,
                      extracted_at: dt.datetime) -> pa.Table:
    """One ad account's entities of one level, of every status; every page into the raw zone, each normalized as it
    arrives (the entities of 5 x 200 x 5 x 5 accounts held as dicts until the end left about 50 MB of Python heap
    the process kept for the rest of the run)."""
    endpoint, entity_params = BY_DIMENSION[name].list_endpoint, {"entity_statuses": list(ENTITY_STATUSES)}
    tables = []
    for page in client.pages(endpoint, {"ad_account_id": account_id}, entity_params):
        raw.write(endpoint, page.content, params=entity_params, path_params={"ad_account_id": account_id},
                  fetched_at=dt.datetime.now(dt.timezone.utc), request_id=page.request_id)
        tables.append(normalize(name, page.data["items"], extracted_at))
    return pa.concat_tables(tables)
