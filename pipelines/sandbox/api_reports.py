"""Asynchronous ads reports: create, poll (IN_PROGRESS for a few polls, then FINISHED), download."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import json
import re
import secrets
import threading
import time

from pipelines import api_enums as enums
from pipelines.sandbox.ads_model import Attribution
from pipelines.sandbox.api_ads import ATTRIBUTE_LEVELS, ID_COLUMN, LEVEL_DEPTH, ad_account_index, attribute_value, metric_rows
from pipelines.sandbox.errors import ApiError, invalid
from pipelines.sandbox.json_body import encode_json
from pipelines.sandbox.routing import Reply, Request, Route

REPORT_LIFETIME_SECONDS = 3600  # "the report is valid for one hour"
URL_LIFETIME_SECONDS = 300  # "the link is valid for five minutes"
LEVELS = {"ADVERTISER": "ad_account", "CAMPAIGN": "campaign", "AD_GROUP": "ad_group", "PIN_PROMOTION": "ad"}
ID_FILTERS = ("campaign_ids", "ad_group_ids", "ad_ids", "product_group_ids", "product_item_ids")
STATUS_FILTERS = ("campaign_statuses", "ad_group_statuses", "ad_statuses", "product_group_statuses")
ASYNC_COLUMNS = frozenset(enums.ASYNC_REPORT_COLUMNS)
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ID = re.compile(r"^\d+$")


@dataclasses.dataclass
class Report:
    ad_account: int
    request: dict
    created_at: float
    polls: int = 0
    failed: bool = False
    content: bytes | None = None
    content_type: str = "application/json"


class ReportStore:
    """Reports by token, shared by the threads of one simulator."""

    def __init__(self, clock=time.time):
        self.clock = clock
        self._reports: dict[str, Report] = {}
        self.created = 0
        self.lock = threading.Lock()  # guards the reports and each report's polls and content

    def add(self, report: Report) -> str:
        token = secrets.token_urlsafe(18)
        with self.lock:
            self._reports[token] = report
            self.created += 1
        return token

    def get(self, token: str) -> Report | None:
        with self.lock:
            return self._reports.get(token)


def _date(body: dict, name: str) -> dt.date:
    value = body.get(name)
    if not isinstance(value, str):
        raise invalid(f"Field '{name}' is required (YYYY-MM-DD).")
    if not _DATE.fullmatch(value):  # fromisoformat alone would also take 20261101
        raise invalid(f"Field '{name}' must be a date in YYYY-MM-DD format (was {value!r}).")
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise invalid(f"Field '{name}' must be a date in YYYY-MM-DD format (was {value!r}).") from None


def _validate(body: dict, today: dt.date) -> None:
    for name in ("start_date", "end_date", "granularity", "level", "columns"):
        if name not in body:
            raise invalid(f"Field '{name}' is required.")
    if body["level"] not in enums.REPORT_LEVELS:
        raise invalid(f"Field 'level' must be one of {', '.join(enums.REPORT_LEVELS)} (was {body['level']!r}).")
    if body["granularity"] not in enums.GRANULARITIES:
        raise invalid(f"Field 'granularity' must be one of {', '.join(enums.GRANULARITIES)}.")
    if not isinstance(body["columns"], list) or not body["columns"] \
            or not all(isinstance(c, str) for c in body["columns"]):
        raise invalid("Field 'columns' must be a non-empty list of column names (strings).")
    unknown = [c for c in body["columns"] if c not in ASYNC_COLUMNS]
    if unknown:
        raise invalid(f"Field 'columns' has invalid values: {', '.join(map(str, unknown[:5]))}.")
    if body.get("report_format", "JSON") not in ("JSON", "CSV"):
        raise invalid("Field 'report_format' must be JSON or CSV.")
    for name in ("click_window_days", "engagement_window_days", "view_window_days"):
        if name in body and body[name] not in enums.ATTRIBUTION_WINDOW_DAYS:
            raise invalid(f"Field '{name}' must be one of {', '.join(map(str, enums.ATTRIBUTION_WINDOW_DAYS))}.")
    if body.get("conversion_report_time", "TIME_OF_AD_ACTION") not in enums.CONVERSION_REPORT_TIMES:
        raise invalid("Field 'conversion_report_time' must be TIME_OF_AD_ACTION or TIME_OF_CONVERSION.")
    for name in ID_FILTERS:  # absent or null: no filter
        ids = [] if body.get(name) is None else body[name]
        if not isinstance(ids, list) or not all(isinstance(i, str) and _ID.fullmatch(i) for i in ids):
            raise invalid(f"Field '{name}' must be a list of numeric id strings.")
        if len(ids) > 500:
            raise invalid(f"Field '{name}' accepts at most 500 ids.")
    for name in STATUS_FILTERS:
        statuses = [] if body.get(name) is None else body[name]
        if not isinstance(statuses, list) or not all(isinstance(v, str) for v in statuses):
            raise invalid(f"Field '{name}' must be a list of status strings.")
        if len(statuses) > 6:
            raise invalid(f"Field '{name}' accepts at most 6 statuses.")
    start, end = _date(body, "start_date"), _date(body, "end_date")
    if start > end:
        raise invalid("Field 'start_date' must not be after 'end_date'.")
    if end > today:
        raise invalid(f"Field 'end_date' cannot be in the future (today is {today.isoformat()} UTC).")
    if body["granularity"] == "HOUR":
        back, span = 8, 3
    elif body["level"].startswith("PRODUCT_ITEM"):
        back, span = 92, 31
        if body.get("ad_ids") or body.get("ad_statuses"):
            raise invalid("PRODUCT_ITEM reports do not accept ad_ids or ad_statuses.")
    else:
        back, span = 914, 186
    if start < today - dt.timedelta(days=back):
        raise invalid(f"Reports can only get data from the last {back} days.")
    if (end - start).days > span:
        raise invalid(f"A report can cover at most {span} days (field 'end_date' is {(end - start).days} days after 'start_date').")


def create_report(request: Request) -> Reply:
    if request.query:
        raise invalid("This endpoint does not support URL query parameters; send a JSON body.")
    try:
        body = json.loads(request.body or b"null")
    except ValueError:
        raise invalid("The request body must be JSON.") from None
    if not isinstance(body, dict):
        raise invalid("The request body must be a JSON object.")
    _validate(body, request.state.world.today)
    if body["level"] not in LEVELS:
        raise ApiError(400, 1, f"level {body['level']} is not modelled by the simulator; use one of {', '.join(LEVELS)}.")
    store: ReportStore = request.state.reports
    report = Report(ad_account_index(request), body, store.clock())
    token = store.add(report)
    report.failed = store.created <= request.state.config.failed_reports  # the --failed-reports fault
    return Reply({"report_status": "IN_PROGRESS", "token": token, "message": None})


def _render(request: Request, report: Report) -> tuple[bytes, str]:
    body = report.request
    w = request.state.world
    level = LEVELS[body["level"]]
    account = report.ad_account
    entities = {
        "ad_account": lambda: [account],
        "campaign": lambda: list(w.campaigns_of_account(account)),
        "ad_group": lambda: list(w.ad_groups_of_account(account)),
        "ad": lambda: list(w.ads_of_account(account)),
    }[level]()
    for name, column in (("campaign_ids", "CAMPAIGN_ID"), ("ad_group_ids", "AD_GROUP_ID"), ("ad_ids", "AD_ID")):
        wanted = set(body.get(name) or [])
        # A filter on a level below the report's (ad ids on a campaign report) does not narrow it here.
        if wanted and LEVEL_DEPTH[ATTRIBUTE_LEVELS[column]] <= LEVEL_DEPTH[level]:
            entities = [e for e in entities if attribute_value(w, column, level, e) in wanted]
    attribution = Attribution(body.get("click_window_days", 30), body.get("engagement_window_days", 30),
                              body.get("view_window_days", 1), body.get("conversion_report_time", "TIME_OF_AD_ACTION"))
    columns = [c for c in body["columns"] if c != "DATE"]
    csv_format = body.get("report_format", "JSON") == "CSV"
    rows = metric_rows(request, level, entities, columns, dt.date.fromisoformat(body["start_date"]),
                       dt.date.fromisoformat(body["end_date"]), body["granularity"], attribution, zero_fill=csv_format)
    if csv_format:
        header = (["DATE"] if body["granularity"] != "TOTAL" else []) + columns
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=header, lineterminator="\n")
        writer.writeheader()
        for _, row in rows:
            writer.writerow({c: row.get(c, "") for c in header})
        return out.getvalue().encode(), "text/csv"
    grouped: dict[str, list[dict]] = {}
    for _, row in rows:
        grouped.setdefault(row[ID_COLUMN[level]], []).append(row)
    return encode_json(grouped), "application/json"


def get_report(request: Request) -> Reply:
    token = (request.query.get("token") or [""])[-1]
    if not token:
        raise invalid("Parameter 'token' is required.")
    store: ReportStore = request.state.reports
    report = store.get(token)
    if report is None or report.ad_account != ad_account_index(request):
        return Reply({"report_status": "DOES_NOT_EXIST", "url": None, "size": None})
    now = store.clock()
    if now - report.created_at > REPORT_LIFETIME_SECONDS:
        return Reply({"report_status": "EXPIRED", "url": None, "size": None})
    with store.lock:  # concurrent polls: each one counted, the report rendered at most once
        report.polls += 1
        if report.polls <= request.state.config.report_polls:
            return Reply({"report_status": "IN_PROGRESS", "url": None, "size": None})
        if report.failed:
            return Reply({"report_status": "FAILED", "url": None, "size": None})
        if report.content is None:
            content, report.content_type = _render(request, report)
            report.content = content  # last: a download only serves a report whose content is set
        size = len(report.content)
    # Every FINISHED answer hands out a fresh five-minute link.
    return Reply({"report_status": "FINISHED", "url": f"{request.root_url}/_sandbox/report_files/{token}?issued={int(now)}",
                  "size": size})


def download_report(request: Request) -> Reply:
    store: ReportStore = request.state.reports
    report = store.get(request.params["token"])
    issued = (request.query.get("issued") or ["0"])[-1]
    if report is None or report.content is None or not issued.isdigit() \
            or store.clock() - int(issued) > URL_LIFETIME_SECONDS:
        # S3 answers an expired or unknown signed URL with 403 and an XML body.
        return Reply(b"<?xml version=\"1.0\"?><Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>",
                     403, content_type="application/xml")
    return Reply(report.content, content_type=report.content_type)


ROUTES = (
    Route("POST", "/v5/ad_accounts/{ad_account_id}/reports", "analytics/create_report", create_report, "ads_analytics",
          ("ads:read",), api_sandbox_enabled=False),
    Route("GET", "/v5/ad_accounts/{ad_account_id}/reports", "analytics/get_report", get_report, "ads_analytics",
          ("ads:read",), api_sandbox_enabled=False),
    Route("GET", "/_sandbox/report_files/{token}", "_sandbox/report_file", download_report, authenticated=False),
)
