"""What each Pinterest endpoint the pipeline uses is: path, method, rate category, limits, records.

Descriptions are data; `client.PinterestClient` is the one request loop that serves them all.
Rate categories are the official description's `x-ratelimit-category` (checked by a test).
"""

from __future__ import annotations

import dataclasses

# Organic and sync ads analytics: start at most 90 days back, end at most 90 days after start.
ANALYTICS_WINDOW_DAYS = 90
# Async ads reports: dates at most 914 days back.
REPORT_WINDOW_DAYS = 914
MAX_PIN_IDS = 100
MAX_AD_ENTITY_IDS = 250
PAGE_SIZE = 250

# How a successful answer holds its records.
ITEMS = "items"  # {"items": [...], "bookmark": ...}
OBJECT = "object"  # one JSON object (a resource, or analytics keyed by split or pin id)
ROWS = "rows"  # a JSON array of flat rows (sync ads analytics)


@dataclasses.dataclass(frozen=True)
class DateWindow:
    max_back_days: int = ANALYTICS_WINDOW_DAYS
    max_span_days: int = ANALYTICS_WINDOW_DAYS


@dataclasses.dataclass(frozen=True)
class Endpoint:
    """One API operation, by its official operationId."""

    name: str
    method: str
    path: str  # relative to the base URL, with {placeholders}
    category: str
    records: str = OBJECT
    paged: bool = False
    required: tuple[str, ...] = ()
    date_window: DateWindow | None = None
    id_limits: tuple[tuple[str, int], ...] = ()  # (parameter, max ids)


_WINDOW = DateWindow()
_AD_IDS = MAX_AD_ENTITY_IDS

ENDPOINTS: dict[str, Endpoint] = {e.name: e for e in (
    Endpoint("user_account/get", "GET", "/user_account", "org_read"),
    Endpoint("user_account/analytics", "GET", "/user_account/analytics", "org_analytics",
             required=("start_date", "end_date"), date_window=_WINDOW),
    Endpoint("user_account/analytics/top_pins", "GET", "/user_account/analytics/top_pins", "org_analytics",
             required=("start_date", "end_date", "sort_by"), date_window=_WINDOW),
    Endpoint("boards/list", "GET", "/boards", "org_read", records=ITEMS, paged=True),
    Endpoint("boards/list_pins", "GET", "/boards/{board_id}/pins", "org_read", records=ITEMS, paged=True),
    Endpoint("pins/list", "GET", "/pins", "org_read", records=ITEMS, paged=True),
    Endpoint("pins/get", "GET", "/pins/{pin_id}", "org_read"),
    Endpoint("pins/analytics", "GET", "/pins/{pin_id}/analytics", "org_analytics",
             required=("start_date", "end_date", "metric_types"), date_window=_WINDOW),
    Endpoint("multi_pins/analytics", "GET", "/pins/analytics", "org_analytics",
             required=("pin_ids", "start_date", "end_date", "metric_types"), date_window=_WINDOW,
             id_limits=(("pin_ids", MAX_PIN_IDS),)),
    Endpoint("ad_accounts/list", "GET", "/ad_accounts", "ads_read", records=ITEMS, paged=True),
    Endpoint("ad_account/analytics", "GET", "/ad_accounts/{ad_account_id}/analytics", "ads_analytics", records=ROWS,
             required=("start_date", "end_date", "columns", "granularity"), date_window=_WINDOW),
    Endpoint("campaigns/list", "GET", "/ad_accounts/{ad_account_id}/campaigns", "ads_read", records=ITEMS, paged=True,
             id_limits=(("campaign_ids", _AD_IDS),)),
    Endpoint("campaigns/analytics", "GET", "/ad_accounts/{ad_account_id}/campaigns/analytics", "ads_analytics",
             records=ROWS, required=("start_date", "end_date", "campaign_ids", "columns", "granularity"),
             date_window=_WINDOW, id_limits=(("campaign_ids", _AD_IDS),)),
    Endpoint("ad_groups/list", "GET", "/ad_accounts/{ad_account_id}/ad_groups", "ads_read", records=ITEMS, paged=True,
             id_limits=(("campaign_ids", _AD_IDS), ("ad_group_ids", _AD_IDS))),
    Endpoint("ad_groups/analytics", "GET", "/ad_accounts/{ad_account_id}/ad_groups/analytics", "ads_analytics",
             records=ROWS, required=("start_date", "end_date", "ad_group_ids", "columns", "granularity"),
             date_window=_WINDOW, id_limits=(("ad_group_ids", _AD_IDS),)),
    Endpoint("ads/list", "GET", "/ad_accounts/{ad_account_id}/ads", "ads_read", records=ITEMS, paged=True,
             id_limits=(("campaign_ids", _AD_IDS), ("ad_group_ids", _AD_IDS), ("ad_ids", _AD_IDS))),
    Endpoint("ads/analytics", "GET", "/ad_accounts/{ad_account_id}/ads/analytics", "ads_analytics", records=ROWS,
             required=("start_date", "end_date", "columns", "granularity"), date_window=_WINDOW,
             id_limits=(("ad_ids", _AD_IDS), ("campaign_ids", _AD_IDS), ("pin_ids", MAX_PIN_IDS))),
    Endpoint("metrics_ready_state/get", "GET", "/resources/metrics_ready_state", "ads_analytics", required=("date",)),
    Endpoint("analytics/create_report", "POST", "/ad_accounts/{ad_account_id}/reports", "ads_analytics"),
    Endpoint("analytics/get_report", "GET", "/ad_accounts/{ad_account_id}/reports", "ads_analytics", required=("token",)),
)}

# How a list query parameter travels (the one place that says so; `client._encode` applies it).
# COMMA: every list as one comma-joined value (`pin_ids=1,2,3`), as Pinterest's own SDK sends them and its
# live integration tests check; the default. REPEATED: what the official description reads as: id lists
# one key per value (`pin_ids=1&pin_ids=2`, the OpenAPI default style), but a server that keeps one value
# per key silently drops ids; only for comparing the two (`pinterest-etl probe`).
COMMA = "comma"
REPEATED = "repeated"
LIST_ENCODINGS = (COMMA, REPEATED)
# The description itself marks these style form, explode false: comma-joined under either encoding.
ALWAYS_COMMA_JOINED = frozenset({"metric_types", "columns", "split_field"})


def joins_with_commas(parameter: str, list_encoding: str) -> bool:
    """Whether a list value of `parameter` travels as one comma-joined value under `list_encoding`."""
    if list_encoding not in LIST_ENCODINGS:
        raise ValueError(f"list_encoding must be one of {', '.join(LIST_ENCODINGS)} (got {list_encoding!r})")
    return list_encoding == COMMA or parameter in ALWAYS_COMMA_JOINED


def endpoint(name: str) -> Endpoint:
    try:
        return ENDPOINTS[name]
    except KeyError:
        raise KeyError(f"unknown endpoint {name!r}; known: {', '.join(sorted(ENDPOINTS))}") from None
