"""The visual report: one self-contained HTML file of charts over a range of the warehouse.

`data` reads the warehouse (read-only), `svg` draws charts, `render` lays out the page; `write_report` puts
them together and replaces the file atomically.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from pathlib import Path

from pipelines.planning import DateRange
from pipelines.report.data import ReportError, load_report_data, resolve_range
from pipelines.report.output import OutputRefusedError, ReportWriteError, check_report_output, write_whole
from pipelines.report.render import render_report
from pipelines.warehouse import OutdatedWarehouseError, Warehouse, require_current_schema

__all__ = ["REPORT_FILE", "OutputRefusedError", "ReportError", "ReportSummary", "ReportWriteError", "check_report_output",
           "write_report"]

REPORT_FILE = "report.html"  # in PINTEREST_ETL_HOME: what every run writes, and `pinterest-etl report` by default


@dataclasses.dataclass(frozen=True)
class ReportSummary:
    path: Path
    range: DateRange
    row_counts: dict[str, int]
    bytes: int


def write_report(warehouse: Warehouse, path: Path, start: dt.date | None = None, end: dt.date | None = None,
                 now: dt.datetime | None = None, today: dt.date | None = None,
                 check_output: Callable[[], None] | None = None) -> ReportSummary:
    """Render the report of `start..end` (default: the trailing 28 complete days with data before `today`, UTC,
    and the 28 before them as the period compared) to `path`. Readers of `path` see the old file or the new one,
    never a part. FileNotFoundError when there is no warehouse yet; ReportError for a range it cannot report;
    ReportWriteError when the file cannot be written (nothing is left behind). `check_output` runs again just before
    the page is put in place (what `path` is may have changed while the report was built)."""
    now = now or dt.datetime.now(dt.timezone.utc)
    with warehouse.connect(read_only=True) as con:
        try:
            require_current_schema(con, warehouse.path)
        except OutdatedWarehouseError as error:
            raise ReportError(str(error)) from None
        report_range = resolve_range(con, start, end, today or now.astimezone(dt.timezone.utc).date())
        data = load_report_data(con, report_range)
    html = render_report(data, now, str(warehouse.path))
    path = Path(path)
    write_whole(path, html, check_output)
    return ReportSummary(path, report_range, data.row_counts(), len(html.encode("utf-8")))
