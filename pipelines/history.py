"""History tables (slowly changing dimensions, type 2): every version of every entity the lake's dated snapshots show.

`<dimension>_history` holds one row per entity per version: a version is a run of consecutive snapshot dates on
which the entity's attributes were the same, `extracted_at` aside (it differs in every snapshot by nature; every
other column is tracked, counts included). `valid_from` is the snapshot date the version was first seen,
`valid_to` (exclusive) the first snapshot date of the next version, or of the first snapshot that no longer lists
the entity (deleted, or no longer listed: no version follows), NULL while current; `is_current` marks the versions
of the newest snapshot date, exactly the rows of the latest-state table.

The state on each snapshot date is the warehouse's latest-state rule applied to the snapshots up to that date: the
newest snapshot of every identity (`user=`, `ad_account=`), an entity two identities list kept once, as last
extracted. An identity without a snapshot on a date (its account failed or was not extracted that run) keeps its
previous one: its entities' versions go on. Tables are rebuilt whole from the lake on every load: nothing in them
is not in the snapshots.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable
from pathlib import Path

import duckdb
import pyarrow as pa

from pipelines.ads.dimensions import AD_ACCOUNTS, AD_GROUPS, ADS, CAMPAIGNS
from pipelines.lake import Lake, identity_of
from pipelines.organic.dimensions import BOARDS, PINS
from pipelines.quality import DIMENSION_KEYS
from pipelines.sql_text import identifier
from pipelines.tables import duckdb_columns

# The dimensions with a history table, each with its snapshot schema.
TRACKED_DIMENSIONS = {"ad_accounts": AD_ACCOUNTS, "campaigns": CAMPAIGNS, "ad_groups": AD_GROUPS, "ads": ADS,
                      "boards": BOARDS, "pins": PINS}
# Columns that differ in every snapshot by nature: a change in them is no new version, and they are left out.
UNTRACKED_COLUMNS = ("extracted_at",)
VALIDITY = pa.schema([("valid_from", pa.date32()), ("valid_to", pa.date32()), ("is_current", pa.bool_())])


def history_table(dimension: str) -> str:
    return f"{dimension}_history"


def history_schema(dimension: str) -> pa.Schema:
    """The dimension's columns but the untracked ones, then valid_from, valid_to, is_current."""
    columns = [f for f in TRACKED_DIMENSIONS[dimension] if f.name not in UNTRACKED_COLUMNS]
    return pa.schema([*columns, *VALIDITY])


@dataclasses.dataclass(frozen=True)
class SnapshotFile:
    """One identity's snapshot of a dimension on one date."""

    path: Path
    identity: str
    date: dt.date


@dataclasses.dataclass(frozen=True)
class Timeline:
    """A dimension's snapshot files (`paths`), its snapshot dates (every identity's, oldest first) and, for each
    date, the file standing for each identity on it (`stand_ins`: (index into `paths`, index into `dates`)): the
    identity's snapshot of that date, else its newest before; none before its first."""

    paths: list[str]
    dates: list[dt.date]
    stand_ins: list[tuple[int, int]]


def timeline(files: Iterable[SnapshotFile]) -> Timeline:
    """The Timeline of a dimension's snapshot files."""
    files = sorted(files, key=lambda f: (f.date, f.identity))
    by_date: dict[dt.date, list[int]] = {}
    for index, file in enumerate(files):
        by_date.setdefault(file.date, []).append(index)
    dates = sorted(by_date)
    stand_ins: list[tuple[int, int]] = []
    latest: dict[str, int] = {}
    for date_index, date in enumerate(dates):
        latest.update({files[i].identity: i for i in by_date[date]})
        stand_ins += [(file_index, date_index) for file_index in latest.values()]
    return Timeline([str(f.path) for f in files], dates, stand_ins)


def snapshot_files(lake: Lake, dimension: str) -> list[SnapshotFile]:
    """Every dated snapshot of a dimension in the lake, with its identity (legacy snapshots, named after an
    account, are split per identity first, as the latest-state reader does)."""
    lake.adopt_legacy_snapshots()
    found = []
    for path in sorted((lake.root / dimension).glob("snapshot_date=*/*.parquet")):
        if path.name.startswith("."):
            continue  # a temporary of a writer
        found.append(SnapshotFile(path, identity_of(path), dt.date.fromisoformat(
            path.parent.name.removeprefix("snapshot_date="))))
    return found


def replace_history(con: duckdb.DuckDBPyConnection, lake: Lake,
                    dimensions: Iterable[str] = tuple(TRACKED_DIMENSIONS)) -> dict[str, int]:
    """Rebuild the history table of each given dimension that has one (others are ignored) from all its snapshots
    in the lake, inside the caller's transaction; returns the rows (versions) per history table. Snapshot files are
    checked against their checksums first; one that cannot be read is named (CorruptLakeFileError)."""
    rows = {}
    for dimension in (d for d in dimensions if d in TRACKED_DIMENSIONS):
        files = snapshot_files(lake, dimension)
        lake.verify_before_load([f.path for f in files])
        table = identifier(history_table(dimension))
        try:
            con.execute(f"CREATE OR REPLACE TABLE {table} ({duckdb_columns(history_schema(dimension))})")
            if files:
                _insert_versions(con, dimension, timeline(files))
        except (duckdb.InvalidInputException, duckdb.IOException) as error:
            raise lake.explain_read_failure([f.path for f in files], error) from None
        rows[history_table(dimension)] = con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
    return rows


def create_history_tables(con: duckdb.DuckDBPyConnection) -> None:
    """The history tables, empty, where they do not exist yet (a warehouse before its first load of a source)."""
    for dimension in TRACKED_DIMENSIONS:
        con.execute(f"CREATE TABLE IF NOT EXISTS {identifier(history_table(dimension))} "
                    f"({duckdb_columns(history_schema(dimension))})")


def _insert_versions(con: duckdb.DuckDBPyConnection, dimension: str, line: Timeline) -> None:
    """Insert the versions of `dimension` that the snapshots of `line` show (the table is empty).

    Joins and aggregates over integers, not window functions over each entity's dates nor aggregates of structs:
    at 100,000 pins x 8 snapshots those took several times as long. Consecutive states are compared by a 64-bit
    hash of the tracked attributes (two different values hashing alike on consecutive dates: about 1 in 10**19)."""
    schema = TRACKED_DIMENSIONS[dimension]
    keys = [identifier(k) for k in DIMENSION_KEYS[dimension]]
    tracked = [identifier(f.name) for f in schema
               if f.name not in UNTRACKED_COLUMNS and f.name not in DIMENSION_KEYS[dimension]]
    typed = ", ".join(f"CAST(r.{identifier(f.name)} AS {_sql_type(f)}) AS {identifier(f.name)}" for f in schema if f.name not in UNTRACKED_COLUMNS)

    def same_entity(other: str, this: str) -> str:
        return " AND ".join(f"{other}.{k} = {this}.{k}" for k in keys)

    stand_ins = pa.table({"file_index": pa.array([f for f, _ in line.stand_ins], pa.uint64()),
                          "date_index": [d for _, d in line.stand_ins]})
    con.register("_history_stand_ins", stand_ins)
    read = "read_parquet($paths, union_by_name = true, hive_partitioning = false, file_row_number = true)"
    try:
        con.execute(f"""
            INSERT INTO {identifier(history_table(dimension))} BY NAME
            WITH
            -- The dimension as the latest-state rule saw it on each snapshot date: per entity, the row of the newest
            -- extraction among the files standing for the identities on that date. `seen` orders rows by extraction
            -- time, then file and row (so that ties resolve alike every time), and names the row in its low bits.
            state AS MATERIALIZED (
                SELECT {', '.join(f'r.{k}' for k in keys)}, s.date_index,
                       max(seen) AS seen, arg_max(hash({', '.join(f'r.{c}' for c in tracked)}), seen) AS digest
                FROM {read} r JOIN _history_stand_ins s ON s.file_index = r.file_index,
                     LATERAL (SELECT (coalesce(epoch_us(r.extracted_at), 0)::HUGEINT << 64)
                                     | (r.file_index::HUGEINT << 32) | r.file_row_number AS seen)
                GROUP BY ALL
            ),
            -- A version starts where the entity was not listed on the date before, or listed otherwise; it ends
            -- where it is not listed alike on the date after.
            firsts AS (
                SELECT a.* FROM state a ANTI JOIN state b
                ON {same_entity('b', 'a')} AND b.date_index = a.date_index - 1 AND b.digest = a.digest
            ),
            lasts AS (
                SELECT a.* FROM state a ANTI JOIN state b
                ON {same_entity('b', 'a')} AND b.date_index = a.date_index + 1 AND b.digest = a.digest
            ),
            versions AS (
                SELECT f.*, l.date_index AS last_index,
                       ((f.seen >> 32) & {(1 << 32) - 1})::UBIGINT AS file_index,
                       (f.seen & {(1 << 32) - 1})::BIGINT AS row
                FROM firsts f ASOF JOIN lasts l
                ON {same_entity('l', 'f')} AND l.digest = f.digest AND l.date_index >= f.date_index
            )
            SELECT {typed},
                   $dates[v.date_index + 1] AS valid_from,
                   $dates[v.last_index + 2] AS valid_to,
                   v.last_index = $last_index AS is_current
            FROM {read} r JOIN versions v ON v.file_index = r.file_index AND v.row = r.file_row_number
            ORDER BY {', '.join(f'r.{k}' for k in keys)}, v.date_index
        """, {"paths": line.paths, "dates": line.dates, "last_index": len(line.dates) - 1})
    finally:
        con.unregister("_history_stand_ins")


def _sql_type(field: pa.Field) -> str:
    return duckdb_columns(pa.schema([field])).split(" ", 1)[1]
