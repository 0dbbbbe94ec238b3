"""The wide lake in tests: a day's file of a wide table read and rewritten through the Lake API (its checksum
recorded with it, so that only the loader decides what happens), and lakes of the earlier long layout made from a
loaded warehouse's long views (what such a lake held), to test their conversion."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipelines import catalog
from pipelines.lake import Lake, checksum_path
from pipelines.tables import DAILY_STATUS, METRIC_DAILY


def lake_file(home: Path, table: str, date: dt.date) -> Path:
    """The date's file of a wide table (the small world has one identity per source)."""
    [path] = Lake(home / "lake").files(table, [date], catalog.FACT_TABLES[table].source)
    return path


def lake_rows(home: Path, table: str, date: dt.date) -> pa.Table:
    return pq.read_table(lake_file(home, table, date))


def rewrite_lake_file(home: Path, table: str, date: dt.date, rows: pa.Table) -> Path:
    """Replace the date's file of a wide table by `rows` through the Lake API; its path."""
    lake, path = Lake(home / "lake"), lake_file(home, table, date)
    lake.commit([lake.stage_rows(table, date, path.name.removesuffix(".parquet"), rows)])
    return path


def with_cell(rows: pa.Table, column: str, where: pa.Array, value, kind: pa.DataType | None = None) -> pa.Table:
    """`rows` with `value` in `column` where `where` holds, the column cast to `kind` first (default: its type)."""
    old = rows.column(column).cast(kind or rows.schema.field(column).type)
    return rows.set_column(rows.schema.get_field_index(column), pa.field(column, old.type),
                           pc.if_else(where, pa.scalar(value, old.type), old))


def first_row(rows: pa.Table, where: pa.Array) -> tuple[pa.Array, dict]:
    """A mask selecting the first row where `where` holds, and that row."""
    first = pc.index(where, True).as_py()
    return pa.array([i == first for i in range(rows.num_rows)]), rows.slice(first, 1).to_pylist()[0]


def fact_files(home: Path) -> list[str]:
    """Every fact file of the lake, long or wide, by its path under lake/."""
    root = home / "lake"
    folders = (*catalog.FACT_TABLES, "metric_daily", "daily_status")
    return sorted(str(p.relative_to(root)) for folder in folders for p in (root / folder).glob("date=*/*.parquet"))


def to_long_lake(home: Path, stems: dict[tuple[dt.date, str], str],
                   without_content_type: frozenset[tuple[dt.date, str]] = frozenset()) -> None:
    """The lake as versions before the wide lake kept it: for each (date, source) of `stems`, the rows the loaded
    warehouse's long views hold of that source's entity types in `metric_daily/date=D/<stem>.parquet` and
    `daily_status/date=D/<stem>.parquet` (written through the Lake API; those of `without_content_type` as written
    before that column existed), and none of the date's wide files of that source."""
    lake = Lake(home / "lake")
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        con.execute("SET TimeZone = 'UTC'")
        for (date, source), stem in stems.items():
            entity_types = [t.entity_type for t in catalog.FACT_TABLES.values() if t.source == source]
            for name, schema in (("metric_daily", METRIC_DAILY), ("daily_status", DAILY_STATUS)):
                rows = con.sql(f"SELECT {', '.join(schema.names)} FROM {name} WHERE date = $date AND entity_type IN "
                               "(SELECT unnest($types::VARCHAR[])) ORDER BY ALL",
                               params={"date": date, "types": entity_types}).to_arrow_table().cast(schema)
                if (date, source) in without_content_type:
                    assert pc.all(pc.equal(rows.column("content_type"), "ALL")).as_py() is not False
                    rows = rows.drop_columns(["content_type"])
                lake.commit([lake.stage_rows(name, date, stem, rows)])
            for table in catalog.FACT_TABLES.values():
                if table.source == source:
                    for path in lake.files(table.name, [date], source):
                        path.unlink()
                        checksum_path(path).unlink(missing_ok=True)
