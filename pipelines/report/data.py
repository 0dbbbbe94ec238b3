"""What the report shows, read from the warehouse with SQL into small dataclasses (no formatting here)."""

from __future__ import annotations

import dataclasses
import datetime as dt

import duckdb

from pipelines import catalog
from pipelines.ads.levels import ACCOUNT, BY_NAME
from pipelines.planning import DateRange
from pipelines.reporting_views import one_attribution_per_account_day
from pipelines.sql_text import literal

DEFAULT_DAYS = 28
TOP_PINS = 10
MICRO = 1_000_000
UNKNOWN = "unknown"  # a dimension attribute the warehouse lacks, as the report shows it
CAMPAIGN = BY_NAME["campaign"]  # the ads level the report charts


class ReportError(Exception):
    """The report cannot be made from this warehouse; the message says why and what to do."""


@dataclasses.dataclass(frozen=True)
class OrganicDay:
    """The unsplit organic numbers of one UTC day, summed over the user accounts (None: no value yet)."""

    date: dt.date
    impression: float | None
    save: float | None
    pin_click: float | None
    outbound_click: float | None
    is_final: bool
    data_status: str
    # The content types the day's account totals are of: "ORGANIC", "ALL" (paid included) or both, comma-separated
    # (accounts differ).
    content_type: str = ""


@dataclasses.dataclass(frozen=True)
class PinRank:
    """One pin's totals over the report range."""

    pin_id: str
    title: str | None
    saves: float
    impressions: float
    not_final_days: int


@dataclasses.dataclass(frozen=True)
class CampaignResult:
    """One campaign's delivery over the report range, as `campaign_performance` shows it (each day under the
    attribution setting of its ad account's newest extraction); money in units of `currency` (converted from
    micro-units, never between currencies)."""

    campaign_id: str
    name: str | None
    ad_account_id: str
    currency: str
    spend: float
    conversions: float | None  # None: unknown (not requested: PINTEREST_ADS_COLUMNS left TOTAL_CONVERSIONS out)
    checkout_value: float | None  # None: unknown (the view has no checkout value: it was not requested)
    days: int
    not_final_days: int


@dataclasses.dataclass(frozen=True)
class FreshnessDay:
    """Entities with a row in `daily_status` on one UTC day, by source, each counted once: final when every row of
    it that day (each split bucket, content type or attribution setting) is final."""

    date: dt.date
    organic_final: int
    organic_not_final: int
    ads_final: int
    ads_not_final: int

    @property
    def final(self) -> int:
        return self.organic_final + self.ads_final

    @property
    def not_final(self) -> int:
        return self.organic_not_final + self.ads_not_final


@dataclasses.dataclass(frozen=True)
class DayTotal:
    """A metric summed over one UTC day's rows (None: no number yet) and whether every row summed is final."""

    value: float | None
    final: bool
    content_type: str = ""  # organic: the content types summed, as OrganicDay.content_type; ads: empty
    attribution: str = ""  # conversions: the attribution settings the day's rows are counted under, comma-separated

    @property
    def settled(self) -> bool:
        return self.final and self.value is not None


@dataclasses.dataclass(frozen=True)
class Change:
    """A metric over the comparable days of two periods: the days of the range that are final with a number whose
    day one period earlier is final with a number too, each paired with that day (so as many days on both sides,
    and for 28-day periods the same weekdays)."""

    current: float
    previous: float
    days: int


@dataclasses.dataclass(frozen=True)
class Kpi:
    """A total over the range (every day with a number, final or not), the part of it that is not final yet, and the
    change against the period before over comparable days only (None: `not_compared` says why)."""

    label: str
    value: float | None
    range_days: int
    change: Change | None
    not_compared: str = ""
    not_final_days: int = 0  # days of the range not final yet, with or without a number
    not_final_value: float = 0.0  # what those days add to `value` so far
    currency: str = ""
    higher_is_better: bool | None = True  # None: a change is neither good nor bad (spend)

    @property
    def previous(self) -> float | None:
        """The period before's total over the days compared (None: no change)."""
        return None if self.change is None else self.change.previous


@dataclasses.dataclass(frozen=True)
class CoveredAccount:
    """An account with rows in the report's range."""

    kind: str  # "Pinterest" or "Ads"
    id: str
    name: str


@dataclasses.dataclass(frozen=True)
class ReportData:
    """Everything one report shows, for one inclusive range of UTC dates."""

    range: DateRange
    previous: DateRange
    accounts: list[CoveredAccount]
    kpis: list[Kpi]
    organic_days: list[OrganicDay]
    top_by_saves: list[PinRank]
    top_by_impressions: list[PinRank]
    # The attribution settings the range's ads numbers are counted under (one per ad account and day: the newest
    # extraction's, as in the views), each with its account-days, newest first; several when the settings changed.
    attributions: dict[str, int]
    other_attribution_rows: int  # campaign-day rows of the range under a setting not chosen for their day (not shown)
    campaigns: list[CampaignResult]
    freshness: list[FreshnessDay]
    latest_extracted_at: dict[str, dt.datetime | None]  # "organic" / "ads" -> newest extraction in the warehouse
    # The content types the organic account numbers are of (ORGANIC; ALL where ORGANIC is not stored).
    organic_content_types: tuple[str, ...] = ()

    def row_counts(self) -> dict[str, int]:
        """Data points per chart (days, pins, campaigns)."""
        return {"trend_days": len(self.organic_days), "top_pins_by_saves": len(self.top_by_saves),
                "top_pins_by_impressions": len(self.top_by_impressions), "campaigns": len(self.campaigns),
                "freshness_days": len(self.freshness)}


def data_dates(con: duckdb.DuckDBPyConnection, last: dt.date | None = None) -> DateRange | None:
    """The first and last UTC date with any row in `daily_status` (up to `last`), or None when there is none."""
    first, newest = con.execute("SELECT min(date), max(date) FROM daily_status WHERE date <= coalesce(?, date)",
                                [last]).fetchone()
    return DateRange(first, newest) if first else None


def resolve_range(con: duckdb.DuckDBPyConnection, start: dt.date | None, end: dt.date | None,
                  today: dt.date) -> DateRange:
    """The range to report: by default the trailing DEFAULT_DAYS complete days with data (ending on the last day
    before `today` with rows), whatever the range of the last run; a missing end is that day, a missing start is
    DEFAULT_DAYS - 1 days before the end. A range without any daily row is refused: its report would be empty."""
    if start and end and start > end:
        raise ReportError(f"--start {start} is after --end {end}; give a start on or before the end")
    if end is None:
        complete = data_dates(con, today - dt.timedelta(days=1))
        if complete is None:
            raise ReportError("the warehouse holds no daily rows of a complete day yet; run `pinterest-etl run` first")
        end = complete.end
    start = start or end - dt.timedelta(days=DEFAULT_DAYS - 1)
    if start > end:
        raise ReportError(f"--start {start} is after the last complete day with data, {end}; give --end too")
    report_range = DateRange(start, end)
    if not con.execute("SELECT count(*) FROM daily_status WHERE date BETWEEN ? AND ?", _between(report_range)).fetchone()[0]:
        available = data_dates(con)
        held = f"it holds {available.start} to {available.end}" if available else "it holds no daily rows yet"
        raise ReportError(f"the warehouse has no daily rows from {start} to {end} ({held}); choose dates inside that range")
    return report_range


def previous_range(current: DateRange) -> DateRange:
    return DateRange(current.start - dt.timedelta(days=current.days), current.start - dt.timedelta(days=1))


def load_report_data(con: duckdb.DuckDBPyConnection, report_range: DateRange) -> ReportData:
    previous = previous_range(report_range)
    attributions, other_rows = _attributions(con, report_range)
    organic_days = _organic_days(con, DateRange(previous.start, report_range.end))
    return ReportData(
        range=report_range, previous=previous, accounts=_accounts(con, report_range),
        kpis=_organic_kpis(organic_days, report_range) + _ads_kpis(con, report_range),
        organic_days=[d for d in organic_days if d.date >= report_range.start],
        top_by_saves=_top_pins(con, report_range, "save"), top_by_impressions=_top_pins(con, report_range, "impression"),
        attributions=attributions, other_attribution_rows=other_rows,
        campaigns=_campaigns(con, report_range), freshness=_freshness(con, report_range),
        latest_extracted_at=_latest_extractions(con), organic_content_types=_organic_content_types(con, report_range))


def _between(r: DateRange) -> list[dt.date]:
    return [r.start, r.end]


# The unsplit account rows the report counts as organic, per account and day (the view's rule: content_type
# ORGANIC where stored, else ALL, paid and organic together: rows loaded before content types were stored, or
# PINTEREST_CONTENT_TYPES without ORGANIC). Parameters: the range's first and last date.
_ORGANIC_ACCOUNT_ROWS = """
    (SELECT * FROM user_account_organic_daily WHERE split_field = 'NO_SPLIT' AND date BETWEEN ? AND ?)"""
_CONTENT_TYPES_OF_ROWS = "string_agg(DISTINCT content_type, ', ' ORDER BY content_type)"


def _organic_days(con: duckdb.DuckDBPyConnection, r: DateRange) -> list[OrganicDay]:
    """The unsplit organic totals of each day of `r` with account rows."""
    rows = con.execute(f"""
        SELECT date, sum(impression), sum(save), sum(pin_click), sum(outbound_click), bool_and(is_final),
               string_agg(DISTINCT data_status, ', ' ORDER BY data_status), {_CONTENT_TYPES_OF_ROWS}
        FROM {_ORGANIC_ACCOUNT_ROWS}
        GROUP BY date ORDER BY date""", _between(r)).fetchall()
    return [OrganicDay(*row[:6], data_status=row[6] or "", content_type=row[7]) for row in rows]


def _organic_content_types(con: duckdb.DuckDBPyConnection, r: DateRange) -> tuple[str, ...]:
    """The content types of the account rows the organic numbers of the range are made of (ORGANIC first)."""
    rows = con.execute(f"SELECT DISTINCT content_type FROM {_ORGANIC_ACCOUNT_ROWS} ORDER BY content_type = 'ALL'",
                       _between(r)).fetchall()
    return tuple(row[0] for row in rows)


def _top_pins(con: duckdb.DuckDBPyConnection, r: DateRange, metric: str) -> list[PinRank]:
    # `metric` is one of two column names chosen by this module, never user input.
    rows = con.execute(f"""
        SELECT d.pin_id, any_value(p.title), coalesce(sum(d.save), 0), coalesce(sum(d.impression), 0),
               count(*) FILTER (WHERE NOT d.is_final AND d.{metric} IS NOT NULL)
        FROM pin_daily d LEFT JOIN pins p USING (pin_id)
        WHERE d.date BETWEEN ? AND ?
        GROUP BY d.pin_id HAVING sum(d.{metric}) > 0
        ORDER BY sum(d.{metric}) DESC, d.pin_id LIMIT {TOP_PINS}""", _between(r)).fetchall()
    return [PinRank(*row) for row in rows]


# The ad account rows the report counts, one attribution setting per account and day (the views' rule).
_AD_ACCOUNT_ROWS = f"({one_attribution_per_account_day(ACCOUNT.fact_table)})"


def _attributions(con: duckdb.DuckDBPyConnection, r: DateRange) -> tuple[dict[str, int], int]:
    """The attribution settings the range's ad account-days are counted under, with their account-days (newest
    extraction first), and how many campaign rows of the range are under a setting not chosen for their day."""
    settings = con.execute(f"""SELECT attribution, count(*) FROM {_AD_ACCOUNT_ROWS} WHERE date BETWEEN ? AND ?
                               GROUP BY attribution ORDER BY max(extracted_at) DESC, attribution""",
                           _between(r)).fetchall()
    others = con.execute(f"""SELECT (SELECT count(*) FROM {CAMPAIGN.fact_table} WHERE date BETWEEN $start AND $end)
                                    - (SELECT count(*) FROM {CAMPAIGN.view} WHERE date BETWEEN $start AND $end)""",
                         {"start": r.start, "end": r.end}).fetchone()[0]
    return dict(settings), others


def _campaigns(con: duckdb.DuckDBPyConnection, r: DateRange) -> list[CampaignResult]:
    """Each campaign's totals over the range from `campaign_performance` (its setting per day, its zeros)."""
    # A campaign the dimensions do not know, or an ad account listed without a currency, leaves them NULL.
    rows = con.execute(f"""
        SELECT campaign_id, any_value(campaign_name), coalesce(any_value(ad_account_id), '{UNKNOWN}'),
               coalesce(any_value(currency), '{UNKNOWN}'), coalesce(sum(spend), 0)::DOUBLE,
               sum(conversions)::DOUBLE, sum(checkout_value)::DOUBLE,
               count(*), count(*) FILTER (WHERE NOT is_final)
        FROM {CAMPAIGN.view}
        WHERE date BETWEEN ? AND ?
        GROUP BY campaign_id
        ORDER BY any_value(currency), 5 DESC, campaign_id""", _between(r)).fetchall()
    return [CampaignResult(*row) for row in rows]


def _freshness(con: duckdb.DuckDBPyConnection, r: DateRange) -> list[FreshnessDay]:
    """Per day, entities final and not, by source, from each wide table: a table keyed by more than the entity and
    the day (split buckets, content types, attribution settings) counts an entity final when all its rows are;
    `pin_daily` has one row per pin and day and is counted as it is (grouping its millions of rows by pin would
    take the memory the report is given)."""
    per_table = []
    for table in catalog.FACT_TABLES.values():
        source = "organic" if table.source == "organic" else "ads"
        if table.key == ("date", table.id_column):
            final = f"SELECT date, coalesce(is_final, false) AS final FROM {table.name} WHERE date BETWEEN $start AND $end"
        else:
            final = (f"SELECT date, coalesce(bool_and(is_final), false) AS final FROM {table.name} "
                     f"WHERE date BETWEEN $start AND $end GROUP BY date, {table.id_column}")
        per_table.append(f"SELECT date, {literal(source)} AS source, count(*) FILTER (WHERE final) AS final, "
                         f"count(*) FILTER (WHERE NOT final) AS not_final FROM ({final}) GROUP BY date")
    rows = con.execute(f"""
        SELECT date,
               coalesce(sum(final) FILTER (WHERE source = 'organic'), 0), coalesce(sum(not_final) FILTER (WHERE source = 'organic'), 0),
               coalesce(sum(final) FILTER (WHERE source = 'ads'), 0), coalesce(sum(not_final) FILTER (WHERE source = 'ads'), 0)
        FROM ({' UNION ALL '.join(per_table)}) GROUP BY date ORDER BY date""",
                       {"start": r.start, "end": r.end}).fetchall()
    return [FreshnessDay(*map(lambda v: v if isinstance(v, dt.date) else int(v), row)) for row in rows]


def _latest_extractions(con: duckdb.DuckDBPyConnection) -> dict[str, dt.datetime | None]:
    organic, ads = con.execute("""
        SELECT max(extracted_at) FILTER (WHERE entity_type IN ('user_account', 'pin')),
               max(extracted_at) FILTER (WHERE entity_type NOT IN ('user_account', 'pin'))
        FROM daily_status""").fetchone()
    return {"organic": organic, "ads": ads}


def _accounts(con: duckdb.DuckDBPyConnection, r: DateRange) -> list[CoveredAccount]:
    rows = con.execute(f"""
        SELECT 'Pinterest', d.user_id, coalesce('@' || any_value(u.username), d.user_id)
        FROM (SELECT DISTINCT user_id FROM user_account_daily WHERE date BETWEEN ? AND ?) d
        LEFT JOIN user_accounts u USING (user_id) GROUP BY d.user_id
        UNION ALL
        SELECT 'Ads', d.ad_account_id, coalesce(any_value(a.name), d.ad_account_id) || ' (' || coalesce(any_value(a.currency), '?') || ')'
        FROM (SELECT DISTINCT ad_account_id FROM {ACCOUNT.fact_table} WHERE date BETWEEN ? AND ?) d
        LEFT JOIN {ACCOUNT.dimension} a USING (ad_account_id) GROUP BY d.ad_account_id
        ORDER BY 1 DESC, 3""", [*_between(r), *_between(r)]).fetchall()
    return [CoveredAccount(*row) for row in rows]


_ORGANIC_KPIS = (("Impressions", "impression"), ("Saves", "save"), ("Pin clicks", "pin_click"),
                 ("Outbound clicks", "outbound_click"))
_CONTENT_MEANING = {"ORGANIC": "organic activity only", "ALL": "paid activity included"}
_ADS_SETTLE = "ads days are final once the attribution window has passed"


def kpi(label: str, days: dict[dt.date, DayTotal], r: DateRange, not_final_why: str = "", **shown) -> Kpi:
    """A metric's tile from its daily totals (over the range and the period before it): the total, the part not
    final yet, and the change over the comparable days (`comparable_days`), or why there is none."""
    current = [days[d] for d in r.dates() if d in days]
    with_numbers = [t.value for t in current if t.value is not None]
    pending = [t for t in current if not t.final]
    pairs = comparable_days(days, r)
    change = Change(sum(now.value for now, _ in pairs), sum(before.value for _, before in pairs), len(pairs)) \
        if pairs else None
    why = _why_not_comparable(pairs) if pairs else _why_no_pairs(days, r, not_final_why)
    return Kpi(label, sum(with_numbers) if with_numbers else None, r.days, None if why else change, why,
               len(pending), sum(t.value for t in pending if t.value is not None), **shown)


def comparable_days(days: dict[dt.date, DayTotal], r: DateRange) -> list[tuple[DayTotal, DayTotal]]:
    """Each day of the range that is final with a number, paired with the day one period earlier when that one is
    final with a number too: numbers that may still change never enter a change, and both sides have as many days."""
    shift = dt.timedelta(days=r.days)
    return [(days[d], days[d - shift]) for d in r.dates()
            if d in days and days[d].settled and d - shift in days and days[d - shift].settled]


def _why_no_pairs(days: dict[dt.date, DayTotal], r: DateRange, not_final_why: str) -> str:
    previous = previous_range(r)
    if not any(d in days and days[d].value is not None for d in previous.dates()):
        return f"no data for the {r.days} days before to compare"
    if not any(d in days and days[d].settled for d in r.dates()):
        return "no change shown: no day of this period is final yet" + (f" ({not_final_why})" if not_final_why else "")
    return "no change shown: no day is final in both periods"


def _why_not_comparable(pairs: list[tuple[DayTotal, DayTotal]]) -> str:
    """Why the compared days' totals are not comparable (empty when they are): content types or attribution
    settings differ between the two sides or are mixed."""
    return _content_types_differ(pairs) or _attributions_differ(pairs)


def _attributions_differ(pairs: list[tuple[DayTotal, DayTotal]]) -> str:
    """Conversions counted under other attribution settings before than now, or under several (the settings were
    changed): a change would measure the new windows, not the conversions."""
    now = ", ".join(sorted({t.attribution for t, _ in pairs}))
    before = ", ".join(sorted({t.attribution for _, t in pairs}))
    if now == before and "," not in now:
        return ""
    return f"not comparable: counted under attribution {before} before, {now} now"


def _content_types_differ(pairs: list[tuple[DayTotal, DayTotal]]) -> str:
    """Either side counts another content type than the other, or mixes two (a change would then measure the switch
    from paid-inclusive ALL to ORGANIC, not the activity)."""
    now = ", ".join(sorted({t.content_type for t, _ in pairs}))
    before = ", ".join(sorted({t.content_type for _, t in pairs}))
    if now == before and (now in _CONTENT_MEANING or now == ""):
        return ""
    return (f"not comparable: content_type {before} before ({_meaning(before)}), "
            f"{now} now ({_meaning(now)})")


def _meaning(content_types: str) -> str:
    return _CONTENT_MEANING.get(content_types, "organic only on some days or accounts, paid included on others")


def _organic_kpis(days: list[OrganicDay], r: DateRange) -> list[Kpi]:
    if not any(r.start <= d.date for d in days):
        return []
    return [kpi(label, {d.date: DayTotal(getattr(d, column), d.is_final, d.content_type) for d in days}, r)
            for label, column in _ORGANIC_KPIS]


def _ads_kpis(con: duckdb.DuckDBPyConnection, r: DateRange) -> list[Kpi]:
    """Spend per currency (never added across currencies) and conversions over every ad account, from
    ad_account_daily under one attribution setting per account and day (the views' rule)."""
    rows = con.execute(f"""
        SELECT coalesce(currency, '?'), date, coalesce(sum(spend_in_micro_dollar), 0) / {MICRO},
               sum(total_conversions), bool_and(coalesce(is_final, false)),
               string_agg(DISTINCT attribution, ', ' ORDER BY attribution)
        FROM {_AD_ACCOUNT_ROWS} WHERE date BETWEEN ? AND ?
        GROUP BY ALL ORDER BY 1, 2""", [previous_range(r).start, r.end]).fetchall()
    spend: dict[str, dict[dt.date, DayTotal]] = {}
    conversions: dict[dt.date, list[tuple[float | None, bool, str]]] = {}
    for currency, date, money, converted, final, attribution in rows:
        spend.setdefault(currency, {})[date] = DayTotal(money, final)
        conversions.setdefault(date, []).append((converted, final, attribution))
    current_currencies = [c for c, days in spend.items() if any(r.start <= d for d in days)]
    if not current_currencies:
        return []
    kpis = [kpi("Ad spend", spend[c], r, _ADS_SETTLE, currency=c, higher_is_better=None) for c in current_currencies]
    # A day whose conversions were not requested (NULL: PINTEREST_ADS_COLUMNS without TOTAL_CONVERSIONS) has no
    # number: it is never shown as 0 nor compared with a day that has one.
    per_day = {d: DayTotal(_known_sum(v for v, _, _ in day), all(f for _, f, _ in day),
                           attribution=", ".join(sorted({a for _, _, a in day}))) for d, day in conversions.items()}
    return kpis + [kpi("Conversions", per_day, r, _ADS_SETTLE)]


def _known_sum(values) -> float | None:
    """The sum of the values that are known, None when none is."""
    known = [v for v in values if v is not None]
    return sum(known) if known else None
