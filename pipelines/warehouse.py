"""The DuckDB warehouse: tables of the contract, wide views, and transactional loads from the lake."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb

from pipelines import api_enums
from pipelines.lake import Lake
from pipelines.organic.dimensions import BOARDS, PINS, USER_ACCOUNTS
from pipelines.tables import DAILY_STATUS, METRIC_DAILY, PIN_LIFETIME, duckdb_columns

FACT_TABLES = {"metric_daily": METRIC_DAILY, "daily_status": DAILY_STATUS}
DIMENSIONS = {"user_accounts": USER_ACCOUNTS, "boards": BOARDS, "pins": PINS, "pin_lifetime": PIN_LIFETIME}
PIN_METRICS = tuple(dict.fromkeys(api_enums.PIN_STANDARD_METRIC_TYPES + api_enums.PIN_VIDEO_METRIC_TYPES))


def _pivot(metrics: tuple[str, ...]) -> str:
    return ",\n        ".join(f"max(m.value) FILTER (WHERE m.metric = '{m}') AS {m.lower()}" for m in metrics)


def _wide_view(name: str, entity_type: str, id_column: str, metrics: tuple[str, ...], with_split: bool) -> str:
    split = "s.split_field, s.split_value, " if with_split else ""
    where = "" if with_split else " AND s.split_field = 'NO_SPLIT'"
    return f"""
    CREATE OR REPLACE VIEW {name} AS
    SELECT s.date, s.entity_id AS {id_column}, {split}s.data_status, s.is_final,
        {_pivot(metrics)},
        s.extracted_at
    FROM daily_status s
    LEFT JOIN metric_daily m
      ON m.date = s.date AND m.entity_type = s.entity_type AND m.entity_id = s.entity_id
     AND m.split_field = s.split_field AND m.split_value = s.split_value
    WHERE s.entity_type = '{entity_type}'{where}
    GROUP BY s.date, s.entity_id, s.split_field, s.split_value, s.data_status, s.is_final, s.extracted_at"""


VIEWS = {
    # One row per user account per UTC day per split bucket (split_field NO_SPLIT, split_value ALL: unsplit).
    "user_account_daily": _wide_view("user_account_daily", "user_account", "user_id",
                                     api_enums.USER_ACCOUNT_METRIC_TYPES, with_split=True),
    # One row per pin per UTC day.
    "pin_daily": _wide_view("pin_daily", "pin", "pin_id", PIN_METRICS, with_split=False),
}


class WarehouseLockedError(Exception):
    """Another process holds the warehouse file open for writing."""


class Warehouse:
    def __init__(self, path: Path):
        self.path = Path(path)

    def connect(self, read_only: bool = False) -> duckdb.DuckDBPyConnection:
        if read_only and not self.path.exists():
            raise FileNotFoundError(f"no warehouse at {self.path} yet; run `pinterest-etl run` first")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            return duckdb.connect(str(self.path), read_only=read_only)
        except duckdb.IOException as error:
            if "lock" in str(error).lower():
                raise WarehouseLockedError(
                    f"the warehouse {self.path} is locked by another process ({error}). Nothing was changed in it; "
                    "the new data is safe in the lake. Close the other session, then load it with "
                    "`pinterest-etl run --from-raw --start ... --end ...` (no API calls).") from None
            raise

    def ensure_schema(self, con: duckdb.DuckDBPyConnection) -> None:
        for name, schema in {**FACT_TABLES, **DIMENSIONS}.items():
            con.execute(f"CREATE TABLE IF NOT EXISTS {name} ({duckdb_columns(schema)})")
        for sql in VIEWS.values():
            con.execute(sql)

    def load(self, lake: Lake, source: str, entity_types: tuple[str, ...], dates: list[dt.date],
             dimensions: dict[str, Path] | None = None) -> dict[str, int]:
        """In one transaction: the source's fact rows for those dates are replaced by the lake's files,
        and each given dimension table becomes exactly its lake snapshot. Returns rows per table."""
        rows: dict[str, int] = {}
        with self.connect() as con:
            self.ensure_schema(con)
            con.execute("BEGIN TRANSACTION")
            try:
                if dates:
                    rows.update(self._replace_facts(con, lake, source, entity_types, dates))
                for name, path in (dimensions or {}).items():
                    con.execute(f"DELETE FROM {name}")
                    con.execute(f"INSERT INTO {name} SELECT {', '.join(DIMENSIONS[name].names)} "
                                "FROM read_parquet(?, hive_partitioning = false)", [str(path)])
                    rows[name] = con.execute(f"SELECT count(*) FROM {name}").fetchall()[0][0]
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
        return rows

    @staticmethod
    def _replace_facts(con: duckdb.DuckDBPyConnection, lake: Lake, source: str, entity_types: tuple[str, ...],
                       dates: list[dt.date]) -> dict[str, int]:
        rows = {}
        in_scope = "entity_type IN (SELECT unnest(?::VARCHAR[])) AND date IN (SELECT unnest(?::DATE[]))"
        for table, schema in FACT_TABLES.items():
            con.execute(f"DELETE FROM {table} WHERE {in_scope}", [list(entity_types), dates])
            files = [str(p) for p in lake.files(table, dates, source)]
            if files:
                con.execute(f"INSERT INTO {table} SELECT {', '.join(schema.names)} "
                            "FROM read_parquet(?, hive_partitioning = false)", [files])
            rows[table] = con.execute(f"SELECT count(*) FROM {table} WHERE {in_scope}",
                                      [list(entity_types), dates]).fetchall()[0][0]
        return rows
