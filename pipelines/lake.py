"""The Parquet lake: `lake/<table>/date=YYYY-MM-DD/<source>.parquet`, each file replaced atomically.

A source ("organic", "ads") owns its file in every date folder, so loading one never touches the
other's rows. Readers see, for every date, either the whole old file or the whole new one.
Dimensions are kept as dated snapshots: `lake/<table>/snapshot_date=YYYY-MM-DD/<table>.parquet`.
With several Pinterest accounts (pipelines/accounts.py) each account owns its own files beside the others':
`<source>.<account>.parquet` and `<table>.<account>.parquet`.

Every file has a hidden checksum file beside it, `.<name>.parquet.sha256`: the SHA-256 of the file's bytes
and of the versions it replaced (so a crash between the two renames leaves them consistent). A file changed
after it was written (a flipped bit, a truncation) is found by `check_file`, by `pinterest-etl verify`
and before every warehouse load, not loaded silently.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import hashlib
import os
import re
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.atomic_files import temporary_path, write_error
from pipelines.faults import LAKE_BETWEEN_RENAMES, LAKE_FILE_WRITTEN, crash_point


class CorruptLakeFileError(Exception):
    """A lake file is not what was written (checksum mismatch, unreadable Parquet); the message names it
    and says how to rebuild it."""


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
        tmp, digest = _write_temporary(con, select_sql, params or [], target)
        crash_point(LAKE_FILE_WRITTEN)
        return StagedFile(tmp, target, digest)

    def stage_rows(self, table: str, date: dt.date, source: str, rows: pa.Table) -> StagedFile:
        """As `stage`, for rows already in memory: written by pyarrow (about 3 times faster than DuckDB's COPY)."""
        target = self.path(table, date, source)
        tmp, digest = _write_temporary(None, "", [], target, rows)
        crash_point(LAKE_FILE_WRITTEN)
        return StagedFile(tmp, target, digest)

    @staticmethod
    def commit(staged: list[StagedFile]) -> None:
        """Put staged files in place (each rename is atomic), after every one of them was written. A crash
        part-way leaves some dates new and the others old, each file whole; re-running the range repairs it."""
        for number, file in enumerate(staged):
            _put_in_place(file, crash_point_before_rename=number > 0)

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

    def all_files(self) -> list[Path]:
        """Every Parquet file of the lake (what readers see: temporaries are hidden)."""
        return sorted(self.root.rglob("*.parquet")) if self.root.exists() else []

    @staticmethod
    def check_file(path: Path, full: bool = True) -> str | None:
        """What is wrong with a lake file, or None: its bytes against its checksum file, then (`full`) its
        Parquet footer and every row group decoded, the rows counted against the footer's."""
        expected = _recorded_checksums(path)
        try:
            if expected and _sha256(path) not in expected:
                return "its content does not match the checksum recorded when it was written (changed on disk since)"
            if full:
                parquet = pq.ParquetFile(path)
                rows = sum(parquet.read_row_group(i).num_rows for i in range(parquet.num_row_groups))
                if rows != parquet.metadata.num_rows:
                    return f"{rows} rows readable, the footer says {parquet.metadata.num_rows}"
        except (OSError, ValueError, pa.ArrowException) as error:
            return f"not a readable Parquet file ({' '.join(str(error).split())})"
        return None

    def verify_before_load(self, paths: list[Path]) -> None:
        """Raise CorruptLakeFileError for the first file whose bytes differ from its recorded checksum."""
        for path in paths:
            problem = self.check_file(path, full=False)
            if problem:
                raise self.corrupt_file_error(path, problem)

    def explain_read_failure(self, paths: list[Path], error: Exception) -> Exception:
        """The error to show when reading `paths` failed: a CorruptLakeFileError naming the bad file when one
        is found, else `error` itself."""
        for path in paths:
            problem = self.check_file(path)
            if problem:
                return self.corrupt_file_error(path, problem)
        return error

    def corrupt_file_error(self, path: Path, problem: str) -> CorruptLakeFileError:
        date = re.search(r"date=(\d{4}-\d{2}-\d{2})", str(path.relative_to(self.root)) if path.is_relative_to(self.root) else "")
        if date and "snapshot_date=" not in str(path):
            source = path.name.split(".")[0]
            fix = (f"rebuild it from the raw zone (no API calls): "
                   f"`pinterest-etl run --from-raw --only {source} --start {date.group(1)} --end {date.group(1)}`")
        else:
            fix = "move it aside: the next `pinterest-etl run` writes a new snapshot"
        return CorruptLakeFileError(f"lake file {path} is corrupt: {problem}; {fix}")


@dataclasses.dataclass(frozen=True)
class StagedFile:
    tmp: Path
    target: Path
    sha256: str = ""


def checksum_path(path: Path) -> Path:
    """The hidden file beside a lake file holding its SHA-256 (and the replaced version's)."""
    return path.parent / f".{path.name}.sha256"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _recorded_checksums(path: Path) -> list[str]:
    try:
        return checksum_path(path).read_text().split()
    except FileNotFoundError:
        return []  # written before checksums were kept: only the Parquet checks apply


def _put_in_place(file: StagedFile, crash_point_before_rename: bool = False) -> None:
    """Record the new checksum, then rename the file over its target. The checksum file keeps the two
    previous versions' too: whichever file a crash leaves in place (even after two crashes) still matches."""
    sums = checksum_path(file.target)
    recorded = [file.sha256 or _sha256(file.tmp), *_recorded_checksums(file.target)[:2]]
    tmp = temporary_path(sums)
    try:
        tmp.write_text("\n".join(recorded) + "\n")
        os.replace(tmp, sums)
        if crash_point_before_rename:
            crash_point(LAKE_BETWEEN_RENAMES)
        os.replace(file.tmp, file.target)
    except OSError as error:
        _remove(tmp)
        raise write_error(file.target, error, "Files already in place are whole; re-run the range once fixed.") \
            or error from None


def _write_temporary(con: duckdb.DuckDBPyConnection | None, select_sql: str, params: list, target: Path,
                     rows: pa.Table | None = None) -> tuple[Path, str]:
    """COPY (or, given `rows`, pyarrow's writer) to a temporary file beside the target and flush it to disk; on
    failure nothing is left. Returns the temporary and the SHA-256 of its bytes."""
    tmp = temporary_path(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        if rows is None:
            # The path is a parameter (after those of `select_sql`): any character may be in it, quotes included.
            con.execute(f"COPY ({select_sql}) TO ? (FORMAT PARQUET, COMPRESSION ZSTD)", [*params, str(tmp)])
        else:
            pq.write_table(rows, tmp, compression="zstd")
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        digest = _sha256(tmp)
    except BaseException as error:
        _remove(tmp)
        failure = write_error(target, error, "Nothing was replaced: the lake keeps its previous files.")
        if failure:
            raise failure from None
        raise
    return tmp, digest


def _remove(path: Path) -> None:
    with contextlib.suppress(OSError):  # also when the folder itself could not be made
        path.unlink(missing_ok=True)


def _write_atomically(con: duckdb.DuckDBPyConnection, select_sql: str, params: list, target: Path) -> Path:
    """A temporary file beside the target, renamed over it once complete."""
    tmp, digest = _write_temporary(con, select_sql, params, target)
    _put_in_place(StagedFile(tmp, target, digest))
    return target
