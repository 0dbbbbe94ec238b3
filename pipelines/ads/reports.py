"""History beyond the 90-day window: asynchronous ads reports (create, poll with backoff, download)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import time
from collections.abc import Callable

from pipelines.ads.attribution import Attribution
from pipelines.ads.levels import LEVELS
from pipelines.pinterest.client import PinterestClient
from pipelines.pinterest.errors import PinterestError, shown_value
from pipelines.planning import REPORT_BACK_DAYS, DateRange
from pipelines.raw_zone import RawZone

log = logging.getLogger(__name__)

# Async reports are asked for dates up to REPORT_BACK_DAYS (913) back, one day inside the API's 914,
REPORT_SPAN_DAYS = 186  # over at most 186 days per report
TERMINAL_FAILURES = ("FAILED", "EXPIRED", "CANCELLED", "DOES_NOT_EXIST")


class ReportError(PinterestError):
    """An async report could not be produced; the message names the account, level and range."""


@dataclasses.dataclass(frozen=True)
class ReportPolling:
    first_wait_seconds: float = 1.0
    max_wait_seconds: float = 10.0
    timeout_seconds: float = 1800.0


def plan_report_ranges(unreachable: DateRange | None, today: dt.date) -> list[DateRange]:
    """The part of `unreachable` that async reports can still serve, in spans of at most 186 days."""
    if unreachable is None:
        return []
    oldest = today - dt.timedelta(days=REPORT_BACK_DAYS)
    if unreachable.end < oldest:
        return []
    cursor, ranges = max(unreachable.start, oldest), []
    while cursor <= unreachable.end:
        end = min(cursor + dt.timedelta(days=REPORT_SPAN_DAYS - 1), unreachable.end)
        ranges.append(DateRange(cursor, end))
        cursor = end + dt.timedelta(days=1)
    return ranges


def _run_report(client: PinterestClient, account: str, body: dict, polling: ReportPolling,
                sleep: Callable[[float], None]) -> bytes:
    path = {"ad_account_id": account}
    created = client.post("analytics/create_report", path, body)
    token = created.get("token")
    if not token:
        raise ReportError(f"ad account {account}: the report request was not accepted: {shown_value(created.get('message'))}")
    wait, waited = polling.first_wait_seconds, 0.0
    while True:
        status = client.get("analytics/get_report", path, {"token": token})
        state = status.get("report_status")
        if state == "FINISHED":
            return client.download(status["url"])
        if state in TERMINAL_FAILURES:
            raise ReportError(f"ad account {account}: report {body['level']} {body['start_date']}..{body['end_date']} "
                              f"ended {shown_value(state)}")
        if waited >= polling.timeout_seconds:
            raise ReportError(f"ad account {account}: report {body['level']} {body['start_date']}..{body['end_date']} "
                              f"still {shown_value(state)} after {waited:.0f} s")
        sleep(wait)
        waited += wait
        wait = min(wait * 2, polling.max_wait_seconds)


def extract_reports(client: PinterestClient, raw: RawZone, accounts: list[str], ranges: list[DateRange], today: dt.date,
                    columns: tuple[str, ...], attribution: Attribution, polling: ReportPolling = ReportPolling(),
                    sleep: Callable[[float], None] = time.sleep) -> int:
    """One report per ad account, level and range; each finished report file goes into the raw zone.
    A report that ends FAILED or EXPIRED is requested once more, then the run stops naming it."""
    reports = 0
    for account in accounts:
        for window in ranges:
            for level in LEVELS:
                body = {"start_date": window.start.isoformat(), "end_date": window.end.isoformat(), "granularity": "DAY",
                        "level": level.report_level, "columns": [level.row_id_field, *columns], "report_format": "JSON",
                        **attribution.params()}
                try:
                    content = _run_report(client, account, body, polling, sleep)
                except ReportError as first:
                    log.warning("%s; requesting it once more", first)
                    content = _run_report(client, account, body, polling, sleep)
                raw.write("analytics/report", content, params=body, path_params={"ad_account_id": account}, window=window,
                          context={"level": level.name, "ad_account_id": account, "attribution": attribution.label,
                                   "today": today.isoformat()},
                          fetched_at=dt.datetime.now(dt.timezone.utc), request_id=None)
                reports += 1
    return reports
