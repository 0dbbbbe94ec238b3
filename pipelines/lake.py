"""The Parquet lake: `lake/<table>/date=YYYY-MM-DD/<source>.parquet`, each file replaced atomically.

A source ("organic", "ads") owns its file in every date folder, so loading one never touches the
other's rows. Readers see, for every date, either the whole old file or the whole new one.
Dimensions are kept as dated snapshots: `lake/<table>/snapshot_date=YYYY-MM-DD/<table>.parquet`.
With several Pinterest accounts (pipelines/accounts.py) each account owns its own files beside the others':
`<source>.<account>.parquet` and `<table>.<account>.parquet`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import uuid
from pathlib import Path

import duckdb


class Lake:
    def __init__(self, root: Path):
        self.root = Path(root)

    def path(self, table: str, date: dt.date, source: str) -> Path:
        return self.root / table / f"date={date.isoformat()}" / f"{source}.parquet"

    def snapshot_path(self, table: str, snapshot_date: dt.date, name: str | None = None) -> Path:
        """`name`: the file's stem, the table's name unless an account's (`pins.brand-a`)."""
        return self.root / table / f"snapshot_date={snapshot_date.isoformat()}" / f"{name or table}.parquet"

    def stage(self, con: duckdb.DuckDBPyConnection, table: str, date: dt.date, source: str, select_sql: str,
              params: list | None = None) -> StagedFile:
        """Write the rows of `select_sql` beside the date's file of `source`, to be put in place by `commit`."""
        target = self.path(table, date, source)
        return StagedFile(_write_temporary(con, select_sql, params or [], target), target)

    @staticmethod
    def commit(staged: list[StagedFile]) -> None:
        """Put staged files in place (each rename is atomic), after every one of them was written."""
        for file in staged:
            os.replace(file.tmp, file.target)

    @staticmethod
    def discard(staged: list[StagedFile]) -> None:
        for file in staged:
            file.tmp.unlink(missing_ok=True)

    def snapshot(self, con: duckdb.DuckDBPyConnection, table: str, snapshot_date: dt.date, select_sql: str,
                 name: str | None = None) -> Path:
        """Write the rows of `select_sql` as the day's snapshot of a dimension (the day's last one wins)."""
        return _write_atomically(con, select_sql, [], self.snapshot_path(table, snapshot_date, name))

    def latest_snapshot(self, table: str, name: str | None = None) -> Path | None:
        """The newest snapshot file of a dimension (of one account's files: `name`), or None if there is none yet."""
        snapshots = sorted((self.root / table).glob(f"snapshot_date=*/{name or table}.parquet"))
        return snapshots[-1] if snapshots else None

    def latest_snapshots(self, table: str) -> list[Path]:
        """The newest snapshot of every account that ever had one (the dimension's latest state is their union)."""
        newest: dict[str, Path] = {}
        for path in sorted((self.root / table).glob("snapshot_date=*/*.parquet")):
            newest[path.name] = path
        return sorted(newest.values())

    def files(self, table: str, dates: list[dt.date], source: str) -> list[Path]:
        """The existing files of `source` for those dates, every account's (`organic.parquet`, `organic.<account>.parquet`)."""
        found = []
        for date in dates:
            folder = self.path(table, date, source).parent
            found += sorted([*folder.glob(f"{source}.parquet"), *folder.glob(f"{source}.*.parquet")])
        return found


@dataclasses.dataclass(frozen=True)
class StagedFile:
    tmp: Path
    target: Path


def _write_temporary(con: duckdb.DuckDBPyConnection, select_sql: str, params: list, target: Path) -> Path:
    """COPY to a temporary file beside the target and flush it to disk; on failure nothing is left."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.stem}.{uuid.uuid4().hex[:12]}.parquet.tmp"
    try:
        con.execute(f"COPY ({select_sql}) TO '{tmp}' (FORMAT PARQUET, COMPRESSION ZSTD)", params)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def _write_atomically(con: duckdb.DuckDBPyConnection, select_sql: str, params: list, target: Path) -> Path:
    """A temporary file beside the target, renamed over it once complete."""
    os.replace(_write_temporary(con, select_sql, params, target), target)
    return target
