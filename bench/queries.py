"""Analyst query timings on a loaded warehouse: what a person querying the tables waits for.

Each query runs 5 times on a read-only connection (the first run included: DuckDB has no result cache), and the
median is recorded in seconds. The queries read only names of the contract (views or tables alike), so the same
script measures a warehouse of any version:

    python -m bench.queries data/warehouse.duckdb
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

import duckdb

REPEATS = 5


def analyst_queries(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[str, list]]:
    """The measured queries, by name, with their parameters (the pin and the dates are taken from the data)."""
    pin = con.execute("SELECT min(pin_id) FROM pins").fetchone()[0]
    last = con.execute("SELECT max(date) FROM pin_daily").fetchone()[0]
    return {
        "one_pin_89_days": ("SELECT * FROM pin_daily WHERE pin_id = ? ORDER BY date", [pin]),
        "top_pins_28_days": ("SELECT pin_id, sum(save) AS saves FROM pin_daily WHERE date > ?::DATE - 28 "
                             "GROUP BY pin_id ORDER BY saves DESC, pin_id LIMIT 10", [last]),
        "campaign_weekly_spend_by_currency": (
            "SELECT date_trunc('week', date) AS week, currency, sum(spend_in_micro_dollar) / 1e6 AS spend "
            "FROM campaign_daily GROUP BY ALL ORDER BY ALL", []),
        "account_daily_89_days": ("SELECT * FROM user_account_organic_daily WHERE split_field = 'NO_SPLIT' "
                                  "ORDER BY date, user_id", []),
        "pin_daily_count": ("SELECT count(*) FROM pin_daily", []),
        "metric_daily_count": ("SELECT count(*) FROM metric_daily", []),
    }


def measure(path: Path) -> dict[str, float]:
    """The median seconds of each analyst query on the warehouse at `path`."""
    with duckdb.connect(str(path), read_only=True) as con:
        timings = {}
        for name, (sql, params) in analyst_queries(con).items():
            runs = []
            for _ in range(REPEATS):
                t0 = time.perf_counter()
                con.execute(sql, params).fetchall()
                runs.append(time.perf_counter() - t0)
            timings[name] = round(statistics.median(runs), 4)
    return timings


if __name__ == "__main__":
    print(json.dumps(measure(Path(sys.argv[1])), indent=2))
