"""Data-quality checks on the warehouse: each a SQL query returning the rows that break a rule."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math

import duckdb

from pipelines import catalog
from pipelines.ads.levels import LEVELS, UNDER_ACCOUNT, AdsLevel, parent_ids, parent_of
from pipelines.planning import DateRange
from pipelines.sql_text import identifier, literal
from pipelines.tables import METRIC_DAILY_KEY

SAMPLE_ROWS = 5  # offending rows shown in a check's metadata and in the error of a failed load


@dataclasses.dataclass(frozen=True)
class Check:
    name: str
    description: str
    # One row per offending row (or group), with the columns that let a user find it (date, entity, metric,
    # value); the check passes when it returns none. Parameters: $types (entity types), $start and $end (dates),
    # and (when it uses them) $stale_before, the first date the daily schedule still re-pulls, and $tolerance,
    # the relative difference a sum may have from its parent's.
    offending_rows_sql: str
    blocking: bool = True


@dataclasses.dataclass(frozen=True)
class CheckOutcome:
    """A check's verdict on the run's scope: how many rows break it, and the first few of them."""

    check: Check
    violations: int
    sample: tuple[dict[str, object], ...] = ()

    @property
    def passed(self) -> bool:
        return self.violations == 0

    def sample_text(self) -> str:
        """The sample as `column=value` lists separated by `; `, e.g. `date=2026-11-01, entity_id=7, value=-1.0`."""
        return "; ".join(", ".join(f"{column}={value}" for column, value in row.items()) for row in self.sample)

    def describe(self) -> str:
        """One line: the check, how many rows break it and the sample."""
        rows = "row breaks" if self.violations == 1 else "rows break"
        return f"{self.check.name}: {self.violations} {rows} it ({self.check.description}), e.g. {self.sample_text()}"


def _in_scope(alias: str = "") -> str:
    """Only the rows of the run: its entity types and its dates (history was checked when it was loaded)."""
    return (f"{alias}entity_type IN (SELECT unnest($types::VARCHAR[])) AND {alias}date BETWEEN $start AND $end")


def _table_in_scope(table: catalog.FactTable) -> str:
    """A wide table's rows of the run (when its entity type is one of the run's)."""
    return f"{literal(table.entity_type)} IN (SELECT unnest($types::VARCHAR[])) AND date BETWEEN $start AND $end"


def _values_where(tables: tuple[catalog.FactTable, ...], row_condition: str, value_condition: str,
                  columns: str | None = None) -> str:
    """The metric values of the run's rows as metric_daily has them (its key, metric, value) where the wide row
    matches `row_condition` (cheap: only those rows are unpivoted), which sees `_lo` and `_hi`, the row's smallest
    and largest value (as DOUBLE) of `columns` (a DuckDB COLUMNS expression; default: every metric column; least()
    ignores NaN, greatest() takes it), and the value matches `value_condition`."""
    parts = []
    for table in tables:
        spread = columns or catalog.metrics_of(table)
        rows = (f"SELECT * EXCLUDE (_lo, _hi) FROM (SELECT *, least(*{spread})::DOUBLE AS _lo, greatest(*{spread})::DOUBLE "
                f"AS _hi FROM {identifier(table.name)} WHERE {_table_in_scope(table)}) WHERE {row_condition}")
        parts.append(f"SELECT {', '.join(METRIC_DAILY_KEY)}, value FROM ({catalog.long_select(table, rows=rows)}) "
                     f"WHERE {value_condition}")
    return "\nUNION ALL ".join(parts)


# Keys whose 64-bit hash repeats first (a small aggregate), then those keys' rows compared exactly: about three
# times cheaper than grouping millions of rows by the text columns, and as exact. A key twice comes from two lake
# files holding it (a crash between the renames of a legacy file's trimming), never from one file.
def _repeated_keys(table: catalog.FactTable) -> str:
    key = ", ".join(identifier(c) for c in table.key)
    long_key = ", ".join(f"{expression} AS {name}" for name, expression in table.long_keys().items())
    return f"""SELECT date, {literal(table.entity_type)} AS entity_type, {identifier(table.id_column)} AS entity_id,
                      {long_key}, count(*) AS rows_with_this_key
    FROM {identifier(table.name)}
    WHERE {_table_in_scope(table)} AND hash({key}) IN (SELECT hash({key}) FROM {identifier(table.name)}
                                                        WHERE {_table_in_scope(table)} GROUP BY 1 HAVING count(*) > 1)
    GROUP BY ALL HAVING count(*) > 1"""


_UNIQUE_KEY_SQL = "\nUNION ALL\n".join(_repeated_keys(table) for table in catalog.FACT_TABLES.values())
_ORGANIC_TABLES = tuple(t for t in catalog.FACT_TABLES.values() if t.source == "organic")
_ADS_TABLES = tuple(t for t in catalog.FACT_TABLES.values() if t.source == "ads")


# Not final although older than the re-pull window: the daily schedule will not pull these days again, so
# their numbers stay preliminary until someone re-runs them (all dates of the source, not only the run's).
_STALE_NOT_FINAL = Check(
    "no_stale_preliminary_rows",
    "no day older than the daily re-pull window is still PROCESSING/ESTIMATE (organic) or not final (ads: its "
    "attribution window not passed or metrics_ready_state not ready yet): such days would keep preliminary numbers; "
    "re-run them or widen the re-pull window (a user-account row of a content type no longer in "
    "PINTEREST_CONTENT_TYPES is not fetched again: it goes when its date is re-normalized, without API calls, by "
    "`pinterest-etl run --from-raw --start DATE --end DATE`)",
    "SELECT date, entity_type, entity_id, split_field, split_value, content_type, data_status FROM daily_status "
    "WHERE entity_type IN (SELECT unnest($types::VARCHAR[])) AND NOT is_final "
    "AND (data_status IS NULL OR data_status IN ('PROCESSING', 'ESTIMATE')) AND date < $stale_before", blocking=False)

# Counts of user-account analytics: ALL is ORGANIC + PAID for each (rates and averages are not additive).
ADDITIVE_ACCOUNT_METRICS = ("IMPRESSION", "SAVE", "PIN_CLICK", "OUTBOUND_CLICK", "ENGAGEMENT")
# An API that ignores content_type answers every content type with ALL's numbers: nothing fails, and the
# organic numbers silently include paid activity. Keys with all three stored are compared; without PAID stored,
# an account-day whose unsplit ORGANIC impressions equal ALL's while the warehouse holds paid ad impressions that
# day (metric_daily of the ad accounts, when the ads assets ran) is flagged too. Ad accounts are not tied to a
# Pinterest user in the warehouse: any ad account's delivery that day counts (a warning, never blocking).
_CONTENT_TYPES_ADD_UP = Check(
    "content_types_add_up",
    "per user account, day, split bucket and count stored for ALL, ORGANIC and PAID, ALL = ORGANIC + PAID (within "
    "0.1 %) and ORGANIC < ALL when PAID > 0; without PAID stored, unsplit ORGANIC impressions below ALL's on a day "
    "the ad accounts have paid impressions; otherwise the API most likely ignored content_type (answering every "
    "content type the same), so the ORGANIC numbers include paid activity: check with `pinterest-etl probe`",
    f"""WITH account AS (
            SELECT date, user_id AS entity_id, split_field, split_value, upper(metric) AS metric,
                   any_value(value) FILTER (WHERE content_type = 'ALL') AS all_value,
                   any_value(value) FILTER (WHERE content_type = 'ORGANIC') AS organic_value,
                   any_value(value) FILTER (WHERE content_type = 'PAID') AS paid_value
            FROM (UNPIVOT (SELECT date, user_id, split_field, split_value, content_type,
                                  {', '.join(m.lower() for m in ADDITIVE_ACCOUNT_METRICS)}
                           FROM user_account_daily
                           WHERE 'user_account' IN (SELECT unnest($types::VARCHAR[])) AND date BETWEEN $start AND $end)
                  ON {', '.join(m.lower() for m in ADDITIVE_ACCOUNT_METRICS)} INTO NAME metric VALUE value)
            GROUP BY ALL),
        ads_delivery AS (
            SELECT date, sum(paid_impression) AS ads_paid_impressions FROM ad_account_daily
            WHERE date BETWEEN $start AND $end GROUP BY ALL)
        SELECT account.*, ads_delivery.ads_paid_impressions
        FROM account LEFT JOIN ads_delivery USING (date)
        WHERE all_value IS NOT NULL AND organic_value IS NOT NULL
          AND ((paid_value IS NOT NULL
                AND (abs(all_value - organic_value - paid_value) > $tolerance * greatest(abs(all_value), 1)
                     OR (organic_value = all_value AND paid_value > 0)))
               OR (paid_value IS NULL AND metric = 'IMPRESSION' AND split_field = 'NO_SPLIT'
                   AND organic_value = all_value AND ads_paid_impressions > 0))""", blocking=False)

_UNIQUE_KEY = Check("unique_key", "each wide table holds one row per key (entity, day and split bucket, content type "
                   "or attribution): two lake files holding a key would count its numbers twice", _UNIQUE_KEY_SQL)
_PIN_TOTALS = ("IMPRESSION", "SAVE", "PIN_CLICK", "OUTBOUND_CLICK")


def _negative_values(tables: tuple[catalog.FactTable, ...]) -> str:
    """Values below zero, and values that are not finite numbers (NaN, infinities: only a lake file edited by hand
    holds them, as normalization refuses them): least() ignores NaN, greatest() takes it."""
    return _values_where(tables, "_lo < 0 OR NOT isfinite(_lo) OR NOT isfinite(_hi)", "value < 0 OR NOT isfinite(value)")


_ORGANIC_FACT_CHECKS = (
    _UNIQUE_KEY,
    Check("no_negative_counts", "no metric value is negative, NaN or infinite", _negative_values(_ORGANIC_TABLES)),
    Check("rates_within_0_1", "every *_RATE metric lies within [0, 1]",
          _values_where(_ORGANIC_TABLES, "_lo < 0 OR _hi > 1",
                        "metric LIKE '%\\_RATE' ESCAPE '\\' AND (value < 0 OR value > 1)", "COLUMNS('.*_rate$')")),
    Check("pin_totals_within_account_totals",
          "per day, the impressions, saves and clicks of the pins do not exceed the accounts' organic totals "
          "(as user_account_organic_daily takes them: per account and day ORGANIC when stored, else ALL, never ALL "
          "for a metric the ORGANIC answer lacks); with several Pinterest users, all pins against all accounts "
          "(a pin's owner is not stored)",
          f"""WITH pins AS (SELECT date, {', '.join(f'sum({m.lower()}) AS {m.lower()}' for m in _PIN_TOTALS)} FROM pin_daily
                           WHERE 'pin' IN (SELECT unnest($types::VARCHAR[])) AND date BETWEEN $start AND $end
                           GROUP BY ALL),
                 accounts AS (SELECT date, {', '.join(f'sum({m.lower()}) AS {m.lower()}' for m in _PIN_TOTALS)}
                              FROM user_account_organic_daily
                              WHERE split_field = 'NO_SPLIT' AND date BETWEEN $start AND $end GROUP BY ALL)
             SELECT p.date, m.metric, m.pins_sum, m.account_value
             FROM pins p JOIN accounts a USING (date),
                  LATERAL (VALUES {', '.join(f"({literal(m)}, p.{m.lower()}, a.{m.lower()})" for m in _PIN_TOTALS)})
                      m(metric, pins_sum, account_value)
             WHERE m.pins_sum > m.account_value""", blocking=False),
    _CONTENT_TYPES_ADD_UP,
)


def run_check(con: duckdb.DuckDBPyConnection, check: Check, entity_types: tuple[str, ...], dates: DateRange,
              stale_before: dt.date | None = None) -> CheckOutcome:
    """The rows (or groups) of the run's scope that break the check's rule: their number and the first
    SAMPLE_ROWS of them in a stable order; no rows means it passes. Sees the connection's uncommitted writes."""
    available = {"types": list(entity_types), "start": dates.start, "end": dates.end,
                 "stale_before": stale_before or dt.date.min, "tolerance": ADS_SUM_TOLERANCE}
    # DuckDB refuses named parameters a statement does not use: pass only those it names.
    used = {name: value for name, value in available.items() if f"${name}" in check.offending_rows_sql}
    violations = con.execute(f"SELECT count(*) FROM ({check.offending_rows_sql})", used).fetchall()[0][0]
    if not violations:
        return CheckOutcome(check, 0)
    cursor = con.execute(f"SELECT * FROM ({check.offending_rows_sql}) ORDER BY ALL LIMIT $sample_rows",
                         {**used, "sample_rows": SAMPLE_ROWS})
    columns = [d[0] for d in cursor.description]
    sample = tuple({c: _readable(v) for c, v in zip(columns, row)} for row in cursor.fetchall())
    return CheckOutcome(check, violations, sample)


def _readable(value: object) -> object:
    """A sample cell as JSON can hold it: numbers stay numbers (whole floats as integers), the rest text."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, float) and math.isfinite(value):
        return int(value) if value.is_integer() and abs(value) < 2 ** 53 else value
    if isinstance(value, int):
        return value
    return str(value)


# Additive columns that must add up from ads to ad groups, campaigns and the account. Skipped ad groups and
# ads (campaigns without rows) contribute nothing, so the sums are exact; the tolerance only absorbs
# floating-point representation (values are integers in the API).
ADDITIVE_ADS_METRICS = ("SPEND_IN_MICRO_DOLLAR", "PAID_IMPRESSION", "CLICKTHROUGH_1")
ADS_SUM_TOLERANCE = 0.001  # relative

# The key of each dimension table: a load keeps one row per key (the newest), and its checks refuse NULL keys.
DIMENSION_KEYS = {"user_accounts": ("user_id",), "boards": ("board_id",), "pins": ("pin_id",),
                  "pin_lifetime": ("pin_id", "metric"), **{level.dimension: (level.id_column,) for level in LEVELS},
                  "top_pins_api": ("user_id", "sort_by", "rank")}


def _unique_dimension_key(table: str) -> Check:
    key = ", ".join(DIMENSION_KEYS[table])
    no_key = " OR ".join(f"{column} IS NULL" for column in DIMENSION_KEYS[table])
    return Check(f"unique_key_{table}", f"{table} has exactly one row per ({key}), and none without it",
                 f"SELECT {key}, count(*) AS rows_with_this_key FROM {table} GROUP BY ALL HAVING count(*) > 1 OR {no_key}")


def _known_parent(level: AdsLevel) -> Check:
    """An entity's parent ids (the parent's first, then the parent's own parents') must be those of an existing
    parent row."""
    table, parent, shared = level.dimension, parent_of(level), parent_ids(level)
    same = " AND ".join(f"p.{column} = e.{column}" for column in shared)
    return Check(f"{table}_have_known_{parent.name}",
                 f"every row of {table} names an existing {parent.name}: a row of {parent.dimension} with the same "
                 f"{', '.join(shared)}",
                 f"SELECT e.{level.id_column}, {', '.join(f'e.{c}' for c in shared)} FROM {table} e "
                 f"WHERE NOT EXISTS (SELECT 1 FROM {parent.dimension} p WHERE {same})")


# An ads row of an entity the dimensions do not know is wrong data, never a timing gap: the dimensions list
# every entity of every status, and the analytics calls ask only for the ids they listed.
_KNOWN_ADS_ENTITIES = Check(
    "ads_rows_have_known_entities",
    "every ads row of the run (the four ads tables) is of an entity in its dimension table",
    f"""WITH seen AS (
            SELECT entity_type, entity_id, min(date) AS first_date, max(date) AS last_date
            FROM daily_status WHERE {_in_scope()}
            GROUP BY ALL),
        known AS ({" UNION ALL ".join(f"SELECT {literal(level.name)} AS entity_type, {level.id_column} AS entity_id "
                                      f"FROM {level.dimension}" for level in LEVELS)})
        SELECT * FROM seen
        WHERE NOT EXISTS (SELECT 1 FROM known k WHERE k.entity_type = seen.entity_type AND k.entity_id = seen.entity_id)""")


def _adds_up_to_parent(child: AdsLevel) -> Check:
    """Compared from the children's side: a parent with no row (or without the metric) counts as 0, so a child's
    value never goes unchecked; a parent whose children have no rows (or no value of a metric) is not compared.
    A child the dimensions do not know has no parent id (the load takes it from them): ads_rows_have_known_entities
    names it, and it is not summed here under a parent "None"."""
    table, parent = child.dimension, parent_of(child)
    child_table, parent_table = catalog.BY_ENTITY_TYPE[child.name], catalog.BY_ENTITY_TYPE[parent.name]
    columns = [m.lower() for m in ADDITIVE_ADS_METRICS]
    return Check(
        child.adds_up_check,
        f"per day, the additive columns of the {table} sum to their {parent.name}'s (a missing {parent.name} value "
        "counts as 0)",
        f"""WITH sums AS (SELECT date, attribution, {parent.id_column} AS parent_id,
                                {', '.join(f'sum({c}) AS {c}' for c in columns)}
                         FROM {identifier(child_table.name)}
                         WHERE {_table_in_scope(child_table)} AND {parent.id_column} IS NOT NULL GROUP BY ALL)
        SELECT s.date, {literal(parent.name)} AS entity_type, s.parent_id AS entity_id, s.attribution AS split_value,
               m.metric, m.value, m.children_sum AS {table}_sum
        FROM sums s
        LEFT JOIN {identifier(parent_table.name)} p
          ON p.date = s.date AND p.attribution = s.attribution AND p.{parent_table.id_column} = s.parent_id,
        LATERAL (VALUES {', '.join(f"({literal(m)}, p.{c}, s.{c})" for m, c in zip(ADDITIVE_ADS_METRICS, columns))})
            m(metric, value, children_sum)
        WHERE m.children_sum IS NOT NULL
          AND abs(m.children_sum - coalesce(m.value, 0)) > $tolerance * greatest(abs(coalesce(m.value, 0)), 1)""")


# The load replaces the dimension tables whole: their checks read all of them (small next to the facts).
ORGANIC_CHECKS = (
    *_ORGANIC_FACT_CHECKS,
    *(_unique_dimension_key(table) for table in ("user_accounts", "boards", "pins", "pin_lifetime", "top_pins_api")),
    Check("pin_lifetime_finite_non_negative", "every all-time total of pin_lifetime is a finite number, not negative",
          "SELECT pin_id, metric, value FROM pin_lifetime WHERE value IS NULL OR NOT isfinite(value) OR value < 0"),
    _STALE_NOT_FINAL,
)

ADS_CHECKS = (
    _UNIQUE_KEY,
    Check("no_negative_values", "no ads metric value is negative (spend included), NaN or infinite",
          _negative_values(_ADS_TABLES)),
    _KNOWN_ADS_ENTITIES,
    *(_adds_up_to_parent(level) for level in reversed(UNDER_ACCOUNT)),  # from the ads up
    *(_unique_dimension_key(level.dimension) for level in LEVELS),
    *(_known_parent(level) for level in UNDER_ACCOUNT),
    _STALE_NOT_FINAL,
)
