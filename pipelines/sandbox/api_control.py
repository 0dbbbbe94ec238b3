"""OAuth endpoints (token exchange and the consent-page stand-in) and the simulator's control endpoints."""

from __future__ import annotations

import urllib.parse

from pipelines.sandbox.auth import consent_redirect
from pipelines.sandbox.errors import invalid
from pipelines.sandbox.routing import Reply, Request, Route


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


ROUTES = (
    Route("POST", "/v5/oauth/token", "oauth/token", oauth_token, category="org_read", authenticated=False),
    Route("GET", "/oauth/", "oauth/consent", oauth_consent, authenticated=False),
    Route("GET", "/_sandbox/stats", "_sandbox/stats", sandbox_stats, authenticated=False),
    Route("POST", "/_sandbox/reset", "_sandbox/reset", sandbox_reset, authenticated=False),
)
