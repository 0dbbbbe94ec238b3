"""The warehouse catalog: one declaration per wide daily fact table, and the views derived from them.

A wide fact table is the tidy form of Pinterest's daily analytics: one row per observation (an entity on a UTC day,
per split bucket and content type for the user account, per attribution setting for ads) and one typed column per
metric. Its declaration (`FactTable`) says its grain, its key, where its parents' ids come from and which metrics it
has by default; the warehouse loader, the checks, the derived long views and the data dictionary all read it.
"""

from __future__ import annotations

import dataclasses
import functools
import re

from pipelines import api_enums, reporting_views
from pipelines.ads import levels as ads_levels
from pipelines.ads.extract import DEFAULT_COLUMNS as DEFAULT_ADS_COLUMNS
from pipelines.pinterest.errors import shown_value
from pipelines.sql_text import identifier, literal
from pipelines.tables import UNFILTERED_CONTENT

NO_SPLIT, ALL_BUCKETS = "NO_SPLIT", "ALL"
ATTRIBUTION_SPLIT = "ATTRIBUTION"  # the long form's split_field of ads rows: split_value holds the attribution
ORGANIC_CONTENT = "ORGANIC"
PIN_METRICS = tuple(dict.fromkeys(api_enums.PIN_STANDARD_METRIC_TYPES + api_enums.PIN_VIDEO_METRIC_TYPES))

# A metric is a DOUBLE column when its name says it is a rate, a ratio, an average or a price per unit (the API
# sends fractions for those); every other metric is a count or micro-unit money, which the API sends as integers:
# a BIGINT column. A value that is not a whole number in a BIGINT column widens that column to DOUBLE (reported),
# so nothing is ever rounded.
_FRACTION_WORDS = re.compile(r"(^|_)(RATE|CTR|CTR_\d|ECTR|CPC|CPM|CPV|CPCV|CPCV_P95|ECPC|ECPM|ECPV|ECPCV|ECPCV_P95|ECPE|"
                             r"ROAS|COST|AVG|AVERAGE|FREQUENCY|MULTIPLIER|PRICE|WATCHTIME|WATCH_TIME|IN_DOLLAR|"
                             r"OUTBOUND_CTR)(_|$)")
_METRIC_NAME = re.compile(r"[A-Z][A-Z0-9_]*")


class MetricNameError(ValueError):
    """A metric name that cannot become a column (not an API-style upper-case name); the message names it."""


def metric_type(metric: str) -> str:
    """The SQL type of a metric's column: DOUBLE for rates, ratios, averages and prices, else BIGINT."""
    return "DOUBLE" if _FRACTION_WORDS.search(metric) else "BIGINT"


def metric_column(metric: str, table: FactTable | None = None) -> str:
    """A metric's column: its API name in lower case (`IMPRESSION` -> `impression`). Names that would not come back
    the same from the column (lower case, spaces) are refused: `metric_daily` gives the API name back as
    upper(column); so is a name that is one of `table`'s key or status columns (`DATA_STATUS`, `PIN_ID`). The name
    may come from an answer: it is shown as `shown_value` shows answer values (credentials masked, cut)."""
    if not _METRIC_NAME.fullmatch(metric):
        raise MetricNameError(f"the metric name {shown_value(metric)!r} is not an API metric name (upper-case letters, digits "
                              "and underscores): it cannot become a column of the wide tables")
    if table is not None and metric.lower() in reserved_columns():
        raise MetricNameError(f"the metric name {metric!r} is the name of a key, parent or status column of the wide "
                              f"tables or of metric_daily: it cannot become a metric column of {table.name}")
    return metric.lower()


@functools.cache
def reserved_columns() -> frozenset[str]:
    """Column names no metric column may take: every base column of every wide table (keys, parents' ids, currency,
    statuses) and the long views' columns (metric_daily's `metric` and `value` among them)."""
    return frozenset({name for table in FACT_TABLES.values() for name, _ in table.base_columns()}
                     | {"entity_type", "entity_id", "split_field", "split_value", "content_type", "metric", "value"})


@dataclasses.dataclass(frozen=True)
class FactTable:
    """One wide daily fact table. `splits`: the columns that, with the date and the entity's id, make the key, each
    as (column, the long form's expression for it). `parents`: the parents' id columns, each taken from a dimension
    table by the entity's id at load time (Pinterest never moves an entity to another parent)."""

    name: str
    entity_type: str
    source: str
    id_column: str
    grain: str
    default_metrics: tuple[str, ...]
    splits: tuple[tuple[str, str], ...] = ()
    parents: tuple[str, ...] = ()
    parent_dimension: str | None = None  # the dimension table holding the parents' ids, keyed by id_column
    currency: bool = False  # ads: the ad account's currency, from ad_accounts

    @property
    def key(self) -> tuple[str, ...]:
        return ("date", self.id_column, *(column for column, _ in self.splits))

    def base_columns(self) -> list[tuple[str, str]]:
        """The columns before the metrics, with their SQL types, in table order."""
        return [("date", "DATE"), (self.id_column, "VARCHAR"), *((p, "VARCHAR") for p in self.parents),
                *([("currency", "VARCHAR")] if self.currency else []), *((c, "VARCHAR") for c, _ in self.splits),
                ("data_status", "VARCHAR"), ("is_final", "BOOLEAN"), ("extracted_at", "TIMESTAMPTZ")]

    def long_keys(self) -> dict[str, str]:
        """The long form's key columns as SQL expressions over this table's columns."""
        spelled = dict(self.splits)
        if self.entity_type == "user_account":
            return {"split_field": "split_field", "split_value": "split_value", "content_type": "content_type"}
        if "attribution" in spelled:
            return {"split_field": literal(ATTRIBUTION_SPLIT), "split_value": "attribution",
                    "content_type": literal(UNFILTERED_CONTENT)}
        return {"split_field": literal(NO_SPLIT), "split_value": literal(ALL_BUCKETS),
                "content_type": literal(UNFILTERED_CONTENT)}


_ACCOUNT_SPLITS = (("split_field", "split_field"), ("split_value", "split_value"), ("content_type", "content_type"))
_ATTRIBUTION = (("attribution", "split_value"),)


def _ads_fact_table(level: ads_levels.AdsLevel) -> FactTable:
    """An ads level's wide table: its parents' ids (and an ad's promoted pin) come from its own dimension table."""
    carried = ads_levels.carried_ids(level)
    return FactTable(level.fact_table, level.name, "ads", level.id_column,
                     f"one row per {level.word} per UTC day per attribution setting", DEFAULT_ADS_COLUMNS,
                     splits=_ATTRIBUTION, parents=carried, parent_dimension=level.dimension if carried else None,
                     currency=True)


FACT_TABLES: dict[str, FactTable] = {table.name: table for table in (
    FactTable("user_account_daily", "user_account", "organic", "user_id",
              "one row per user account per UTC day per split bucket per content type",
              api_enums.USER_ACCOUNT_METRIC_TYPES, splits=_ACCOUNT_SPLITS),
    FactTable("pin_daily", "pin", "organic", "pin_id", "one row per pin per UTC day", PIN_METRICS),
    *(_ads_fact_table(level) for level in ads_levels.LEVELS),
)}
BY_ENTITY_TYPE = {table.entity_type: table for table in FACT_TABLES.values()}


def metrics_of(table: FactTable) -> str:
    """A table's metric columns, whichever it has now (every column that is not a base column), as a DuckDB
    COLUMNS expression: `least(*{metrics_of(t)})` is a row's smallest metric value."""
    return f"COLUMNS(lambda c: c NOT IN ({', '.join(literal(n) for n, _ in table.base_columns())}))"


def long_select(table: FactTable, where: str = "", rows: str | None = None) -> str:
    """`metric_daily`'s rows of one wide table (of its rows matching `where`, an SQL condition on the wide row, or
    of `rows`, a subquery of its rows with its columns): one row per non-NULL metric value, the metric named in
    upper case, the value as DOUBLE."""
    keys = table.long_keys()
    return (f"SELECT date, {literal(table.entity_type)} AS entity_type, {identifier(table.id_column)} AS entity_id, "
            + ", ".join(f"{expression} AS {name}" for name, expression in keys.items())
            + ", upper(metric) AS metric, value, data_status, is_final, extracted_at "
            f"FROM (UNPIVOT ({rows or f'SELECT * FROM {identifier(table.name)}' + (f' WHERE {where}' if where else '')}) "
            f"ON {metrics_of(table)} INTO NAME metric VALUE value)")


def status_select(table: FactTable) -> str:
    """`daily_status`'s rows of one wide table: one per row, with its long-form key."""
    keys = table.long_keys()
    return (f"SELECT date, {literal(table.entity_type)} AS entity_type, {identifier(table.id_column)} AS entity_id, "
            + ", ".join(f"{expr} AS {name}" for name, expr in keys.items())
            + f", data_status, is_final, extracted_at FROM {identifier(table.name)}")


def derived_views() -> dict[str, str]:
    """CREATE OR REPLACE statements of the views derived from the wide tables: `metric_daily` (long: one row per
    metric value), `daily_status` (one row per wide row, without metrics), `user_account_organic_daily` (the
    organic rows of user_account_daily), then the reporting views (`reporting_views`: names, currency units, rates),
    in the order they must be created. They are created again after every load."""
    return {
        "metric_daily": "CREATE OR REPLACE VIEW metric_daily AS\n" + "\nUNION ALL ".join(
            long_select(table) for table in FACT_TABLES.values()),
        "daily_status": "CREATE OR REPLACE VIEW daily_status AS\n" + "\nUNION ALL ".join(
            status_select(table) for table in FACT_TABLES.values()),
        # The content type is chosen per account and day, never per bucket: ORGANIC's answer has no bucket for paid
        # formats (PIN_FORMAT's ADS_STANDARD, ADS_VIDEO), and taking ALL's row for a bucket ORGANIC lacks would report
        # paid activity as organic. So a day with any ORGANIC row shows its ORGANIC rows only; a day without any
        # (stored before content types) shows ALL.
        "user_account_organic_daily": f"""
    CREATE OR REPLACE VIEW user_account_organic_daily AS
    SELECT * FROM user_account_daily
    WHERE content_type IN ({literal(ORGANIC_CONTENT)}, {literal(UNFILTERED_CONTENT)})
    QUALIFY content_type = CASE WHEN bool_or(content_type = {literal(ORGANIC_CONTENT)}) OVER (PARTITION BY date, user_id)
                                THEN {literal(ORGANIC_CONTENT)} ELSE {literal(UNFILTERED_CONTENT)} END""",
        **reporting_views.create_statements(),
    }
