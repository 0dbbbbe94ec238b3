"""Normalization: raw answers of a date range → the newest value per key → the Parquet lake.

One machinery for every source (organic, ads): a `Source` says which raw answers it reads and how one
answer becomes rows; staging, choosing the newest answer per key and writing the lake are shared.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable

import duckdb
import pyarrow as pa

from pipelines.lake import Lake
from pipelines.planning import DateRange
from pipelines.raw_zone import RawRecord, RawZone
from pipelines.tables import DAILY_STATUS, DAILY_STATUS_KEY, METRIC_DAILY, PIN_LIFETIME, duckdb_columns

STAGING_MEMORY_LIMIT = "512MB"
_INSERT_BATCH_ROWS = 500_000


@dataclasses.dataclass(frozen=True)
class Normalized:
    """The rows one raw answer contributes."""

    metric: pa.Table
    status: pa.Table
    lifetime: pa.Table | None = None


@dataclasses.dataclass(frozen=True)
class Source:
    """What a source reads from the raw zone and how. `prepare` sees the raw zone first and returns the
    function that normalizes one answer (for example with the readiness the ads answers need)."""

    name: str
    entity_types: tuple[str, ...]
    endpoints: tuple[str, ...]
    prepare: Callable[[RawZone, DateRange], Callable[[RawRecord], Normalized]]


@dataclasses.dataclass
class NormalizeSummary:
    raw_files: int = 0
    dates_written: list[dt.date] = dataclasses.field(default_factory=list)
    metric_rows: int = 0
    status_rows: int = 0
    not_final_dates: list[dt.date] = dataclasses.field(default_factory=list)
    lifetime_rows: int = 0


def stage(con: duckdb.DuckDBPyConnection, raw: RawZone, requested: DateRange, source: Source) -> int:
    """Normalize every stored answer overlapping the range into staging tables, streaming one answer at a
    time; returns the number of raw files read."""
    # `source` numbers the answers as they are read (per endpoint in fetch order: file names start with
    # fetched_at); a small integer per row instead of the file name keeps staging and its sorts light.
    con.execute(f"CREATE OR REPLACE TEMP TABLE staged_metric ({duckdb_columns(METRIC_DAILY)}, source BIGINT)")
    con.execute(f"CREATE OR REPLACE TEMP TABLE staged_status ({duckdb_columns(DAILY_STATUS)}, source BIGINT)")
    con.execute(f"CREATE OR REPLACE TEMP TABLE staged_lifetime ({duckdb_columns(PIN_LIFETIME)}, source BIGINT)")
    normalize = source.prepare(raw, requested)
    buffers: dict[str, list[pa.Table]] = {"staged_metric": [], "staged_status": [], "staged_lifetime": []}
    buffered = 0

    def flush() -> None:
        # Few large inserts: converting and inserting many small Arrow tables costs more than the rows.
        for table, parts in buffers.items():
            if parts:
                con.register("batch", pa.concat_tables(parts))
                con.execute(f"INSERT INTO {table} SELECT * FROM batch")
                con.unregister("batch")
                parts.clear()

    files = 0
    records = (record for endpoint in source.endpoints for record in raw.records(endpoint, requested))
    for record in records:
        rows = normalize(record)
        for table, arrow in (("staged_metric", rows.metric), ("staged_status", rows.status),
                             ("staged_lifetime", rows.lifetime)):
            if arrow is not None and arrow.num_rows:
                tagged = arrow.append_column("source", pa.repeat(pa.scalar(files, pa.int64()), arrow.num_rows))
                buffers[table].append(tagged)
                buffered += arrow.num_rows
        files += 1
        if buffered >= _INSERT_BATCH_ROWS:
            flush()
            buffered = 0
    flush()
    return files


def select_latest(con: duckdb.DuckDBPyConnection, requested: DateRange) -> None:
    """Per (date, entity, split) keep the newest answer, and only the metrics of that same answer."""
    key = ", ".join(DAILY_STATUS_KEY)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE latest_status AS
        SELECT * FROM staged_status WHERE date BETWEEN ? AND ?
        QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY extracted_at DESC, source DESC) = 1
        ORDER BY {key}""", [requested.start, requested.end])
    # Stored in file order, so each date's COPY reads only its own row groups and has nothing to sort.
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE latest_metric AS
        SELECT m.* FROM staged_metric m JOIN latest_status s USING ({key}, source) ORDER BY {key}, m.metric""")
    con.execute("""
        CREATE OR REPLACE TEMP TABLE latest_lifetime AS
        SELECT * FROM staged_lifetime
        QUALIFY row_number() OVER (PARTITION BY pin_id, metric ORDER BY extracted_at DESC, source DESC) = 1""")


def write_lake(con: duckdb.DuckDBPyConnection, lake: Lake, source: str, snapshot_date: dt.date,
               account: str | None = None) -> NormalizeSummary:
    """Replace, date by date, the source's files of every date that has answers; snapshot pin lifetimes.
    `account`: a named Pinterest account's files (`<source>.<account>.parquet`) instead of the default's."""
    suffix = f".{account}" if account else ""
    source = source + suffix
    summary = NormalizeSummary()
    dates = [row[0] for row in con.execute("SELECT DISTINCT date FROM latest_status ORDER BY date").fetchall()]
    metric_columns = ", ".join(METRIC_DAILY.names)
    status_columns = ", ".join(DAILY_STATUS.names)
    staged = []
    try:
        for date in dates:
            staged.append(lake.stage(con, "metric_daily", date, source,
                                     f"SELECT {metric_columns} FROM latest_metric WHERE date = ?", [date]))
            staged.append(lake.stage(con, "daily_status", date, source,
                                     f"SELECT {status_columns} FROM latest_status WHERE date = ?", [date]))
    except BaseException:
        lake.discard(staged)  # a failure while writing leaves every date as it was
        raise
    lake.commit(staged)
    summary.dates_written = dates
    summary.metric_rows = con.execute("SELECT count(*) FROM latest_metric").fetchall()[0][0]
    summary.status_rows = con.execute("SELECT count(*) FROM latest_status").fetchall()[0][0]
    summary.not_final_dates = [r[0] for r in con.execute(
        "SELECT DISTINCT date FROM latest_status WHERE NOT is_final "
        "AND (data_status IS NULL OR data_status IN ('PROCESSING', 'ESTIMATE')) "
        "ORDER BY date").fetchall()]
    summary.lifetime_rows = con.execute("SELECT count(*) FROM latest_lifetime").fetchall()[0][0]
    if summary.lifetime_rows:
        lake.snapshot(con, "pin_lifetime", snapshot_date,
                      f"SELECT {', '.join(PIN_LIFETIME.names)} FROM latest_lifetime ORDER BY pin_id, metric",
                      name="pin_lifetime" + suffix)
    return summary


def normalize_range(raw: RawZone, lake: Lake, requested: DateRange, source: Source, snapshot_date: dt.date,
                    temp_directory: str | None = None, account: str | None = None) -> NormalizeSummary:
    """Raw zone → lake for a date range, with zero API calls (this is also the re-normalize path).
    `account`: the name of a Pinterest account other than the default one, whose lake files these are."""
    with duckdb.connect() as con:
        # Staging is bounded in memory and spills to disk, so the number of pins does not set the peak RSS.
        con.execute(f"SET memory_limit = '{STAGING_MEMORY_LIMIT}'")
        con.execute("SET preserve_insertion_order = false")
        if temp_directory:
            con.execute("SET temp_directory = ?", [temp_directory])
        files = stage(con, raw, requested, source)
        select_latest(con, requested)
        summary = write_lake(con, lake, source.name, snapshot_date, account)
    summary.raw_files = files
    return summary
