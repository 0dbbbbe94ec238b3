"""OAuth endpoints (token exchange and the consent-page stand-in) and the simulator's control endpoints."""

from __future__ import annotations

import datetime as dt
import math
import urllib.parse

from pipelines.sandbox.auth import consent_redirect
from pipelines.sandbox.errors import invalid
from pipelines.sandbox.ratelimit import SECONDS_PER_DAY
from pipelines.sandbox.routing import Reply, Request, Route

# A year: further is no quota day a test or a demonstration needs, and stays far from float's limits.
MAX_ADVANCE_SECONDS = 366 * SECONDS_PER_DAY


def oauth_token(request: Request) -> Reply:
    content_type = (request.headers.get("Content-Type") or "").split(";")[0].strip()
    if content_type != "application/x-www-form-urlencoded":
        raise invalid("The request body must be application/x-www-form-urlencoded.")
    form = urllib.parse.parse_qs(request.body.decode("utf-8", "replace"), keep_blank_values=True)
    return Reply(request.state.tokens.exchange(request.headers.get("Authorization"), form))


def oauth_consent(request: Request) -> Reply:
    location = consent_redirect(request.state.tokens, request.query)
    return Reply(None, 302, headers={"Location": location})


def sandbox_stats(request: Request) -> Reply:
    return Reply(request.state.stats())


def sandbox_reset(request: Request) -> Reply:
    request.state.reset()
    return Reply(request.state.stats())


def sandbox_clock(request: Request) -> Reply:
    """`?advance_seconds=S` moves the clock the daily quotas read S seconds forward (a UTC midnight passing without
    waiting for it; `--today`, the data's date, stays); answers that clock's time and the seconds to its next
    UTC midnight, when a spent daily quota resets."""
    text = (request.query.get("advance_seconds") or ["0"])[-1]
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and 0 <= seconds <= MAX_ADVANCE_SECONDS):
        raise invalid(f"advance_seconds must be a number of seconds from 0 to {MAX_ADVANCE_SECONDS} (was {text[:40]!r}); "
                      "the clock only moves forward.")
    now = request.state.limiter.advance_clock(seconds)
    return Reply({"utc_now": dt.datetime.fromtimestamp(now, dt.timezone.utc).isoformat(),
                  "seconds_to_utc_midnight": SECONDS_PER_DAY - now % SECONDS_PER_DAY})


ROUTES = (
    Route("POST", "/v5/oauth/token", "oauth/token", oauth_token, category="org_read", authenticated=False),
    Route("GET", "/oauth/", "oauth/consent", oauth_consent, authenticated=False),
    Route("GET", "/_sandbox/stats", "_sandbox/stats", sandbox_stats, authenticated=False),
    Route("POST", "/_sandbox/reset", "_sandbox/reset", sandbox_reset, authenticated=False),
    Route("POST", "/_sandbox/clock", "_sandbox/clock", sandbox_clock, authenticated=False),
)
