"""What each Pinterest endpoint the pipeline uses is: path, method, rate category, limits, records.

Descriptions are data; `client.PinterestClient` is the one request loop that serves them all.
Rate categories are the official description's `x-ratelimit-category` (checked by a test).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

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

# How a list query parameter travels (the one place that says so; `encode_query` applies it), per parameter as
# Pinterest's own SDK sends it. Evidence: pinterest/pinterest-python-sdk (8ff3e8d) `pinterest/ads/campaigns.py`,
# `ad_groups.py`, `ads.py` `get_all` pass id lists as `[",".join(ids)]` ("TODO: change to only campaign_ids once v5
# spec updated") and `entity_statuses` as the list itself, to pinterest/pinterest-python-generated-api-client
# (0.1.8, 6e8a311), whose `collection_format_map` marks campaign_ids, ad_group_ids, ad_ids, entity_statuses and
# creative_types 'multi' (one key per list item: `api_client.parameters_to_tuples`) and columns, metric_types and
# targeting_types 'csv' (one comma-joined value). So on the wire: ids one comma-joined value (a one-item list under
# 'multi'), entity_statuses and creative_types repeated keys, columns and metric_types comma-joined. pin_ids of
# GET /pins/analytics is not in that client (the endpoint is newer): comma-joined like every other id list.
# COMMA: that, the default. REPEATED: what the official description reads as (every array one key per value, the
# OpenAPI default style), but a server that keeps one value per key silently drops ids; only for comparing the
# two (`pinterest-etl probe`).
COMMA = "comma"
REPEATED = "repeated"
LIST_ENCODINGS = (COMMA, REPEATED)
# The description itself marks these style form, explode false: comma-joined under either encoding.
ALWAYS_COMMA_JOINED = frozenset({"metric_types", "columns", "split_field"})
# Lists the SDK hands to a 'multi' parameter as they are: repeated keys under either encoding.
ALWAYS_REPEATED = frozenset({"entity_statuses", "creative_types"})


def joins_with_commas(parameter: str, list_encoding: str) -> bool:
    """Whether a list value of `parameter` travels as one comma-joined value under `list_encoding`."""
    if list_encoding not in LIST_ENCODINGS:
        raise ValueError(f"list_encoding must be one of {', '.join(LIST_ENCODINGS)} (got {list_encoding!r})")
    if parameter in ALWAYS_REPEATED:
        return False
    return list_encoding == COMMA or parameter in ALWAYS_COMMA_JOINED


def encode_query(params: Mapping[str, Any], list_encoding: str = COMMA) -> list[tuple[str, str]]:
    """The query string's (name, value) pairs: None left out, booleans as true/false, list values encoded as
    `joins_with_commas` says. Also the identity of a request when a resumed run looks for a stored answer."""
    pairs: list[tuple[str, str]] = []
    for name, value in params.items():
        if value is None:
            continue
        if isinstance(value, (list, tuple, set, frozenset)):
            values = [str(v) for v in value]
            if joins_with_commas(name, list_encoding):
                pairs.append((name, ",".join(values)))
            else:
                pairs.extend((name, v) for v in values)
        elif isinstance(value, bool):
            pairs.append((name, "true" if value else "false"))
        else:
            pairs.append((name, str(value)))
    return pairs


def endpoint(name: str) -> Endpoint:
    try:
        return ENDPOINTS[name]
    except KeyError:
        raise KeyError(f"unknown endpoint {name!r}; known: {', '.join(sorted(ENDPOINTS))}") from None
