"""Ads endpoints: ad accounts, campaigns, ad groups, ads, their synchronous analytics, metrics readiness."""

from __future__ import annotations

import datetime as dt
import itertools

import numpy as np

from pipelines import api_enums as enums
from pipelines.sandbox.ads_model import Attribution, derived_columns
from pipelines.sandbox.errors import invalid, not_permitted
from pipelines.sandbox.paging import page
from pipelines.sandbox.params import bool_param, date_param, date_window, enum_list, enum_param, id_list, int_param
from pipelines.sandbox.routing import Reply, Request, Route
from pipelines.sandbox.world import World, day_to_iso

ADS_COLUMNS = frozenset(enums.ADS_ANALYTICS_COLUMNS)
# Columns that describe the entity rather than measure it, by the level whose rows can carry them.
ATTRIBUTE_LEVELS = {
    "AD_ACCOUNT_ID": "ad_account", "ADVERTISER_ID": "ad_account",
    "CAMPAIGN_ID": "campaign", "CAMPAIGN_NAME": "campaign", "CAMPAIGN_ENTITY_STATUS": "campaign",
    "CAMPAIGN_OBJECTIVE_TYPE": "campaign",
    "AD_GROUP_ID": "ad_group", "AD_GROUP_NAME": "ad_group", "AD_GROUP_ENTITY_STATUS": "ad_group",
    "AD_ID": "ad", "PIN_PROMOTION_ID": "ad", "PIN_ID": "ad", "AD_NAME": "ad",
}
LEVEL_DEPTH = {"ad_account": 0, "campaign": 1, "ad_group": 2, "ad": 3}
ID_COLUMN = {"ad_account": "AD_ACCOUNT_ID", "campaign": "CAMPAIGN_ID", "ad_group": "AD_GROUP_ID", "ad": "AD_ID"}
CONVERSION_PREFIXES = ("TOTAL_CONVERSIONS", "TOTAL_CLICK_", "TOTAL_VIEW_", "TOTAL_ENGAGEMENT_", "TOTAL_WEB_",
                       "TOTAL_CHECKOUT", "TOTAL_SIGNUP", "TOTAL_LEAD", "TOTAL_PAGE_VISIT", "LEADS", "CHECKOUT_ROAS",
                       "WEB_CHECKOUT_ROAS")
HOURLY_PROFILE = np.array([1, 1, 1, 1, 1, 2, 3, 4, 5, 5, 5, 5, 6, 6, 6, 6, 6, 7, 8, 8, 7, 5, 3, 2], dtype=np.float64)
HOURLY_PROFILE /= HOURLY_PROFILE.sum()


def ad_account_index(request: Request) -> int:
    w = request.state.world
    index = w.ad_account_index_by_id.get(request.params["ad_account_id"])
    if index is None or index >= len(w.ad_account_ids) - request.state.config.forbidden_ad_accounts:
        raise not_permitted()
    return index


# ----------------------------------------------------------------------------------------------- lists
def list_ad_accounts(request: Request) -> Reply:
    w = request.state.world
    shared = bool_param(request.query, "include_shared_accounts", True)
    accounts = [i for i in range(len(w.ad_account_ids)) if shared or w.ad_account_owned[i]]
    window, bookmark = page(request.path, request.query, len(accounts))
    return Reply({"items": [w.ad_account_resource(accounts[i]) for i in window], "bookmark": bookmark})


def _statuses(request: Request) -> list[str]:
    return enum_list(request.query, "entity_statuses", enums.ENTITY_STATUSES) or ["ACTIVE", "PAUSED"]


def _ordered(request: Request, ids: list[str], indices: list[int]) -> list[int]:
    order = enum_param(request.query, "order", enums.ORDERS, "ASCENDING")
    return sorted(indices, key=lambda i: int(ids[i]), reverse=order == "DESCENDING")


def _list_reply(request: Request, indices: list[int], resource) -> Reply:
    window, bookmark = page(request.path, request.query, len(indices))
    return Reply({"items": [resource(indices[i]) for i in window], "bookmark": bookmark})


def list_campaigns(request: Request) -> Reply:
    w, account = request.state.world, ad_account_index(request)
    wanted = set(id_list(request.query, "campaign_ids", 250))
    statuses = _statuses(request)
    indices = [k for k in w.campaigns_of_account(account)
               if w.campaign_delivery[k].status in statuses and (not wanted or w.campaign_ids[k] in wanted)]
    return _list_reply(request, _ordered(request, w.campaign_ids, indices), w.campaign_resource)


def list_ad_groups(request: Request) -> Reply:
    w, account = request.state.world, ad_account_index(request)
    campaign_ids = set(id_list(request.query, "campaign_ids", 250))
    group_ids = set(id_list(request.query, "ad_group_ids", 250))
    if campaign_ids and group_ids:
        raise invalid("Provide campaign_ids or ad_group_ids, not both.")
    bool_param(request.query, "translate_interests_to_names", False)
    statuses = _statuses(request)
    indices = [g for g in w.ad_groups_of_account(account)
               if w.ad_group_delivery[g].status in statuses
               and (not campaign_ids or w.campaign_ids[w.ad_group_campaign[g]] in campaign_ids)
               and (not group_ids or w.ad_group_ids[g] in group_ids)]
    return _list_reply(request, _ordered(request, w.ad_group_ids, indices), w.ad_group_resource)


def list_ads(request: Request) -> Reply:
    w, account = request.state.world, ad_account_index(request)
    filters = {name: set(id_list(request.query, name, 250)) for name in ("campaign_ids", "ad_group_ids", "ad_ids")}
    if sum(bool(v) for v in filters.values()) > 1:
        raise invalid("Provide only campaign_ids or ad_group_ids or ad_ids, not more than one type.")
    statuses = _statuses(request)
    indices = [a for a in w.ads_of_account(account)
               if w.ad_group_delivery[w.ad_group[a]].status in statuses
               and (not filters["campaign_ids"] or w.campaign_ids[w.ad_campaign[a]] in filters["campaign_ids"])
               and (not filters["ad_group_ids"] or w.ad_group_ids[w.ad_group[a]] in filters["ad_group_ids"])
               and (not filters["ad_ids"] or w.ad_ids[a] in filters["ad_ids"])]
    return _list_reply(request, _ordered(request, w.ad_ids, indices), w.ad_resource)


# ------------------------------------------------------------------------------------------- analytics
def attribution_from_query(query) -> Attribution:
    windows = enums.ATTRIBUTION_WINDOW_DAYS
    return Attribution(
        click_window_days=int_param(query, "click_window_days", 30, 0, 60, allowed=windows),
        engagement_window_days=int_param(query, "engagement_window_days", 30, 0, 60, allowed=windows),
        view_window_days=int_param(query, "view_window_days", 1, 0, 60, allowed=windows),
        conversion_report_time=enum_param(query, "conversion_report_time", enums.CONVERSION_REPORT_TIMES, "TIME_OF_AD_ACTION"),
    )


def is_conversion_column(column: str) -> bool:
    return column.startswith(CONVERSION_PREFIXES)


def attribute_value(w: World, column: str, level: str, entity: int) -> str | None:
    """The value of an entity-describing column for an entity of `level` (None if not at that level)."""
    if LEVEL_DEPTH[ATTRIBUTE_LEVELS[column]] > LEVEL_DEPTH[level]:
        return None
    campaign = {"ad_account": None, "campaign": entity, "ad_group": None, "ad": None}[level]
    if level == "ad_group":
        campaign = int(w.ad_group_campaign[entity])
    elif level == "ad":
        campaign = int(w.ad_campaign[entity])
    group = entity if level == "ad_group" else (int(w.ad_group[entity]) if level == "ad" else None)
    account = entity if level == "ad_account" else int(w.campaign_account[campaign])
    values = {
        "AD_ACCOUNT_ID": lambda: w.ad_account_ids[account],
        "ADVERTISER_ID": lambda: w.ad_account_ids[account],
        "CAMPAIGN_ID": lambda: w.campaign_ids[campaign],
        "CAMPAIGN_NAME": lambda: w.campaign_resource(campaign)["name"],
        "CAMPAIGN_ENTITY_STATUS": lambda: w.campaign_delivery[campaign].status,
        "CAMPAIGN_OBJECTIVE_TYPE": lambda: w.campaign_objective[campaign],
        "AD_GROUP_ID": lambda: w.ad_group_ids[group],
        "AD_GROUP_NAME": lambda: w.ad_group_resource(group)["name"],
        "AD_GROUP_ENTITY_STATUS": lambda: w.ad_group_delivery[group].status,
        "AD_ID": lambda: w.ad_ids[entity],
        "PIN_PROMOTION_ID": lambda: w.ad_ids[entity],
        "PIN_ID": lambda: w.ad_resource(entity)["pin_id"],
        "AD_NAME": lambda: w.ad_resource(entity)["name"],
    }
    return values[column]()


def ads_of(w: World, level: str, entity: int) -> range:
    return {"ad_account": w.ads_of_account, "campaign": w.ads_of_campaign, "ad_group": w.ads_of_ad_group,
            "ad": lambda a: range(a, a + 1)}[level](entity)


def _buckets(days: np.ndarray, granularity: str) -> tuple[list[str | None], np.ndarray]:
    """Labels of the report buckets and, per day, the index of its bucket."""
    if granularity == "TOTAL":
        return [None], np.zeros(len(days), dtype=np.int64)
    if granularity == "DAY":
        return [day_to_iso(d) for d in days.tolist()], np.arange(len(days))
    starts = []
    for d in days.tolist():
        date = dt.date.fromordinal(d)
        start = date - dt.timedelta(days=date.weekday()) if granularity == "WEEK" else date.replace(day=1)
        starts.append(start.isoformat())
    labels = list(dict.fromkeys(starts))
    return labels, np.array([labels.index(s) for s in starts], dtype=np.int64)


def metric_rows(request: Request, level: str, entities: list[int], columns: list[str], start: dt.date, end: dt.date,
                granularity: str, attribution: Attribution, *, zero_fill: bool = False) -> list[tuple[int, dict]]:
    """(entity, row) pairs of an analytics answer: one row per entity per bucket with delivery, entity by entity."""
    w = request.state.world
    days = np.arange(start.toordinal(), end.toordinal() + 1, dtype=np.int64)
    counts = request.state.ads.entity_counts([ads_of(w, level, e) for e in entities], days, attribution)
    hourly = granularity == "HOUR"
    if hourly:
        counts = {m: _spread_over_hours(v) for m, v in counts.items()}
        labels = [f"{day_to_iso(d)} {h:02d}:00:00" for d in days.tolist() for h in range(24)]
    else:
        labels, bucket_of_day = _buckets(days, granularity)
        if len(labels) < len(days):  # a DAY bucket is its day; reduceat would pay per entity and bucket
            first_days = np.searchsorted(bucket_of_day, np.arange(len(labels)))  # a bucket's days are consecutive
            counts = {m: np.add.reduceat(v, first_days, axis=1) for m, v in counts.items()}
    values = derived_columns(counts)
    delivered = counts["IMPRESSION_1"] + counts["IMPRESSION_2"] + counts["SPEND_IN_MICRO_DOLLAR"] > 0
    metric_columns = [c for c in columns if c not in ATTRIBUTE_LEVELS and c in values
                      and not (hourly and is_conversion_column(c))]
    row_entities, row_buckets = np.nonzero(delivered)  # entity by entity, each one's buckets in order
    values_by_row = zip(*(values[c][row_entities, row_buckets].tolist() for c in metric_columns)) if metric_columns \
        else itertools.repeat(())
    heads = [_row_head(w, level, entity, columns, dated=labels[0] is not None) for entity in entities]
    rows = []
    for e, b, row_values in zip(row_entities.tolist(), row_buckets.tolist(), values_by_row):
        row = dict(heads[e])
        if labels[b] is not None:
            row["DATE"] = labels[b]
        # Zero values are left out of the API's rows (a report file in CSV has every column).
        row.update(zip(metric_columns, row_values) if zero_fill else itertools.compress(zip(metric_columns, row_values), row_values))
        rows.append((entities[e], row))
    return rows


def _row_head(w: World, level: str, entity: int, columns: list[str], *, dated: bool) -> dict:
    """What every row of an entity starts with: its id, the DATE (a placeholder, so it keeps its place) and the
    requested columns describing it."""
    id_column = ID_COLUMN[level]
    head = {id_column: attribute_value(w, id_column, level, entity)}
    if dated:
        head["DATE"] = None
    attributes = {c: attribute_value(w, c, level, entity) for c in columns if c in ATTRIBUTE_LEVELS}
    head.update((c, v) for c, v in attributes.items() if v is not None)
    return head


def _spread_over_hours(values: np.ndarray) -> np.ndarray:
    cumulative = np.floor(values[:, :, None] * np.cumsum(HOURLY_PROFILE)[None, None, :]).astype(np.int64)
    cumulative[:, :, -1] = values
    hourly = np.diff(cumulative, axis=2, prepend=0)
    return hourly.reshape(values.shape[0], -1)


def _analytics(request: Request, level: str, entities: list[int], message: str) -> Reply:
    q, w = request.query, request.state.world
    granularity = enum_param(q, "granularity", enums.GRANULARITIES, required=True)
    columns = enum_list(q, "columns", ADS_COLUMNS, required=True)
    if granularity == "HOUR":
        start, end = date_window(q, w.today, max_back_days=8, max_span_days=3 if level != "ad_account" else 8, message=message)
    else:
        start, end = date_window(q, w.today, message=message)
    attribution = attribution_from_query(q)
    enum_param(q, "reporting_timezone", ("PINTEREST_TIME_ZONE", "AD_ACCOUNT_TIME_ZONE"), "PINTEREST_TIME_ZONE")
    rows = metric_rows(request, level, entities, columns, start, end, granularity, attribution)
    return Reply([row for _, row in rows])


def _entities(request: Request, index: dict[str, int], ids: list[str], owner_of) -> list[int]:
    """Indices of the requested ids that belong to the path's ad account (others have no rows)."""
    account = ad_account_index(request)
    found = [index[i] for i in dict.fromkeys(ids) if i in index]
    return [e for e in found if owner_of(e) == account]


def ad_account_analytics(request: Request) -> Reply:
    return _analytics(request, "ad_account", [ad_account_index(request)], "Invalid ad account analytics parameters.")


def campaign_analytics(request: Request) -> Reply:
    w = request.state.world
    ids = id_list(request.query, "campaign_ids", 250, required=True)
    entities = _entities(request, w.campaign_index_by_id, ids, lambda k: int(w.campaign_account[k]))
    return _analytics(request, "campaign", entities, "Invalid ad account campaign analytics parameters.")


def ad_group_analytics(request: Request) -> Reply:
    w = request.state.world
    ids = id_list(request.query, "ad_group_ids", 250, required=True)
    entities = _entities(request, w.ad_group_index_by_id, ids, lambda g: int(w.campaign_account[w.ad_group_campaign[g]]))
    return _analytics(request, "ad_group", entities, "Invalid ad account group analytics parameters.")


def ad_analytics(request: Request) -> Reply:
    w = request.state.world
    ad_ids = id_list(request.query, "ad_ids", 250)
    campaign_ids = id_list(request.query, "campaign_ids", 250)
    pin_ids = id_list(request.query, "pin_ids", 100)
    if not ad_ids and not (campaign_ids and pin_ids):
        raise invalid("The request must contain either ad_ids or both campaign_ids and pin_ids.")
    if ad_ids:
        entities = _entities(request, w.ad_index_by_id, ad_ids, lambda a: int(w.ad_account[a]))
    else:
        campaigns = {w.campaign_index_by_id[c] for c in campaign_ids if c in w.campaign_index_by_id}
        pins = {w.pin_index_by_id[p] for p in pin_ids if p in w.pin_index_by_id}
        account = ad_account_index(request)
        entities = [a for a in w.ads_of_account(account) if int(w.ad_campaign[a]) in campaigns and int(w.ad_pin[a]) in pins]
    return _analytics(request, "ad", entities, "Invalid ad account ads analytics parameters.")


def metrics_ready_state(request: Request) -> Reply:
    day = date_param(request.query, "date")
    return Reply(request.state.ads.metrics_ready_state(day))


_READ, _ANALYTICS, _ADS = "ads_read", "ads_analytics", ("ads:read",)
ROUTES = (
    Route("GET", "/v5/ad_accounts", "ad_accounts/list", list_ad_accounts, _READ, _ADS),
    Route("GET", "/v5/ad_accounts/{ad_account_id}/analytics", "ad_account/analytics", ad_account_analytics, _ANALYTICS, _ADS),
    Route("GET", "/v5/ad_accounts/{ad_account_id}/campaigns", "campaigns/list", list_campaigns, _READ, _ADS),
    Route("GET", "/v5/ad_accounts/{ad_account_id}/campaigns/analytics", "campaigns/analytics", campaign_analytics, _ANALYTICS, _ADS),
    Route("GET", "/v5/ad_accounts/{ad_account_id}/ad_groups", "ad_groups/list", list_ad_groups, _READ, _ADS),
    Route("GET", "/v5/ad_accounts/{ad_account_id}/ad_groups/analytics", "ad_groups/analytics", ad_group_analytics, _ANALYTICS, _ADS),
    Route("GET", "/v5/ad_accounts/{ad_account_id}/ads", "ads/list", list_ads, _READ, _ADS),
    Route("GET", "/v5/ad_accounts/{ad_account_id}/ads/analytics", "ads/analytics", ad_analytics, _ANALYTICS, _ADS),
    Route("GET", "/v5/resources/metrics_ready_state", "metrics_ready_state/get", metrics_ready_state, _ANALYTICS, _ADS),
)
