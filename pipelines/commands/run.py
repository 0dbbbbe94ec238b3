"""`pinterest-etl run`: materialize every asset for a date range as one Dagster run, then summarize;
`pinterest-etl load`: only load the range's lake files into the warehouse."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import traceback

from pipelines import settings
from pipelines.range_policy import resolve_range
from pipelines.run_settings import check_all


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date as YYYY-MM-DD, got {text!r}") from None


def add_parser(commands) -> None:
    p = commands.add_parser(
        "run", help="extract, normalize and load a date range as one Dagster run",
        description="Materialize every asset for the UTC date range as one Dagster run (a single-run backfill) and "
                    "print a summary. Without Pinterest credentials (PINTEREST_ACCESS_TOKEN or a token file), the "
                    "embedded simulator is started and used. Data goes to PINTEREST_ETL_HOME (default ./data).")
    p.add_argument("--start", type=_date, help="first date (default: the oldest date the API still serves, "
                                               "but not before PINTEREST_START_DATE)")
    p.add_argument("--end", type=_date, help="last date (default: yesterday, UTC)")
    p.add_argument("--only", choices=("organic", "ads"), help="run only the organic or only the ads assets")
    p.add_argument("--from-raw", action="store_true",
                   help="re-normalize the range from the raw zone and reload it: zero API calls")
    p.add_argument("--account-workers", type=_workers, metavar="N",
                   help="run up to N steps at once, each in a process of its own, so that the accounts of the "
                        "accounts file are extracted side by side (default: PINTEREST_ACCOUNT_WORKERS, else 1: "
                        "every step in this process)")
    p.set_defaults(handler=_run)


def _workers(text: str) -> int:
    try:
        return settings.account_workers({"PINTEREST_ACCOUNT_WORKERS": text})
    except settings.SettingsError as error:
        raise argparse.ArgumentTypeError(str(error).replace("PINTEREST_ACCOUNT_WORKERS", "--account-workers")) from None


def add_load_parser(commands) -> None:
    p = commands.add_parser(
        "load", help="load a date range from the lake into the warehouse (no API calls)",
        description="Load the lake's files of the UTC date range (and the newest dimension snapshots) into the "
                    "warehouse, with the data checks, as one Dagster run of the warehouse assets only: no API call, "
                    "no re-normalization. Finishes a run whose warehouse load failed (for example because another "
                    "process held warehouse.duckdb open).")
    p.add_argument("--start", type=_date, help="first date (default: as for `run`)")
    p.add_argument("--end", type=_date, help="last date (default: yesterday, UTC)")
    p.add_argument("--only", choices=("organic", "ads"), help="load only the organic or only the ads data")
    p.set_defaults(handler=_load)


def _fail(message: str, command: str = "run", *, debug: bool = False) -> int:
    """A refused setting or range: one line, exit code 2 (with the traceback of the error being handled if `debug`)."""
    if debug:
        traceback.print_exc()
    print(f"pinterest-etl {command}: error: {message}", file=sys.stderr)
    return 2


def _run(args: argparse.Namespace) -> int:
    settings.load_dotenv()
    try:
        start, end = check_before_running(args.start, args.end, from_raw=args.from_raw, only=args.only)
    except _check_errors() as error:
        return _fail(str(error), debug=args.debug)
    from pipelines.orchestration import run_range

    workers = args.account_workers or settings.account_workers()
    return run_range(start, end, from_raw=args.from_raw, only=args.only, debug=args.debug, workers=workers,
                     preload_steps=True)


def _load(args: argparse.Namespace) -> int:
    settings.load_dotenv()
    try:
        start, end = check_before_running(args.start, args.end, from_raw=True, only=args.only)
    except _check_errors() as error:
        return _fail(str(error), "load", debug=args.debug)
    from pipelines.orchestration import run_range

    return run_range(start, end, from_lake=True, only=args.only, debug=args.debug)


def check_before_running(start: dt.date | None, end: dt.date | None, *, from_raw: bool,
                         only: str | None) -> tuple[dt.date, dt.date]:
    """Every setting (run_settings.check_all: the environment's and each account's), then the range, then the
    Dagster definitions (which read settings as they load): all before anything is called or written, each
    failure one error naming what to fix."""
    check_all()
    settings.check_dagster_home()
    start, end = resolve_range(start, end, from_raw=from_raw, only=only)
    import pipelines.definitions  # noqa: F401 - loaded here, so a setting it cannot take is an error, not a traceback

    return start, end


def _check_errors() -> tuple[type[BaseException], ...]:
    from dagster import DagsterError

    from pipelines.pinterest.credentials import CredentialsError
    from pipelines.pinterest.urls import UnsafeUrlError

    return ValueError, settings.SettingsError, CredentialsError, UnsafeUrlError, DagsterError
