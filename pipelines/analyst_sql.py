"""Analysts' SQL on the warehouse: a session that cannot change anything, named queries from .sql files, and a
result as an aligned text table."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb

from pipelines.data_locations import data_locations
from pipelines.warehouse import WAREHOUSE_MEMORY_LIMIT, require_current_schema

# DESCRIBE, SHOW, SUMMARIZE, VALUES, WITH ... SELECT and FROM-first queries all parse as SELECT statements.
# EXPLAIN is left out on purpose: EXPLAIN ANALYZE runs the statement it explains (COPY ... TO included).
READ_ONLY_STATEMENT_TYPES = frozenset({duckdb.StatementType.SELECT})
_NAME_LINE = re.compile(r"^--\s*name:\s*(\S+)\s*$", re.M)
NUMERIC_TYPES = frozenset({"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER",
                           "UBIGINT", "UHUGEINT", "FLOAT", "DOUBLE", "DECIMAL"})
MAX_CELL_WIDTH = 80


class NoWarehouseError(FileNotFoundError):
    """PINTEREST_ETL_HOME has no warehouse yet."""


class WarehouseBusyError(RuntimeError):
    """Another process holds the warehouse open for writing (a pipeline run, or an analyst's write session)."""


class QueryRefusedError(ValueError):
    """The SQL is not exactly one read-only statement."""


def open_read_only(home: Path) -> duckdb.DuckDBPyConnection:
    """The warehouse of `home`, opened so that no statement can change anything.

    Three locks, because each alone leaves a gap: the file is opened read-only (DuckDB refuses INSERT, CREATE,
    DROP... on it, but still lets COPY ... TO, EXPORT DATABASE and ATTACH write other files); external access is
    off except reading the lake's folder (`home/lake/`, or PINTEREST_LAKE_URI's; so `read_parquet` of the lake works, while other files, URLs and extension
    installs fail); and the configuration is locked so that no SET can lift either. `check_read_only` adds a
    statement allow-list on top (COPY ... TO into the lake would otherwise be allowed). A warehouse an earlier
    version wrote is refused with the command that updates it (OutdatedWarehouseError)."""
    path = Path(home).resolve() / "warehouse.duckdb"
    if not path.exists():
        raise NoWarehouseError(f"no warehouse at {path} yet; run `pinterest-etl run` first "
                               "(or set PINTEREST_ETL_HOME to the directory that holds warehouse.duckdb)")
    try:
        con = duckdb.connect(str(path), read_only=True, config={
            "memory_limit": WAREHOUSE_MEMORY_LIMIT, "autoinstall_known_extensions": False,
            "autoload_known_extensions": False})
    except duckdb.IOException as error:
        if "lock" in str(error).lower():
            raise WarehouseBusyError(
                f"the warehouse {path} is open for writing in another process (a pipeline run?); try again when "
                f"it has finished ({_first_line(error)})") from None
        raise
    try:
        lake = str(data_locations(path.parent).lake.resolve()) + "/"
        con.execute("SET allowed_directories = ?", [[lake]])
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
        require_current_schema(con, path)
    except BaseException:
        con.close()
        raise
    return con


def check_read_only(con: duckdb.DuckDBPyConnection, sql: str) -> None:
    """Refuse anything but exactly one read-only statement (parsing only: nothing is run)."""
    statements = con.extract_statements(sql)
    if len(statements) != 1:
        raise QueryRefusedError(f"give exactly one SQL statement (got {len(statements)})")
    kind = statements[0].type
    if kind not in READ_ONLY_STATEMENT_TYPES:
        raise QueryRefusedError(
            f"{kind.name} is not allowed: only read-only queries run here (SELECT, WITH, VALUES, FROM, DESCRIBE, SHOW, "
            "SUMMARIZE). Nothing was run; the warehouse is written only by `pinterest-etl run`, and --csv or "
            "--parquet save a result")


def named_queries(text: str) -> dict[str, str]:
    """The queries of a .sql file in which each query starts with a `-- name: NAME` line, by name, in file order;
    each query's text keeps its comment lines and loses its trailing semicolon."""
    starts = list(_NAME_LINE.finditer(text))
    queries: dict[str, str] = {}
    for i, match in enumerate(starts):
        end = starts[i + 1].start() if i + 1 < len(starts) else len(text)
        name = match.group(1)
        if name in queries:
            raise ValueError(f"the query name {name!r} appears twice")
        queries[name] = text[match.end():end].strip().rstrip(";").strip()
    return queries


def format_table(cursor: duckdb.DuckDBPyConnection, max_rows: int = 100) -> str:
    """The first `max_rows` rows of a query result as an aligned text table: numeric columns right-aligned,
    cells longer than MAX_CELL_WIDTH characters cut with an ellipsis."""
    columns = [d[0] for d in cursor.description]
    numeric = [str(d[1]).split("(")[0] in NUMERIC_TYPES for d in cursor.description]
    rows = cursor.fetchmany(max_rows + 1)
    more = len(rows) > max_rows
    cells = [[_cell(v) for v in row] for row in rows[:max_rows]]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]

    def line(values: list[str]) -> str:
        return "  ".join(v.rjust(w) if right else v.ljust(w) for v, w, right in zip(values, widths, numeric)).rstrip()

    lines = [line(columns), "  ".join("-" * w for w in widths)] + [line(row) for row in cells]
    lines.append(f"({len(cells)} rows{', more not shown' if more else ''})")
    return "\n".join(lines)


def _cell(value) -> str:
    text = "NULL" if value is None else str(value)
    text = text.replace("\n", " ")
    return text if len(text) <= MAX_CELL_WIDTH else text[:MAX_CELL_WIDTH - 1] + "…"


def _first_line(error: BaseException) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
