"""What the report shows, read from the warehouse with SQL into small dataclasses (no formatting here)."""

from __future__ import annotations

import dataclasses
import datetime as dt

import duckdb

from pipelines import catalog
from pipelines.planning import DateRange
from pipelines.sql_text import literal

DEFAULT_DAYS = 28
TOP_PINS = 10
ORGANIC_ENTITY_TYPES = ("user_account", "pin")
MICRO = 1_000_000
UNKNOWN = "unknown"  # a dimension attribute the warehouse lacks, as the report shows it


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
    """One campaign's delivery over the report range under one attribution setting; money in units of
    `currency` (converted from micro-units, never between currencies)."""

    campaign_id: str
    name: str | None
    ad_account_id: str
    currency: str
    spend: float
    conversions: float
    checkout_value: float | None  # None: the API returned no checkout value (absent is not zero)
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
class Kpi:
    """A total over the range and the same total over the previous range of equal length (None when
    that range does not have data for as many days, or counts another content type, so a change would compare
    unlike periods: `not_compared` then says why)."""

    label: str
    value: float | None
    previous: float | None
    currency: str = ""
    higher_is_better: bool | None = True  # None: a change is neither good nor bad (spend)
    not_compared: str = ""


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
    attribution: str | None
    other_attribution_rows: int
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


def data_dates(con: duckdb.DuckDBPyConnection) -> DateRange | None:
    """The first and last UTC date with any row in `daily_status`, or None for an empty warehouse."""
    first, last = con.execute("SELECT min(date), max(date) FROM daily_status").fetchone()
    return DateRange(first, last) if first else None


def resolve_range(con: duckdb.DuckDBPyConnection, start: dt.date | None, end: dt.date | None) -> DateRange:
    """The explicit range, with a missing end taken as the last day of data and a missing start as 27 days
    before the end (the last 28 days, or all the data when there is less)."""
    if start and end:
        if start > end:
            raise ReportError(f"--start {start} is after --end {end}")
        return DateRange(start, end)
    available = data_dates(con)
    if available is None:
        raise ReportError("the warehouse holds no daily rows yet; run `pinterest-etl run` first "
                          "(or give --start and --end to render an empty report)")
    end = end or available.end
    start = start or max(available.start, end - dt.timedelta(days=DEFAULT_DAYS - 1))
    if start > end:
        raise ReportError(f"--start {start} is after the last day of data {end}; give --end too")
    return DateRange(start, end)


def previous_range(current: DateRange) -> DateRange:
    return DateRange(current.start - dt.timedelta(days=current.days), current.start - dt.timedelta(days=1))


def load_report_data(con: duckdb.DuckDBPyConnection, report_range: DateRange) -> ReportData:
    previous = previous_range(report_range)
    attribution, other_rows = _attribution(con, report_range)
    return ReportData(
        range=report_range, previous=previous, accounts=_accounts(con, report_range),
        kpis=_organic_kpis(con, report_range, previous) + _ads_kpis(con, report_range, previous, attribution),
        organic_days=_organic_days(con, report_range),
        top_by_saves=_top_pins(con, report_range, "save"), top_by_impressions=_top_pins(con, report_range, "impression"),
        attribution=attribution, other_attribution_rows=other_rows,
        campaigns=_campaigns(con, report_range, attribution), freshness=_freshness(con, report_range),
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


def _attribution(con: duckdb.DuckDBPyConnection, r: DateRange) -> tuple[str | None, int]:
    """The attribution setting of the newest ads rows in the range (numbers under different settings are
    never added up), and how many campaign rows of the range are under another setting."""
    newest = con.execute("""SELECT attribution FROM campaign_daily WHERE date BETWEEN ? AND ?
                            ORDER BY extracted_at DESC, attribution LIMIT 1""", _between(r)).fetchone()
    if newest is None:
        return None, 0
    others = con.execute("SELECT count(*) FROM campaign_daily WHERE date BETWEEN ? AND ? AND attribution <> ?",
                         [*_between(r), newest[0]]).fetchone()[0]
    return newest[0], others


def _campaigns(con: duckdb.DuckDBPyConnection, r: DateRange, attribution: str | None) -> list[CampaignResult]:
    if attribution is None:
        return []
    # A campaign the dimensions do not know, or an ad account listed without a currency, leaves them NULL.
    rows = con.execute(f"""
        SELECT d.campaign_id, any_value(c.name), coalesce(any_value(d.ad_account_id), '{UNKNOWN}'),
               coalesce(any_value(d.currency), '{UNKNOWN}'),
               coalesce(sum(d.spend_in_micro_dollar), 0) / {MICRO}, coalesce(sum(d.total_conversions), 0),
               sum(d.total_checkout_value_in_micro_dollar) / {MICRO},
               count(*), count(*) FILTER (WHERE NOT d.is_final)
        FROM campaign_daily d LEFT JOIN campaigns c USING (campaign_id)
        WHERE d.date BETWEEN ? AND ? AND d.attribution = ?
        GROUP BY d.campaign_id
        ORDER BY any_value(d.currency), 5 DESC, d.campaign_id""", [*_between(r), attribution]).fetchall()
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
    rows = con.execute("""
        SELECT 'Pinterest', d.user_id, coalesce('@' || any_value(u.username), d.user_id)
        FROM (SELECT DISTINCT user_id FROM user_account_daily WHERE date BETWEEN ? AND ?) d
        LEFT JOIN user_accounts u USING (user_id) GROUP BY d.user_id
        UNION ALL
        SELECT 'Ads', d.ad_account_id, coalesce(any_value(a.name), d.ad_account_id) || ' (' || coalesce(any_value(a.currency), '?') || ')'
        FROM (SELECT DISTINCT ad_account_id FROM ad_account_daily WHERE date BETWEEN ? AND ?) d
        LEFT JOIN ad_accounts a USING (ad_account_id) GROUP BY d.ad_account_id
        ORDER BY 1 DESC, 3""", [*_between(r), *_between(r)]).fetchall()
    return [CoveredAccount(*row) for row in rows]


_ORGANIC_TOTALS = f"""
    SELECT count(DISTINCT date), sum(impression), sum(save), sum(pin_click), sum(outbound_click), {_CONTENT_TYPES_OF_ROWS}
    FROM {_ORGANIC_ACCOUNT_ROWS}"""
_ORGANIC_KPIS = (("Impressions", 1), ("Saves", 2), ("Pin clicks", 3), ("Outbound clicks", 4))
_CONTENT_MEANING = {"ORGANIC": "organic activity only", "ALL": "paid activity included"}


def _organic_kpis(con: duckdb.DuckDBPyConnection, r: DateRange, previous: DateRange) -> list[Kpi]:
    current = con.execute(_ORGANIC_TOTALS, _between(r)).fetchone()
    if current[0] == 0:
        return []
    before = con.execute(_ORGANIC_TOTALS, _between(previous)).fetchone()
    why = _why_not_comparable(current[0], current[5], before[0], before[5])
    return [Kpi(label, current[i], None if why else before[i], not_compared=why) for label, i in _ORGANIC_KPIS]


def _why_not_comparable(days: int, content_types: str, days_before: int, content_types_before: str | None) -> str:
    """Why two periods' organic totals cannot be compared (empty when they can): the previous one has data for fewer
    days, or either counts another content type than the other, or mixes two (a change would then measure the
    switch from paid-inclusive ALL to ORGANIC, not the activity)."""
    if days_before != days:
        return "no full previous period to compare"
    if content_types != content_types_before or content_types not in _CONTENT_MEANING:
        return (f"not comparable: content_type {content_types_before} before ({_meaning(content_types_before)}), "
                f"{content_types} now ({_meaning(content_types)})")
    return ""


def _meaning(content_types: str | None) -> str:
    return _CONTENT_MEANING.get(content_types or "", "organic only on some days or accounts, paid included on others")


def _ads_kpis(con: duckdb.DuckDBPyConnection, r: DateRange, previous: DateRange, attribution: str | None) -> list[Kpi]:
    if attribution is None:
        return []
    totals = f"""
        SELECT currency, count(DISTINCT date), coalesce(sum(spend_in_micro_dollar), 0) / {MICRO},
               coalesce(sum(total_conversions), 0)
        FROM ad_account_daily WHERE date BETWEEN ? AND ? AND attribution = ?
        GROUP BY currency ORDER BY currency"""
    current = {row[0]: row[1:] for row in con.execute(totals, [*_between(r), attribution]).fetchall()}
    before = {row[0]: row[1:] for row in con.execute(totals, [*_between(previous), attribution]).fetchall()}
    comparable = {c for c, (days, *_) in current.items() if before.get(c, (0,))[0] == days}
    kpis = [Kpi("Ad spend", spend, before[c][1] if c in comparable else None, currency=c or "?", higher_is_better=None)
            for c, (_, spend, _) in current.items()]
    conversions_before = sum(v[2] for v in before.values()) if comparable == set(current) else None
    kpis.append(Kpi("Conversions", sum(v[2] for v in current.values()), conversions_before))
    return kpis
