"""Long rows (the lake's metric_daily / daily_status layout) into a warehouse's wide tables, the way a load puts
them there: tests that state facts as single metric values stay readable, and the pivot they go through is the
production one (`warehouse._pivot_into`)."""

from __future__ import annotations

import duckdb

from pipelines import catalog, warehouse
from pipelines.tables import DAILY_STATUS, METRIC_DAILY, duckdb_columns

INCOMING_METRIC, INCOMING_STATUS = (warehouse.INCOMING[name][0] for name in ("metric_daily", "daily_status"))


def start_incoming(con: duckdb.DuckDBPyConnection) -> None:
    """Empty temporary tables of long rows (what a load reads from the lake), as the unique_key check reads them."""
    for name, schema in ((INCOMING_METRIC, METRIC_DAILY), (INCOMING_STATUS, DAILY_STATUS)):
        con.execute(f"CREATE OR REPLACE TEMP TABLE {name} ({duckdb_columns(schema)})")


def publish_incoming(con: duckdb.DuckDBPyConnection) -> None:
    """Every wide table rebuilt from the incoming long rows (a status row without metrics, or metrics without a
    status row, both give a wide row), then the derived views."""
    for table in catalog.FACT_TABLES.values():
        con.execute(f"DELETE FROM {table.name}")
        warehouse._pivot_into(con, table, INCOMING_METRIC, INCOMING_STATUS, warehouse._ColumnChanges())
    warehouse._replace_views(con)
