"""The DuckDB warehouse: tables of the contract, wide views, and transactional loads from the lake."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import logging
import os
import re
import time
from pathlib import Path

import duckdb
import pyarrow as pa

from pipelines import catalog, history, settings, warehouse_comments, warehouse_format, wide
from pipelines.ads.dimensions import SCHEMAS as ADS_DIMENSIONS
from pipelines.atomic_files import write_error
from pipelines.faults import WAREHOUSE_BEFORE_COMMIT, crash_point
from pipelines.lake import ADDED_FACT_COLUMNS, Lake, footer
from pipelines.organic.dimensions import BOARDS, PINS, USER_ACCOUNTS
from pipelines.organic.top_pins import TOP_PINS_API
from pipelines.pinterest.errors import redacted
from pipelines.planning import DateRange
from pipelines.progress import StepProgress
from pipelines.quality import DIMENSION_KEYS, Check, CheckOutcome, run_check
from pipelines.sql_text import identifier, literal
from pipelines.tables import DAILY_STATUS, METRIC_DAILY, PIN_LIFETIME, duckdb_columns

FACT_TABLES = catalog.FACT_TABLES
DIMENSIONS = {"user_accounts": USER_ACCOUNTS, "boards": BOARDS, "pins": PINS, "pin_lifetime": PIN_LIFETIME,
              **ADS_DIMENSIONS, "top_pins_api": TOP_PINS_API}
# The long fact tables of the earlier layout, converted by the first load (_convert_long_layout).
LONG_TABLES = {"metric_daily": METRIC_DAILY, "daily_status": DAILY_STATUS}
LONG_VIEWS = ("metric_daily", "daily_status")


# Loads and checks of 17 million rows ran as fast with 512 MB as with 1 GB (bench/NOTES.md), and the whole run
# then stays under 1 GB; DuckDB spills to <warehouse>.duckdb.tmp/ beyond it.
WAREHOUSE_MEMORY_LIMIT = "512MB"
_LONGEST_LOCK_RETRY_SECONDS = 10.0

log = logging.getLogger(__name__)


class WarehouseLockedError(Exception):
    """Another process held the warehouse file open for longer than the load may wait; the message names it."""


class BlockingCheckError(Exception):
    """A blocking data check failed inside the load's transaction, which was rolled back: the warehouse keeps its
    previous data. `outcomes` holds every check's verdict (warnings too); the message names the failing checks,
    a sample of their rows, where the new data is and the command that loads it once fixed."""

    def __init__(self, message: str, outcomes: tuple[CheckOutcome, ...]):
        super().__init__(message)
        self.outcomes = outcomes


@dataclasses.dataclass(frozen=True)
class LoadResult:
    """What a committed load wrote (rows per table) and what its checks found (all passed if blocking)."""

    rows: dict[str, int]
    checks: tuple[CheckOutcome, ...]
    # Metric columns this load added (a metric first seen: a new PINTEREST_ADS_COLUMNS, a new API metric) and
    # BIGINT columns it widened to DOUBLE (a value that is not a whole number), per wide table.
    added_columns: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    widened_columns: dict[str, list[str]] = dataclasses.field(default_factory=dict)


def column_changes_text(added: dict[str, list[str]], widened: dict[str, list[str]]) -> str:
    """One line on the columns a load added to the wide tables and widened from BIGINT to DOUBLE."""
    parts = [f"new metric column(s) {qualified_columns(added)} (rows loaded before read NULL in them)"] if added else []
    parts += [f"column(s) {qualified_columns(widened)} widened from BIGINT to DOUBLE (a value was not a whole number "
              "or beyond BIGINT's range; nothing was rounded)"] if widened else []
    return f"the load changed the warehouse's wide tables: {'; '.join(parts)}"


def qualified_columns(columns: dict[str, list[str]]) -> str:
    """Columns per table (LoadResult.added_columns, widened_columns) as `table.column, table.column`."""
    return ", ".join(f"{table}.{column}" for table, names in columns.items() for column in names)


class OutdatedWarehouseError(ValueError):
    """The warehouse was written by an earlier version of the pipeline: a column or view of the contract is
    missing. Any load brings it up to date from the lake, without API calls; the message gives the command."""


def missing_from_contract(con: duckdb.DuckDBPyConnection) -> list[str]:
    """What a warehouse with facts lacks of the contract: the wide tables (a warehouse of the long layout stored
    metric_daily as a table and the wide ones as views over it) and the views; empty when it is current, or when it
    has no facts (nothing loaded yet)."""
    kinds = dict(con.execute("SELECT table_name, table_type FROM information_schema.tables "
                             "WHERE table_schema = 'main'").fetchall())
    if kinds.get("metric_daily") == "BASE TABLE":
        return ["its facts are in the long layout (metric_daily and daily_status as tables, the wide tables as views)"]
    if not any(name in kinds for name in (*FACT_TABLES, *LONG_VIEWS)):
        return []
    missing = [f"the table {name} is missing" for name in FACT_TABLES if kinds.get(name) != "BASE TABLE"]
    return missing + [f"the view {name} is missing" for name in catalog.derived_views()
                      if name not in kinds]


def require_current_schema(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """Refuse, in one line, to read a warehouse an earlier version wrote (OutdatedWarehouseError): queries of this
    version would fail on it with raw binder errors. Any load brings it up to date, from its own rows."""
    missing = missing_from_contract(con)
    if not missing:
        return
    newest = None
    with contextlib.suppress(duckdb.Error):  # a warehouse without daily_status
        newest = con.execute("SELECT max(date) FROM daily_status").fetchone()[0]
    day = newest.isoformat() if newest else "YYYY-MM-DD"
    raise OutdatedWarehouseError(
        f"the warehouse {path} was written by an earlier version of pinterest-etl ({'; '.join(missing)}); update it "
        f"without API calls (its data is kept), then try again: pinterest-etl load --start {day} --end {day}")


_SECRET_VARIABLES = ("PINTEREST_ACCESS_TOKEN", "PINTEREST_REFRESH_TOKEN", "PINTEREST_APP_SECRET")
# Variables an accounts file may name for an account's tokens and app secret (`access_token_env`, `app_secret_env`
# ...): any name of the environment with one of these words holds a value to hide.
_SECRET_WORDS = ("TOKEN", "SECRET", "PASSWORD")
# The password of a URL's user info (`--proxy=http://user:password@host`): up to the authority's last @.
_URL_PASSWORD = re.compile(r"(\b[A-Za-z][A-Za-z0-9+.-]*://[^\s/?#@:]*:)[^\s/?#]*@")


def lock_holder(message: str) -> str:
    """The process DuckDB's lock error names, with its command line when /proc shows it."""
    found = re.search(r"held in (.*?) \(PID (\d+)\)", message)
    if not found:
        return "another process"
    program, pid = found.groups()
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        command = ""
    # Another process's command line may carry a token, the app secret (`env PINTEREST_ACCESS_TOKEN=... duckdb`) or a
    # proxy's password (`--proxy=http://user:password@host`).
    # The environment is read here on purpose, also during a run: not a setting but the values to hide, as many as
    # this process's environment holds when the lock is met (the run's own tokens are hidden by pattern too).
    secrets = [os.environ.get(name, "") for name in _SECRET_VARIABLES] + [
        value for name, value in os.environ.items()
        if len(value) >= 8 and any(word in name.upper() for word in _SECRET_WORDS)]  # short values are no secret
    command = _URL_PASSWORD.sub(r"\1****@", " ".join((command or program).split()))
    return f"process {pid} ({redacted(command, secrets)[:200]})"


def _config(read_only: bool) -> dict[str, str]:
    # Bounded memory: big loads and checks spill to <warehouse>.duckdb.tmp/ instead of growing the process.
    config = {"memory_limit": WAREHOUSE_MEMORY_LIMIT}
    if not read_only:  # applies to a file this creates; an existing file keeps its format
        config["storage_compatibility_version"] = warehouse_format.STORAGE_VERSION
    return config


class Warehouse:
    """The DuckDB file at `path`. `lock_wait_seconds`: how long opening it waits for another process's lock (a
    run's PINTEREST_WAREHOUSE_LOCK_WAIT_SECONDS; None, outside a run: the variable read at each opening)."""

    def __init__(self, path: Path, lock_wait_seconds: float | None = None):
        self.path = Path(path)
        self.lock_wait_seconds = lock_wait_seconds

    def connect(self, read_only: bool = False) -> duckdb.DuckDBPyConnection:
        """A connection; while another process holds the file, retry with backoff (logging who holds it) for up
        to `lock_wait_seconds`, then raise WarehouseLockedError. A new warehouse is created in the storage format
        DuckDB 1.1 and newer read; opening one in a newer format read-write converts it first
        (warehouse_format.convert, while no other process has it open)."""
        # Read before DuckDB opens the file: its lock is a POSIX record lock, which this process loses on closing any
        # descriptor of the file, and a second load then opened it too and overwrote the first's rows.
        outdated = not read_only and warehouse_format.needs_conversion(self.path)
        con = self._open(read_only)
        if not outdated:
            return con
        try:
            warehouse_format.convert(con, self.path)
        except (duckdb.Error, OSError) as error:
            raise write_error(self.path, error, "It was kept as it was (in the storage format of a newer DuckDB); "
                                                "the next load converts it again.") or error from None
        return self._open(read_only)

    def _open(self, read_only: bool) -> duckdb.DuckDBPyConnection:
        """A connection to the file, waiting for another process's lock as `connect` says."""
        if read_only and not self.path.exists():
            raise FileNotFoundError(f"no warehouse at {self.path} yet; run `pinterest-etl run` first")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise write_error(self.path, error, "Nothing was changed.") or error from None
        budget = settings.warehouse_lock_wait_seconds() if self.lock_wait_seconds is None else self.lock_wait_seconds
        deadline = time.monotonic() + budget
        pause = 0.5
        while True:
            try:
                return duckdb.connect(str(self.path), read_only=read_only, config=_config(read_only))
            except duckdb.IOException as error:
                if "could not set lock" not in str(error).lower():
                    raise write_error(self.path, error, "Nothing was changed.") or error from None
                holder, left = lock_holder(str(error)), deadline - time.monotonic()
                if left <= 0:
                    raise WarehouseLockedError(f"the warehouse {self.path} is still locked by {holder} after waiting "
                                               f"{budget:g} s ({settings.WAREHOUSE_LOCK_WAIT_VARIABLE})") from None
                pause = min(pause, left)
                log.warning("the warehouse %s is locked by %s; retrying in %.1f s (waiting up to %g s in all, %s)",
                            self.path, holder, pause, budget, settings.WAREHOUSE_LOCK_WAIT_VARIABLE)
                time.sleep(pause)
                pause = min(pause * 2, _LONGEST_LOCK_RETRY_SECONDS)

    def ensure_schema(self, con: duckdb.DuckDBPyConnection) -> None:
        """The tables and the views, with their comments (a load creates them inside its transaction instead)."""
        _create_tables(con)
        _replace_views(con)
        warehouse_comments.set_comments(con)

    def load(self, lake: Lake, source: str, entity_types: tuple[str, ...], dates: list[dt.date],
             dimensions: dict[str, list[Path]] | None = None, checks: tuple[Check, ...] = (),
             stale_before: dt.date | None = None, progress: StepProgress | None = None) -> LoadResult:
        """In one transaction: each given dimension table becomes exactly the union of its snapshots (the newest of
        every account; an entity two accounts see is kept once, as last extracted), then the source's wide fact rows
        of those dates are replaced by the lake's wide files (every account's; a date without any file keeps its
        rows), with their parents' ids and currency from the dimensions, and the views are rebuilt, every table, view
        and column with its comment from the data dictionary. Then, before COMMIT, the checks run on the new rows and
        dimensions; a failing blocking one rolls everything back, tables and views (BlockingCheckError). A lake of the
        long layout is converted first, and a warehouse of the long layout in the same transaction; a warehouse in a
        storage format DuckDB 1.1 cannot read is converted when it is opened (`connect`). `progress` is told the wide
        rows loaded so far after each table."""
        rows: dict[str, int] = {}
        outcomes: tuple[CheckOutcome, ...] = ()
        changes = _ColumnChanges()
        lake.convert_long_layout()
        finish_later = (f"`pinterest-etl load --start {min(dates)} --end {max(dates)} --only {source}`" if dates
                        else f"`pinterest-etl load --only {source}`")
        try:
            con = self.connect()
        except WarehouseLockedError as error:
            raise WarehouseLockedError(
                f"{error}. Nothing was changed in it, and the new data is safe in the lake ({lake.root}). Once that "
                f"session is closed, load it without API calls: {finish_later}") from None
        try:
            with con:
                con.execute("BEGIN TRANSACTION")
                try:
                    _create_tables(con, changes)
                    for name, paths in (dimensions or {}).items():
                        schema, key = DIMENSIONS[name], ", ".join(DIMENSION_KEYS[name])
                        con.execute(f"DELETE FROM {identifier(name)}")
                        _insert_from_lake(con, lake, paths,
                                          f"INSERT INTO {identifier(name)} SELECT {', '.join(schema.names)} "
                                          "FROM read_parquet(?, hive_partitioning = false, union_by_name = true) "
                                          f"QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY extracted_at DESC) = 1")
                        rows[name] = con.execute(f"SELECT count(*) FROM {identifier(name)}").fetchall()[0][0]
                    rows.update(history.replace_history(con, lake, dimensions or {}))
                    if dates:
                        rows.update(self._replace_facts(con, lake, source, entity_types, dates, changes, progress))
                    # After the facts: metric_daily has a column's values once the column exists.
                    _replace_views(con)
                    warehouse_comments.set_comments(con)
                    if dates:
                        outcomes = tuple(run_check(con, check, entity_types, DateRange(min(dates), max(dates)),
                                                   stale_before) for check in checks)
                    if any(o.check.blocking and not o.passed for o in outcomes):
                        raise BlockingCheckError(_blocked_load_message(outcomes, lake, source, finish_later), outcomes)
                    crash_point(WAREHOUSE_BEFORE_COMMIT)
                    con.execute("COMMIT")
                except BaseException:
                    with contextlib.suppress(duckdb.Error):  # a failed write may have ended the transaction already
                        con.execute("ROLLBACK")
                    raise
        except duckdb.Error as error:
            raise write_error(self.path, error, "It keeps its previous data (the load's transaction was rolled "
                                                f"back), and the lake holds the new data: once fixed, load it without "
                                                f"API calls: {finish_later}") or error from None
        if changes.added or changes.widened:
            log.warning("the warehouse's wide tables changed: %s", changes.describe())
        return LoadResult(rows, outcomes, changes.added, changes.widened)

    @staticmethod
    def _replace_facts(con: duckdb.DuckDBPyConnection, lake: Lake, source: str, entity_types: tuple[str, ...],
                       dates: list[dt.date], changes: _ColumnChanges,
                       progress: StepProgress | None = None) -> dict[str, int]:
        """Each wide table of the entity types: its rows of those dates replaced by the lake's files of the source
        (every identity's), with their parents' ids and the account's currency from the dimensions."""
        rows = {"metric_daily": 0, "daily_status": 0}
        for entity_type in entity_types:
            table = catalog.BY_ENTITY_TYPE[entity_type]
            files = lake.files(table.name, dates, source)
            # Only the dates the lake has files of are replaced: a date without any (never normalized, or a lake
            # lost) keeps the warehouse's rows, which may be all that is left of it (a normalization that ran
            # writes a file for every identity it read answers of, an empty one too).
            present = sorted({dt.date.fromisoformat(path.parent.name.removeprefix("date=")) for path in files})
            con.execute(f"DELETE FROM {identifier(table.name)} WHERE date IN (SELECT unnest(?::DATE[]))", [present])
            if files:
                _insert_lake_files(con, lake, table, files, changes)
            wide, values = _rows_and_values(con, table, dates)
            rows[table.name] = wide
            rows["daily_status"] += wide
            rows["metric_daily"] += values
            if progress is not None:
                progress.update(rows["daily_status"])
        return rows


class LakeFileSchemaError(ValueError):
    """A lake file whose columns disagree with the catalog (a manual edit, a file of another layout); the message
    names the file and the column. Nothing of the load is kept."""


_PARQUET_KINDS = {"BIGINT": ("int64", "int32", "int16", "int8"), "DOUBLE": ("double", "float")}


def _lake_file_metrics(lake: Lake, table: catalog.FactTable, files: list[Path]) -> dict[str, str]:
    """The metric columns the files hold, each BIGINT or DOUBLE (DOUBLE when any file has it so), after checking
    every file's columns against the catalog: its key and status columns with their types, and metric columns
    named as metrics are (lower-case API names) holding numbers. Only footers are read."""
    expected = {f.name: f.type for f in wide.lake_schema(table, {})}
    reserved = catalog.reserved_columns()  # keys, parents' ids (added at load), currency, the long views' columns
    metrics: dict[str, str] = {}
    for path in files:
        try:
            _, schema = footer(path)
        except (OSError, pa.ArrowException) as error:
            lake.verify_before_load([path])
            raise lake.explain_read_failure([path], error) from None
        if len(set(schema.names)) < len(schema.names):
            twice = sorted({name for name in schema.names if schema.names.count(name) > 1})
            raise LakeFileSchemaError(f"lake file {path} has the column {twice[0]} twice; {_rebuild(lake, path)}")
        fields = {f.name: f.type for f in schema}
        for name, kind in expected.items():
            if name not in fields:
                raise LakeFileSchemaError(f"lake file {path} has no column {name}, which {table.name} needs: it is not "
                                          f"a file this version wrote; {_rebuild(lake, path)}")
            same_instant = pa.types.is_timestamp(kind) and pa.types.is_timestamp(fields[name]) and fields[name].tz
            if fields[name] != kind and not same_instant:
                raise LakeFileSchemaError(f"lake file {path}: column {name} is {fields[name]}, {table.name} needs "
                                          f"{kind}; {_rebuild(lake, path)}")
        for name, kind in fields.items():
            if name in expected:
                continue
            sql = next((k for k, arrow in _PARQUET_KINDS.items() if str(kind) in arrow), None)
            if sql is None or not re.fullmatch(r"[a-z][a-z0-9_]*", name) or name in reserved:
                raise LakeFileSchemaError(f"lake file {path}: column {name!r} ({kind}) is not a metric column of "
                                          f"{table.name} (lower-case API metric names holding numbers); {_rebuild(lake, path)}")
            metrics[name] = "DOUBLE" if "DOUBLE" in (sql, metrics.get(name)) else "BIGINT"
    return metrics


def _refuse_rows_out_of_place(con: duckdb.DuckDBPyConnection, lake: Lake, table: catalog.FactTable, source: str,
                              paths: list[str]) -> None:
    """Refuse (LakeFileSchemaError naming the file) lake files holding a row dated other than their folder, or with
    a NULL key column: a load replaces the rows of its dates, so such a row would escape both the replacement and
    the checks of its date (and pile up with every load)."""
    keyless = " OR ".join(f"{identifier(c)} IS NULL" for c in table.key if c != "date")
    found = con.execute(f"""
        SELECT filename, any_value(date) FROM {source.replace("union_by_name = true", "union_by_name = true, filename = true")}
        WHERE date IS DISTINCT FROM regexp_extract(filename, 'date=([0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}})/[^/]*$', 1)::DATE OR {keyless}
        GROUP BY filename ORDER BY filename LIMIT 1""", [paths]).fetchone()
    if found:
        path = Path(found[0])
        raise LakeFileSchemaError(f"lake file {path} holds a row dated {found[1]} or without its key "
                                  f"({', '.join(table.key)}): a file of date=D holds only rows of D with every key "
                                  f"column set; {_rebuild(lake, path)}")


def _rebuild(lake: Lake, path: Path) -> str:
    date = re.search(r"date=(\d{4}-\d{2}-\d{2})", str(path))
    day = date.group(1) if date else "YYYY-MM-DD"
    return (f"move it aside and rebuild it from the raw zone (no API calls): `pinterest-etl run --from-raw --only "
            f"{path.name.split('.')[0]} --start {day} --end {day}`")


def _insert_lake_files(con: duckdb.DuckDBPyConnection, lake: Lake, table: catalog.FactTable, files: list[Path],
                       changes: _ColumnChanges) -> None:
    """Insert the wide lake files of one table (checked against their checksums and the catalog first): a metric
    column the table lacks is added (typed as the catalog says, DOUBLE if a file holds fractions), a BIGINT column
    a file holds fractions in is widened to DOUBLE, and the parents' ids and the account's currency are taken from
    the dimensions (Pinterest never moves an entity to another parent)."""
    lake.verify_before_load(files)
    incoming = _lake_file_metrics(lake, table, files)
    columns = _metric_columns(con, table)
    for column, kind in incoming.items():
        if column not in columns:
            wanted = "DOUBLE" if kind == "DOUBLE" else catalog.metric_type(column.upper())
            con.execute(f"ALTER TABLE {identifier(table.name)} ADD COLUMN {identifier(column)} {wanted}")
            columns[column] = wanted
            changes.added.setdefault(table.name, []).append(column)
    source = "read_parquet(?, hive_partitioning = false, union_by_name = true)"
    paths = [str(p) for p in files]
    for column, kind in incoming.items():
        if kind == "DOUBLE" and columns[column] == "BIGINT":
            # max() and min() rather than isnan() or a WHERE: DuckDB answers those from the Parquet statistics, which
            # leave NaN out (isnan() of a NaN read from Parquet gave false); NaN sorts above every number.
            value = identifier(column)
            high, low, fraction = con.execute(f"SELECT max({value}), min({value}), bool_or({value} <> trunc({value})) "
                                              f"FROM {source}", [paths]).fetchone()
            if fraction or any(x is not None and not abs(x) < 9.2e18 for x in (high, low)):
                con.execute(f"ALTER TABLE {identifier(table.name)} ALTER COLUMN {identifier(column)} TYPE DOUBLE")
                columns[column] = "DOUBLE"
                changes.widened.setdefault(table.name, []).append(column)
    _refuse_rows_out_of_place(con, lake, table, source, paths)
    joins, parents = "", []
    if table.parent_dimension:
        joins = f"LEFT JOIN {identifier(table.parent_dimension)} d ON d.{identifier(table.id_column)} = f.{identifier(table.id_column)} "
        parents = [f"d.{identifier(p)}" for p in table.parents]
    if table.currency:
        account = f"f.{identifier(table.id_column)}" if table.entity_type == "ad_account" else "d.ad_account_id"
        joins += f"LEFT JOIN ad_accounts acc ON acc.ad_account_id = {account} "
        parents.append("acc.currency")
    try:
        # Stored in entity order, each entity's days together: one entity's history (the commonest question) then
        # reads the few row groups whose id range holds it, not the whole table (at 20,000 pins: 0.12 s -> 0.002 s).
        con.execute(f"INSERT INTO {identifier(table.name)} BY NAME SELECT f.*{''.join(', ' + p for p in parents)} "
                    f"FROM {source} f {joins} ORDER BY f.{identifier(table.id_column)}, f.date", [paths])
    except (duckdb.InvalidInputException, duckdb.IOException) as error:
        raise lake.explain_read_failure(files, error) from None


@dataclasses.dataclass
class _ColumnChanges:
    """Columns a load added to the wide tables or widened from BIGINT to DOUBLE, per table."""

    added: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    widened: dict[str, list[str]] = dataclasses.field(default_factory=dict)

    def describe(self) -> str:
        parts = [f"{table}: new metric column(s) {', '.join(columns)} (rows loaded before read NULL)"
                 for table, columns in self.added.items()]
        parts += [f"{table}: column(s) {', '.join(columns)} widened from BIGINT to DOUBLE (the API sent values that "
                  "are not whole numbers)" for table, columns in self.widened.items()]
        return "; ".join(parts)


def _metric_columns(con: duckdb.DuckDBPyConnection, table: catalog.FactTable) -> dict[str, str]:
    """The metric columns a wide table has now, with their SQL types, in table order."""
    present = con.execute("SELECT column_name, data_type FROM duckdb_columns() WHERE schema_name = 'main' "
                          "AND table_name = ? ORDER BY column_index", [table.name]).fetchall()
    base = {name for name, _ in table.base_columns()}
    return {name: kind for name, kind in present if name not in base}


def _pivot_into(con: duckdb.DuckDBPyConnection, table: catalog.FactTable, metric_rows: str, status_rows: str,
                changes: _ColumnChanges) -> None:
    """Insert the long rows of `table`'s entity type (relations `metric_rows`, `status_rows`: the long layout's
    columns) into the wide table: one row per key, a column per metric (added when first seen, widened to DOUBLE
    when a value is not a whole number), the parents' ids and the account's currency from the dimensions. Every key
    of either relation gets a row (a status row without metrics has NULL metrics)."""
    entity = [table.entity_type]
    # Pins have no split and no content type: only their unsplit, unfiltered rows are theirs.
    only_unsplit = "" if table.entity_type != "pin" else " AND split_field = 'NO_SPLIT' AND content_type = 'ALL'"
    incoming = [r[0] for r in con.execute(f"SELECT DISTINCT metric FROM {metric_rows} WHERE entity_type = ?"
                                          f"{only_unsplit} ORDER BY 1", entity).fetchall()]
    columns = _metric_columns(con, table)
    for metric in incoming:
        column = catalog.metric_column(metric, table)
        if column not in columns:
            kind = catalog.metric_type(metric)
            con.execute(f"ALTER TABLE {identifier(table.name)} ADD COLUMN {identifier(column)} {kind}")
            columns[column] = kind
            changes.added.setdefault(table.name, []).append(column)
    whole = [m for m in incoming if columns[catalog.metric_column(m)] == "BIGINT"]
    if whole:
        fractional = [r[0] for r in con.execute(
            f"SELECT DISTINCT metric FROM {metric_rows} WHERE entity_type = ?{only_unsplit} "
            "AND metric IN (SELECT unnest(?::VARCHAR[])) AND (value <> trunc(value) OR abs(value) >= 9.2e18) "
            "ORDER BY 1", [table.entity_type, whole]).fetchall()]
        for metric in fractional:
            column = catalog.metric_column(metric)
            con.execute(f"ALTER TABLE {identifier(table.name)} ALTER COLUMN {identifier(column)} TYPE DOUBLE")
            columns[column] = "DOUBLE"
            changes.widened.setdefault(table.name, []).append(column)
    key = ("date", "entity_id", "split_field", "split_value", "content_type")
    pivoted = ",\n            ".join(
        f"max(value) FILTER (WHERE metric = {literal(m)})::{columns[catalog.metric_column(m)]} "
        f"AS {identifier(catalog.metric_column(m))}" for m in incoming)
    metrics_select = f"SELECT {', '.join(key)}, {pivoted} FROM {metric_rows} WHERE entity_type = ?{only_unsplit} GROUP BY ALL" \
        if incoming else f"SELECT {', '.join(key)} FROM {metric_rows} WHERE false"
    # The long form's key back to the table's split columns.
    splits = {column: f"k.{expression}" for column, expression in table.splits}
    parents = {p: f"d.{p}" for p in table.parents}
    account = "k.entity_id" if table.entity_type == "ad_account" else "d.ad_account_id"
    joins = (f"LEFT JOIN {identifier(table.parent_dimension)} d ON d.{identifier(table.id_column)} = k.entity_id "
             if table.parent_dimension else "")
    if table.currency:
        joins += f"LEFT JOIN ad_accounts acc ON acc.ad_account_id = {account} "
    targets = [name for name, _ in table.base_columns()] + [catalog.metric_column(m) for m in incoming]
    values = ["k.date", "k.entity_id", *parents.values(), *(["acc.currency"] if table.currency else []),
              *splits.values(), "k.data_status", "k.is_final", "k.extracted_at",
              *(f"m.{identifier(catalog.metric_column(m))}" for m in incoming)]
    con.execute(f"""
        INSERT INTO {identifier(table.name)} ({', '.join(identifier(t) for t in targets)})
        WITH statuses AS (SELECT {', '.join(key)}, data_status, is_final, extracted_at FROM {status_rows}
                          WHERE entity_type = ?{only_unsplit}),
             metrics AS ({metrics_select}),
             k AS (SELECT * FROM statuses
                   UNION ALL
                   SELECT {', '.join(f'x.{c}' for c in key)}, any_value(x.data_status), bool_and(x.is_final), max(x.extracted_at)
                   FROM {metric_rows} x ANTI JOIN statuses s USING ({', '.join(key)})
                   WHERE x.entity_type = ?{only_unsplit.replace(" AND ", " AND x.")} GROUP BY ALL)
        SELECT {', '.join(values)}
        FROM k LEFT JOIN metrics m USING ({', '.join(key)})
        {joins}""", [table.entity_type] * (3 if incoming else 2))


def _rows_and_values(con: duckdb.DuckDBPyConnection, table: catalog.FactTable, dates: list[dt.date]) -> tuple[int, int]:
    """A wide table's rows of the dates, and the metric values (non-NULL cells) they hold."""
    metric_columns = list(_metric_columns(con, table))
    values = " + ".join(f"count({identifier(c)})" for c in metric_columns) or "0"
    rows, cells = con.execute(f"SELECT count(*), {values} FROM {identifier(table.name)} "
                              "WHERE date IN (SELECT unnest(?::DATE[]))", [dates]).fetchone()
    return rows, cells or 0


def _create_tables(con: duckdb.DuckDBPyConnection, changes: _ColumnChanges | None = None) -> None:
    """The dimension and wide fact tables the contract names; a warehouse of the long layout is converted."""
    for name, schema in DIMENSIONS.items():
        con.execute(f"CREATE TABLE IF NOT EXISTS {identifier(name)} ({duckdb_columns(schema)})")
    history.create_history_tables(con)
    kinds = dict(con.execute("SELECT table_name, table_type FROM information_schema.tables "
                             "WHERE table_schema = 'main'").fetchall())
    long_layout = kinds.get("metric_daily") == "BASE TABLE"
    if long_layout:
        for name in (*FACT_TABLES, "user_account_organic_daily"):
            if kinds.get(name) == "VIEW":
                con.execute(f"DROP VIEW {identifier(name)}")
    for table in FACT_TABLES.values():
        columns = [*table.base_columns(), *((catalog.metric_column(m), catalog.metric_type(m)) for m in table.default_metrics)]
        con.execute(f"CREATE TABLE IF NOT EXISTS {identifier(table.name)} "
                    f"({', '.join(f'{identifier(n)} {t}' for n, t in columns)})")
    if long_layout:
        _convert_long_layout(con, changes or _ColumnChanges())


def _convert_long_layout(con: duckdb.DuckDBPyConnection, changes: _ColumnChanges) -> None:
    """Move every row of a warehouse of the long layout (metric_daily and daily_status tables) into the wide tables,
    then drop the long tables (the long views replace them): nothing is read from the lake or the API, and rows whose
    lake files are gone are kept. Tables written before content types were stored read `ALL` for them."""
    log.info("converting the warehouse %s to wide fact tables (from its own rows, in the load's transaction)",
             con.execute("SELECT current_database()").fetchone()[0])
    for name, schema in LONG_TABLES.items():
        _add_missing_fact_columns(con, name, schema)
    for table in FACT_TABLES.values():
        _pivot_into(con, table, "metric_daily", "daily_status", changes)
    con.execute("DROP TABLE metric_daily")
    con.execute("DROP TABLE daily_status")


def _add_missing_fact_columns(con: duckdb.DuckDBPyConnection, table: str, schema) -> None:
    """A long fact table of a warehouse created before a column of ADDED_FACT_COLUMNS existed is rebuilt in the
    layout's column order, its rows given the value they mean (content_type ALL: fetched with the API's default)."""
    present = {r[0] for r in con.execute("SELECT column_name FROM duckdb_columns() WHERE schema_name = 'main' "
                                         "AND table_name = ?", [table]).fetchall()}
    if all(name in present for name in schema.names):
        return
    columns = ", ".join(identifier(name) if name in present else f"{literal(ADDED_FACT_COLUMNS[name][0])} AS {identifier(name)}"
                        for name in schema.names)
    log.info("adding %s to the warehouse table %s (rows written before it: their default)",
             ", ".join(n for n in schema.names if n not in present), table)
    con.execute(f"CREATE OR REPLACE TABLE {identifier(table)} AS SELECT {columns} FROM {identifier(table)}")


def _replace_views(con: duckdb.DuckDBPyConnection) -> None:
    """The views derived from the wide tables, bound to each table's columns as they are now."""
    for sql in catalog.derived_views().values():
        con.execute(sql)


def _blocked_load_message(outcomes: tuple[CheckOutcome, ...], lake: Lake, source: str, finish_later: str) -> str:
    """One line: which blocking checks failed and on which rows, that nothing of this source was published (a
    run loads each source in its own transaction), where the new data is and how to load it once fixed."""
    failed = [o.describe() for o in outcomes if o.check.blocking and not o.passed]
    return (f"blocking check{'s' if len(failed) > 1 else ''} failed: {'; '.join(failed)}. Nothing of the {source} "
            f"data was loaded: the warehouse keeps its previous {source} rows and dimensions (this load was rolled "
            f"back; another source's load in the same run is separate), and the new data is kept in the lake "
            f"({lake.root}) for inspection. Once it is fixed, load it without API calls: {finish_later}")


def _insert_from_lake(con: duckdb.DuckDBPyConnection, lake: Lake, paths: list[Path], insert_sql: str) -> None:
    """Run an INSERT reading lake files, after checking them against their checksums; a file that cannot be
    read is named in the error (CorruptLakeFileError), never skipped."""
    lake.verify_before_load(paths)
    try:
        con.execute(insert_sql, [[str(p) for p in paths]])
    except (duckdb.InvalidInputException, duckdb.IOException) as error:
        raise lake.explain_read_failure(paths, error) from None
