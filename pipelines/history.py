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
previous one: its entities' versions go on.

Every load makes the tables what a build from all the snapshots would make, but reads only what it must: the table
`history_snapshot_files` records the files each history was built from, and a load rebuilds from the newest
snapshot date up to which those files are all still there, unchanged, and no file was added: the versions open on
that date go on, later ones are replaced. A daily run thus reads one snapshot per identity and the new ones; a lake
changed before that date (a snapshot dated in the past, a file rewritten or removed) rebuilds the whole history.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable
from pathlib import Path

import duckdb
import pyarrow as pa

from pipelines.ads.dimensions import SCHEMAS as ADS_DIMENSIONS
from pipelines.lake import Lake, checksum_path, identity_of, snapshot_date_of
from pipelines.organic.dimensions import BOARDS, PINS
from pipelines.quality import DIMENSION_KEYS
from pipelines.sql_text import identifier
from pipelines.tables import duckdb_columns

# The dimensions with a history table, each with its snapshot schema.
TRACKED_DIMENSIONS = {**ADS_DIMENSIONS, "boards": BOARDS, "pins": PINS}
# Columns that differ in every snapshot by nature: a change in them is no new version, and they are left out.
UNTRACKED_COLUMNS = ("extracted_at",)
VALIDITY = pa.schema([("valid_from", pa.date32()), ("valid_to", pa.date32()), ("is_current", pa.bool_())])
BUILT_FROM = "history_snapshot_files"
BUILT_FROM_SCHEMA = pa.schema([("dimension", pa.string()), ("snapshot_date", pa.date32()), ("path", pa.string()),
                               ("fingerprint", pa.string())])


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
    fingerprint: str = ""  # changes whenever the file is replaced (its recorded SHA-256, size and mtime)


@dataclasses.dataclass(frozen=True)
class Timeline:
    """A dimension's snapshot files (`paths`), its snapshot dates (every identity's, oldest first) and, for each
    date, the file standing for each identity on it (`stand_ins`: (index into `paths`, index into `dates`)): the
    identity's snapshot of that date, else its newest before; none before its first."""

    paths: list[str]
    dates: list[dt.date]
    stand_ins: list[tuple[int, int]]


def timeline(files: Iterable[SnapshotFile], since: dt.date | None = None) -> Timeline:
    """The Timeline of a dimension's snapshot files, from the date `since` on (None: from the first): the files
    standing for the identities on that date are their newest up to it."""
    files = sorted(files, key=lambda f: (f.date, f.identity))
    by_date: dict[dt.date, list[int]] = {}
    for index, file in enumerate(files):
        by_date.setdefault(file.date, []).append(index)
    dates = [d for d in sorted(by_date) if since is None or d >= since]
    standing: dict[str, int] = {}
    for date in (d for d in sorted(by_date) if since is not None and d < since):
        standing.update({files[i].identity: i for i in by_date[date]})
    paths: dict[int, int] = {}  # index into `files` -> index into the Timeline's paths
    stand_ins: list[tuple[int, int]] = []
    for date_index, date in enumerate(dates):
        standing.update({files[i].identity: i for i in by_date[date]})
        stand_ins += [(paths.setdefault(i, len(paths)), date_index) for i in standing.values()]
    return Timeline([str(files[i].path) for i in paths], dates, stand_ins)


def snapshot_files(lake: Lake, dimension: str) -> list[SnapshotFile]:
    """Every dated snapshot of a dimension in the lake, with its identity (once legacy snapshots, named after an
    account, are split per identity: Lake.adopt_legacy_snapshots)."""
    found = []
    for path in lake.snapshots(dimension):
        found.append(SnapshotFile(path, identity_of(path), snapshot_date_of(path), _fingerprint(path)))
    return found


def _fingerprint(path: Path) -> str:
    try:
        recorded = checksum_path(path).read_text().split()[:1]
    except FileNotFoundError:
        recorded = []  # written before checksums were kept
    stat = path.stat()
    return ":".join([*recorded, str(stat.st_size), str(stat.st_mtime_ns)])


def _same_files(files: list[SnapshotFile], built: list[SnapshotFile]) -> bool:
    return {(str(f.path), f.fingerprint) for f in files} == {(str(f.path), f.fingerprint) for f in built}


def resume_date(files: list[SnapshotFile], built: list[SnapshotFile]) -> dt.date | None:
    """The newest snapshot date up to which the lake's files are exactly those the history was `built` from
    (the same paths, unchanged), or None: then the whole history is built again."""
    def by_date(snapshots: list[SnapshotFile]) -> dict[dt.date, set[tuple[str, str]]]:
        grouped: dict[dt.date, set[tuple[str, str]]] = {}
        for file in snapshots:
            grouped.setdefault(file.date, set()).add((str(file.path), file.fingerprint))
        return grouped

    now, before = by_date(files), by_date(built)
    resumed = None
    for date in sorted(now.keys() | before.keys()):
        if now.get(date) != before.get(date):
            break
        resumed = date
    return resumed


def replace_history(con: duckdb.DuckDBPyConnection, lake: Lake,
                    dimensions: Iterable[str] = tuple(TRACKED_DIMENSIONS)) -> dict[str, int]:
    """Make the history table of each given dimension that has one (others are ignored) what all its snapshots in
    the lake show, inside the caller's transaction, reading only the snapshots from the date it resumes at
    (module docstring); returns the rows (versions) per history table. The files read are checked against their
    checksums first; one that cannot be read is named (CorruptLakeFileError)."""
    create_history_tables(con)
    lake.adopt_legacy_snapshots()  # as the latest-state reader does
    rows = {}
    for dimension in (d for d in dimensions if d in TRACKED_DIMENSIONS):
        files, built = snapshot_files(lake, dimension), _built_from(con, lake, dimension)
        if not files or not _same_files(files, built):
            _build_since(con, lake, dimension, files, resume_date(files, built))
            _record_built_from(con, lake, dimension, files)
        table = identifier(history_table(dimension))
        rows[history_table(dimension)] = con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
    return rows


def _build_since(con: duckdb.DuckDBPyConnection, lake: Lake, dimension: str, files: list[SnapshotFile],
                 since: dt.date | None) -> None:
    """The history of `dimension` from the snapshot date `since` on (None: all of it) from the lake's `files`."""
    line = timeline(files, since)
    paths = [Path(p) for p in line.paths]
    lake.verify_before_load(paths)
    try:
        if since is None:
            con.execute(f"DELETE FROM {identifier(history_table(dimension))}")
        if line.dates:
            _insert_versions(con, dimension, line)
    except (duckdb.InvalidInputException, duckdb.IOException) as error:
        raise lake.explain_read_failure(paths, error) from None


def create_history_tables(con: duckdb.DuckDBPyConnection) -> None:
    """The history tables and history_snapshot_files, empty, where they do not exist yet. A history table of
    other columns (an earlier version's) is made anew, empty, and forgets what it was built from: the next
    load builds it whole."""
    con.execute(f"CREATE TABLE IF NOT EXISTS {BUILT_FROM} ({duckdb_columns(BUILT_FROM_SCHEMA)})")
    for dimension in TRACKED_DIMENSIONS:
        table, schema = history_table(dimension), history_schema(dimension)
        present = [r[0] for r in con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE database_name = current_database() AND schema_name = 'main' "
            "AND table_name = ? ORDER BY column_index", [table]).fetchall()]
        if present != schema.names:
            con.execute(f"CREATE OR REPLACE TABLE {identifier(table)} ({duckdb_columns(schema)})")
            con.execute(f"DELETE FROM {BUILT_FROM} WHERE dimension = ?", [dimension])


def _built_from(con: duckdb.DuckDBPyConnection, lake: Lake, dimension: str) -> list[SnapshotFile]:
    """The snapshot files the dimension's history was last built from (paths are kept relative to the lake)."""
    rows = con.execute(f"SELECT path, snapshot_date, fingerprint FROM {BUILT_FROM} WHERE dimension = ?",
                       [dimension]).fetchall()
    return [SnapshotFile(lake.root / path, "", date, fingerprint) for path, date, fingerprint in rows]


def _record_built_from(con: duckdb.DuckDBPyConnection, lake: Lake, dimension: str, files: list[SnapshotFile]) -> None:
    con.execute(f"DELETE FROM {BUILT_FROM} WHERE dimension = ?", [dimension])
    built = pa.table({"dimension": [dimension] * len(files), "snapshot_date": [f.date for f in files],
                      "path": [str(f.path.relative_to(lake.root)) for f in files],
                      "fingerprint": [f.fingerprint for f in files]}, schema=BUILT_FROM_SCHEMA)
    con.register("_history_built_from", built)
    try:
        con.execute(f"INSERT INTO {BUILT_FROM} SELECT * FROM _history_built_from")
    finally:
        con.unregister("_history_built_from")


def _insert_versions(con: duckdb.DuckDBPyConnection, dimension: str, line: Timeline) -> None:
    """Replace the versions of `dimension` from the first date of `line` on by those its snapshots show; the
    versions open on that date go on (keeping their valid_from), those closed before it stay.

    Joins and aggregates over integers, not window functions over each entity's dates nor aggregates of structs:
    at 100,000 pins x 8 snapshots those took several times as long. Consecutive states are compared by a 64-bit
    hash of the tracked attributes (two different values hashing alike on consecutive dates: about 1 in 10**19)."""
    schema = TRACKED_DIMENSIONS[dimension]
    keys = [identifier(k) for k in DIMENSION_KEYS[dimension]]
    tracked = [identifier(f.name) for f in schema
               if f.name not in UNTRACKED_COLUMNS and f.name not in DIMENSION_KEYS[dimension]]
    typed = ", ".join(f"CAST(r.{identifier(f.name)} AS {_sql_type(f)}) AS {identifier(f.name)}"
                      for f in schema if f.name not in UNTRACKED_COLUMNS)

    def same_entity(other: str, this: str) -> str:
        return " AND ".join(f"{other}.{k} = {this}.{k}" for k in keys)

    stand_ins = pa.table({"file_index": pa.array([f for f, _ in line.stand_ins], pa.uint64()),
                          "date_index": [d for _, d in line.stand_ins]})
    table = identifier(history_table(dimension))
    con.register("_history_stand_ins", stand_ins)
    read = "read_parquet($paths, union_by_name = true, hive_partitioning = false, file_row_number = true)"
    try:
        # The versions that include the first date: they go on, in the rows that replace them.
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE _history_open AS
            SELECT {', '.join(keys)}, valid_from FROM {table}
            WHERE valid_from <= $first AND (valid_to IS NULL OR valid_to > $first)""", {"first": line.dates[0]})
        con.execute(f"DELETE FROM {table} WHERE valid_to IS NULL OR valid_to > ?", [line.dates[0]])
        con.execute(f"""
            INSERT INTO {table} BY NAME
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
                   CASE WHEN v.date_index = 0 THEN coalesce(o.valid_from, $dates[1])
                        ELSE $dates[v.date_index + 1] END AS valid_from,
                   $dates[v.last_index + 2] AS valid_to,
                   v.last_index = $last_index AS is_current
            FROM {read} r JOIN versions v ON v.file_index = r.file_index AND v.row = r.file_row_number
            LEFT JOIN _history_open o ON {same_entity('o', 'r')}
            ORDER BY {', '.join(f'r.{k}' for k in keys)}, v.date_index
        """, {"paths": line.paths, "dates": line.dates, "last_index": len(line.dates) - 1})
    finally:
        con.unregister("_history_stand_ins")
        con.execute("DROP TABLE IF EXISTS _history_open")


def _sql_type(field: pa.Field) -> str:
    return duckdb_columns(pa.schema([field])).split(" ", 1)[1]
