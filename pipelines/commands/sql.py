"""`pinterest-etl sql`: a read-only query on the warehouse, printed as an aligned table."""

from __future__ import annotations

import argparse
import sys

import duckdb

from pipelines import settings


def add_parser(commands) -> None:
    p = commands.add_parser("sql", help="run a read-only SQL query on the warehouse",
                            description="Run one read-only SQL query on PINTEREST_ETL_HOME/warehouse.duckdb and print "
                                        "the result as an aligned table.")
    p.add_argument("query", help='for example "SELECT * FROM pin_daily LIMIT 5"')
    p.add_argument("--max-rows", type=int, default=100, help="rows to print at most (default: 100)")
    p.set_defaults(handler=_sql)


def format_table(cursor: duckdb.DuckDBPyConnection, max_rows: int = 100) -> str:
    columns = [d[0] for d in cursor.description]
    rows = cursor.fetchmany(max_rows + 1)
    more = len(rows) > max_rows
    cells = [[("NULL" if v is None else str(v)) for v in row] for row in rows[:max_rows]]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths)), "  ".join("-" * w for w in widths)]
    lines += ["  ".join(v.rjust(w) if _numeric(v) else v.ljust(w) for v, w in zip(row, widths)) for row in cells]
    lines.append(f"({len(cells)} rows{', more not shown' if more else ''})")
    return "\n".join(lines)


def _numeric(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def _sql(args: argparse.Namespace) -> int:
    from pipelines.warehouse import Warehouse

    settings.load_dotenv()
    warehouse = Warehouse(settings.etl_home() / "warehouse.duckdb")
    try:
        with warehouse.connect(read_only=True) as con:
            print(format_table(con.execute(args.query), args.max_rows))
    except FileNotFoundError as error:
        print(f"pinterest-etl sql: error: {error}", file=sys.stderr)
        return 1
    except duckdb.Error as error:
        print(f"pinterest-etl sql: error: {error}", file=sys.stderr)
        return 1
    return 0
