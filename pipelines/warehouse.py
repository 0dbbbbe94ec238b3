"""The DuckDB warehouse: tables of the contract, wide views, and transactional loads from the lake."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import logging
import os
import re
import time
from collections.abc import Mapping
from pathlib import Path

import duckdb

from pipelines import api_enums, settings
from pipelines.ads.dimensions import AD_ACCOUNTS, AD_GROUPS, ADS, CAMPAIGNS
from pipelines.ads.extract import DEFAULT_COLUMNS as DEFAULT_ADS_COLUMNS
from pipelines.atomic_files import write_error
from pipelines.faults import WAREHOUSE_BEFORE_COMMIT, crash_point
from pipelines.lake import ADDED_FACT_COLUMNS, Lake
from pipelines.organic.dimensions import BOARDS, PINS, USER_ACCOUNTS
from pipelines.planning import DateRange
from pipelines.quality import DIMENSION_KEYS, Check, CheckOutcome, run_check
from pipelines.sql_text import identifier, literal
from pipelines.tables import DAILY_STATUS, METRIC_DAILY, PIN_LIFETIME, UNFILTERED_CONTENT, duckdb_columns

# The content type that counts organic activity only; the organic numbers are of it where it is stored, and of
# UNFILTERED_CONTENT (ALL: paid included) where it is not: rows loaded before content types were stored.
ORGANIC_CONTENT = "ORGANIC"

FACT_TABLES = {"metric_daily": METRIC_DAILY, "daily_status": DAILY_STATUS}
DIMENSIONS = {"user_accounts": USER_ACCOUNTS, "boards": BOARDS, "pins": PINS, "pin_lifetime": PIN_LIFETIME,
              "ad_accounts": AD_ACCOUNTS, "campaigns": CAMPAIGNS, "ad_groups": AD_GROUPS, "ads": ADS}
ADS_ENTITY_TYPES = ("ad_account", "campaign", "ad_group", "ad")
# Parent ids a wide ads view carries, from the dimension tables: (column, SQL expression).
_ADS_PARENTS = {
    "ad_account": ("ad_account_id", [], "s.entity_id"),
    "campaign": ("campaign_id", [("ad_account_id", "c.ad_account_id")], "c.ad_account_id"),
    "ad_group": ("ad_group_id", [("campaign_id", "g.campaign_id"), ("ad_account_id", "g.ad_account_id")], "g.ad_account_id"),
    "ad": ("ad_id", [("ad_group_id", "a.ad_group_id"), ("campaign_id", "a.campaign_id"),
                     ("ad_account_id", "a.ad_account_id"), ("pin_id", "a.pin_id")], "a.ad_account_id"),
}
_ADS_JOINS = {"ad_account": "", "campaign": "LEFT JOIN campaigns c ON c.campaign_id = s.entity_id",
              "ad_group": "LEFT JOIN ad_groups g ON g.ad_group_id = s.entity_id",
              "ad": "LEFT JOIN ads a ON a.ad_id = s.entity_id"}


def _ads_view(level: str, metrics: list[str]) -> str:
    """One row per entity per UTC day per attribution setting, with its parents' ids and the account's
    currency (money columns are micro-units of that currency; nothing is converted)."""
    id_column, parents, account = _ADS_PARENTS[level]
    parent_columns = "".join(f"{expression} AS {identifier(name)}, " for name, expression in parents)
    keys = ", ".join(["s.date", "s.entity_id", *[e for _, e in parents], "acc.currency", "s.split_value", "s.is_final",
                      "s.extracted_at"])
    return f"""
    CREATE OR REPLACE VIEW {identifier(f"{level}_daily")} AS
    SELECT s.date, s.entity_id AS {identifier(id_column)}, {parent_columns}acc.currency, s.split_value AS attribution, s.is_final,
        {_pivot(tuple(metrics))},
        s.extracted_at
    FROM daily_status s
    {_ADS_JOINS[level]}
    LEFT JOIN ad_accounts acc ON acc.ad_account_id = {account}
    LEFT JOIN metric_daily m
      ON m.date = s.date AND m.entity_type = s.entity_type AND m.entity_id = s.entity_id
     AND m.split_field = s.split_field AND m.split_value = s.split_value AND m.content_type = s.content_type
    WHERE s.entity_type = {literal(level)}
    GROUP BY {keys}"""
PIN_METRICS = tuple(dict.fromkeys(api_enums.PIN_STANDARD_METRIC_TYPES + api_enums.PIN_VIDEO_METRIC_TYPES))


def _pivot(metrics: tuple[str, ...]) -> str:
    # Metric names may come from the data (configured ads columns): quoted, never pasted.
    return ",\n        ".join(f"max(m.value) FILTER (WHERE m.metric = {literal(m)}) AS {identifier(m.lower())}"
                               for m in metrics)


def _wide_view(name: str, entity_type: str, id_column: str, metrics: tuple[str, ...], with_split: bool) -> str:
    """With `with_split` (the user account) the split bucket and the content type are columns of the key; else (pins,
    whose analytics have neither) only the unsplit, unfiltered rows are shown."""
    split = "s.split_field, s.split_value, s.content_type, " if with_split else ""
    where = "" if with_split else f" AND s.split_field = 'NO_SPLIT' AND s.content_type = {literal(UNFILTERED_CONTENT)}"
    return f"""
    CREATE OR REPLACE VIEW {identifier(name)} AS
    SELECT s.date, s.entity_id AS {identifier(id_column)}, {split}s.data_status, s.is_final,
        {_pivot(metrics)},
        s.extracted_at
    FROM daily_status s
    LEFT JOIN metric_daily m
      ON m.date = s.date AND m.entity_type = s.entity_type AND m.entity_id = s.entity_id
     AND m.split_field = s.split_field AND m.split_value = s.split_value AND m.content_type = s.content_type
    WHERE s.entity_type = {literal(entity_type)}{where}
    GROUP BY s.date, s.entity_id, s.split_field, s.split_value, s.content_type, s.data_status, s.is_final, s.extracted_at"""


VIEWS = {
    # One row per user account per UTC day per split bucket (split_field NO_SPLIT, split_value ALL: unsplit) per
    # content type (ALL: paid and organic; ORGANIC; PAID).
    "user_account_daily": _wide_view("user_account_daily", "user_account", "user_id",
                                     api_enums.USER_ACCOUNT_METRIC_TYPES, with_split=True),
    # One row per pin per UTC day.
    "pin_daily": _wide_view("pin_daily", "pin", "pin_id", PIN_METRICS, with_split=False),
    # One row per user account per UTC day per split bucket: the organic numbers. The content type is chosen per
    # account and day, never per bucket: ORGANIC's answer has no bucket for paid formats (PIN_FORMAT's ADS_STANDARD,
    # ADS_VIDEO), and taking ALL's row for a bucket ORGANIC lacks would report paid activity as organic. So a day
    # with any ORGANIC row shows its ORGANIC rows only; a day without any (stored before content types) shows ALL.
    "user_account_organic_daily": f"""
    CREATE OR REPLACE VIEW user_account_organic_daily AS
    SELECT * FROM user_account_daily
    WHERE content_type IN ({literal(ORGANIC_CONTENT)}, {literal(UNFILTERED_CONTENT)})
    QUALIFY content_type = CASE WHEN bool_or(content_type = {literal(ORGANIC_CONTENT)}) OVER (PARTITION BY date, user_id)
                                THEN {literal(ORGANIC_CONTENT)} ELSE {literal(UNFILTERED_CONTENT)} END""",
}


# Loads and checks of 17 million rows ran as fast with 512 MB as with 1 GB (bench/NOTES.md), and the whole run
# then stays under 1 GB; DuckDB spills to <warehouse>.duckdb.tmp/ beyond it.
WAREHOUSE_MEMORY_LIMIT = "512MB"
LOCK_WAIT_VARIABLE = "PINTEREST_WAREHOUSE_LOCK_WAIT_SECONDS"
DEFAULT_LOCK_WAIT_SECONDS = 60.0
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


class OutdatedWarehouseError(ValueError):
    """The warehouse was written by an earlier version of the pipeline: a column or view of the contract is
    missing. Any load brings it up to date from the lake, without API calls; the message gives the command."""


def missing_from_contract(con: duckdb.DuckDBPyConnection) -> list[str]:
    """What a warehouse with fact tables lacks of the contract: their columns (content_type, before it was stored)
    and the views; empty when it is current, or when it has no fact tables (nothing loaded yet)."""
    columns: dict[str, set[str]] = {}
    for table, column in con.execute("SELECT table_name, column_name FROM duckdb_columns() "
                                     "WHERE schema_name = 'main'").fetchall():
        columns.setdefault(table, set()).add(column)
    if not any(table in columns for table in FACT_TABLES):
        return []
    missing = [f"{table} has no column {name}" for table, schema in FACT_TABLES.items()
               for name in schema.names if name not in columns.get(table, ())]
    return missing + [f"the view {name} is missing" for name in VIEWS if name not in columns]


def require_current_schema(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """Refuse, in one line, to read a warehouse an earlier version wrote (OutdatedWarehouseError): queries of this
    version would fail on it with raw binder errors. Loading its newest date from the lake updates it."""
    missing = missing_from_contract(con)
    if not missing:
        return
    newest = None
    with contextlib.suppress(duckdb.CatalogException):  # a warehouse with metric_daily only
        newest = con.execute("SELECT max(date) FROM daily_status").fetchone()[0]
    day = newest.isoformat() if newest else "YYYY-MM-DD"
    raise OutdatedWarehouseError(
        f"the warehouse {path} was written by an earlier version of pinterest-etl ({'; '.join(missing)}); update it "
        f"from the lake, without API calls (its data is kept), then try again: pinterest-etl load --start {day} --end {day}")


def lock_wait_seconds(env: Mapping[str, str] = os.environ) -> float:
    """PINTEREST_WAREHOUSE_LOCK_WAIT_SECONDS: how long opening the warehouse waits, retrying with backoff, while
    another process (an analyst's read-write session) holds it (default 60; 0: fail at once)."""
    return settings.seconds(LOCK_WAIT_VARIABLE, DEFAULT_LOCK_WAIT_SECONDS, env)


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
    return f"process {pid} ({' '.join((command or program).split())[:200]})"


class Warehouse:
    def __init__(self, path: Path):
        self.path = Path(path)

    def connect(self, read_only: bool = False) -> duckdb.DuckDBPyConnection:
        """A connection; while another process holds the file, retry with backoff (logging who holds it) for up
        to PINTEREST_WAREHOUSE_LOCK_WAIT_SECONDS, then raise WarehouseLockedError."""
        if read_only and not self.path.exists():
            raise FileNotFoundError(f"no warehouse at {self.path} yet; run `pinterest-etl run` first")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise write_error(self.path, error, "Nothing was changed.") or error from None
        budget = lock_wait_seconds()
        deadline = time.monotonic() + budget
        pause = 0.5
        while True:
            try:
                # Bounded memory: big loads and checks spill to <warehouse>.duckdb.tmp/ instead of growing the process.
                return duckdb.connect(str(self.path), read_only=read_only, config={"memory_limit": WAREHOUSE_MEMORY_LIMIT})
            except duckdb.IOException as error:
                if "could not set lock" not in str(error).lower():
                    raise write_error(self.path, error, "Nothing was changed.") or error from None
                holder, left = lock_holder(str(error)), deadline - time.monotonic()
                if left <= 0:
                    raise WarehouseLockedError(f"the warehouse {self.path} is still locked by {holder} after waiting "
                                               f"{budget:g} s ({LOCK_WAIT_VARIABLE})") from None
                pause = min(pause, left)
                log.warning("the warehouse %s is locked by %s; retrying in %.1f s (waiting up to %g s in all, %s)",
                            self.path, holder, pause, budget, LOCK_WAIT_VARIABLE)
                time.sleep(pause)
                pause = min(pause * 2, _LONGEST_LOCK_RETRY_SECONDS)

    def ensure_schema(self, con: duckdb.DuckDBPyConnection) -> None:
        """The tables and the views (a load creates them inside its transaction instead)."""
        _create_tables(con)
        _replace_views(con)

    def load(self, lake: Lake, source: str, entity_types: tuple[str, ...], dates: list[dt.date],
             dimensions: dict[str, list[Path]] | None = None, checks: tuple[Check, ...] = (),
             stale_before: dt.date | None = None) -> LoadResult:
        """In one transaction: the source's fact rows for those dates are replaced by the lake's files (every
        account's), each given dimension table becomes exactly the union of its snapshots (the newest of every
        account; an entity two accounts see is kept once, as last extracted), and the views are rebuilt on the
        new rows. Then, before COMMIT, the checks run on the new rows and dimensions; a failing blocking one rolls
        everything back, tables and views (BlockingCheckError)."""
        rows: dict[str, int] = {}
        outcomes: tuple[CheckOutcome, ...] = ()
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
                    _create_tables(con)
                    if dates:
                        rows.update(self._replace_facts(con, lake, source, entity_types, dates))
                    for name, paths in (dimensions or {}).items():
                        schema, key = DIMENSIONS[name], ", ".join(DIMENSION_KEYS[name])
                        con.execute(f"DELETE FROM {identifier(name)}")
                        _insert_from_lake(con, lake, paths,
                                          f"INSERT INTO {identifier(name)} SELECT {', '.join(schema.names)} "
                                          "FROM read_parquet(?, hive_partitioning = false, union_by_name = true) "
                                          f"QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY extracted_at DESC) = 1")
                        rows[name] = con.execute(f"SELECT count(*) FROM {identifier(name)}").fetchall()[0][0]
                    # After the facts: an ads view has a column per metric present, the new ones included.
                    _replace_views(con)
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
        return LoadResult(rows, outcomes)

    @staticmethod
    def _replace_facts(con: duckdb.DuckDBPyConnection, lake: Lake, source: str, entity_types: tuple[str, ...],
                       dates: list[dt.date]) -> dict[str, int]:
        rows = {}
        in_scope = "entity_type IN (SELECT unnest(?::VARCHAR[])) AND date IN (SELECT unnest(?::DATE[]))"
        for table, schema in FACT_TABLES.items():
            con.execute(f"DELETE FROM {identifier(table)} WHERE {in_scope}", [list(entity_types), dates])
            # Files written before a key column existed are read with the value their rows mean (lake.ADDED_FACT_COLUMNS).
            for files, columns in lake.fact_selects(lake.files(table, dates, source), schema.names):
                _insert_from_lake(con, lake, files, f"INSERT INTO {identifier(table)} SELECT {columns} "
                                                    "FROM read_parquet(?, hive_partitioning = false)")
            rows[table] = con.execute(f"SELECT count(*) FROM {identifier(table)} WHERE {in_scope}",
                                      [list(entity_types), dates]).fetchall()[0][0]
        return rows


def _create_tables(con: duckdb.DuckDBPyConnection) -> None:
    for name, schema in {**FACT_TABLES, **DIMENSIONS}.items():
        con.execute(f"CREATE TABLE IF NOT EXISTS {identifier(name)} ({duckdb_columns(schema)})")
    for name, schema in FACT_TABLES.items():
        _add_missing_fact_columns(con, name, schema)


def _add_missing_fact_columns(con: duckdb.DuckDBPyConnection, table: str, schema) -> None:
    """A fact table of a warehouse created before a column of ADDED_FACT_COLUMNS existed is rebuilt in the contract's
    column order, its rows given the value they mean (content_type ALL: fetched with the API's default)."""
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
    for sql in VIEWS.values():
        con.execute(sql)
    # The ads views have a column per metric present (the configured columns may differ from the defaults).
    present = [r[0] for r in con.execute(
        "SELECT DISTINCT metric FROM metric_daily WHERE entity_type IN (SELECT unnest(?::VARCHAR[])) ORDER BY 1",
        [list(ADS_ENTITY_TYPES)]).fetchall()]
    metrics = list(dict.fromkeys([*DEFAULT_ADS_COLUMNS, *present]))
    for level in ADS_ENTITY_TYPES:
        con.execute(_ads_view(level, metrics))


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
