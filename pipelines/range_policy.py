"""The date range of a `pinterest-etl run` or `load`: its defaults (from the first partition and the API's reach,
pipelines/planning.py) and the ranges refused before anything is called, each refusal naming the setting or option
to change."""

from __future__ import annotations

import datetime as dt
import os

from pipelines import settings
from pipelines.planning import REPORT_BACK_DAYS, SYNC_BACK_DAYS


def resolve_range(start: dt.date | None, end: dt.date | None, env=os.environ, *, from_raw: bool = False,
                  only: str | None = None) -> tuple[dt.date, dt.date]:
    """The range to run, or ValueError saying what is wrong with it (before anything is called). A bound the
    user did not give is named by the setting it came from, so the message points at what to change."""
    today = settings.today(env)
    first_partition = settings.start_date(env)
    yesterday = today - dt.timedelta(days=1)
    api_oldest = today - dt.timedelta(days=SYNC_BACK_DAYS)
    if start is None:
        start = max(first_partition, api_oldest)
        start_named, start_fix = _default_start(start, first_partition, api_oldest, env)
    else:
        start_named, start_fix = f"--start {start}", "give the earlier date as --start"
    end_named = f"--end {end}" if end else f"the default --end {yesterday} (yesterday, the last complete UTC day)"
    end = end or yesterday
    if start > end:
        raise ValueError(f"{start_named} is after {end_named}; {start_fix}")
    if end > yesterday:
        raise ValueError(f"--end {end} is not a complete day yet; the last complete UTC day is {yesterday}")
    # Organic analytics are asked for SYNC_BACK_DAYS back; ads analytics REPORT_BACK_DAYS, through async reports.
    reach = SYNC_BACK_DAYS if only == "organic" else REPORT_BACK_DAYS
    if not from_raw and end < today - dt.timedelta(days=reach):
        raise ValueError(f"{start}..{end} is entirely older than the API serves (dates are requested up to {reach} days "
                         f"back, one day inside its limit; oldest: "
                         f"{today - dt.timedelta(days=reach)}); use --from-raw to re-normalize what the raw zone holds")
    if start < first_partition:
        raise ValueError(f"--start {start} is before the first partition {first_partition} "
                         f"(set PINTEREST_START_DATE to reach further back; {_first_partition_origin(env)})")
    return start, end


def _first_partition_origin(env) -> str:
    """Where the first partition came from, as the user can find it."""
    if env.get("PINTEREST_START_DATE"):
        return f"it is now PINTEREST_START_DATE={env['PINTEREST_START_DATE']}"
    return f"it was chosen at the first run and is kept in {settings.etl_home(env) / 'start_date'}"


def _default_start(start: dt.date, first_partition: dt.date, api_oldest: dt.date, env) -> tuple[str, str]:
    """The default start named by its origin, and how to change it."""
    if start == first_partition and env.get("PINTEREST_START_DATE"):
        return (f"PINTEREST_START_DATE={first_partition} (the default start when --start is not given)",
                "set PINTEREST_START_DATE to an earlier date, or give --start")
    if start == first_partition:
        kept = settings.etl_home(env) / "start_date"
        return (f"the first partition {first_partition} kept in {kept} (the default start when --start is not given)",
                f"set PINTEREST_START_DATE or fix {kept}, or give --start")
    return (f"the default start {api_oldest} (the oldest date requested from the API, {SYNC_BACK_DAYS} days back, "
            "when --start is not given)",
            "give --start too")
