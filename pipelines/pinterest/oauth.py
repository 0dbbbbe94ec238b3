"""OAuth 2.0: token requests, single-flight refresh with persistence, and the authorization-code login."""

from __future__ import annotations

import base64
import http.server
import json
import logging
import random
import secrets
import threading
import time
import urllib.parse
from collections.abc import Callable

import requests

from pipelines.pinterest.credentials import (
    DEFAULT_REDIRECT_URI,
    DEFAULT_SCOPES,
    AppCredentials,
    CredentialsError,
    Secret,
    TokenFile,
    Tokens,
    clean_secret,
)
from pipelines.pinterest.errors import (
    ApiUnreachableError,
    AuthError,
    DailyQuotaError,
    RateLimitedError,
    TransportError,
    redacted,
)
from pipelines.pinterest.retries import (
    RETRYABLE_STATUSES,
    CallClock,
    RetryPolicy,
    Throttling,
    backoff_seconds,
    refusal_to_wait,
    server_wait_seconds,
    throttled_wait_seconds,
)
from pipelines.pinterest.sessions import isolated
from pipelines.pinterest.transport import Answer, HttpLimits, NoAnswer, exchange, unreachable_message
from pipelines.pinterest.urls import check_url

log = logging.getLogger("pipelines.pinterest")
DEFAULT_RETRY = RetryPolicy()
DEFAULT_LIMITS = HttpLimits()

LOGIN_HINT = "run `pinterest-etl auth login` to authorize again"
# Pinterest's code for a refused grant ("The authorization grant is invalid"): a refresh token or an
# authorization code that is expired, revoked, already used or not Pinterest's.
INVALID_GRANT_CODE = 283
# The official description's x-ratelimit-category of POST /oauth/token: a refresh spends the org_read quota.
TOKEN_CATEGORY = "org_read"


def consent_page_url(base_url: str) -> str:
    """Pinterest's consent page for the real API; the simulator's stand-in for a local base URL."""
    parts = urllib.parse.urlsplit(base_url)
    if parts.hostname and parts.hostname.endswith("pinterest.com"):
        return "https://www.pinterest.com/oauth/"
    return f"{parts.scheme}://{parts.netloc}/oauth/"


def token_endpoint_url(base_url: str) -> str:
    """POST /oauth/token under the API base URL, checked like every URL a secret is sent to."""
    return check_url(f"{base_url.rstrip('/')}/oauth/token", "the OAuth token endpoint (PINTEREST_API_BASE_URL/oauth/token)")


def basic_credentials(app: AppCredentials) -> str:
    """The app's id and secret as the token endpoint takes them (the value after `Basic `)."""
    app_id = clean_secret(app.app_id, "PINTEREST_APP_ID")
    return base64.b64encode(f"{app_id}:{clean_secret(app.app_secret.reveal(), 'PINTEREST_APP_SECRET')}".encode()).decode()


def app_secrets(app: AppCredentials) -> tuple[str, ...]:
    """Every form of the app's secret a server could echo: the secret, `id:secret`, the Basic value."""
    secret = app.app_secret.reveal()
    return secret, f"{app.app_id}:{secret}", basic_credentials(app)


def request_tokens(session: requests.Session, base_url: str, app: AppCredentials, form: dict,
                   limits: HttpLimits = DEFAULT_LIMITS, retry: RetryPolicy = DEFAULT_RETRY,
                   sleep: Callable[[float], None] = time.sleep, known_secrets: tuple[str, ...] = ()) -> dict:
    """POST /oauth/token with the app's Basic credentials, retrying 429/5xx/transport failures within the
    call's time bound (`limits.call_seconds`). Never follows a redirect, never uses a proxy or .netrc from
    the environment. Errors never echo the form, the secret or `known_secrets`, even when the server does."""
    url = token_endpoint_url(base_url)
    basic = basic_credentials(app)
    session = isolated(session)
    secrets_sent = (*known_secrets, *app_secrets(app),
                    *(form[name] for name in ("refresh_token", "code") if form.get(name)))
    rng = random.Random()
    clock = CallClock(limits.call_seconds)
    throttling = Throttling()
    attempt = 0
    while True:
        attempt += 1
        started = time.monotonic()
        answer = exchange(session, "POST", url, what="oauth/token", limits=limits, seconds=clock.left(), data=form,
                          headers={"Authorization": f"Basic {basic}", "Accept": "application/json"})
        if isinstance(answer, NoAnswer):
            failure, hint = f"token request: {answer.description}", None
        else:
            body = _json_or_none(answer.content)
            if answer.status == 200 and isinstance(body, dict) and "access_token" in body:
                return body
            fields = body if isinstance(body, dict) else {}
            message = str(fields.get("message") or "")
            code = fields.get("code") if isinstance(fields.get("code"), int) else None
            request_id = redacted(answer.headers.get("x-pinterest-rid") or "", secrets_sent) or None
            if answer.status not in RETRYABLE_STATUSES or code == INVALID_GRANT_CODE:  # a refused grant stays refused
                # The server's message may quote the form (the refresh token, the code) or the Basic value.
                shown_message = redacted(message, secrets_sent) or "token request refused"
                raise AuthError(answer.status, code,
                                f"{shown_message} ({_refusal_hint(answer.status, code, app, form.get('grant_type'))})",
                                "oauth/token", request_id)
            failure = f"token request answered HTTP {answer.status}"
            hint = server_wait_seconds(answer.headers, message, secrets=secrets_sent)
            if answer.status == 429 and (refusal := refusal_to_wait(retry, hint, category=TOKEN_CATEGORY)):
                raise DailyQuotaError(429, code, refusal, "oauth/token", request_id)
        throttled = isinstance(answer, Answer) and answer.status == 429
        if throttled:
            throttling.refused(hint)
            if throttling.gives_up(retry, attempt):
                error = DailyQuotaError if throttling.is_quota() else RateLimitedError
                raise error(429, code, throttling.message(TOKEN_CATEGORY), "oauth/token", request_id)
            delay = throttled_wait_seconds(retry, attempt, hint, rng)
        else:
            clock.spend(time.monotonic() - started)
            delay = backoff_seconds(retry, attempt, hint, rng)
        if not throttled and (attempt >= retry.max_attempts or clock.left() <= delay):
            if isinstance(answer, NoAnswer):
                raise ApiUnreachableError(unreachable_message(url, limits, attempt, answer.description), "oauth/token")
            raise TransportError(f"{failure} ({attempt} attempts)", "oauth/token")
        if not throttled:
            clock.spend(delay)
        throttling.waited(delay)
        log.warning("oauth/token: %s; retry %d in %.1f s", failure, attempt, delay)
        sleep(delay)


def _json_or_none(content: bytes):
    try:
        return json.loads(content) if content else None
    except (ValueError, RecursionError):  # RecursionError: JSON nested deeper than the parser goes
        return None


def _refusal_hint(status: int, code: int | None, app: AppCredentials, grant: str | None) -> str:
    """What to do about a refused token request. Code 283 ("The authorization grant is invalid") refuses the
    grant itself, whatever the HTTP status: the refresh token or the authorization code, never the app (a
    refresh with a corrupt or expired refresh token is answered 401 code 283: pinterest/pinterest-python-sdk
    issue 114). Any other 401 from the token endpoint is how OAuth 2.0 (RFC 6749, 5.2) refuses the client, i.e.
    the app id and secret; as Pinterest documents no refusal codes, the grant is named as the other possible cause."""
    if code == INVALID_GRANT_CODE:
        refused = ("the refresh token: it has expired or was revoked" if grant == "refresh_token"
                   else "the authorization code: it has expired or was already used")
        return f"Pinterest refused {refused}; {LOGIN_HINT}"
    grant_problem = ("the refresh token has expired or was revoked" if grant == "refresh_token"
                     else "the authorization code has expired or was already used")
    if status != 401:
        return LOGIN_HINT
    return (f"Pinterest rejected the app credentials (app id {app.app_id}): check PINTEREST_APP_ID and "
            f"PINTEREST_APP_SECRET against your app on developers.pinterest.com; if they are right, {grant_problem}: "
            f"{LOGIN_HINT}")


class TokenManager:
    """The current tokens of a client. Refreshes once for all threads (single flight) and persists."""

    def __init__(self, tokens: Tokens, session: requests.Session, base_url: str, app: AppCredentials | None,
                 token_file: TokenFile | None, limits: HttpLimits = DEFAULT_LIMITS, on_refresh: Callable[[], None] = lambda: None,
                 clock: Callable[[], float] = time.time, retry: RetryPolicy = DEFAULT_RETRY):
        self._tokens = tokens
        self._session = isolated(session)
        self._base_url = base_url
        self._app = app
        self._file = token_file
        self._limits = limits
        self._on_refresh = on_refresh
        self._clock = clock
        self._retry = retry
        self._lock = threading.Lock()
        self._secrets: tuple[str, ...] = (*_token_values(tokens), *(app_secrets(app) if app else ()))

    @property
    def tokens(self) -> Tokens:
        return self._tokens

    def secrets(self) -> tuple[str, ...]:
        """Every secret this manager has held (tokens since rotated included): a server may echo any of them."""
        return self._secrets

    def can_refresh(self) -> bool:
        return self._app is not None and self._tokens.refresh_token is not None

    def access_token(self) -> Secret:
        """A token that is not known to be expired (refreshing first if it is)."""
        tokens = self._tokens
        if tokens.expired(self._clock()) and self.can_refresh():
            return self.refresh(tokens.access_token)
        return tokens.access_token

    def refresh(self, stale: Secret | None = None) -> Secret:
        """Refresh unless another thread already replaced `stale`; returns the token to use now."""
        with self._lock:
            if stale is not None and self._tokens.access_token != stale:
                return self._tokens.access_token
            if not self.can_refresh():
                raise AuthError(401, 2, f"the access token is invalid or expired and no refresh token and app "
                                        f"credentials are configured; {LOGIN_HINT}", "oauth/token", None)
            body = request_tokens(self._session, self._base_url, self._app, {
                "grant_type": "refresh_token", "refresh_token": self._tokens.refresh_token.reveal()}, self._limits,
                self._retry, known_secrets=self._secrets)
            self._tokens = Tokens.from_token_response(body, previous=self._tokens, now=self._clock())
            self._secrets = (*self._secrets, *_token_values(self._tokens))
            if self._file is not None:
                self._file.write(self._tokens)
            self._on_refresh()
            return self._tokens.access_token


def _token_values(tokens: Tokens) -> tuple[str, ...]:
    return tuple(secret.reveal() for secret in (tokens.access_token, tokens.refresh_token) if secret)


def authorization_url(base_url: str, app_id: str, redirect_uri: str, scopes: tuple[str, ...], state: str) -> str:
    query = urllib.parse.urlencode({"client_id": app_id, "redirect_uri": redirect_uri, "response_type": "code",
                                    "scope": ",".join(scopes), "state": state})
    return f"{consent_page_url(base_url)}?{query}"


def login(base_url: str, app: AppCredentials, open_browser: Callable[[str], None], *,
          redirect_uri: str = DEFAULT_REDIRECT_URI, scopes: tuple[str, ...] = DEFAULT_SCOPES,
          timeout_seconds: float = 300.0, session: requests.Session | None = None,
          limits: HttpLimits = DEFAULT_LIMITS, retry: RetryPolicy = DEFAULT_RETRY) -> Tokens:
    """The authorization-code flow: show the consent page, receive the code on a one-shot listener bound
    to 127.0.0.1, check `state`, exchange the code (within `limits`, retried as `retry` says). Returns the new
    tokens."""
    parts = urllib.parse.urlsplit(redirect_uri)
    if parts.scheme != "http" or parts.hostname not in ("localhost", "127.0.0.1") or not parts.port:
        raise CredentialsError(f"the redirect URI must be http://localhost:PORT/... or http://127.0.0.1:PORT/... "
                               f"(got {redirect_uri!r}); register the same URI on your Pinterest app")
    state = secrets.token_urlsafe(24)
    outcome: dict[str, str] = {}
    done = threading.Event()

    class Callback(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - stdlib signature
            query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
            if urllib.parse.urlsplit(self.path).path != (parts.path or "/") or done.is_set():
                self.send_error(404)
                return
            got_state = (query.get("state") or [""])[0]
            if not secrets.compare_digest(got_state, state):
                outcome["error"] = "the consent page answered with a different state (possible CSRF); nothing was saved"
            elif "code" not in query:
                outcome["error"] = f"authorization was not granted: {(query.get('error') or ['no code'])[0]}"
            else:
                outcome["code"] = query["code"][0]
            ok = "code" in outcome
            self.send_response(200 if ok else 400)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.end_headers()
            self.wfile.write(b"<p>pinterest-etl: authorized. You can close this tab.</p>" if ok
                             else b"<p>pinterest-etl: authorization failed; see the terminal.</p>")
            done.set()

        def log_message(self, format: str, *args) -> None:  # noqa: A002 - keep codes out of the console
            return

    server = http.server.HTTPServer(("127.0.0.1", parts.port), Callback)
    server.timeout = 0.2

    def serve() -> None:
        while not done.is_set():
            server.handle_request()

    thread = threading.Thread(target=serve, name="oauth-callback", daemon=True)
    thread.start()
    try:
        open_browser(authorization_url(base_url, app.app_id, redirect_uri, scopes, state))
        if not done.wait(timeout_seconds):
            raise CredentialsError(f"no answer from the consent page within {timeout_seconds:.0f} s; run the login again")
    finally:
        done.set()
        thread.join(timeout=5)
        server.server_close()
    if "error" in outcome:
        raise CredentialsError(outcome["error"])
    own_session = session is None
    session = isolated(session)
    try:
        body = request_tokens(session, base_url, app, {"grant_type": "authorization_code", "code": outcome["code"],
                                                       "redirect_uri": redirect_uri, "continuous_refresh": "true"},
                              limits, retry)
    finally:
        if own_session:
            session.close()
    return Tokens.from_token_response(body)
