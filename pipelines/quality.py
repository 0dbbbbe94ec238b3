"""Data-quality checks on the warehouse: each a SQL query counting the rows that break a rule."""

from __future__ import annotations

import dataclasses
import datetime as dt

import duckdb

from pipelines.planning import DateRange
from pipelines.tables import METRIC_DAILY_KEY


@dataclasses.dataclass(frozen=True)
class Check:
    name: str
    description: str
    violations_sql: str  # counts offending rows; parameters $types (entity types), $start and $end (dates),
    # and (when it uses it) $stale_before: the first date the daily schedule still re-pulls
    blocking: bool = True


def _in_scope(alias: str = "") -> str:
    """Only the rows of the run: its entity types and its dates (history was checked when it was loaded)."""
    return (f"{alias}entity_type IN (SELECT unnest($types::VARCHAR[])) AND {alias}date BETWEEN $start AND $end")


# Keys whose 64-bit hash repeats first (a small aggregate), then those keys' rows compared exactly: about three
# times cheaper than grouping millions of rows by six text columns, and as exact.
_KEY = ", ".join(METRIC_DAILY_KEY)
_UNIQUE_KEY_SQL = f"""
    WITH repeated AS (SELECT hash({_KEY}) AS h FROM metric_daily WHERE {_in_scope()} GROUP BY 1 HAVING count(*) > 1)
    SELECT count(*) FROM (SELECT {_KEY} FROM metric_daily WHERE {_in_scope()} AND hash({_KEY}) IN (SELECT h FROM repeated)
                          GROUP BY ALL HAVING count(*) > 1)"""


# Not final although older than the re-pull window: the daily schedule will not pull these days again, so
# their numbers stay preliminary until someone re-runs them (all dates of the source, not only the run's).
_STALE_NOT_FINAL = Check(
    "no_stale_preliminary_rows",
    "no day older than the daily re-pull window is still PROCESSING/ESTIMATE (organic) or inside the attribution "
    "window (ads): such days would keep preliminary numbers; re-run them or widen the re-pull window",
    "SELECT count(*) FROM daily_status WHERE entity_type IN (SELECT unnest($types::VARCHAR[])) AND NOT is_final "
    "AND (data_status IS NULL OR data_status IN ('PROCESSING', 'ESTIMATE')) AND date < $stale_before", blocking=False)

ORGANIC_CHECKS = (
    Check("unique_key", "metric_daily has at most one row per (date, entity_type, entity_id, split_field, "
                        "split_value, metric)", _UNIQUE_KEY_SQL),
    Check("no_negative_counts", "no metric value is negative",
          f"SELECT count(*) FROM metric_daily WHERE {_in_scope()} AND value < 0"),
    Check("rates_within_0_1", "every *_RATE metric lies within [0, 1]",
          f"SELECT count(*) FROM metric_daily WHERE {_in_scope()} AND metric LIKE '%\\_RATE' ESCAPE '\\' "
          "AND (value < 0 OR value > 1)"),
    Check("pin_totals_within_account_totals",
          "per day, the impressions, saves and clicks of the pins do not exceed the account's (owned content)",
          """SELECT count(*) FROM (
                SELECT p.date, p.metric, sum(p.value) AS pins, any_value(a.value) AS account
                FROM metric_daily p JOIN metric_daily a
                  ON a.date = p.date AND a.metric = p.metric AND a.entity_type = 'user_account'
                 AND a.split_field = 'NO_SPLIT'
                WHERE p.entity_type = 'pin' AND p.metric IN ('IMPRESSION', 'SAVE', 'PIN_CLICK', 'OUTBOUND_CLICK')
                  AND 'pin' IN (SELECT unnest($types::VARCHAR[])) AND p.date BETWEEN $start AND $end
                GROUP BY p.date, p.metric HAVING sum(p.value) > any_value(a.value))""", blocking=False),
    _STALE_NOT_FINAL,
)


def run_check(con: duckdb.DuckDBPyConnection, check: Check, entity_types: tuple[str, ...], dates: DateRange,
              stale_before: dt.date | None = None) -> int:
    """The number of rows (or groups) of the run's scope that break the check's rule; 0 means it passes."""
    available = {"types": list(entity_types), "start": dates.start, "end": dates.end,
                 "stale_before": stale_before or dt.date.min}
    # DuckDB refuses named parameters a statement does not use: pass only those it names.
    used = {name: value for name, value in available.items() if f"${name}" in check.violations_sql}
    return con.execute(check.violations_sql, used).fetchall()[0][0]


# Additive columns that must add up from ads to ad groups, campaigns and the account. Skipped ad groups and
# ads (campaigns without rows) contribute nothing, so the sums are exact; the tolerance only absorbs
# floating-point representation (values are integers in the API).
ADDITIVE_ADS_METRICS = ("SPEND_IN_MICRO_DOLLAR", "PAID_IMPRESSION", "CLICKTHROUGH_1")
ADS_SUM_TOLERANCE = 0.001  # relative


def _level_sums_sql(child: str, parent: str, join: str) -> str:
    return f"""SELECT count(*) FROM (
        SELECT c.date, c.metric, c.split_value, sum(c.value) AS children, any_value(p.value) AS parent
        FROM metric_daily c {join}
        JOIN metric_daily p ON p.entity_type = '{parent}' AND p.date = c.date AND p.metric = c.metric
         AND p.split_value = c.split_value AND p.entity_id = x.parent_id
        WHERE c.entity_type = '{child}' AND c.metric IN ({", ".join(f"'{m}'" for m in ADDITIVE_ADS_METRICS)})
          AND '{child}' IN (SELECT unnest($types::VARCHAR[])) AND c.date BETWEEN $start AND $end
        GROUP BY c.date, c.metric, c.split_value, x.parent_id
        HAVING abs(sum(c.value) - any_value(p.value)) > {ADS_SUM_TOLERANCE} * greatest(abs(any_value(p.value)), 1))"""


ADS_CHECKS = (
    Check("unique_key", ORGANIC_CHECKS[0].description, ORGANIC_CHECKS[0].violations_sql),
    Check("no_negative_values", "no ads metric value is negative (spend included)", ORGANIC_CHECKS[1].violations_sql),
    Check("ads_add_up_to_ad_groups", "per day, the additive columns of the ads sum to their ad group's",
          _level_sums_sql("ad", "ad_group", "JOIN (SELECT ad_id AS id, ad_group_id AS parent_id FROM ads) x ON x.id = c.entity_id")),
    Check("ad_groups_add_up_to_campaigns", "per day, the additive columns of the ad groups sum to their campaign's",
          _level_sums_sql("ad_group", "campaign",
                          "JOIN (SELECT ad_group_id AS id, campaign_id AS parent_id FROM ad_groups) x ON x.id = c.entity_id")),
    Check("campaigns_add_up_to_accounts", "per day, the additive columns of the campaigns sum to their account's",
          _level_sums_sql("campaign", "ad_account",
                          "JOIN (SELECT campaign_id AS id, ad_account_id AS parent_id FROM campaigns) x ON x.id = c.entity_id")),
    _STALE_NOT_FINAL,
)
