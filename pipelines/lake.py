"""The Parquet lake: `lake/<table>/date=YYYY-MM-DD/<source>.<identity>.parquet`, each file replaced atomically.

Fact files are of the wide tables of pipelines/catalog.py (`pin_daily`, `campaign_daily`, ...): one row per entity
per UTC day per split bucket, content type or attribution setting, one typed column per metric, sorted by id
(pipelines/wide.py). Lakes of the earlier long layout (`metric_daily/`, `daily_status/`: one row per metric value)
are converted in place by `convert_long_layout`, which every normalization and load calls first.

A file belongs to one source ("organic", "ads") and one stable Pinterest identity: `user=<user id>` for organic
data, `ad_account=<ad account id>` for ads data. Loading one never touches another's rows, and the name an
accounts file gives a login plays no part: renaming an account, moving an ad account to another login, or
several logins seeing one ad account still write the same file. Readers see, for every date, either the whole
old file or the whole new one. Dimensions are kept as dated snapshots, one per identity:
`lake/<table>/snapshot_date=YYYY-MM-DD/<table>.<identity>.parquet`; their latest state is the newest snapshot
of every identity. `lake/_accounts/<account>.<source>.json` records which identities an account's last
extraction covered (what its next extraction reads).

Lakes written before (files named after the account: `<source>.parquet`, `<source>.<account>.parquet`, and
snapshots likewise) keep working without a double count. A legacy fact file loses, when its date is written
again, every key an identity's file now holds (it is removed once empty), in the same commit; legacy
snapshots are split by identity into snapshots of the same day, then removed, before any snapshot is read.

Every file has a hidden checksum file beside it, `.<name>.parquet.sha256`: the SHA-256 of the file's bytes
and of the versions it replaced (so a crash between the two renames leaves them consistent). A file changed
after it was written (a flipped bit, a truncation) is found by `check_file`, by `pinterest-etl verify`
and before every warehouse load, not loaded silently.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import datetime as dt
import errno
import fcntl
import hashlib
import json
import os
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipelines import catalog, wide
from pipelines.atomic_files import temporary_path, write_error
from pipelines.faults import LAKE_BETWEEN_RENAMES, LAKE_FILE_WRITTEN, crash_point
from pipelines.tables import DAILY_STATUS, METRIC_DAILY, UNFILTERED_CONTENT


class CorruptLakeFileError(Exception):
    """A lake file is not what was written (checksum mismatch, unreadable Parquet); the message names it
    and says how to rebuild it."""


USER, AD_ACCOUNT = "user", "ad_account"
# Key columns the long fact tables gained after lakes were written without them, each with the value every row of such a
# file means (`content_type`: those answers were fetched without it, so with the API's default, ALL), and the column
# it follows.
ADDED_FACT_COLUMNS = {"content_type": (UNFILTERED_CONTENT, "split_value")}
# Files flushed to disk at once before a commit's renames (see `_flush`).
_FLUSHING_THREADS = 16
# Lake files written at once by a RowStager (the machine's cores, at most 4), and how many may wait for a thread, and
# how many bytes of rows all of them may hold (large files then go nearly one by one: memory stays as it was).
_STAGING_THREADS = min(4, os.cpu_count() or 1)
_STAGING_IN_FLIGHT = 2 * _STAGING_THREADS
_STAGING_BYTES_IN_FLIGHT = 32 * 2**20
# ZSTD costs about 1.7 ms more CPU per file than Snappy whatever its size (pyarrow sets it up per column chunk), and
# saves under 10 % of a file below 100 rows (a small account's ads date: 24 rows, 8.8 KB either way) against 20-40 %
# from a few hundred rows on. A backfill of a small account writes hundreds of such files.
_ZSTD_FROM_ROWS = 100
_IDENTITY = re.compile(r"(user|ad_account)=[0-9]{1,30}")
_PINTEREST_ID = re.compile(r"[0-9]{1,30}")


class StraySnapshotFolderError(CorruptLakeFileError):
    """A folder among a dimension's snapshots that is not named `snapshot_date=YYYY-MM-DD` (a copy or a backup put
    there by hand): which snapshot is the newest cannot be told, so it is refused, naming it."""


_SNAPSHOT_FOLDER = re.compile(r"snapshot_date=(\d{4}-\d{2}-\d{2})")


def snapshot_date_of(path: Path) -> dt.date:
    """The date of a snapshot file, from its folder's name (StraySnapshotFolderError if that is not a date)."""
    match = _SNAPSHOT_FOLDER.fullmatch(path.parent.name)
    try:
        if match:
            return dt.date.fromisoformat(match.group(1))
    except ValueError:
        pass
    raise StraySnapshotFolderError(
        f"{path.parent} is not a snapshot folder of the lake (snapshot_date=YYYY-MM-DD), so the newest snapshot of "
        f"{path.parent.parent.name} cannot be told: the pipeline never writes such a folder; move it out of the lake "
        "(keep it elsewhere if it is a backup) and run again")


class LakeIdentityError(ValueError):
    """An id that cannot name a lake file (not a numeric Pinterest id), or a legacy file whose Pinterest identity
    cannot be told; the message names it."""


def identity(kind: str, pinterest_id: object) -> str:
    """The lake's name for a stable Pinterest identity: `user=<id>` or `ad_account=<id>`. Ids are validated as
    numeric before they become part of a file name."""
    text = str(pinterest_id)
    if kind not in (USER, AD_ACCOUNT) or not _PINTEREST_ID.fullmatch(text):
        raise LakeIdentityError(f"{kind} id {text[:40]!r} is not a numeric Pinterest id: no lake file is named after it")
    return f"{kind}={text}"


def keyed(base: str, key: str) -> str:
    """A file stem in the lake: the source or table, then the identity (`organic.user=123`)."""
    return f"{base}.{_checked_identity(key)}"


def _checked_identity(key: str) -> str:
    if not _IDENTITY.fullmatch(key):
        raise LakeIdentityError(f"{key[:60]!r} is not a lake identity (user=<id> or ad_account=<id>)")
    return key


def identity_of(path: Path) -> str | None:
    """The identity a lake file belongs to, or None for a file of the legacy layout (named after an account)."""
    _, _, rest = path.name.removesuffix(".parquet").partition(".")
    return rest if _IDENTITY.fullmatch(rest) else None


class Lake:
    def __init__(self, root: Path):
        self.root = Path(root)

    def path(self, table: str, date: dt.date, stem: str) -> Path:
        """`stem`: `keyed(source, identity)`, or a legacy file's stem."""
        return self.root / table / f"date={date.isoformat()}" / f"{stem}.parquet"

    def snapshot_path(self, table: str, snapshot_date: dt.date, key: str) -> Path:
        """The day's snapshot of a dimension for one identity (`pins.user=123`)."""
        return self.root / table / f"snapshot_date={snapshot_date.isoformat()}" / f"{keyed(table, key)}.parquet"

    def stage(self, con: duckdb.DuckDBPyConnection, table: str, date: dt.date, source: str, select_sql: str,
              params: list | None = None) -> StagedFile:
        """Write the rows of `select_sql` beside the date's file of `source`, to be put in place by `commit`."""
        staged = _write_temporary(con, select_sql, params or [], self.path(table, date, source))
        crash_point(LAKE_FILE_WRITTEN)
        return staged

    def stage_rows(self, table: str, date: dt.date, source: str, rows: pa.Table) -> StagedFile:
        """As `stage`, for rows already in memory: written by pyarrow (about 3 times faster than DuckDB's COPY)."""
        staged = _write_temporary(None, "", [], self.path(table, date, source), rows)
        crash_point(LAKE_FILE_WRITTEN)
        return staged

    def row_stager(self) -> RowStager:
        """A `stage_rows` that writes on threads while the caller prepares the next rows (`RowStager`)."""
        return RowStager(self)

    @staticmethod
    def commit(staged: list[StagedFile], retired: list[Path] = ()) -> None:
        """Put staged files in place (each rename is atomic), after every one of them was written and flushed to
        disk, then remove the `retired` files. A crash part-way leaves some dates new and the others old, each file whole;
        re-running the range repairs it."""
        _flush(staged)
        for number, file in enumerate(staged):
            _put_in_place(file, crash_point_before_rename=number > 0)
        for path in retired:
            _remove_in_place(path)

    def legacy_files(self, table: str, date: dt.date, source: str) -> list[Path]:
        """The date's files of `source` in the legacy layout (`organic.parquet`, `organic.<account>.parquet`)."""
        return [p for p in self.files(table, [date], source) if identity_of(p) is None]

    def stage_without_keys(self, path: Path, key_columns: list[str], covered: pa.Table) -> StagedFile | Path | None:
        """A legacy file without the rows whose key (`key_columns`) is in `covered`: a staged replacement, the
        file itself when nothing is left (to retire; an empty one too), or None when it holds none of those keys."""
        rows = pq.read_table(path)  # a wide file (long ones are converted first): nothing to add
        if not rows.num_rows:
            return path
        if not covered.num_rows:
            return None
        left = rows.join(covered.select(key_columns).group_by(key_columns).aggregate([]), key_columns,
                         join_type="left anti")
        if left.num_rows == rows.num_rows:
            return None
        if not left.num_rows:
            return path
        return _write_temporary(None, "", [], path, left.select(rows.column_names).cast(rows.schema))

    @staticmethod
    def discard(staged: list[StagedFile]) -> None:
        for file in staged:
            file.tmp.unlink(missing_ok=True)

    def snapshot(self, con: duckdb.DuckDBPyConnection, table: str, snapshot_date: dt.date, select_sql: str,
                 key: str) -> Path:
        """Write the rows of `select_sql` as the day's snapshot of a dimension for one identity (the day's last
        one wins)."""
        return _write_atomically(con, select_sql, [], self.snapshot_path(table, snapshot_date, key))

    def snapshot_rows(self, table: str, snapshot_date: dt.date, key: str, rows: pa.Table) -> Path:
        """As `snapshot`, for rows already in memory."""
        target = self.snapshot_path(table, snapshot_date, key)
        _put_flushed_in_place(_write_temporary(None, "", [], target, rows))
        return target

    def snapshots(self, table: str, name: str = "*.parquet") -> list[Path]:
        """The snapshot files of a dimension (all, or those matching `name`), oldest first; a folder that is not
        a snapshot date is refused (StraySnapshotFolderError)."""
        return sorted((self.root / table).glob(f"snapshot_date=*/{name}"), key=lambda p: (snapshot_date_of(p), p.name))

    def latest_snapshot(self, table: str, key: str) -> Path | None:
        """The newest snapshot file of a dimension for one identity, or None if there is none yet."""
        self.adopt_legacy_snapshots()
        snapshots = self.snapshots(table, f"{keyed(table, key)}.parquet")
        return snapshots[-1] if snapshots else None

    def latest_snapshots(self, table: str) -> list[Path]:
        """The newest snapshot of every identity that ever had one (the dimension's latest state is their union):
        renaming an account or moving an ad account between logins adds no second, stale one."""
        self.adopt_legacy_snapshots()
        newest: dict[str, Path] = {}
        for path in self.snapshots(table):
            newest[path.name] = path
        return sorted(newest.values())

    def adopt_legacy_snapshots(self) -> None:
        """Split every snapshot of the legacy layout (named after an account) into snapshots per identity of the
        same day, then remove it. Rows name their identity (`user_id`, `ad_account_id`); boards, pins and pin
        lifetimes belong to the user of their account's `user_accounts` snapshot (the one of that day, else the
        nearest before, else after). A snapshot of that day already kept per identity is newer and stays."""
        legacy = [p for p in self.root.glob("*/snapshot_date=*/*.parquet") if identity_of(p) is None]
        if not legacy:
            return
        users = _legacy_users([p for p in legacy if p.parent.parent.name == "user_accounts"])
        for path in sorted(legacy, key=lambda p: p.parent.parent.name == "user_accounts"):  # users last: others need them
            table, day = path.parent.parent.name, snapshot_date_of(path)
            rows = pq.read_table(path)
            for key, part in _split_by_identity(rows, path, users.get(_legacy_account(path), []), day):
                target = self.snapshot_path(table, day, key)
                if not target.exists():
                    self.snapshot_rows(table, day, key, part)
            _remove_in_place(path)

    def write_dimension_snapshots(self, account: str, source: str, snapshot_date: dt.date,
                                  tables_by_identity: dict[str, dict[str, pa.Table]]) -> None:
        """One extraction of an account's dimensions of `source`: each identity's tables as the day's snapshots
        (`snapshot_rows`), then those identities recorded as what the account's latest extraction covered
        (`record_account_identities`), so that an interrupted write leaves the previous record in place."""
        for key, tables in tables_by_identity.items():
            for table, rows in tables.items():
                self.snapshot_rows(table, snapshot_date, key, rows)
        self.record_account_identities(account, source, list(tables_by_identity))

    def record_account_identities(self, account: str, source: str, keys: list[str]) -> None:
        """Which identities account `account`'s latest extraction of `source` covered (replaced atomically)."""
        target = self._account_file(account, source)
        tmp = temporary_path(target)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps([_checked_identity(key) for key in keys]) + "\n")
            os.replace(tmp, target)
        except OSError as error:
            _remove(tmp)
            raise write_error(target, error, "The dimension snapshots are written; re-run to record them.") \
                or error from None

    def account_identities(self, account: str, source: str) -> list[str] | None:
        """The identities of `record_account_identities`, or None if the account's dimensions were never
        extracted (since this layout)."""
        try:
            return json.loads(self._account_file(account, source).read_text())
        except FileNotFoundError:
            return None

    def _account_file(self, account: str, source: str) -> Path:
        return self.root / "_accounts" / f"{account}.{source}.json"

    def files(self, table: str, dates: list[dt.date], source: str) -> list[Path]:
        """The existing files of `source` for those dates, every identity's (`organic.user=<id>.parquet`) and
        those of the legacy layout (`organic.parquet`, `organic.<account>.parquet`), which hold no key an
        identity's file of the same date holds."""
        found, prefix = [], f"{source}."
        for date in dates:
            folder = self.path(table, date, source).parent
            try:
                names = os.listdir(folder)  # one listing per folder: two globs cost ten times more (hundreds of dates)
            except (FileNotFoundError, NotADirectoryError):
                continue
            found += [folder / name for name in sorted(names) if name.startswith(prefix) and name.endswith(".parquet")]
        return found

    def extracted_identities(self, accounts: list[str], source: str) -> set[str] | None:
        """The identities the latest extraction of `source` of these accounts covered (what their next run extracts
        again), or None when none of them was recorded (a lake of the legacy layout)."""
        recorded = [self.account_identities(account, source) for account in accounts]
        if all(keys is None for keys in recorded):
            return None
        return {key for keys in recorded if keys for key in keys}

    def oldest_not_final(self, source: str, first: dt.date, last: dt.date,
                         identities: set[str] | None = None) -> dt.date | None:
        """The oldest date in [first, last] with a row of `source` that is not final, or None, among the files of
        `identities` (None: every file; with identities, legacy files are left out: a run no longer writes them).
        Reads only the `is_final` column of the source's wide tables (and of the long layout's `daily_status` files
        while a lake has them), date after date from the oldest, and stops at the first such date. An unreadable
        file counts as not final (its date is then re-pulled, which rewrites it)."""
        tables = [t.name for t in catalog.FACT_TABLES.values() if t.source == source]
        # A lake of the long layout not converted yet (the schedule reads it before any run converts it).
        tables += ["daily_status"] if (self.root / "daily_status").is_dir() else []
        date = first
        while date <= last:
            for path in (p for table in tables for p in self.files(table, [date], source)):
                if identities is not None and identity_of(path) not in identities:
                    continue
                try:
                    final = pq.read_table(path, columns=["is_final"]).column("is_final")
                except (OSError, pa.ArrowException, KeyError):
                    return date
                if final.null_count or pc.all(final).as_py() is False:
                    return date
            date += dt.timedelta(days=1)
        return None

    def convert_long_layout(self) -> int:
        """Rewrite the fact files of the earlier long layout (`metric_daily/`, `daily_status/`: one row per metric
        value) as files of the wide tables (pipelines/wide.py), date by date, each under the same name (an
        identity's file stays that identity's, a legacy file stays legacy); then remove the long files. No API
        calls, nothing re-normalized: the rows are those the long files held. A crash part-way leaves the long
        files of the dates not done (the next call converts them again, replacing the wide files it wrote), or,
        between a date's two removals, its daily_status file beside the wide files (removed, not converted again:
        alone it has no values); returns the number of long files converted. A metric name that cannot be a
        column fails naming the file (catalog.MetricNameError), which stays as it was."""
        if not self._long_files():
            return 0
        # Several processes may start at once (the lake steps of one multiprocess run, a load beside them): one
        # converts while the others wait, then find nothing left. The kernel's lock goes away with its process.
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".convert.lock", "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                return self._convert_long_files(self._long_files())
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _long_files(self) -> list[Path]:
        return sorted(self.root.glob("metric_daily/date=*/*.parquet")) + sorted(self.root.glob("daily_status/date=*/*.parquet"))

    def _convert_long_files(self, long_files: list[Path]) -> int:
        """`convert_long_layout` of these files, under its lock."""
        if not long_files:
            return 0
        by_date: dict[tuple[str, str], dict[str, Path]] = {}
        for path in long_files:
            by_date.setdefault((path.parent.name, path.name), {})[path.parent.parent.name] = path
        with duckdb.connect() as con:
            con.execute("SET TimeZone = 'UTC'")
            for (folder, name), paths in sorted(by_date.items()):
                date = dt.date.fromisoformat(folder.removeprefix("date="))
                stem, source = name.removesuffix(".parquet"), name.split(".")[0]
                tables = [table for table in catalog.FACT_TABLES.values() if table.source == source]
                # Earlier versions wrote both files of a date, and the wide ones are put in place before either is
                # removed: a daily_status file alone beside them is what a crash between the removals left.
                if list(paths) == ["daily_status"] and all(self.path(t.name, date, stem).exists() for t in tables):
                    self.commit([], [paths["daily_status"]])
                    continue
                status = read_fact_file(paths["daily_status"]) if "daily_status" in paths else None
                metric = read_fact_file(paths["metric_daily"]) if "metric_daily" in paths else None
                status = status.select(DAILY_STATUS.names).cast(DAILY_STATUS) if status is not None else DAILY_STATUS.empty_table()
                metric = metric.select(METRIC_DAILY.names).cast(METRIC_DAILY) if metric is not None else METRIC_DAILY.empty_table()
                try:
                    rows = [wide.to_wide(con, table, status, metric) for table in tables]
                except catalog.MetricNameError as error:
                    raise catalog.MetricNameError(
                        f"lake file {paths['metric_daily']}: {error}; move it aside, then rebuild its date from the raw "
                        f"zone (no API calls): `pinterest-etl run --from-raw --only {source} --start {date} --end {date}`"
                    ) from None
                self.commit([self.stage_rows(t.name, date, stem, r) for t, r in zip(tables, rows)], list(paths.values()))
        for folder in ("metric_daily", "daily_status"):
            for empty_dir in sorted((self.root / folder).glob("date=*"), reverse=True):
                with contextlib.suppress(OSError):
                    empty_dir.rmdir()
            with contextlib.suppress(OSError):
                (self.root / folder).rmdir()
        return len(long_files)

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


_FOOTERS: collections.OrderedDict[tuple, tuple[int, pa.Schema]] = collections.OrderedDict()
_FOOTERS_KEPT = 8192


def footer(path: Path) -> tuple[int, pa.Schema]:
    """A Parquet file's row count and Arrow schema, from its footer. A run reads the same footers several times (the
    lake step's rows per date, the load's plan and its column checks), so each version of a file is read once per
    process, the last `_FOOTERS_KEPT` kept. A version is the file's inode, size, modification time and status-change
    time: a replaced file has another inode, and any write changes the status-change time, which no tool can set back
    (an edit that keeps size and modification time, `touch -r`, `rsync --inplace -t`, is another version too). Raises OSError or ArrowException for a missing or unreadable file."""
    stat = os.stat(path)
    key = (str(path), stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)
    found = _FOOTERS.get(key)
    if found is None:
        metadata = pq.read_metadata(path)
        found = _FOOTERS[key] = (metadata.num_rows, metadata.schema.to_arrow_schema())
        if len(_FOOTERS) > _FOOTERS_KEPT:
            _FOOTERS.popitem(last=False)
    else:
        _FOOTERS.move_to_end(key)
    return found


def read_fact_file(path: Path, columns: list[str] | None = None) -> pa.Table:
    """A lake fact file's rows (its `columns`, else all); a long-layout file written without a column of
    ADDED_FACT_COLUMNS gets it filled with the value its rows mean, right after the column it follows."""
    present = pq.read_schema(path).names
    rows = pq.read_table(path, columns=[c for c in columns if c in present] if columns is not None else None)
    for name, (value, after) in ADDED_FACT_COLUMNS.items():
        if name in present or (columns is not None and name not in columns):
            continue
        position = rows.schema.get_field_index(after) + 1 if after in rows.column_names else rows.num_columns
        rows = rows.add_column(position, name, pa.repeat(pa.scalar(value, pa.string()), rows.num_rows))
    return rows.select(columns) if columns is not None else rows


@dataclasses.dataclass(frozen=True)
class StagedFile:
    tmp: Path
    target: Path
    sha256: str = ""


class RowStager:
    """`Lake.stage_rows` on `_STAGING_THREADS` threads, at most `_STAGING_IN_FLIGHT` files pending (each holds its
    rows until written, so memory stays bounded). Writing a small Parquet file is mostly fixed cost in pyarrow's C++
    (about 2 ms for a date's 24 x 22 ads rows), which runs without the GIL: a backfill writes hundreds of them, and
    the caller's next date (DuckDB, Arrow compute) overlaps with them. `files()` gives the staged files in the
    order they were asked for (the crash-test pass counts in that order too); after any failure, `abandon()`
    waits for every write in flight and gives back those written, to discard, and the first write error."""

    def __init__(self, lake: Lake):
        self._lake = lake
        self._pool = ThreadPoolExecutor(max_workers=_STAGING_THREADS, thread_name_prefix="lake-stage")
        self._pending: list = []
        self._pending_bytes: list[int] = []
        self._done: list[StagedFile] = []

    def stage_rows(self, table: str, date: dt.date, source: str, rows: pa.Table) -> None:
        target = self._lake.path(table, date, source)
        self._pending.append(self._pool.submit(_write_temporary, None, "", [], target, rows))
        self._pending_bytes.append(rows.nbytes)
        while len(self._pending) > _STAGING_IN_FLIGHT or (
                len(self._pending) > 1 and sum(self._pending_bytes) > _STAGING_BYTES_IN_FLIGHT):
            self._collect_oldest()

    def _collect_oldest(self) -> None:
        # Taken off the list only once written: interrupted while waiting (Ctrl+C), abandon() still waits for it.
        self._done.append(self._pending[0].result())
        self._pending.pop(0)
        self._pending_bytes.pop(0)
        crash_point(LAKE_FILE_WRITTEN)

    def files(self) -> list[StagedFile]:
        """Every staged file, once all are written; the first write error is raised."""
        while self._pending:
            self._collect_oldest()
        self._pool.shutdown()
        return self._done

    def abandon(self) -> tuple[list[StagedFile], Exception | None]:
        """After a failure: the files written, once every write in flight has ended (a failed write leaves no
        file), and the first write error in the order the files were asked for, if any (written one by one, that
        error would have come first). A second Ctrl+C while waiting is not held back."""
        first_error = None
        for future in self._pending:
            try:
                self._done.append(future.result())
            except Exception as error:  # noqa: BLE001 - reported to the caller, which decides which error to raise
                first_error = first_error or error
        self._pending.clear()
        self._pending_bytes.clear()
        self._pool.shutdown()
        return self._done, first_error


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
                     rows: pa.Table | None = None) -> StagedFile:
    """COPY (or, given `rows`, pyarrow's writer) to a temporary file beside the target, not yet flushed to disk
    (`_flush`, before it is put in place), with the SHA-256 of its bytes; on failure nothing is left."""
    tmp = temporary_path(target)
    try:
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except FileExistsError:  # a file has the folder's name
            raise NotADirectoryError(errno.ENOTDIR, "Not a directory", str(target.parent)) from None
        if rows is None:
            # The path is a parameter (after those of `select_sql`): any character may be in it, quotes included.
            con.execute(f"COPY ({select_sql}) TO ? (FORMAT PARQUET, COMPRESSION ZSTD)", [*params, str(tmp)])
        else:
            pq.write_table(rows, tmp, compression="zstd" if rows.num_rows >= _ZSTD_FROM_ROWS else "snappy")
        digest = _sha256(tmp)
    except BaseException as error:
        _remove(tmp)
        failure = write_error(target, error, "Nothing was replaced: the lake keeps its previous files.")
        if failure:
            raise failure from None
        raise
    return StagedFile(tmp, target, digest)


def _flush(files: list[StagedFile]) -> None:
    """Flush written temporaries to disk, before any is renamed (a file renamed unflushed could be empty or torn
    after a power loss), several at once: one fsync at a time waits for a journal commit each (2-3 ms), concurrent
    ones share them. On failure every temporary is removed and nothing was replaced."""
    try:
        with ThreadPoolExecutor(max_workers=_FLUSHING_THREADS) as pool:
            list(pool.map(_fsync, files))
    except BaseException:
        Lake.discard(files)
        raise


def _fsync(file: StagedFile) -> None:
    try:
        descriptor = os.open(file.tmp, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
    except OSError as error:
        raise write_error(file.target, error, "Nothing was replaced: the lake keeps its previous files.") \
            or error from None


def _put_flushed_in_place(file: StagedFile) -> None:
    _flush([file])
    _put_in_place(file)


def _remove_in_place(path: Path) -> None:
    """Remove a lake file and its checksum file (the checksum last: a crash between leaves no unverified file)."""
    path.unlink(missing_ok=True)
    checksum_path(path).unlink(missing_ok=True)


def _legacy_account(path: Path) -> str:
    """The account a legacy file's name says (`''` for the default account's `pins.parquet`)."""
    return path.name.removesuffix(".parquet").partition(".")[2]


def _legacy_users(user_snapshots: list[Path]) -> dict[str, list[tuple[dt.date, str]]]:
    """Per legacy account name, its user id on each day it had a `user_accounts` snapshot, oldest first."""
    users: dict[str, list[tuple[dt.date, str]]] = {}
    for path in sorted(user_snapshots):
        day = snapshot_date_of(path)
        for user_id in pq.read_table(path, columns=["user_id"]).column("user_id").unique().to_pylist():
            users.setdefault(_legacy_account(path), []).append((day, user_id))
    return users


def _split_by_identity(rows: pa.Table, path: Path, account_users: list[tuple[dt.date, str]],
                       day: dt.date) -> list[tuple[str, pa.Table]]:
    """A legacy snapshot's rows per identity: by their own id column, else all the account's user's."""
    for column, kind in (("ad_account_id", AD_ACCOUNT), ("user_id", USER)):
        if column in rows.column_names:
            return [(identity(kind, value), rows.filter(pc.equal(rows.column(column), value)))
                    for value in rows.column(column).unique().to_pylist()]
    before = [user for when, user in account_users if when <= day]
    user = before[-1] if before else account_users[0][1] if account_users else None
    if user is None:
        raise LakeIdentityError(f"lake file {path} is of the legacy layout and no user_accounts snapshot of its "
                                "account tells which Pinterest user it belongs to; move it aside (the next run "
                                "writes new snapshots)")
    return [(identity(USER, user), rows)]


def _remove(path: Path) -> None:
    with contextlib.suppress(OSError):  # also when the folder itself could not be made
        path.unlink(missing_ok=True)


def _write_atomically(con: duckdb.DuckDBPyConnection, select_sql: str, params: list, target: Path) -> Path:
    """A temporary file beside the target, renamed over it once complete."""
    _put_flushed_in_place(_write_temporary(con, select_sql, params, target))
    return target
