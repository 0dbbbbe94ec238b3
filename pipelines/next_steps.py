"""What to do after a successful `pinterest-etl run` or `load`: open the report, start the UI, query the data just
loaded, find the files. Printed last, so it is the first thing the user reads."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from pipelines.data_locations import data_locations
from pipelines.report import REPORT_FILE

# Two per source, each answered by the reporting views of that source alone (a run with --only loads only one).
EXAMPLE_QUERIES = {
    "organic": (
        "SELECT title, board_name, sum(impressions) AS impressions, sum(saves) AS saves, "
        "sum(outbound_clicks) AS outbound_clicks FROM pin_performance GROUP BY ALL ORDER BY impressions DESC LIMIT 5",
        "SELECT date, sum(impressions) AS impressions, sum(saves) AS saves, bool_and(is_final) AS final "
        "FROM pin_performance GROUP BY date ORDER BY date DESC LIMIT 7",
    ),
    "ads": (
        "SELECT campaign_name, currency, round(sum(spend), 2) AS spend, sum(clicks) AS clicks, sum(conversions) AS conversions, "
        "round(sum(checkout_value) / nullif(sum(spend), 0), 2) AS roas "
        "FROM campaign_performance GROUP BY ALL ORDER BY spend DESC LIMIT 5",
        "SELECT date, campaign_name, round(spend, 2) AS spend, impressions, clicks, is_final FROM campaign_performance "
        "ORDER BY date DESC, spend DESC LIMIT 7",
    ),
}
# The worked queries ship with the repository, not with the package: named only when run from its root.
WORKED_QUERIES = Path("docs/queries.sql")
WORKED_EXAMPLE = {"organic": "top_pins_by_saves_28d", "ads": "spend_and_roas_by_campaign"}


def example_queries(only: str | None) -> tuple[str, str]:
    """Two queries that answer from what a run of `only` (None: both sources) loaded."""
    if only is None:
        return EXAMPLE_QUERIES["organic"][0], EXAMPLE_QUERIES["ads"][0]
    return EXAMPLE_QUERIES[only]


def cli_command(invoked: str | None = None) -> str:
    """How to run pinterest-etl again: its name when PATH finds this one, else the path it was run by
    (`.venv/bin/pinterest-etl` after `make run`, whose virtual environment is not on PATH)."""
    invoked = Path(invoked or sys.argv[0])
    if invoked.name != "pinterest-etl":  # python -m pipelines.cli, or a test runner
        return "pinterest-etl"
    on_path = shutil.which("pinterest-etl")
    return "pinterest-etl" if on_path and Path(on_path).resolve() == invoked.resolve() else str(invoked)


def next_steps(home: Path, only: str | None, command: str = "pinterest-etl") -> str:
    """The block printed after a successful run: at most eight lines, every path absolute; `command` is how the
    user runs pinterest-etl (cli_command)."""
    home = home.resolve()
    report = home / REPORT_FILE
    lines = ["", "What next:"]
    if report.exists():
        lines.append(f"  report      {report.as_uri()}")
    lines.append(f"  Dagster UI  make ui  (or: {command} ui), then open http://127.0.0.1:3000")
    lines.extend(f'  query       {command} sql "{query}"' for query in example_queries(only))
    if WORKED_QUERIES.is_file():
        lines.append(f"  worked      {command} sql --file {WORKED_QUERIES} --name {WORKED_EXAMPLE[only or 'organic']}"
                     f"  (every name: grep -- '-- name:' {WORKED_QUERIES})")
    locations = data_locations(home)
    lines.append(f"  data        warehouse {home / 'warehouse.duckdb'}, Parquet lake {locations.describe_lake()}, "
                 f"raw API answers {locations.describe_raw()}")
    return "\n".join(lines)
