"""`pinterest-etl probe`: the assumptions this project makes about the Pinterest API, checked live with the
configured token in at most CALL_LIMIT calls, as a table of checks and `PINTEREST_ETL_HOME/probe.json`.

The calls are made by `Probe` (I/O at the edge); each check is a pure function from what the calls answered
to a `Check` saying what the project assumes, what the API answered and whether the assumption holds.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import datetime as dt
import json
import os
import re
import textwrap
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pipelines import api_enums, settings
from pipelines.atomic_files import DataWriteError, temporary_path, write_error
from pipelines.pinterest.endpoints import COMMA, PAGE_SIZE, REPEATED, endpoint
from pipelines.pinterest.errors import (
    ApiError,
    ApiUnreachableError,
    AuthError,
    ForbiddenError,
    InvalidRequestError,
    NotFoundError,
    PinterestError,
    RateLimitedError,
    ResponseShapeError,
    ResponseTooLargeError,
    RetryBudgetExhausted,
    TransportError,
    redacted,
    shown_value,
)
from pipelines.pinterest.retries import RetryPolicy
from pipelines.pinterest.transport import DeadlineAdapter

CALL_LIMIT = 20
# The longest path through the probe's steps (bulk pin analytics refused: its fallback, the campaign-list
# comparison and the comma-joined campaign analytics call), one refresh of the token (the token call and the call it repeats), and the retries left for
# 429s and 5xx: together never more than CALL_LIMIT.
MOST_PLANNED_CALLS = 17
REFRESH_CALLS = 2
RETRY_BUDGET = CALL_LIMIT - MOST_PLANNED_CALLS - REFRESH_CALLS
# A request may cost an attempt, its one retry and one token refresh with its own retry: none starts without
# room for all four. Whatever the server answers, no request past CALL_LIMIT is sent (`Probe._count`).
MOST_CALLS_PER_REQUEST = 4
# The probe answers in seconds: a rate limit asking for a longer wait is reported, not waited for, and the
# client's pacing (a server announcing X-RateLimit-Limit: 1 paces a category to a call a minute) stops a
# category's calls once the probe would wait longer than this in all.
LONGEST_PROBE_WAIT_SECONDS = 30.0
LONGEST_PROBE_PACING_SECONDS = 30.0
PROBE_FILE = "probe.json"  # of the environment's credentials; an accounts-file account's: probe.<account>.json
TOKEN_ENDPOINT = "oauth/token"  # the endpoint name of the client's refresh errors

OK, WARNING, FAILED, UNKNOWN = "OK", "WARNING", "FAILED", "UNKNOWN"
# Scopes the pipeline reads with, and the call that proves each (pins/list needs boards:read as well).
PIPELINE_SCOPES = {"user_accounts:read": "user_account/get", "boards:read": "boards/list",
                   "pins:read": "pins/list", "ads:read": "ad_accounts/list"}
SECRET_SCOPES = ("boards:read_secret", "pins:read_secret")
CONTENT_TYPES = ("ALL", "ORGANIC", "PAID")
# Pins compared between the two list encodings, and campaigns (their list when the bulk endpoint is refused,
# and always their analytics: the ads analytics family takes comma-joined ids too).
COMPARED_IDS = 5
QUOTA_CODE = 8  # Pinterest's code of a 429 past a rate limit; without a short wait hint, most likely a daily quota
LIKELY_QUOTA = "most likely the app's daily quota is spent (trial apps: 1,000 calls a day)"
# The ads columns that measure paid delivery, most direct first: evidence that user-account ALL totals hold paid
# activity.
PAID_DELIVERY_COLUMNS = ("PAID_IMPRESSION", "TOTAL_IMPRESSION", "IMPRESSION_1")
# Short windows of settled days: organic days are PROCESSING or ESTIMATE for a few days.
WINDOW_DAYS = 7
WINDOW_END_DAYS_BACK = 4
# metrics_ready_state: yesterday and a week ago (inside the attribution window), and the newest date past it
# (the date the pipeline asks first), added from the configured window.
READY_STATE_DAYS_BACK = (1, 7)
RATE_LIMIT_HEADER_MARK = "ratelimit"
DEFAULT_TOKEN_FIX = "run `pinterest-etl auth login`, or set PINTEREST_ACCESS_TOKEN to a valid token"
# A call refused for the token's user (not for its form): the pipeline's calls of the endpoint are refused too.
NOT_PERMITTED = ("the pipeline's calls of it would be refused too: the token lacks the endpoint's scope (401 code 3), "
                 "or its user a permission or role on the account (403: on a shared ad account, Business Access as "
                 "Owner, Admin, Analyst or Campaign Manager)")


class TokenRefusedError(PinterestError):
    """The API refused the configured access token (401 code 2) and no refresh made it work."""


@dataclasses.dataclass(frozen=True)
class Check:
    """One assumption of the project about the API, what the API answered, and whether it holds.
    `pipeline_depends`: a FAILED one means the pipeline would fail or store wrong numbers."""

    name: str
    assumption: str
    observed: str
    status: str
    endpoints: tuple[str, ...]
    pipeline_depends: bool

    @property
    def breaks_pipeline(self) -> bool:
        return self.pipeline_depends and self.status == FAILED

    def as_json(self) -> dict:
        return {"name": self.name, "assumption": self.assumption, "observed": self.observed, "status": self.status,
                "endpoints": list(self.endpoints), "pipeline_depends": self.pipeline_depends}


@dataclasses.dataclass(frozen=True)
class Outcome:
    """One request of the probe: its parsed answer (strings redacted), the error it ended in, or why it was not
    sent; `answered`: its last answer's status and content type (`HTTP 200 text/html`), None without one."""

    endpoint: str
    data: Any = None
    error: PinterestError | None = None
    not_sent: str | None = None
    answered: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.not_sent is None

    def failure(self) -> str:
        """What went wrong, in one line without a secret (server text is redacted by the client)."""
        if self.not_sent is not None:
            return f"not asked: {self.not_sent}"
        error = self.error
        if isinstance(error, RateLimitedError):
            quota = f": {LIKELY_QUOTA}" if error.code == QUOTA_CODE else ""
            return f"rate limited (HTTP 429 code {error.code}{quota}); the probe does not wait for long rate limits"
        if isinstance(error, ApiError):
            return f"HTTP {error.status} code {error.code}: {error.api_message}"
        if isinstance(error, RetryBudgetExhausted):
            return f"not retried: the probe's {RETRY_BUDGET} retries are spent"
        if isinstance(error, ResponseTooLargeError):
            return f"answer too large: {error}"
        if isinstance(error, TransportError):
            return f"no usable answer: {error}"
        return str(error)

    def refused_scope(self) -> bool:
        """A 401 other than a refused token: the token lacks the endpoint's scope (code 3)."""
        return isinstance(self.error, AuthError) and self.error.code not in (2, None)

    def not_permitted(self) -> bool:
        """Refused for the token's user rather than for the request: a missing scope (401 code 3) or a 403."""
        return self.refused_scope() or isinstance(self.error, ForbiddenError)


@dataclasses.dataclass(frozen=True)
class HeaderSighting:
    """The rate-limit headers of one answer (names as sent, values redacted)."""

    endpoint: str
    status: int
    headers: tuple[tuple[str, str], ...]


@dataclasses.dataclass(frozen=True)
class ProbeReport:
    """Everything the probe found: the table's rows and the JSON written to probe.json."""

    base_url: str
    probed_at: dt.datetime
    calls: int
    calls_by_endpoint: Mapping[str, int]
    checks: tuple[Check, ...]
    source: str
    stopped: str | None = None  # why the probe ended before its last step (a refused token, no answer)
    quota_refused: tuple[str, ...] = ()  # the endpoints answered HTTP 429 code 8 (QUOTA_CODE), in order

    @property
    def broken(self) -> list[Check]:
        return [check for check in self.checks if check.breaks_pipeline]

    def as_json(self) -> dict:
        return {"api_base_url": self.base_url, "probed_at": self.probed_at.isoformat(timespec="seconds"),
                "credentials": self.source, "calls": self.calls, "call_limit": CALL_LIMIT,
                "calls_by_endpoint": dict(self.calls_by_endpoint), "holds": not self.broken,
                "stopped": self.stopped, "quota_refused": list(self.quota_refused),
                "checks": [check.as_json() for check in self.checks]}


# ------------------------------------------------------------------------------------------------- checks
def _check(name: str, assumption: str, observed: str, status: str, endpoints: Sequence[str],
           depends: bool) -> Check:
    return Check(name, assumption, observed, status, tuple(dict.fromkeys(endpoints)), depends)


TOKEN_ASSUMPTION = "the configured access token is accepted by the API"


def token_check(account: Outcome, source: str) -> Check:
    """The token is accepted (a refused token stops the probe before any other check: `refused_token_checks`)."""
    assumption = TOKEN_ASSUMPTION
    if account.ok and isinstance(account.data, Mapping):
        who = f"user @{shown_value(account.data.get('username'))} ({shown_value(account.data.get('account_type'))})"
        return _check("token", assumption, f"accepted: {who}; {source}", OK, ["user_account/get"], True)
    if account.refused_scope():
        return _check("token", assumption, f"accepted, but {account.failure()}; {source}", OK,
                      ["user_account/get"], True)
    return _check("token", assumption, account.failure(), UNKNOWN, ["user_account/get"], True)


def granted_scopes(scope: str | None) -> set[str]:
    """The scopes of a token file's `scope`: comma-separated as Pinterest writes it, or space-separated as
    RFC 6749 does."""
    return {part for part in re.split(r"[\s,]+", scope or "") if part}


def scopes_check(reads: Mapping[str, Outcome], granted: str | None, login: str = "pinterest-etl auth login") -> Check:
    """Which of the pipeline's scopes the token has, by the read each scope allows (Pinterest has no token
    introspection endpoint), with the token file's `scope` shown when it records one. A scope is missing only
    when the API refused its read for a scope (401 code 3); a 403 on a read is a permission the user lacks
    (FAILED too); a read that failed otherwise (a 5xx, no answer) leaves its scope unknown."""
    assumption = f"the token has the scopes the pipeline reads with: {', '.join(PIPELINE_SCOPES)}"
    granted_set = granted_scopes(granted)
    verdicts, missing, forbidden, unknown = [], [], [], []
    for scope, name in PIPELINE_SCOPES.items():
        outcome = reads[name]
        if outcome.ok:
            verdicts.append(f"{scope} yes")
        elif scope == "pins:read" and "boards:read" in missing and outcome.refused_scope():
            verdicts.append(f"{scope} unknown (pins/list needs boards:read too)")
            unknown.append(scope)
        elif outcome.refused_scope():
            verdicts.append(f"{scope} no ({outcome.failure()})")
            missing.append(scope)
        elif outcome.not_permitted():
            verdicts.append(f"{scope}: {name} refused ({outcome.failure()})")
            forbidden.append(name)
        else:
            not_granted = ", and not in the token file's scope" if granted_set and scope not in granted_set else ""
            verdicts.append(f"{scope} unknown ({outcome.failure()}{not_granted})")
            unknown.append(scope)
    observed = f"reads: {'; '.join(verdicts)}"
    if granted_set:
        observed = f"granted (token file): {', '.join(sorted(granted_set))}; {observed}"
        hidden = [s for s in SECRET_SCOPES if s not in granted_set]
        if hidden:
            observed += f"; without {' and '.join(hidden)} secret boards and their pins are left out"
    status = FAILED if missing or forbidden else UNKNOWN if unknown else OK
    if missing:
        observed += f"; run `{login}` to grant {', '.join(missing)}"
    if forbidden:
        observed += f"; {', '.join(forbidden)}: {NOT_PERMITTED}"
    return _check("scopes", assumption, observed, status, PIPELINE_SCOPES.values(), True)


def ad_accounts_check(listing: Outcome, allow: frozenset[str] | None) -> Check:
    """The ad accounts the token can read (the ads assets extract each of them)."""
    assumption = "the token can list the ad accounts to extract (GET /ad_accounts, shared ones included)"
    if not listing.ok:
        return _check("ad_accounts", assumption, listing.failure(), UNKNOWN, ["ad_accounts/list"], False)
    ids = ad_account_ids(listing.data)
    more = " or more (further pages not read)" if listing.data.get("bookmark") else ""
    shown = ", ".join(shown_value(i) for i in ids) or "none"
    observed = f"{len(ids)}{more} readable: {shown}"
    status = OK if ids else WARNING
    if not ids:
        observed += "; the ads assets will have nothing to extract"
    if allow is not None:
        absent = sorted(allow - set(ids))
        observed += f"; PINTEREST_AD_ACCOUNT_IDS keeps {len(allow) - len(absent)} of them"
        if absent:
            observed += f", and names {', '.join(map(shown_value, absent))}, which the token cannot see"
            status = WARNING
    return _check("ad_accounts", assumption, observed, status, ["ad_accounts/list"], False)


def answered_ids(endpoint_name: str, data: Any) -> set[str]:
    """The ids an answer holds: a bulk pin answer's keys, a campaign analytics answer's CAMPAIGN_IDs, a list's item
    ids."""
    if endpoint_name == "multi_pins/analytics":
        return {str(key) for key in data} if isinstance(data, Mapping) else set()
    if endpoint_name == "campaigns/analytics":
        rows = data if isinstance(data, list) else ()
        return {str(row.get("CAMPAIGN_ID")) for row in rows if isinstance(row, Mapping)}
    items = data.get("items") if isinstance(data, Mapping) else None
    return {str(item.get("id")) for item in items or () if isinstance(item, Mapping)}


@dataclasses.dataclass(frozen=True)
class IdComparison:
    """One endpoint asked for the same ids comma-joined (what the pipeline sends) and, when it was asked, as
    repeated keys. `every_id_answers`: the answer holds every id asked for (a list, bulk pin analytics); analytics
    rows hold only the ids with delivery in the window."""

    requested: tuple[str, ...]
    comma: Outcome
    repeated: Outcome | None = None
    every_id_answers: bool = True

    @property
    def endpoint(self) -> str:
        return self.comma.endpoint


_STATUS_RANK = {FAILED: 3, WARNING: 2, UNKNOWN: 1, OK: 0}


def _worst(statuses: Sequence[str]) -> str:
    return max(statuses, key=_STATUS_RANK.__getitem__)


def _comparison(requested: Sequence[str], outcome: Outcome) -> tuple[str, set[str] | None]:
    """How one encoding's answer compares with the ids asked for: (description, ids answered or None)."""
    if not outcome.ok:
        return f"{'refused' if isinstance(outcome.error, ApiError) else 'failed'} ({outcome.failure()})", None
    got = answered_ids(outcome.endpoint, outcome.data)
    missing = [i for i in requested if i not in got]
    if missing:
        return f"answered {len(requested) - len(missing)} of {len(requested)} ids (lost {', '.join(map(shown_value, missing))})", got
    return f"answered all {len(requested)} ids", got


def _refusal(outcome: Outcome) -> bool:
    """Refused for the request itself (not a 429, a 5xx or no answer, which say nothing about an encoding)."""
    return isinstance(outcome.error, (InvalidRequestError, ForbiddenError, NotFoundError, AuthError))


def comma_verdict(comparison: IdComparison) -> tuple[str, str]:
    """(status, observation) of the comma-joined form on one endpoint."""
    requested, comma, repeated = comparison.requested, comparison.comma, comparison.repeated
    text, got = _comparison(requested, comma)
    repeated_ids = answered_ids(repeated.endpoint, repeated.data) if repeated is not None and repeated.ok else None
    where = f"{len(requested)} ids on {comparison.endpoint}"
    if got is None:
        if repeated_ids is not None and isinstance(comma.error, InvalidRequestError):
            return FAILED, (f"{where}: the comma-joined encoding is refused on {comparison.endpoint} ({comma.failure()}), "
                            "while the same ids as repeated keys are answered")
        return (FAILED if _refusal(comma) else UNKNOWN), f"{where}: {text}"
    missing = [i for i in requested if i not in got]
    if not missing:
        return OK, f"{where}: {text}"
    if comparison.every_id_answers or (repeated_ids is not None and set(missing) & repeated_ids):
        return FAILED, f"{where}: {text}: the comma-joined list is read in part"
    if got:
        return OK, (f"{where}: rows for {len(requested) - len(missing)} of {len(requested)} ids (a campaign without "
                    "delivery in the window has none)")
    return WARNING, (f"{where}: no rows for any of them: none delivered in the window, or the server did not read the "
                     "comma-joined list")


def repeated_verdict(comparison: IdComparison) -> tuple[str, str]:
    """(status, observation) of the repeated-key form on one endpoint: informational, never a failure."""
    requested, comma, repeated = comparison.requested, comparison.comma, comparison.repeated
    _, comma_ids = _comparison(requested, comma)
    repeated_text, repeated_ids = _comparison(requested, repeated)
    where = f"{len(requested)} ids on {comparison.endpoint}"
    if repeated_ids is not None and comma_ids is not None and repeated_ids == comma_ids:
        return OK, f"{where}: {repeated_text}, the same as comma-joined"
    if repeated_ids is None:
        return WARNING, f"{where}: {repeated_text}; harmless: the pipeline sends ids comma-joined"
    return WARNING, (f"{where}: {repeated_text}: a server that reads one value per key; harmless: the pipeline "
                     "sends ids comma-joined")


def encoding_checks(comparisons: Sequence[IdComparison], unknown_reason: str) -> tuple[Check, Check]:
    """Both id-list encodings: comma-joined (what the pipeline sends on every endpoint; it depends on it: FAILED
    naming the endpoint when it is refused or loses ids) and repeated keys (the description's style; reported,
    never a failure)."""
    comma_assumption = ("an id list sent comma-joined (pin_ids=1,2,3, campaign_ids=1,2, as Pinterest's SDK sends it) "
                        "is answered for every id, on bulk pin analytics (or a list) and on the ads analytics "
                        "endpoints: the pipeline sends every list that way")
    repeated_assumption = ("an id list sent as repeated keys (pin_ids=1&pin_ids=2) gets the same answer; "
                           "informational: the pipeline does not send it")
    compared = [c for c in comparisons if len(c.requested) >= 2]
    if not compared:
        return (_check("comma_joined_ids", comma_assumption, unknown_reason, UNKNOWN, [], True),
                _check("repeated_key_ids", repeated_assumption, unknown_reason, UNKNOWN, [], False))
    comma = [comma_verdict(c) for c in compared]
    comma_check = _check("comma_joined_ids", comma_assumption, "; ".join(text for _, text in comma),
                         _worst([status for status, _ in comma]), [c.endpoint for c in compared], True)
    with_repeated = [c for c in compared if c.repeated is not None]
    if not with_repeated:
        return comma_check, _check("repeated_key_ids", repeated_assumption, "not compared: the comma-joined call "
                                   "failed", UNKNOWN, [c.endpoint for c in compared], False)
    repeated = [repeated_verdict(c) for c in with_repeated]
    return comma_check, _check("repeated_key_ids", repeated_assumption, "; ".join(text for _, text in repeated),
                               _worst([status for status, _ in repeated]), [c.endpoint for c in with_repeated], False)


@dataclasses.dataclass(frozen=True)
class PinTypes:
    """The account's pins by type, as the pins listing shows them: `complete` when the listing had no further
    page, else the totals scaled from the listed pins' shares to `user_account/get`'s pin_count."""

    standard: int
    video: int
    complete: bool

    @property
    def pins(self) -> int:
        return self.standard + self.video

    @property
    def bulk_calls(self) -> int:
        """One bulk call per MAX_PIN_IDS pins of one type: the pipeline batches standard and video pins apart."""
        from pipelines.pinterest.endpoints import MAX_PIN_IDS

        return -(-self.standard // MAX_PIN_IDS) + -(-self.video // MAX_PIN_IDS)


def pin_types(listing: Outcome, pin_count: int | None) -> PinTypes | None:
    """The account's standard and video pins from the first page of pins/list (None without it)."""
    from pipelines.organic.dimensions import normalize_pins

    if not listing.ok or not isinstance(listing.data, Mapping):
        return None
    table = normalize_pins(list(listing.data.get("items") or ()), dt.datetime.now(dt.timezone.utc))
    video = sum(bool(v) for v in table.column("is_video").to_pylist())
    standard = table.num_rows - video
    if not listing.data.get("bookmark"):
        return PinTypes(standard, video, True)
    if pin_count is None or not table.num_rows or pin_count <= table.num_rows:
        return PinTypes(standard, video, False)
    scaled_video = round(pin_count * video / table.num_rows)
    return PinTypes(pin_count - scaled_video, scaled_video, False)


def bulk_check(bulk: Outcome | None, repeated: Outcome | None, types: PinTypes | None, unknown_reason: str) -> Check:
    """GET /pins/analytics is open to this app; if not, the pipeline calls once per pin (a warning). The
    refusals are those the pipeline treats so (`organic.extract.bulk_refusal`). Refused comma-joined but answered
    with repeated keys, it is available: the encoding's refusal is comma_joined_ids' failure."""
    from pipelines.organic.extract import bulk_refusal

    assumption = "bulk pin analytics (GET /pins/analytics, beta) is available to this app: 100 pins per call"
    if bulk is None:
        return _check("bulk_pin_analytics", assumption, unknown_reason, UNKNOWN, [], False)
    if bulk.ok:
        return _check("bulk_pin_analytics", assumption, "available", OK, [bulk.endpoint], False)
    if repeated is not None and repeated.ok:
        return _check("bulk_pin_analytics", assumption, "available with the pin ids as repeated keys; the comma-joined "
                      "encoding the pipeline sends is refused (see comma_joined_ids)", OK, [bulk.endpoint], False)
    refusal = bulk_refusal(bulk.error) if isinstance(bulk.error, ApiError) else None
    if refusal is None:
        return _check("bulk_pin_analytics", assumption, bulk.failure(), UNKNOWN, [bulk.endpoint], False)
    if types is None:
        cost = "one call per pin per window instead of one per 100 pins of a type"
    else:
        about = "" if types.complete else "about "
        cost = (f"for {about}{types.pins:,} pins ({types.standard:,} standard, {types.video:,} video), {types.pins:,} "
                f"calls per window instead of {types.bulk_calls:,} (one bulk call per 100 pins of one type)")
    observed = (f"refused ({bulk.failure()}): the pipeline asks the refused batch's pins alone (the refusal may be "
                f"a private or deleted pin's) and falls back to one call per pin once bulk calls for two pins that "
                f"answer alone are refused too: {cost}")
    return _check("bulk_pin_analytics", assumption, observed, WARNING, [bulk.endpoint], False)


def _impressions(data: Any) -> float | None:
    """The IMPRESSION total of a NO_SPLIT user-account answer (its summary, else the sum of its days)."""
    block = data.get("all") if isinstance(data, Mapping) else None
    if not isinstance(block, Mapping):
        return None
    summary = block.get("summary_metrics")
    if isinstance(summary, Mapping) and isinstance(summary.get("IMPRESSION"), (int, float)):
        return summary["IMPRESSION"]
    days = block.get("daily_metrics")
    values = [d.get("metrics", {}).get("IMPRESSION") for d in days or () if isinstance(d, Mapping)
              and isinstance(d.get("metrics"), Mapping)]
    numbers = [v for v in values if isinstance(v, (int, float))]
    return sum(numbers) if numbers else None


def paid_delivery(answer: Outcome | None) -> tuple[str, float] | None:
    """The ad account's paid delivery in the probe's window, from its ad_account/analytics answer: (column,
    total) of the first of PAID_DELIVERY_COLUMNS the rows carry; None without an answer or such a column."""
    rows = answer.data if answer is not None and answer.ok and isinstance(answer.data, list) else None
    if rows is None:
        return None
    for column in PAID_DELIVERY_COLUMNS:
        values = [row.get(column) for row in rows if isinstance(row, Mapping)]
        numbers = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
        if numbers:
            return column, sum(numbers)
    return (PAID_DELIVERY_COLUMNS[0], 0) if not rows else None


def content_type_check(answers: Mapping[str, Outcome], window: str, unknown_reason: str,
                       delivery: tuple[str, float] | None = None) -> Check:
    """Each configured content_type (PINTEREST_CONTENT_TYPES, the only ones the pipeline asks) is accepted, and,
    when ALL and ORGANIC are both asked, ORGANIC's totals differ from ALL's when there was paid activity: PAID's
    total when it is asked, else the ad account's paid delivery in the window (`delivery`, from `paid_delivery`).
    ALL equal to ORGANIC with paid activity means the API ignores content_type: the pipeline would store paid
    activity as ORGANIC, so it fails."""
    asked = ", ".join(answers) or "none"
    assumption = (f"user-account analytics take the configured content_type values ({asked}), and ALL (the API's "
                  "default) includes paid activity, so ORGANIC totals differ from ALL's when the account has ads")
    endpoints = ["user_account/analytics"]
    if not answers:
        return _check("content_type", assumption, unknown_reason, UNKNOWN, endpoints, True)
    refused = [f"{ct}: {o.failure()}" for ct, o in answers.items() if isinstance(o.error, InvalidRequestError)]
    if refused:
        return _check("content_type", assumption, f"refused: {'; '.join(refused)}", FAILED, endpoints, True)
    forbidden = [f"{ct}: {o.failure()}" for ct, o in answers.items() if o.not_permitted()]
    if forbidden:
        return _check("content_type", assumption, f"refused: {'; '.join(forbidden)}; {NOT_PERMITTED}", FAILED,
                      endpoints, True)
    failed = [f"{ct}: {o.failure()}" for ct, o in answers.items() if not o.ok]
    if failed:
        return _check("content_type", assumption, "; ".join(failed), UNKNOWN, endpoints, True)
    totals = {ct: _impressions(o.data) for ct, o in answers.items()}
    shown = ", ".join(f"{ct} {shown_value(value)}" for ct, value in totals.items())
    observed = f"IMPRESSION {window}: {shown}"
    if None in totals.values():
        return _check("content_type", assumption, f"{observed} (an answer has no IMPRESSION total)", UNKNOWN, endpoints, True)
    if not {"ALL", "ORGANIC"} <= totals.keys():
        return _check("content_type", assumption, f"{observed}: accepted (ALL and ORGANIC are not both configured: "
                      "nothing to compare)", OK, endpoints, True)
    every, organic, paid = totals["ALL"], totals["ORGANIC"], totals.get("PAID")
    if every != organic:
        adds_up = ("ALL differs from ORGANIC" if paid is None else "ALL = ORGANIC + PAID" if every == organic + paid
                   else "ALL differs from ORGANIC + PAID")
        return _check("content_type", assumption, f"{observed} ({adds_up})", OK, endpoints, True)
    ignored = ("the API ignores content_type: the pipeline would store paid activity as ORGANIC (organic numbers "
               "inflated by the ads'); do not run it against this API as it is, and report it to Pinterest")
    if paid:
        return _check("content_type", assumption, f"{observed}: PAID has activity but ALL equals ORGANIC: {ignored}",
                      FAILED, endpoints, True)
    if paid is None and delivery is not None and delivery[1] > 0:
        column, total = delivery
        return _check("content_type", assumption, f"{observed}: ALL equals ORGANIC although the ad account delivered "
                      f"{column} {shown_value(total)} in the same window (ad_account/analytics): {ignored}", FAILED,
                      [*endpoints, "ad_account/analytics"], True)
    if paid is None:
        evidence = ("no ad delivery in the window either" if delivery is not None
                    else "no ad account's delivery to compare with")
        return _check("content_type", assumption, f"{observed}: ALL equals ORGANIC: no paid activity in the window, or "
                      f"content_type is ignored (PAID is not configured, so not asked; {evidence})", UNKNOWN,
                      endpoints, True)
    return _check("content_type", assumption, f"{observed}: no paid activity in the window, so no difference "
                  "to see", UNKNOWN, endpoints, True)


def _ready(state: Any, conversions: bool) -> bool | None:
    """Whether a metrics_ready_state answer says a date is ready for the pipeline (`ads.extract.is_ready`: its
    conversion metrics too when the configured columns carry conversions); None when it is not an object with
    the two booleans."""
    from pipelines.ads.extract import is_ready

    if not isinstance(state, Mapping):
        return None
    flags = (state.get("conversion_metrics_ready"), state.get("non_conversion_metrics_ready"))
    return is_ready(dict(state), conversions) if all(isinstance(f, bool) for f in flags) else None


def finality_of(date: dt.date, ready: bool, today: dt.date, settle_days: int) -> str:
    """What the pipeline does with an ads date: final only once its attribution window has passed and the API
    says ready; until then it is re-pulled."""
    window_passes = date + dt.timedelta(days=settle_days)
    if window_passes <= today and ready:
        return "final"
    waits = []
    if window_passes > today:
        waits.append(f"its {settle_days}-day attribution window passes on {window_passes}")
    if not ready:
        waits.append("the API says ready")
    return f"not final, re-pulled until {' and '.join(waits)}"


def ready_state_check(states: Mapping[dt.date, Outcome], today: dt.date, settle_days: int, conversions: bool,
                      unknown_reason: str) -> Check:
    """metrics_ready_state answers {conversion_metrics_ready, non_conversion_metrics_ready}, readiness only
    grows with a date's age (the pipeline binary-searches the newest ready date), and what the pipeline
    does with each date."""
    assumption = ("metrics_ready_state answers conversion_metrics_ready and non_conversion_metrics_ready as "
                  "booleans, and a date once ready stays ready as it ages (the pipeline asks only dates past the "
                  "attribution window, newest first, and binary-searches the newest ready one)")
    endpoints = ["metrics_ready_state/get"]
    if not states:
        return _check("metrics_ready_state", assumption, unknown_reason, UNKNOWN, endpoints, True)
    forbidden = [f"{date}: {o.failure()}" for date, o in states.items() if o.not_permitted()]
    if forbidden:
        return _check("metrics_ready_state", assumption, f"refused: {'; '.join(forbidden)}; {NOT_PERMITTED}",
                      FAILED, endpoints, True)
    failed = [f"{date}: {o.failure()}" for date, o in states.items() if not o.ok]
    if failed:
        return _check("metrics_ready_state", assumption, "; ".join(failed), UNKNOWN, endpoints, True)
    parts, readiness = [], {}
    for date, outcome in states.items():
        ready = _ready(outcome.data, conversions)
        if ready is None:
            return _check("metrics_ready_state", assumption, f"{date}: the answer is not an object with the two "
                          f"booleans ({shown_value(outcome.data)})", FAILED, endpoints, True)
        readiness[date] = ready
        flags = ", ".join(f"{k} {str(outcome.data[k]).lower()}" for k in ("conversion_metrics_ready",
                                                                           "non_conversion_metrics_ready"))
        parts.append(f"{date}: {flags}: {finality_of(date, ready, today, settle_days)}")
    ordered = sorted(readiness)  # oldest first: readiness may only fall as dates get newer
    grows = all(readiness[older] or not readiness[newer] for older, newer in zip(ordered, ordered[1:]))
    observed = "; ".join(parts)
    if not grows:
        return _check("metrics_ready_state", assumption, f"{observed}: a newer date is ready while an older one is "
                      "not", FAILED, endpoints, True)
    return _check("metrics_ready_state", assumption, observed, OK, endpoints, True)


def rate_limit_check(sightings: Sequence[HeaderSighting], paced: Mapping[str, float] | None = None) -> Check:
    """The rate-limit headers seen, by rate category (the last answer's of each), any 429 with its own, and the
    categories the probe stopped asking because the client paced them slower than the probe waits (`paced`:
    category -> calls a minute)."""
    assumption = ("answers may carry X-RateLimit-* headers (the client adopts a lower limit they give) and a 429 "
                  "says how long to wait (Retry-After or X-RateLimit-Reset); none is required")
    endpoints = sorted({s.endpoint for s in sightings})
    latest: dict[str, HeaderSighting] = {}
    for sighting in sightings:
        if sighting.headers and sighting.status != 429:
            latest[endpoint(sighting.endpoint).category] = sighting
    throttled = [s for s in sightings if s.status == 429]
    parts = [f"{category}: {_headers_text(s.headers)}" for category, s in sorted(latest.items())]
    # One line per endpoint and headers seen on its 429s, with how many there were (a retried call repeats them).
    seen_429 = collections.Counter((s.endpoint, _headers_text(s.headers) or "no rate-limit headers") for s in throttled)
    parts += [f"HTTP 429 on {name}{f' ({times} times)' if times > 1 else ''}: {headers}"
              for (name, headers), times in seen_429.items()]
    parts += [f"{category} paced to {pace:g}/minute by the server's headers: its further calls not sent (the probe "
              f"waits at most {LONGEST_PROBE_PACING_SECONDS:g} s for pacing in all)" for category, pace in (paced or {}).items()]
    if throttled or paced:
        return _check("rate_limit_headers", assumption, "; ".join(parts) + " (reported, not waited for beyond "
                      f"{LONGEST_PROBE_WAIT_SECONDS:g} s)", WARNING, endpoints, False)
    if not latest:
        return _check("rate_limit_headers", assumption, "none seen: the client paces at PINTEREST_RATE_BUDGETS and "
                      "backs off exponentially on 429s", UNKNOWN, endpoints, False)
    return _check("rate_limit_headers", assumption, "; ".join(parts), OK, endpoints, False)


def answers_check(unanswered: Outcome | None) -> Check:
    """Every request of the probe got a complete answer within its time bound; `unanswered`: the one that did
    not (the probe asks nothing after it). Only the repeated-key comparison, which the pipeline never sends,
    is a warning."""
    assumption = ("the API answers each call completely within the time bounds (PINTEREST_HTTP_TIMEOUT_SECONDS per "
                  "attempt, PINTEREST_HTTP_CALL_TIMEOUT_SECONDS per call), as the pipeline's calls need")
    if unanswered is None:
        return _check("api_answers", assumption, "no call went unanswered", OK, [], True)
    status = WARNING if unanswered.endpoint.endswith("(ids as repeated keys)") else FAILED
    name = unanswered.endpoint.split(" ", 1)[0]
    observed = (f"{unanswered.failure()}; the probe asked nothing after it (the client stops calling an API that "
                "did not answer): those checks are unknown")
    return _check("api_answers", assumption, observed, status, [name], status == FAILED)


def _headers_text(headers: Sequence[tuple[str, str]]) -> str:
    return ", ".join(f"{name}={value}" for name, value in headers)


def answer_shape_problem(outcome: Outcome, requested: Sequence[str] = ()) -> str | None:
    """Why a successful answer is not what the pipeline parses (None when it is), by the pipeline's own
    normalizers where there is one."""
    from pipelines.metric_values import DataStatusError, MetricValueError
    from pipelines.organic.normalize import normalize_pin_analytics, normalize_user_account_analytics
    from pipelines.organic.pin_answers import UNSPLIT_KEY

    data, name, now = outcome.data, outcome.endpoint, dt.datetime.now(dt.timezone.utc)
    try:
        if name == "user_account/analytics":
            block = data.get(UNSPLIT_KEY) if isinstance(data, Mapping) else None
            if not isinstance(block, Mapping) or not isinstance(block.get("daily_metrics"), list):
                return f"no '{UNSPLIT_KEY}' key holding a daily_metrics list (the answer: {shown_value(data)})"
            normalize_user_account_analytics(data, "probe", "NO_SPLIT", now)
        elif name == "multi_pins/analytics":
            normalize_pin_analytics(data, now)
            missing = [p for p in requested if p not in answered_ids(name, data)]
            if missing:
                return f"not keyed by every pin asked for (missing {', '.join(map(shown_value, missing))})"
        elif name == "pins/analytics":
            normalize_pin_analytics(data, now, requested[0])
        elif name == "ad_account/analytics":
            rows = data if isinstance(data, list) else None
            if rows is None or any(not isinstance(r, Mapping) or "AD_ACCOUNT_ID" not in r or "DATE" not in r for r in rows):
                return "not an array of rows each with AD_ACCOUNT_ID and DATE"
    except (ResponseShapeError, MetricValueError, DataStatusError) as error:
        return str(error)
    return None


SHAPES_ASSUMPTION = ("answers have the shape the pipeline parses: user-account analytics under \"all\" with "
                     "daily_metrics, bulk pin analytics keyed by pin id, lists with items, ads rows as an array")


def shapes_check(outcomes: Sequence[tuple[Outcome, Sequence[str]]]) -> Check:
    """Every answer the probe got has the shape the pipeline parses (a list's `items` are checked by the client:
    a list answer without them arrives here as a failed outcome)."""
    assumption = SHAPES_ASSUMPTION
    parts, broken = [], False
    for outcome, requested in outcomes:
        if _unparsed(outcome):
            parts.append(f"{outcome.endpoint}: answered {outcome.answered}, not JSON")
            broken = True
        elif isinstance(outcome.error, ResponseShapeError):
            parts.append(f"{outcome.endpoint}: {outcome.error}")
            broken = True
        elif outcome.ok and (problem := answer_shape_problem(outcome, requested)):
            parts.append(f"{outcome.endpoint}: {problem}")
            broken = True
    answered = [o.endpoint for o, _ in outcomes if o.ok or isinstance(o.error, ResponseShapeError) or _unparsed(o)]
    unchecked = "".join(f"; not checked: {o.endpoint} ({o.failure()})" for o, _ in outcomes
                        if not o.ok and not isinstance(o.error, ResponseShapeError) and not _unparsed(o))
    if broken:
        return _check("answer_shapes", assumption, "; ".join(parts) + unchecked, FAILED, answered, True)
    if not answered:
        return _check("answer_shapes", assumption, f"no answer to check{unchecked}", UNKNOWN, answered, True)
    return _check("answer_shapes", assumption, f"as parsed: {', '.join(dict.fromkeys(answered))}{unchecked}", OK,
                  answered, True)


def _unparsed(outcome: Outcome) -> bool:
    """A request whose last answer was a 200 the client could not read as JSON (a TransportError; not an answer
    too large for the body cap, nor one that never completed)."""
    return (isinstance(outcome.error, TransportError) and not isinstance(outcome.error, ApiUnreachableError)
            and (outcome.answered or "").startswith("HTTP 200 "))


def ad_account_ids(listing: Any) -> list[str]:
    items = listing.get("items") if isinstance(listing, Mapping) else None
    return [str(item["id"]) for item in items or () if isinstance(item, Mapping) and item.get("id") is not None]


def pins_to_compare(listing: Any) -> tuple[list[str], tuple[str, ...]]:
    """Up to COMPARED_IDS listed pins of one type (the type most listed) and that type's metric set: a bulk call
    asks its pins for one type's set, as the pipeline's calls do."""
    from pipelines.organic.dimensions import normalize_pins
    from pipelines.organic.extract import PinRef

    table = normalize_pins(list(listing.get("items") or ()), dt.datetime.now(dt.timezone.utc))
    pins = [PinRef(pin, video) for pin, video in zip(table.column("pin_id").to_pylist(),
                                                      table.column("is_video").to_pylist())]
    videos = [p for p in pins if p.is_video]
    chosen = videos if len(videos) > len(pins) - len(videos) else [p for p in pins if not p.is_video]
    chosen = chosen[:COMPARED_IDS]
    return [p.pin_id for p in chosen], chosen[0].metric_types if chosen else ()


# ---------------------------------------------------------------------------------------------- the calls
def probe_retry_policy(policy: RetryPolicy) -> RetryPolicy:
    """The environment's retry policy narrowed to the probe's call limit: one retry per request (and per token
    refresh), RETRY_BUDGET in all, no rate-limit wait over LONGEST_PROBE_WAIT_SECONDS, and a request's 429s retried
    once only (no throttle span: the pipeline's calls keep retrying 429s for minutes, the probe reports them)."""
    return dataclasses.replace(policy, max_attempts=2, run_retry_budget=RETRY_BUDGET, throttle_span_seconds=0.0,
                               max_rate_limit_wait_seconds=min(policy.max_rate_limit_wait_seconds,
                                                               LONGEST_PROBE_WAIT_SECONDS))


class CallLimitReached(PinterestError):
    """A request of the probe (an API call, a retry, a token refresh) would have passed CALL_LIMIT: not sent."""


class PacingRefused(PinterestError):
    """The client's rate budget asked the probe to wait past what is left of LONGEST_PROBE_PACING_SECONDS."""

    def __init__(self, seconds: float):
        super().__init__(f"the rate budget asks to wait {seconds:.0f} s before the next call")
        self.seconds = seconds


class ApiNotAnsweringError(PinterestError):
    """The first call (user_account/get) got no answer of the Pinterest API: nothing else can be judged.
    `unparsed`: it answered 200 with a body that is not JSON."""

    def __init__(self, message: str, unparsed: bool):
        super().__init__(message)
        self.unparsed = unparsed


class _CountingAdapter(DeadlineAdapter):
    """The probe's transport: every request is counted by `before_send` as it is sent (answered or not), and one
    that would pass the call limit raises there instead of being sent."""

    def __init__(self, before_send, **kwargs):
        super().__init__(**kwargs)
        self._before_send = before_send

    def send(self, request, *args, **kwargs):
        self._before_send(request)
        return super().send(request, *args, **kwargs)


class _OneRefreshPerRequest:
    """The client's TokenManager, allowed one refresh per probe request: a token the server dates to expire at
    once is used as it is rather than refreshed before every attempt, and a 401 right after a refresh is a
    refused token, not a reason to refresh again."""

    def __init__(self, manager, token_fix: str = DEFAULT_TOKEN_FIX):
        self._manager = manager
        self._token_fix = token_fix
        self.refreshed = False

    @property
    def tokens(self):
        return self._manager.tokens

    def secrets(self) -> tuple[str, ...]:
        return self._manager.secrets()

    def can_refresh(self) -> bool:
        return self._manager.can_refresh()

    def access_token(self):
        if self.refreshed:
            return self._manager.tokens.access_token
        token = self._manager.tokens.access_token
        fresh = self._manager.access_token()
        self.refreshed = fresh != token
        return fresh

    def refresh(self, stale=None):
        if self.refreshed:
            raise TokenRefusedError(f"the API refused the access token a refresh had just issued; {self._token_fix}")
        self.refreshed = True
        return self._manager.refresh(stale)


class _PacingAllowance:
    """The rate budgets' sleep: waits while the probe's pacing stays within LONGEST_PROBE_PACING_SECONDS in all,
    and refuses a wait past it (PacingRefused) instead of waiting."""

    def __init__(self, sleep=time.sleep):
        self._sleep = sleep
        self.waited = 0.0

    def __call__(self, seconds: float) -> None:
        if self.waited + seconds > LONGEST_PROBE_PACING_SECONDS:
            raise PacingRefused(seconds)
        self.waited += seconds
        self._sleep(seconds)


def _without_secrets(value: Any, secrets: Sequence[str]) -> Any:
    """A parsed answer with every string (keys too) passed through `redacted`: a server may echo a token in any
    field, and the probe shows what it answered."""
    if isinstance(value, str):
        return redacted(value, secrets)
    if isinstance(value, Mapping):
        return {redacted(str(k), secrets): _without_secrets(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_secrets(v, secrets) for v in value]
    return value


class Probe:
    """The probe's requests through one client: each one's outcome, the rate-limit headers of every answer,
    and the call count: every request as it is sent (retries and token refreshes included, answered or not),
    never past CALL_LIMIT, with at most one token refresh per request and at most
    LONGEST_PROBE_PACING_SECONDS of rate pacing in all."""

    def __init__(self, client, pacing: _PacingAllowance | None = None, token_fix: str = DEFAULT_TOKEN_FIX):
        self.client = client
        self.token_fix = token_fix  # how to fix a refused token: the login command and the token's variable
        # The request the API did not answer within the call's time bound, and its error: the client fails every
        # later call at once, so the probe's later steps are reported not asked.
        self.unanswered: Outcome | None = None
        self.sightings: list[HeaderSighting] = []
        self.sent: dict[str, int] = {}
        self.paced: dict[str, float] = {}  # category -> its pace (calls a minute) when the probe stopped asking it
        self.quota_refused: list[str] = []  # the requests answered HTTP 429 code 8 (QUOTA_CODE)
        self._pacing = pacing
        self._endpoint = ""
        self._answered: str | None = None
        self._limit_hit = False
        adapter = _CountingAdapter(self._count, pool_connections=2, pool_maxsize=client.config.concurrency + 2,
                                   max_retries=0)
        client.session.mount("https://", adapter)
        client.session.mount("http://", adapter)
        client.session.hooks.setdefault("response", []).append(self._observe)
        self._tokens = _OneRefreshPerRequest(client.tokens, token_fix) if client.tokens else None
        if self._tokens:
            client.tokens = self._tokens

    def calls(self) -> int:
        return sum(self.sent.values())

    def secrets(self) -> tuple[str, ...]:
        return self._tokens.secrets() if self._tokens else ()

    def throttled_categories(self) -> set[str]:
        return {endpoint(s.endpoint).category for s in self.sightings if s.status == 429}

    def calls_by_endpoint(self) -> dict[str, int]:
        return dict(sorted(self.sent.items()))

    def request(self, name: str, path_params: Mapping[str, str] | None = None, params: Mapping[str, Any] | None = None,
                *, list_encoding: str = COMMA) -> Outcome:
        """One request; a refused token raises TokenRefusedError; any other failure is the outcome's. Once a
        request got no answer within its time bound (`unanswered`), later ones are not sent."""
        if self.unanswered is not None:
            return Outcome(name, not_sent=f"the API stopped answering after {self.unanswered.endpoint}")
        if self.calls() + MOST_CALLS_PER_REQUEST > CALL_LIMIT:
            return Outcome(name, not_sent=f"the probe's limit of {CALL_LIMIT} calls is reached (retries took the rest)")
        category = endpoint(name).category
        if category in self.throttled_categories():
            # The client would pace the category at the limit the 429 announced (a minute per call, or a day).
            quota = (f" code {QUOTA_CODE} ({LIKELY_QUOTA})" if any(endpoint(n).category == category
                                                                    for n in self.quota_refused) else "")
            return Outcome(name, not_sent=f"{category} answered HTTP 429{quota} earlier in the probe")
        if category in self.paced:
            return Outcome(name, not_sent=f"{category} is paced to {self.paced[category]:g} calls a minute")
        self._endpoint, self._answered, self._limit_hit = name, None, False
        if self._tokens:
            self._tokens.refreshed = False
        try:
            answer = self.client.fetch(name, path_params, params, list_encoding=list_encoding).data
            return Outcome(name, _without_secrets(answer, self.secrets()), answered=self._answered)
        except AuthError as error:
            if error.endpoint == TOKEN_ENDPOINT:
                raise TokenRefusedError(f"the API refused the access token, and refreshing it failed ({TOKEN_ENDPOINT}: "
                                        f"HTTP {error.status}, Pinterest code {error.code}: {error.api_message}); "
                                        f"{self.token_fix}") from None
            if error.code in (2, None):
                raise TokenRefusedError(f"the API refused the access token ({name}: HTTP {error.status}, Pinterest "
                                        f"code {error.code}: {error.api_message}); {self.token_fix}") from None
            return Outcome(name, error=error, answered=self._answered)
        except TokenRefusedError:
            raise
        except ApiUnreachableError as error:
            if self._limit_hit:
                return Outcome(name, not_sent=f"the probe's limit of {CALL_LIMIT} calls is reached (a retry or a "
                                              "token refresh would have passed it)")
            encoding = " (ids as repeated keys)" if list_encoding == REPEATED else ""
            self.unanswered = Outcome(name + encoding, error=error, answered=self._answered)
            return Outcome(name, error=error, answered=self._answered)
        except PacingRefused as refused:
            pace = self.client.budgets.current_budget(category)
            self.paced[category] = pace
            return Outcome(name, not_sent=f"{category} is paced to {pace:g} calls a minute (the next call in "
                                          f"{refused.seconds:.0f} s); the probe waits at most "
                                          f"{LONGEST_PROBE_PACING_SECONDS:g} s for pacing in all")
        except PinterestError as error:
            if self._limit_hit:
                return Outcome(name, not_sent=f"the probe's limit of {CALL_LIMIT} calls is reached (a retry or a "
                                              "token refresh would have passed it)")
            if isinstance(error, RateLimitedError) and error.code == QUOTA_CODE and (self._answered or "").startswith(
                    "HTTP 429"):  # answered so, not stopped by the client after an earlier quota's 429
                self.quota_refused.append(name)
            return Outcome(name, error=error, answered=self._answered)

    def _count(self, request) -> None:
        """The adapter's hook, before each request is sent: refuse it past the limit, else count it."""
        if self.calls() >= CALL_LIMIT:
            self._limit_hit = True
            raise CallLimitReached(f"{CALL_LIMIT} calls sent")
        name = TOKEN_ENDPOINT if _is_token_request(request) else self._endpoint
        self.sent[name] = self.sent.get(name, 0) + 1

    def _observe(self, response, *args, **kwargs) -> None:
        """requests' response hook: keep the rate-limit headers of each API answer (not the token endpoint's) and
        what it was (status and content type), names and values redacted."""
        if _is_token_request(response.request):
            return
        secrets = self.secrets()
        content_type = response.headers.get("Content-Type", "no content type").split(";", 1)[0].strip()
        self._answered = redacted(f"HTTP {response.status_code} {content_type}", secrets)
        headers = tuple((redacted(name, secrets)[:40], redacted(value, secrets)[:80])
                        for name, value in response.headers.items()
                        if RATE_LIMIT_HEADER_MARK in name.lower() or name.lower() == "retry-after")
        self.sightings.append(HeaderSighting(self._endpoint, response.status_code, headers))


def _is_token_request(request) -> bool:
    return request.path_url.split("?", 1)[0].endswith(f"/{TOKEN_ENDPOINT}")


@dataclasses.dataclass(frozen=True)
class ProbeSettings:
    """What the probe takes from the configuration: the same as `pinterest-etl run` uses."""

    today: dt.date
    settle_days: int
    columns: tuple[str, ...]
    conversions: bool  # the columns carry conversions: a date waits for conversion readiness too
    attribution_params: Mapping[str, Any]
    ad_account_allow_list: frozenset[str] | None
    source: str
    granted_scope: str | None
    content_types: tuple[str, ...] = CONTENT_TYPES  # PINTEREST_CONTENT_TYPES: the only ones the pipeline asks
    login: str = "pinterest-etl auth login"  # the command that grants the account's token its scopes


def not_asked(reason_of: Outcome, scope: str) -> str:
    """Why a step was skipped after the call it builds on failed: the scope when the API said it is missing,
    else what that call ended in."""
    if reason_of.refused_scope():
        return f"not asked: {scope} is missing ({reason_of.failure()})"
    return f"not asked: {reason_of.endpoint} failed ({reason_of.failure()})"


def first_answer_problem(account: Outcome, base_url: str) -> ApiNotAnsweringError | None:
    """The error that stops the probe when its first call got no usable answer of the Pinterest API (an HTML
    page, a 404 of a base URL without /v5, a 5xx): nothing else the probe asks could be judged. None when it
    answered, or refused only a scope."""
    if account.ok and isinstance(account.data, Mapping):
        return None
    if account.refused_scope() or account.not_sent is not None:
        return None
    answered = f"answered {account.answered}" if account.answered else "got no answer"
    failure = account.failure() if not account.ok else f"not a JSON object ({shown_value(account.data)})"
    unparsed = account.ok or _unparsed(account)
    if isinstance(account.error, RateLimitedError):
        advice = "run the probe again once the rate limit resets"
    else:
        advice = (f"check that PINTEREST_API_BASE_URL ({base_url}) is the Pinterest API v5 "
                  "(https://api.pinterest.com/v5); if it is, the API is failing: run the probe again later")
    return ApiNotAnsweringError(f"user_account/get {answered}, not an answer of the Pinterest API ({failure}); "
                                f"nothing else could be checked: {advice}", unparsed)


def run_probe(probe: Probe, config: ProbeSettings) -> tuple[Check, ...]:
    """Every step of the probe, in order; the checks of what they answered."""
    today = config.today
    window_end = today - dt.timedelta(days=WINDOW_END_DAYS_BACK)
    window = {"start_date": window_end - dt.timedelta(days=WINDOW_DAYS - 1), "end_date": window_end}
    window_text = f"{window['start_date']}..{window['end_date']}"

    account = probe.request("user_account/get")
    if isinstance(account.error, ApiUnreachableError):
        raise account.error  # no answer at all: nothing else can be asked
    if problem := first_answer_problem(account, probe.client.base_url):
        raise problem
    reads = {"user_account/get": account,
             "boards/list": probe.request("boards/list", params={"page_size": 1}),
             "pins/list": probe.request("pins/list", params={"page_size": PAGE_SIZE}),
             "ad_accounts/list": probe.request("ad_accounts/list", params={"include_shared_accounts": True,
                                                                           "page_size": PAGE_SIZE})}
    shapes: list[tuple[Outcome, Sequence[str]]] = [(o, ()) for o in reads.values()]

    content = {}
    if account.ok:
        for content_type in config.content_types:
            content[content_type] = probe.request("user_account/analytics", params={
                **window, "metric_types": list(api_enums.USER_ACCOUNT_METRIC_TYPES), "split_field": "NO_SPLIT",
                "content_type": content_type})
        shapes.append((next(iter(content.values())), ()))

    pins_listing = reads["pins/list"]
    pins, metrics = pins_to_compare(pins_listing.data) if pins_listing.ok else ([], ())
    bulk = bulk_repeated = None
    comparisons: list[IdComparison] = []
    if not pins_listing.ok:
        no_pins = not_asked(pins_listing, "pins:read")
    elif len(pins) < 2:
        no_pins = "the account lists fewer than 2 pins of one type"
    else:
        params = {**window, "pin_ids": pins, "metric_types": list(metrics)}
        bulk = probe.request("multi_pins/analytics", params=params)
        shapes.append((bulk, pins))
        if bulk.ok or isinstance(bulk.error, InvalidRequestError):
            # A 400 may refuse the comma-joined encoding rather than the app: the repeated form tells which.
            bulk_repeated = probe.request("multi_pins/analytics", params=params, list_encoding=REPEATED)
        if bulk.ok or (bulk_repeated is not None and bulk_repeated.ok):
            comparisons.append(IdComparison(tuple(pins), bulk, bulk_repeated))
            if not bulk.ok:
                shapes.append((bulk_repeated, pins))
        elif probe.unanswered is None:
            single = probe.request("pins/analytics", {"pin_id": pins[0]}, {**window, "metric_types": list(metrics)})
            shapes.append((single, pins[:1]))
        no_pins = f"multi_pins/analytics: {_comparison(pins, bulk)[0]}" if not comparisons else ""

    ad_accounts = ad_account_ids(reads["ad_accounts/list"].data) if reads["ad_accounts/list"].ok else []
    if config.ad_account_allow_list is not None:
        ad_accounts = [a for a in ad_accounts if a in config.ad_account_allow_list]
    states: dict[dt.date, Outcome] = {}
    ads_answer = None
    no_ads = (not_asked(reads["ad_accounts/list"], "ads:read") if not reads["ad_accounts/list"].ok
              else "not asked: no ad account to read")
    if ad_accounts:
        for days_back in (*READY_STATE_DAYS_BACK, config.settle_days):
            date = today - dt.timedelta(days=days_back)
            states[date] = probe.request("metrics_ready_state/get", params={"date": date})
        first = {"ad_account_id": ad_accounts[0]}
        ads_answer = probe.request("ad_account/analytics", first, {
            **window, "granularity": "DAY", "columns": list(config.columns), **config.attribution_params})
        shapes.append((ads_answer, ()))
        campaign_comparisons, no_ads = _campaign_comparisons(probe, first, window, config, lists=not comparisons,
                                                             repeated=bulk_repeated is None)
        comparisons += campaign_comparisons

    encoding_reason = "; ".join(r.removeprefix("not asked: ") for r in (no_pins, no_ads) if r)
    comma_check, repeated_check = encoding_checks(comparisons, encoding_reason)
    pin_count = _pin_count(account)
    return (token_check(account, config.source), scopes_check(reads, config.granted_scope, config.login),
            ad_accounts_check(reads["ad_accounts/list"], config.ad_account_allow_list), comma_check, repeated_check,
            bulk_check(bulk, bulk_repeated, pin_types(pins_listing, pin_count), no_pins),
            content_type_check(content, window_text, not_asked(account, "user_accounts:read"), paid_delivery(ads_answer)),
            ready_state_check(states, today, config.settle_days, config.conversions, no_ads), shapes_check(shapes),
            rate_limit_check(probe.sightings, probe.paced), answers_check(probe.unanswered))


def _campaign_comparisons(probe: Probe, path: Mapping[str, str], window: Mapping[str, dt.date], config: ProbeSettings,
                          lists: bool, repeated: bool) -> tuple[list[IdComparison], str]:
    """Comma-joined campaign ids on the ads analytics family (one campaigns/analytics call), and, when bulk pin
    analytics could not carry the comparison (`lists`), on the campaign list, in both encodings unless the repeated
    form was already asked of the pins (`repeated`): (the comparisons, why none could be made, empty when some
    were)."""
    listing = probe.request("campaigns/list", path, {"page_size": COMPARED_IDS})
    if not listing.ok:
        return [], f"campaigns/list: {listing.failure()}"
    ids = tuple(ad_account_ids(listing.data))
    if len(ids) < 2:
        return [], f"the ad account has {len(ids)} campaign(s), fewer than 2 to compare"
    comparisons = []
    if lists and probe.unanswered is None:
        comma = probe.request("campaigns/list", path, {"campaign_ids": ids, "page_size": PAGE_SIZE})
        repeated_keys = (probe.request("campaigns/list", path, {"campaign_ids": ids, "page_size": PAGE_SIZE},
                                       list_encoding=REPEATED) if comma.ok and repeated else None)
        comparisons.append(IdComparison(ids, comma, repeated_keys))
    analytics = probe.request("campaigns/analytics", path, {
        **window, "campaign_ids": ids, "granularity": "DAY", "columns": list(config.columns),
        **config.attribution_params})
    comparisons.append(IdComparison(ids, analytics, every_id_answers=False))
    return comparisons, ""


def _pin_count(account: Outcome) -> int | None:
    count = account.data.get("pin_count") if account.ok and isinstance(account.data, Mapping) else None
    return count if isinstance(count, int) and not isinstance(count, bool) else None


# ------------------------------------------------------------------------------------------ the outputs
def write_probe_file(report: ProbeReport, path: Path) -> None:
    """probe.json, replaced atomically: readers see the previous probe's or this one's, never a part. Any
    failure to write it (a full disk, a directory in its place, PINTEREST_ETL_HOME under a file) is one
    DataWriteError naming the file and the cause."""
    temporary = temporary_path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(temporary, "w", encoding="utf-8") as out:
            json.dump(report.as_json(), out, indent=2)
            out.write("\n")
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except OSError as error:
        with contextlib.suppress(OSError):  # under a file or a directory in the way, there is no temporary
            temporary.unlink(missing_ok=True)
        consequence = "The probe's results are in the table above only."
        cause = " ".join(str(error).split()) or type(error).__name__
        raise write_error(path, error, consequence) or DataWriteError(
            f"could not write {path} ({cause}). {consequence}") from None


def render_table(report: ProbeReport, width: int = 110) -> str:
    """The checks as a table: status, name, then the assumption and what the API answered, wrapped."""
    header = (f"Pinterest API probe of {report.base_url} at {report.probed_at:%Y-%m-%d %H:%M} UTC; {report.source}; "
              f"{report.calls} calls of at most {CALL_LIMIT}")
    lines = [header, "", f"{'STATUS':<8} {'CHECK':<19} ASSUMPTION / OBSERVED"]
    indent = " " * 29
    wrap = textwrap.TextWrapper(width - len(indent), break_long_words=False, break_on_hyphens=False)
    for check in report.checks:
        marker = " (the pipeline depends on it)" if check.pipeline_depends else ""
        assumes = wrap.wrap(f"assumes: {check.assumption}{marker}")
        observed = wrap.wrap(f"observed: {check.observed}")
        first, *rest = assumes + observed
        lines.append(f"{check.status:<8} {check.name:<19} {first}")
        lines.extend(indent + line for line in rest)
    return "\n".join(lines)


def quota_note(report: ProbeReport) -> str:
    """What to add to the verdict when the API answered 429 code 8 (QUOTA_CODE): the endpoints, the likely spent
    daily quota and what to do; empty otherwise."""
    if not report.quota_refused:
        return ""
    return (f"; HTTP 429 code {QUOTA_CODE} on {', '.join(report.quota_refused)}: {LIKELY_QUOTA}, so the checks "
            "after it could not be judged: run the probe again once the quota has reset")


def verdict(report: ProbeReport) -> str:
    """The last line: whether the pipeline can run as it is, and which assumptions stop it."""
    if report.broken:
        return (f"{len(report.broken)} assumption(s) the pipeline depends on do not hold: "
                f"{', '.join(c.name for c in report.broken)}{quota_note(report)}")
    warnings = sum(c.status == WARNING for c in report.checks)
    unknown = sum(c.status == UNKNOWN for c in report.checks)
    if report.quota_refused:
        return (f"no assumption the pipeline depends on failed, but {unknown} check(s) are unknown ({warnings} "
                f"warning(s)){quota_note(report)}")
    return (f"every assumption the pipeline depends on that could be checked holds ({warnings} warning(s), "
            f"{unknown} unknown)")


# What the probe reports of the configuration besides the client's settings (`probe_settings`).
PROBED_SETTINGS = ("ads_attribution", "ads_columns", "ad_account_ids", "content_types")


def probe_settings(configured: settings.Settings, source: str, granted_scope: str | None,
                   login: str = "pinterest-etl auth login") -> ProbeSettings:
    from pipelines.ads.extract import carries_conversions

    attribution, columns = configured.ads_attribution, configured.ads_columns
    return ProbeSettings(configured.today(), attribution.settle_days, columns, carries_conversions(columns),
                         attribution.params(), configured.ad_account_ids, source, granted_scope,
                         configured.content_types, login)


def probe_file_name(account: str | None) -> str:
    """probe.json for the environment's credentials, probe.<account>.json for an accounts-file account (account
    names are lower-case letters, digits, - and _), so probing each account keeps each one's results."""
    return PROBE_FILE if account is None else f"probe.{account}.json"


def login_command(account: str | None) -> str:
    """The command that issues a token (with the pipeline's scopes) for this account of the accounts file."""
    return "pinterest-etl auth login" + (f" --account {account}" if account else "")


def token_fix(account: str | None, token_variable: str | None, from_environment: bool) -> str:
    """How to fix a refused token of this account: its login command, and the variable holding its access token
    when the token came from the environment (a token file, when there is one, is used before the variable)."""
    login = login_command(account)
    if from_environment and token_variable:
        return f"run `{login}`, or set {token_variable} to a valid token"
    return f"run `{login}`"


def probe_configured_api(env: Mapping[str, str], *, embedded: bool = False, account: str | None = None,
                         token_variable: str | None = "PINTEREST_ACCESS_TOKEN") -> ProbeReport:
    """Probe the API and token `env` configures (PINTEREST_API_BASE_URL, the token file or the environment's
    tokens, as `pinterest-etl run` uses them); `embedded`: `env` points at the embedded simulator, `account`:
    the accounts file's account `env` holds the credentials of, `token_variable`: the variable its access token
    is configured in (an accounts-file account's `access_token_env`; None without one). A refused token, no
    answer to the first call or a first call answered by something else than the Pinterest API ends the probe
    early: the report's `stopped` says why in one line."""
    from pipelines.clients import client_from_settings, client_settings
    from pipelines.pinterest.budgets import RateBudgets

    configured = client_settings(env, also=PROBED_SETTINGS)
    pacing = _PacingAllowance()
    client, source = client_from_settings(configured, concurrency=1, retry=probe_retry_policy,
                                          budgets=RateBudgets(dict(configured.rate_budgets), sleep=pacing))
    fix = token_fix(account, token_variable, source == "environment")
    source = "the embedded simulator: no credentials are configured" if embedded else f"tokens from the {source}"
    if account:
        source = f"account {account!r}, {source}"
    with client:
        probe = Probe(client, pacing, fix)
        scope = client.tokens.tokens.scope if client.tokens else None
        shown_scope = redacted(scope, probe.secrets()) if isinstance(scope, str) and scope else None
        stopped = None
        try:
            checks = run_probe(probe, probe_settings(configured, source, shown_scope, login_command(account)))
        except (TokenRefusedError, ApiUnreachableError, ApiNotAnsweringError) as error:
            stopped = str(error)
            checks = (_check("token", TOKEN_ASSUMPTION, stopped, FAILED, ["user_account/get"], True),)
            if isinstance(error, ApiNotAnsweringError) and error.unparsed:
                checks += (_check("answer_shapes", SHAPES_ASSUMPTION, stopped, FAILED, ["user_account/get"], True),)
        # The base URL is shown as it is: check_base_url refused any with user info, a query or a fragment.
        return ProbeReport(client.base_url, dt.datetime.now(dt.timezone.utc), probe.calls(), probe.calls_by_endpoint(),
                           tuple(checks), source, stopped, tuple(dict.fromkeys(probe.quota_refused)))
