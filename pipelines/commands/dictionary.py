"""`pinterest-etl dictionary`: the data dictionary (docs/data-dictionary.md) of the warehouse, from its schema."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from pipelines import settings
from pipelines.commands.failure import fail


def add_parser(commands) -> None:
    p = commands.add_parser(
        "dictionary", help="write the data dictionary (every table, view and column) of the warehouse",
        description="Render the data dictionary of PINTEREST_ETL_HOME/warehouse.duckdb as markdown: every table and "
                    "view with its grain and key, every column with its type, meaning and unit. docs/data-dictionary.md "
                    "is this output for a warehouse built with the default settings.")
    p.add_argument("--output", type=Path, help="write it to this file (default: standard output)")
    p.set_defaults(handler=_dictionary)


def _dictionary(args: argparse.Namespace) -> int:
    import duckdb

    from pipelines.analyst_sql import NoWarehouseError, WarehouseBusyError, open_read_only
    from pipelines.data_dictionary import render

    settings.load_dotenv()
    try:
        with open_read_only(settings.etl_home()) as con:
            text = render(con)
        if args.output is None:
            sys.stdout.write(text)
        else:
            temporary = args.output.with_name(f".{args.output.name}.{os.getpid()}.partial")
            try:
                temporary.write_text(text)
                os.replace(temporary, args.output)
            finally:
                temporary.unlink(missing_ok=True)
            print(f"wrote {args.output}", file=sys.stderr)
    except (NoWarehouseError, WarehouseBusyError, ValueError, duckdb.Error, OSError) as error:
        return fail("dictionary", str(error).strip().splitlines()[0])
    return 0
