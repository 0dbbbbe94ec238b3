"""`pinterest-etl report`: write the visual report of the warehouse as one self-contained HTML file."""

from __future__ import annotations

import argparse
from pathlib import Path

from pipelines import settings
from pipelines.commands.failure import fail
from pipelines.commands.run import _date as iso_date


def add_parser(commands) -> None:
    p = commands.add_parser(
        "report", help="write a self-contained HTML report of the warehouse",
        description="Write one HTML file (inline CSS and SVG charts, nothing loaded from the network) with the organic "
                    "trend, the top pins, spend vs conversions by campaign and data freshness, read from "
                    "PINTEREST_ETL_HOME/warehouse.duckdb (read-only). Changes compare the range with as many days "
                    "before it, over the days final in both. Without dates: the last 28 complete UTC days with data, "
                    "as `pinterest-etl run` writes it.")
    p.add_argument("--output", type=Path, metavar="FILE",
                   help="the HTML file to write (default: PINTEREST_ETL_HOME/report.html); never the warehouse or a "
                        "file in the lake, raw zone or another folder of PINTEREST_ETL_HOME, never a directory or "
                        "symlink; an existing file that is not a report only with --force")
    p.add_argument("--force", action="store_true", help="replace --output even if it is an existing file that is not "
                                                        "a report (never one the pipeline owns)")
    p.add_argument("--start", type=iso_date, metavar="YYYY-MM-DD", help="first UTC date (default: 27 days before --end)")
    p.add_argument("--end", type=iso_date, metavar="YYYY-MM-DD",
                   help="last UTC date (default: the last complete day with data)")
    p.set_defaults(handler=_report)


def _report(args: argparse.Namespace) -> int:
    import duckdb

    from pipelines.report import (
        REPORT_FILE,
        OutputRefusedError,
        ReportError,
        ReportWriteError,
        check_report_output,
        write_report,
    )
    from pipelines.warehouse import Warehouse, WarehouseLockedError

    settings.load_dotenv()
    home = settings.etl_home()
    output = args.output or home / REPORT_FILE
    try:
        check_report_output(output, home, args.force)
        summary = write_report(Warehouse(home / "warehouse.duckdb"), output, args.start, args.end, today=settings.today(),
                               check_output=lambda: check_report_output(output, home, args.force))
    except (FileNotFoundError, ReportError, OutputRefusedError, ReportWriteError, WarehouseLockedError,
            duckdb.Error) as error:
        return fail("report", error)
    counts = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in summary.row_counts.items())
    print(f"Report of {summary.range} written to {summary.path} ({summary.bytes:,} bytes; {counts})")
    return 0
