"""Ads extraction: per ad account and window, one call per level and id batch, never one per entity."""

from __future__ import annotations

import dataclasses
import datetime as dt
import difflib
import functools
import json
import logging
import math
from collections.abc import Callable, Collection, Mapping

import pyarrow as pa
import pyarrow.compute as pc

from pipelines import api_enums
from pipelines.ads.attribution import Attribution
from pipelines.ads.levels import ACCOUNT, BY_NAME, LEVELS, UNDER_ACCOUNT, AdsLevel, ancestors
from pipelines.ads.reports import ReportPolling, extract_reports, plan_report_ranges
from pipelines.pinterest.client import ApiResponse, PinterestClient
from pipelines.pinterest.endpoints import MAX_AD_ENTITY_IDS
from pipelines.pinterest.errors import ResponseShapeError, shown_value
from pipelines.planning import REPORT_BACK_DAYS, DateRange, chunks, plan_windows
from pipelines.raw_zone import RawZone

log = logging.getLogger(__name__)

CAMPAIGN = BY_NAME["campaign"]  # the level whose answers decide which ad groups and ads are asked for

# Spend, paid impressions, clicks, outbound clicks, saves, engagements, video views, conversions and their
# values, and the API's own CTR/CPC/CPM. Money columns are micro-units of the ad account's currency.
DEFAULT_COLUMNS = (
    "SPEND_IN_MICRO_DOLLAR", "PAID_IMPRESSION", "TOTAL_IMPRESSION", "CLICKTHROUGH_1", "TOTAL_CLICKTHROUGH",
    "OUTBOUND_CLICK_1", "REPIN_1", "TOTAL_ENGAGEMENT", "VIDEO_MRC_VIEWS_1", "TOTAL_VIDEO_MRC_VIEWS",
    "TOTAL_CONVERSIONS", "TOTAL_CHECKOUT", "TOTAL_CHECKOUT_VALUE_IN_MICRO_DOLLAR", "CTR", "CPC_IN_MICRO_DOLLAR",
    "CPM_IN_MICRO_DOLLAR",
)
# Columns known to measure delivery only (and the ids naming the entity): their values do not wait for
# conversions, so they are final once metrics_ready_state says the non-conversion metrics are ready.
DELIVERY_COLUMNS = frozenset({
    "SPEND_IN_MICRO_DOLLAR", "SPEND_IN_DOLLAR", "PAID_IMPRESSION", "TOTAL_IMPRESSION", "IMPRESSION_1", "IMPRESSION_2",
    "CLICKTHROUGH_1", "CLICKTHROUGH_2", "TOTAL_CLICKTHROUGH", "OUTBOUND_CLICK_1", "OUTBOUND_CLICK_2", "REPIN_1",
    "REPIN_2", "ENGAGEMENT_1", "ENGAGEMENT_2", "TOTAL_ENGAGEMENT", "VIDEO_3SEC_VIEWS_1", "VIDEO_MRC_VIEWS_1",
    "TOTAL_VIDEO_3SEC_VIEWS", "TOTAL_VIDEO_MRC_VIEWS", "CTR", "ECTR", "CTR_2", "OUTBOUND_CTR_1", "ENGAGEMENT_RATE",
    "EENGAGEMENT_RATE", "REPIN_RATE", "TOTAL_REPIN_RATE", "CPC_IN_MICRO_DOLLAR", "ECPC_IN_MICRO_DOLLAR",
    "ECPC_IN_DOLLAR", "CPM_IN_MICRO_DOLLAR", "CPM_IN_DOLLAR", "ECPM_IN_MICRO_DOLLAR", "AD_ACCOUNT_ID",
    "ADVERTISER_ID", "CAMPAIGN_ID", "AD_GROUP_ID", "AD_ID", "PIN_ID", "PIN_PROMOTION_ID",
})


def validate_columns(columns: tuple[str, ...]) -> tuple[str, ...]:
    unknown = [c for c in columns if c not in api_enums.ADS_ANALYTICS_COLUMNS]
    if unknown:
        guesses = [f"{c} (did you mean {', '.join(close)}?)" if (close := difflib.get_close_matches(
            c.upper(), api_enums.ADS_ANALYTICS_COLUMNS, n=2, cutoff=0.75)) else c for c in unknown]
        raise ValueError(f"unknown ads column(s) {', '.join(guesses)}; use names of the official columns enum "
                         "(listed in pipelines/api_enums.py, ADS_ANALYTICS_COLUMNS), or unset the variable for the default")
    return tuple(dict.fromkeys(columns))


@dataclasses.dataclass
class AdsExtractSummary:
    analytics_calls: int = 0
    ready_state_calls: int = 0
    skipped_ad_groups: int = 0
    skipped_ads: int = 0
    reports: int = 0
    windows: tuple[DateRange, ...] = ()
    unreachable: DateRange | None = None  # older than the sync endpoints serve
    beyond_reports: DateRange | None = None  # older than even async reports serve (914 days)


def planned_analytics_calls(tables: Mapping[str, pa.Table], requested: DateRange, today: dt.date) -> int:
    """The most analytics calls the sync endpoints take for the range, given the ads dimensions' tables by name
    (`AdsDimensions.tables()`): per ad account per window, the account, then each level under it in batches of 250
    ids (ad groups and ads of campaigns without delivery are then left out, so a run may end below the plan), and
    one metrics_ready_state call. Async reports (dates beyond the sync endpoints' reach) are not planned: their
    polling takes as many calls as the reports take time."""
    windows = len(plan_windows(requested, today).windows)
    per_account = [1 + sum(math.ceil(pc.sum(pc.equal(tables[level.dimension].column(ACCOUNT.id_column), account),
                                            min_count=0).as_py() / MAX_AD_ENTITY_IDS) for level in UNDER_ACCOUNT)
                   for account in tables[ACCOUNT.dimension].column(ACCOUNT.id_column).to_pylist()]
    return windows * sum(per_account) + (1 if per_account else 0)


def _ids(table: pa.Table, column: str, where: str, equals: str) -> list[str]:
    values, owners = table.column(column).to_pylist(), table.column(where).to_pylist()
    return [v for v, owner in zip(values, owners) if owner == equals]


READY_FLAGS = ("non_conversion_metrics_ready", "conversion_metrics_ready")


def is_ready(state: dict, conversions: bool) -> bool:
    """Whether a metrics_ready_state answer says a date's numbers are finalized: its non-conversion metrics,
    and its conversion metrics too when the numbers judged carry conversion columns. Only a JSON `true` says
    ready: anything else (`"false"`, which Python finds truthy, null, a missing flag) leaves the date not final,
    to be re-pulled, rather than marking numbers final that the API may still change (`ready_state_problem`
    names such an answer for the log)."""
    return state.get("non_conversion_metrics_ready") is True and (
        not conversions or state.get("conversion_metrics_ready") is True)


def ready_state_problem(state: dict, date: dt.date) -> str | None:
    """Why a metrics_ready_state answer is not the two JSON booleans the API documents (None when it is)."""
    # As JSON text, so that a string "false" shows its quotes.
    wrong = [f"{flag} is {shown_value(json.dumps(state.get(flag)))}" for flag in READY_FLAGS
             if not isinstance(state.get(flag), bool)]
    if not wrong:
        return None
    return (f"metrics_ready_state/get for {date}: {', '.join(wrong)}, not a JSON boolean; the date is taken as not "
            "ready (not final, re-pulled)")


def carries_conversions(columns: Collection[str]) -> bool:
    """Whether the requested columns include one that may hold conversions: any not known to be delivery-only
    (an unknown column counts as a conversion column, and so does a request naming none, so their rows wait
    for conversion readiness)."""
    return not columns or not set(columns) <= DELIVERY_COLUMNS


def fetch_ready_states(client: PinterestClient, raw: RawZone, dates: Collection[dt.date], today: dt.date,
                       attribution: Attribution, columns: Collection[str]) -> int:
    """metrics_ready_state for the requested dates past the attribution window (a date inside it is not final,
    whatever it says), stored in the raw zone; returns the calls made. Pinterest closes a date's books after the
    dates before it, so readiness only grows with age: the newest such date is asked first (1 call, the usual
    case: all are ready); when it is not ready, a binary search over the older ones finds the newest ready date
    (1 + ceil(log2(n)) calls at most). Called before the analytics are fetched, so that a ready date's answers
    are final as of their own fetch."""
    past_window = sorted((d for d in set(dates) if (today - d).days >= attribution.settle_days), reverse=True)
    conversions = carries_conversions(columns)
    calls = 0

    def ready(date: dt.date) -> bool:
        nonlocal calls
        params = {"date": date}
        response = client.fetch("metrics_ready_state/get", params=params)
        raw.store_answer("metrics_ready_state/get", response, params=params, window=DateRange(date, date))
        calls += 1
        if not isinstance(response.data, dict):
            raise ResponseShapeError(f"metrics_ready_state/get: expected a JSON object for {date}, "
                                     f"got {type(response.data).__name__}")
        if problem := ready_state_problem(response.data, date):
            log.warning("%s", problem)
        return is_ready(response.data, conversions)

    if not past_window or ready(past_window[0]):
        return calls
    low, high = 1, len(past_window)  # newest first: past_window[:low] known not ready, past_window[high:] ready
    while low < high:
        middle = (low + high) // 2
        if ready(past_window[middle]):
            high = middle
        else:
            low = middle + 1
    return calls


def _fetch_level(client: PinterestClient, raw: RawZone, account: str, window: DateRange, columns: tuple[str, ...],
                 attribution: Attribution, today: dt.date, level: AdsLevel, batch: list[str] | None) -> ApiResponse:
    """One analytics call: a level of one ad account over one window, for a batch of ids (none for the account)."""
    params = {"start_date": window.start, "end_date": window.end, "granularity": "DAY", "columns": list(columns),
              **attribution.params()}
    if batch is not None:
        params[level.id_parameter] = batch
    path = {"ad_account_id": account}
    response = client.fetch(level.analytics_endpoint, path, params)
    if level is CAMPAIGN:  # checked before it is stored: a stored answer is re-used by a resumed run
        _check_campaign_rows(response, account, window)
    raw.store_answer(level.analytics_endpoint, response, params=params, path_params=path, window=window, context={
        "level": level.name, "ad_account_id": account, "attribution": attribution.label, "today": today.isoformat()})
    return response


def _check_campaign_rows(response: ApiResponse, account: str, window: DateRange) -> None:
    """Every row of a campaigns answer names its campaign (which campaigns' children are asked for depends on it)."""
    if any(not isinstance(row, dict) or row.get(CAMPAIGN.row_id_field) is None for row in response.data):
        source = f" (replayed from {response.replayed_from})" if response.replayed_from else ""
        raise ResponseShapeError(f"{CAMPAIGN.analytics_endpoint}: a row lacks the field '{CAMPAIGN.row_id_field}' "
                                 f"(ad account {account}, window {window}){source}")


def _fetch_campaigns(fetch: Callable[[AdsLevel, list[str] | None], ApiResponse], batch: list[str]) -> set[str]:
    """One campaigns call (`_fetch_level`): the campaigns with any row in its checked answer."""
    return {str(row[CAMPAIGN.row_id_field]) for row in fetch(CAMPAIGN, batch).data}


def _fetch_children(fetch: Callable[[AdsLevel, list[str] | None], ApiResponse], level: AdsLevel,
                    batch: list[str]) -> None:
    """One ad groups or ads call (`_fetch_level`), its answer dropped once stored: nothing here reads it. (Kept
    until the level's last answer came, an account's 20 ads answers of 250 ads x 89 days, 6 MB of JSON and 16 MB
    parsed each, raised ads_raw's memory by 390 MB at 5x200x5x5 ads, 310 MB of which it never gave back.)"""
    fetch(level, batch)


def extract_ads(client: PinterestClient, raw: RawZone, dimensions, requested: DateRange, today: dt.date,
                columns: tuple[str, ...], attribution: Attribution, polling=None) -> AdsExtractSummary:
    """Every analytics call for the readable ad accounts: per window, the account (1 call), its campaigns, then
    the ad groups and ads of the campaigns that had any row in the window, in batches of 250 ids. Dates
    older than the sync endpoints serve come from async reports (up to 914 days back)."""
    plan = plan_windows(requested, today)
    summary = AdsExtractSummary(windows=plan.windows, unreachable=plan.unreachable)
    report_ranges = plan_report_ranges(plan.unreachable, today)
    if plan.unreachable and plan.unreachable.start < today - dt.timedelta(days=REPORT_BACK_DAYS):
        summary.beyond_reports = DateRange(plan.unreachable.start, min(
            plan.unreachable.end, today - dt.timedelta(days=REPORT_BACK_DAYS + 1)))
    summary.ready_state_calls = fetch_ready_states(
        client, raw, [d for r in (*report_ranges, *plan.windows) for d in r.dates()], today, attribution, columns)
    tables = dimensions.tables()
    accounts = tables[ACCOUNT.dimension].column(ACCOUNT.id_column).to_pylist()
    if report_ranges:
        summary.reports = extract_reports(client, raw, accounts, report_ranges, today, columns, attribution,
                                          polling or ReportPolling())
    # The entities of each level below the campaigns, with their campaign.
    children = {level: list(zip(tables[level.dimension].column(level.id_column).to_pylist(),
                                tables[level.dimension].column(CAMPAIGN.id_column).to_pylist()))
                for level in LEVELS if CAMPAIGN in ancestors(level)}
    for account in accounts:
        campaigns = _ids(tables[CAMPAIGN.dimension], CAMPAIGN.id_column, ACCOUNT.id_column, account)
        own = set(campaigns)
        for window in plan.windows:
            fetch = functools.partial(_fetch_level, client, raw, account, window, columns, attribution, today)
            fetch(ACCOUNT, None)
            campaign_batches = chunks(campaigns, MAX_AD_ENTITY_IDS)
            active = set().union(*client.map(functools.partial(_fetch_campaigns, fetch), campaign_batches))
            summary.analytics_calls += 1 + len(campaign_batches)
            # A campaign without any row in the window had no delivery and no conversions: neither had its
            # ad groups and ads, so they are not requested (their sums are the campaign's).
            for level, entities in children.items():
                of_account = [(entity, campaign) for entity, campaign in entities if campaign in own]
                wanted = [entity for entity, campaign in of_account if campaign in active]
                skipped = len(of_account) - len(wanted)
                if level.name == "ad_group":
                    summary.skipped_ad_groups += skipped
                else:
                    summary.skipped_ads += skipped
                batches = chunks(wanted, MAX_AD_ENTITY_IDS)
                client.map(functools.partial(_fetch_children, fetch, level), batches)
                summary.analytics_calls += len(batches)
    return summary
