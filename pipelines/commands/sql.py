"""`pinterest-etl sql`: one read-only query on the warehouse, printed as an aligned table or written to CSV/Parquet."""

from __future__ import annotations

import argparse
import os
import stat
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from pipelines import settings
from pipelines.commands.failure import fail, reader_gone
from pipelines.data_locations import data_locations
from pipelines.protected_paths import OutputRefusedError, mode_without_following, refuse_protected, resolved_output

BATCH_ROWS = 100_000


def add_parser(commands) -> None:
    p = commands.add_parser(
        "sql", help="run a read-only SQL query on the warehouse",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Run one read-only SQL query on PINTEREST_ETL_HOME/warehouse.duckdb: print it as an aligned table, "
                    "or write the whole result with --csv/--parquet.",
        epilog="Read-only means: the warehouse is opened read-only, only SELECT-like statements are accepted (SELECT, "
               "WITH, VALUES, FROM, DESCRIBE, SHOW, SUMMARIZE), no file but the lake (read_parquet of "
               "PINTEREST_ETL_HOME/lake/...) can be read, and none can be written by SQL (COPY, EXPORT, ATTACH, "
               "INSTALL and SET fail).\n\n"
               "--csv and --parquet never write onto the warehouse or into the lake or raw zone (nor anywhere in "
               "PINTEREST_ETL_HOME or DAGSTER_HOME, whatever symlink or bind mount leads there, nor onto the token or "
               "accounts file or a .env file), never onto a symlink or "
               "anything but a regular file (use - for standard output), and never replace an existing file unless "
               "--force is given (exit code 2 otherwise; the file is left untouched).\n\n"
               "examples:\n"
               '  pinterest-etl sql "SELECT * FROM pin_daily LIMIT 5"\n'
               "  pinterest-etl sql --file docs/queries.sql --name top_pins_by_saves_28d\n"
               '  pinterest-etl sql "FROM campaign_daily" --csv campaigns.csv --parquet campaigns.parquet\n'
               "  pinterest-etl sql - --csv - < my_query.sql > result.csv")
    p.add_argument("query", nargs="?", help='the SQL, for example "SELECT * FROM pin_daily LIMIT 5"; - reads it from '
                                            "standard input")
    p.add_argument("--file", type=Path, help="read the SQL from this file; with several `-- name: NAME` queries in "
                                             "it (like docs/queries.sql), pick one with --name")
    p.add_argument("--name", help="the `-- name:` of the query to run from --file")
    p.add_argument("--max-rows", type=int, default=100, help="rows to print at most (default: 100); --csv and "
                                                            "--parquet always get every row")
    p.add_argument("--csv", metavar="PATH", help="write the whole result as CSV with a header (- for standard output)")
    p.add_argument("--parquet", metavar="PATH", help="write the whole result as Parquet")
    p.add_argument("--force", action="store_true", help="replace the --csv/--parquet file if it is an existing regular "
                                                        "file (never one in PINTEREST_ETL_HOME or DAGSTER_HOME)")
    p.set_defaults(handler=_sql)


class UsageError(ValueError):
    """The command line does not say which one query to run."""


def check_output_paths(paths: list[str], home: Path, force: bool, env: Mapping[str, str] = os.environ) -> None:
    """Refuse, before any query runs, outputs that would overwrite data: anything in the data directory (the
    warehouse, lake, raw zone, credentials, run lock...) or in DAGSTER_HOME, the token and accounts files,
    whatever symlinks or relative paths lead there; with or without `force`, a symlink (even a dangling one)
    or anything but a regular file; and (unless `force`) any existing file. `-` (standard output) is always fine."""
    files = [p for p in paths if p != "-"]
    seen: set[Path] = set()
    for given in files:
        real = resolved_output(given)
        if real in seen:
            raise OutputRefusedError(f"{given} is given twice; write --csv and --parquet to different files")
        seen.add(real)
        refuse_protected(given, real, home, env)
        mode = mode_without_following(given)
        if mode is not None and not stat.S_ISREG(mode):
            what = "a symbolic link" if stat.S_ISLNK(mode) else "a directory" if stat.S_ISDIR(mode) else \
                "not a regular file (a device, pipe or socket)"
            raise OutputRefusedError(f"refusing to write {given}: it is {what}, which is never replaced, even with "
                                     "--force; give a plain file name (or - for standard output)")
        if mode is not None and not force:
            raise OutputRefusedError(f"refusing to replace the existing file {given}; give --force to replace it, or "
                                     "another file name")


def read_query(args: argparse.Namespace, stdin=None) -> str:
    """The SQL the command line names: the argument, standard input (-), or a (named query of a) file."""
    from pipelines.analyst_sql import named_queries

    if args.file is not None and args.query is not None:
        raise UsageError("give the SQL either as an argument or with --file, not both")
    if args.name is not None and args.file is None:
        raise UsageError("--name picks a query from --file; give --file too")
    if args.file is None:
        if args.query is None:
            raise UsageError('give a query, for example: pinterest-etl sql "SELECT * FROM pin_daily LIMIT 5"')
        return (stdin or sys.stdin).read() if args.query == "-" else args.query
    try:
        text = args.file.read_text()
    except OSError as error:
        raise UsageError(f"cannot read {args.file}: {error.strerror or error}") from None
    queries = named_queries(text)
    if args.name is not None:
        if args.name not in queries:
            raise UsageError(f"{args.file} has no query named {args.name!r}; its queries: "
                             f"{', '.join(queries) or 'none (no `-- name:` lines)'}")
        return queries[args.name]
    if len(queries) > 1:
        raise UsageError(f"{args.file} holds {len(queries)} named queries; pick one with --name: {', '.join(queries)}")
    return next(iter(queries.values())) if queries else text


def write_result(reader: pa.RecordBatchReader, csv_path: str | None, parquet_path: str | None, home: Path,
                 force: bool = False, env: Mapping[str, str] = os.environ) -> int:
    """Stream every row of the result into the CSV and/or Parquet file; returns the number of rows.
    Files are written under a temporary name and renamed at the end, so a failure leaves no partial file; the
    rename replaces nothing but a regular file, and that only with `force`, and never one the pipeline owns
    (checked again just before it: a folder may have been moved or mounted while the query ran)."""
    files = {kind: _temporary(path) for kind, path in (("CSV", csv_path), ("Parquet", parquet_path))
             if path is not None and path != "-"}  # kind -> (temporary file, final file)
    writers = []
    try:
        try:
            if csv_path == "-":
                writers.append(pa_csv.CSVWriter(sys.stdout.buffer, reader.schema))
            elif "CSV" in files:
                writers.append(pa_csv.CSVWriter(str(files["CSV"][0]), reader.schema))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
            raise UsageError(f"this result cannot be written as CSV ({error}); use --parquet, or cast the column "
                             "to VARCHAR") from None
        if "Parquet" in files:
            writers.append(pq.ParquetWriter(str(files["Parquet"][0]), reader.schema))
        rows = 0
        for batch in reader:
            for writer in writers:
                writer.write_batch(batch)
            rows += batch.num_rows
        for writer in writers:
            writer.close()
        for _, final in files.values():
            refuse_protected(str(final), resolved_output(final), home, env)
            mode = mode_without_following(final)  # what is there now, not what was there when the query started
            if mode is not None and not (force and stat.S_ISREG(mode)):
                raise OutputRefusedError(f"refusing to write {final}: something was put there while the query ran; "
                                         "it is left as it is")
    except BaseException:
        for writer in writers:
            _close_quietly(writer)
        for temporary, _ in files.values():
            temporary.unlink(missing_ok=True)
        raise
    for temporary, final in files.values():
        os.replace(temporary, final)
    if csv_path == "-":
        sys.stdout.flush()
    return rows


def _temporary(target: str) -> tuple[Path, Path]:
    """A new temporary file beside `target` (created exclusively, so nothing there is followed), and `target`."""
    path = Path(target)
    if path.is_dir():
        raise UsageError(f"{target} is a directory; give a file name")
    if not path.parent.is_dir():
        raise UsageError(f"cannot write {target}: the directory {path.parent} does not exist")
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    os.close(descriptor)
    return Path(temporary), path


def _close_quietly(writer) -> None:
    try:
        writer.close()
    except Exception:  # noqa: BLE001 - already failing; the original error is the one to report
        pass


def _sql(args: argparse.Namespace) -> int:
    from pipelines.analyst_sql import (
        NoWarehouseError,
        QueryRefusedError,
        WarehouseBusyError,
        check_read_only,
        format_table,
        open_read_only,
    )

    settings.load_dotenv()
    try:
        if args.max_rows < 0:
            raise UsageError(f"--max-rows must be 0 or more (got {args.max_rows})")
        if args.csv == "-" and args.parquet == "-":
            raise UsageError("only --csv can write to standard output (-)")
        sql = read_query(args)
        check_output_paths([p for p in (args.csv, args.parquet) if p is not None], settings.etl_home(), args.force)
        with open_read_only(settings.etl_home()) as con:
            check_read_only(con, sql)
            if args.csv is None and args.parquet is None:
                print(format_table(con.execute(sql), args.max_rows))
            else:
                rows = write_result(con.sql(sql).to_arrow_reader(BATCH_ROWS), args.csv, args.parquet,
                                    settings.etl_home(), args.force)
                written = [p for p in (args.csv, args.parquet) if p is not None and p != "-"]
                if written:
                    print(f"{rows} rows written to {' and '.join(written)}", file=sys.stderr)
    except BrokenPipeError:
        return reader_gone()
    except OutputRefusedError as error:
        return fail("sql", error, 2)
    except (UsageError, NoWarehouseError, WarehouseBusyError, QueryRefusedError, duckdb.Error, pa.ArrowException,
            OSError, ValueError) as error:
        text = str(error).strip()  # DuckDB's messages go on with the query and a caret: the first line says it
        message = text.splitlines()[0] if text else type(error).__name__
        if isinstance(error, duckdb.PermissionException):
            message += f" (SQL here may read only the lake: files under {data_locations(settings.etl_home()).lake.resolve()}/)"
        return fail("sql", message)
    return 0
