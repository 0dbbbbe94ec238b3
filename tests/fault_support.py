"""Comparing a run's warehouse with another's, and reading what a run recorded in its Dagster instance."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
import duckdb

from pipelines import catalog
from pipelines.sql_text import identifier, literal
from tests.conftest import TODAY

# Small enough for fast runs, big enough that the organic pin analytics run on the thread pool
# (9 bulk calls: 8 of standard pins, 1 of video pins) and both ad accounts have campaigns, ad groups and ads.
WORLD = {"pins": 800, "boards": 3, "ad_accounts": 2, "campaigns": 3, "ad_groups": 2, "ads": 2}
RANGE = (TODAY - dt.timedelta(days=5), TODAY - dt.timedelta(days=1))  # PROCESSING, ESTIMATE and READY days
# Retries without a server hint back off from 10 ms instead of 1 s (PINTEREST_RETRY_BACKOFF_SECONDS).
FAST_RETRIES = {"PINTEREST_RETRY_BACKOFF_SECONDS": "0.01"}
ORGANIC_TABLES = ("user_accounts", "boards", "pins", "pin_lifetime")
ADS_TABLES = ("ad_accounts", "campaigns", "ad_groups", "ads")
ORGANIC_FACT_TABLES = tuple(table.name for table in catalog.FACT_TABLES.values() if table.source == "organic")
ADS_FACT_TABLES = tuple(table.name for table in catalog.FACT_TABLES.values() if table.source == "ads")


def warehouse_differences(home_a: Path, home_b: Path, *, organic_only: bool = False) -> dict[str, tuple[int, int, int]]:
    """Per table (the wide fact tables and the dimensions): (rows in a, rows of a missing from b, rows of b missing
    from a), comparing every column but `extracted_at` (when a row was fetched) with EXCEPT ALL, so duplicates count
    too. Both sides must have the same columns (in any order)."""
    tables = ORGANIC_FACT_TABLES + ORGANIC_TABLES + (() if organic_only else ADS_FACT_TABLES + ADS_TABLES)
    result = {}
    with duckdb.connect() as con:
        for side, home in (("a", home_a), ("b", home_b)):
            con.execute(f"ATTACH {literal(str(home / 'warehouse.duckdb'))} AS {side} (READ_ONLY)")
        for table in tables:
            columns = {side: [r[0] for r in con.execute(
                "SELECT column_name FROM duckdb_columns() WHERE database_name = ? AND table_name = ? "
                "AND column_name <> 'extracted_at' ORDER BY column_index", [side, table]).fetchall()]
                for side in ("a", "b")}
            assert sorted(columns["a"]) == sorted(columns["b"]), (table, columns)
            selected = ", ".join(identifier(c) for c in columns["a"])
            rows = {side: f"SELECT {selected} FROM {side}.{table}" for side in ("a", "b")}
            count = con.execute(f"SELECT count(*) FROM ({rows['a']})").fetchone()[0]
            only_a = con.execute(f"SELECT count(*) FROM ({rows['a']} EXCEPT ALL {rows['b']})").fetchone()[0]
            only_b = con.execute(f"SELECT count(*) FROM ({rows['b']} EXCEPT ALL {rows['a']})").fetchone()[0]
            result[table] = (count, only_a, only_b)
    return result


def assert_same_warehouse(home_a: Path, home_b: Path, *, organic_only: bool = False) -> None:
    differences = warehouse_differences(home_a, home_b, organic_only=organic_only)
    assert all(count > 0 for count, _, _ in differences.values()), differences
    assert {table: (only_a, only_b) for table, (_, only_a, only_b) in differences.items()} == \
        {table: (0, 0) for table in differences}, differences


def latest_run_metadata(dagster_home: Path) -> dict[str, dict]:
    """Per asset, the materialization metadata of the newest run recorded in DAGSTER_HOME (a partitioned
    asset materializes every partition of the range with the same metadata: one of them is kept)."""
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        run = instance.get_runs(limit=1)[0]
        events = instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION)
        return {event.dagster_event.asset_key.to_user_string(): {
            key: value.value for key, value in event.dagster_event.event_specific_data.materialization.metadata.items()}
            for event in events}


def api_totals(dagster_home: Path) -> dict[str, float]:
    """The API accounting of the newest run, summed over the assets that report it (api_calls, api_retries,
    api_429s, api_5xx, api_wait_seconds)."""
    names = ("api_calls", "api_retries", "api_429s", "api_5xx", "api_wait_seconds")
    reporting = [m for m in latest_run_metadata(dagster_home).values() if "api_calls" in m]
    assert reporting, "no materialization of the run reports its API use"
    return {name: sum(m[name] for m in reporting) for name in names}
