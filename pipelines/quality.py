"""Data-quality checks on the warehouse: each a SQL query counting the rows that break a rule."""

from __future__ import annotations

import dataclasses

import duckdb

from pipelines.tables import METRIC_DAILY_KEY


@dataclasses.dataclass(frozen=True)
class Check:
    name: str
    description: str
    violations_sql: str  # counts offending rows; parameters: entity types
    blocking: bool = True


def _entity_filter() -> str:
    return "entity_type IN (SELECT unnest(?::VARCHAR[]))"


ORGANIC_CHECKS = (
    Check("unique_key", "metric_daily has at most one row per (date, entity_type, entity_id, split_field, "
                        "split_value, metric)",
          f"SELECT count(*) FROM (SELECT {', '.join(METRIC_DAILY_KEY)} FROM metric_daily WHERE {_entity_filter()} "
          f"GROUP BY ALL HAVING count(*) > 1)"),
    Check("no_negative_counts", "no metric value is negative",
          f"SELECT count(*) FROM metric_daily WHERE {_entity_filter()} AND value < 0"),
    Check("rates_within_0_1", "every *_RATE metric lies within [0, 1]",
          f"SELECT count(*) FROM metric_daily WHERE {_entity_filter()} AND metric LIKE '%\\_RATE' ESCAPE '\\' "
          "AND (value < 0 OR value > 1)"),
    Check("pin_totals_within_account_totals",
          "per day, the impressions, saves and clicks of the pins do not exceed the account's (owned content)",
          """SELECT count(*) FROM (
                SELECT p.date, p.metric, sum(p.value) AS pins, any_value(a.value) AS account
                FROM metric_daily p JOIN metric_daily a
                  ON a.date = p.date AND a.metric = p.metric AND a.entity_type = 'user_account'
                 AND a.split_field = 'NO_SPLIT'
                WHERE p.entity_type = 'pin' AND p.metric IN ('IMPRESSION', 'SAVE', 'PIN_CLICK', 'OUTBOUND_CLICK')
                  AND 'pin' IN (SELECT unnest(?::VARCHAR[]))
                GROUP BY p.date, p.metric HAVING sum(p.value) > any_value(a.value))""", blocking=False),
)


def run_check(con: duckdb.DuckDBPyConnection, check: Check, entity_types: tuple[str, ...]) -> int:
    """The number of rows (or groups) that break the check's rule; 0 means it passes."""
    return con.execute(check.violations_sql, [list(entity_types)]).fetchall()[0][0]
