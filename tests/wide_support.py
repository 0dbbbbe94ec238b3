"""Long rows (the lake's metric_daily / daily_status layout) into a warehouse's wide tables, the way a load puts
them there: tests that state facts as single metric values stay readable, and the pivot they go through is the
production one (`warehouse._pivot_into`)."""

from __future__ import annotations

import duckdb

from pipelines import catalog, warehouse
from pipelines.tables import DAILY_STATUS, METRIC_DAILY, duckdb_columns

INCOMING_METRIC, INCOMING_STATUS = "incoming_metric_daily", "incoming_daily_status"


def start_incoming(con: duckdb.DuckDBPyConnection) -> None:
    """Empty temporary tables of long rows (the layout of a long lake file), to state a test's facts in."""
    for name, schema in ((INCOMING_METRIC, METRIC_DAILY), (INCOMING_STATUS, DAILY_STATUS)):
        con.execute(f"CREATE OR REPLACE TEMP TABLE {name} ({duckdb_columns(schema)})")


def publish_incoming(con: duckdb.DuckDBPyConnection) -> None:
    """Every wide table rebuilt from the incoming long rows (a status row without metrics, or metrics without a
    status row, both give a wide row), then the derived views. A key stated twice (a value or a status row
    repeated) becomes two wide rows, as two lake files holding one key would: the n-th statement of each value
    and status row goes to the n-th pivot."""
    key = "date, entity_type, entity_id, split_field, split_value, content_type"
    for table in catalog.FACT_TABLES.values():
        con.execute(f"DELETE FROM {table.name}")
    repeats = con.execute(f"""SELECT greatest(
        (SELECT coalesce(max(n), 0) FROM (SELECT count(*) AS n FROM {INCOMING_METRIC} GROUP BY {key}, metric)),
        (SELECT coalesce(max(n), 0) FROM (SELECT count(*) AS n FROM {INCOMING_STATUS} GROUP BY {key})))""").fetchone()[0]
    for copy in range(1, repeats + 1):
        con.execute(f"CREATE OR REPLACE TEMP VIEW copy_metric AS SELECT * EXCLUDE (n) FROM (SELECT *, row_number() "
                    f"OVER (PARTITION BY {key}, metric) AS n FROM {INCOMING_METRIC}) WHERE n = {copy}")
        con.execute(f"CREATE OR REPLACE TEMP VIEW copy_status AS SELECT * EXCLUDE (n) FROM (SELECT *, row_number() "
                    f"OVER (PARTITION BY {key}) AS n FROM {INCOMING_STATUS}) WHERE n = {copy}")
        for table in catalog.FACT_TABLES.values():
            warehouse._pivot_into(con, table, "copy_metric", "copy_status", warehouse._ColumnChanges())
    warehouse._replace_views(con)
