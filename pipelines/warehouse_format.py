"""The warehouse's storage format: one DuckDB 1.1 and newer can open, and the conversion of a file in a newer one.

DuckDB writes a new database file in the newest storage format unless told otherwise, and keeps the format of an
existing file. A file in the 2.x format cannot be opened by DuckDB 1.x (BI tools and CLIs lag behind), so the
warehouse is created with `storage_compatibility_version` v1.1.0, and a warehouse an earlier version of the
pipeline wrote in a newer format is copied into a new file of that format, which then replaces it in one rename:
until the rename the old file is untouched, after it the new one is whole.
"""

from __future__ import annotations

import glob
import logging
import os
import struct
from pathlib import Path

import duckdb

from pipelines.atomic_files import temporary_path
from pipelines.faults import WAREHOUSE_CONVERTED_NOT_RENAMED, crash_point
from pipelines.sql_text import identifier, literal

# The oldest DuckDB that opens the warehouse, as DuckDB's storage_compatibility_version / STORAGE_VERSION names it.
STORAGE_VERSION = "v1.1.0"
OLDEST_READER = "1.1"
# The storage version number in the file header: DuckDB 0.10 to 1.1 write (and read) 64; 1.2 writes 65, 1.3 66,
# 1.4 67, 1.5 68, 2.0 999. A file with a larger number is unreadable by DuckDB 1.1.
READABLE_STORAGE_NUMBER = 64
_HEADER = struct.Struct("<8x4sQ")  # checksum, b"DUCK", storage version number
_CONVERTED = "converted_warehouse"

log = logging.getLogger(__name__)


class WarehouseConversionError(RuntimeError):
    """The converted copy of the warehouse lacks something of the original; the original was kept as it was."""


def storage_number(path: Path) -> int | None:
    """The storage version number in a DuckDB file's header; None when the file is absent or not a DuckDB file."""
    try:
        with open(path, "rb") as file:
            header = file.read(_HEADER.size)
    except FileNotFoundError:
        return None
    if len(header) < _HEADER.size:
        return None
    magic, number = _HEADER.unpack(header)
    return number if magic == b"DUCK" else None


def needs_conversion(path: Path) -> bool:
    """Whether the DuckDB file at `path` is in a storage format DuckDB 1.1 cannot read. Ask before this process
    opens the file with DuckDB: reading the header closes a descriptor of the file, which drops DuckDB's lock on it."""
    number = storage_number(path)
    return number is not None and number > READABLE_STORAGE_NUMBER


def convert(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """Rewrite the warehouse `con` holds open (read-write, so no other process has it) in STORAGE_VERSION: every
    table with its rows, every view and every comment is copied into a new file beside it, the copy's row counts
    are checked, and the new file replaces the old one in one rename. Closes `con` (it still points at the old
    file). Whatever fails or crashes before the rename leaves the old file as it was."""
    source = con.execute("SELECT current_database()").fetchone()[0]
    con.execute("CHECKPOINT")  # the old file is whole without its WAL, which must not outlive it
    remove_leftovers(path)
    target = temporary_path(path)
    log.info("converting the warehouse %s to the storage format of DuckDB %s and newer (once, from its own rows)",
             path, OLDEST_READER)
    try:
        con.execute(f"ATTACH {literal(str(target))} AS {_CONVERTED} (STORAGE_VERSION {literal(STORAGE_VERSION)})")
        con.execute(f"COPY FROM DATABASE {identifier(source)} TO {_CONVERTED}")
        _check_copy(con, source)
        con.execute(f"DETACH {_CONVERTED}")  # checkpoints and syncs the copy
        crash_point(WAREHOUSE_CONVERTED_NOT_RENAMED)
        os.replace(target, path)
        _sync_directory(path.parent)
    except BaseException:
        con.close()
        remove_leftovers(path)
        raise
    con.close()


def remove_leftovers(path: Path) -> None:
    """Remove copies (and their WAL files) a conversion of `path` that crashed left beside it. Only the process
    that holds the warehouse open read-write converts it, so no other conversion is under way."""
    for suffix in (".tmp", ".tmp.wal"):  # atomic_files.temporary_path's names, and DuckDB's WAL beside one
        for leftover in path.parent.glob(f".{glob.escape(path.name)}.*{suffix}"):
            leftover.unlink(missing_ok=True)


def _check_copy(con: duckdb.DuckDBPyConnection, source: str) -> None:
    """The copy has the same tables and views, and each table the same number of rows, or nothing is replaced."""
    def catalog(database: str) -> dict[str, int | None]:
        relations = con.execute("SELECT table_name, table_type FROM information_schema.tables "
                                "WHERE table_catalog = ? AND table_schema = 'main' ORDER BY 1", [database]).fetchall()
        return {name: (con.execute(f"SELECT count(*) FROM {identifier(database)}.main.{identifier(name)}").fetchone()[0]
                       if kind == "BASE TABLE" else None) for name, kind in relations}

    before, after = catalog(source), catalog(_CONVERTED)
    if before != after:
        differing = sorted(name for name in before.keys() | after.keys() if before.get(name) != after.get(name))
        raise WarehouseConversionError(f"the converted copy of the warehouse differs in {', '.join(differing)}; the warehouse "
                           "was left as it was")


def _sync_directory(directory: Path) -> None:
    """Make a rename in `directory` durable."""
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
