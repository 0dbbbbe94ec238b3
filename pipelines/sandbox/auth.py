"""OAuth 2.0 for the simulator: the development app and tokens, issued tokens, codes and scopes."""

from __future__ import annotations

import base64
import dataclasses
import secrets
import threading
import time
import urllib.parse

from pipelines.sandbox.errors import ApiError, auth_failed, invalid

APP_ID = "1234567"
APP_SECRET = "sandbox-secret"
DEV_ACCESS_TOKEN = "pina_SANDBOX"
DEV_REFRESH_TOKEN = "pinr_SANDBOX"
ALL_SCOPES = (
    "ads:read", "ads:write", "billing:read", "billing:write", "biz_access:read", "biz_access:write",
    "boards:read", "boards:read_secret", "boards:write", "boards:write_secret", "catalogs:read",
    "catalogs:write", "msot:write", "pins:read", "pins:read_secret", "pins:write", "pins:write_secret",
    "user_accounts:read", "user_accounts:write",
)
ACCESS_TOKEN_SECONDS = 30 * 86400  # third parties report ~30 days; clients must trust expires_in
REFRESH_TOKEN_SECONDS = 60 * 86400  # continuous refresh tokens: 60 days, refreshable indefinitely
CODE_SECONDS = 600
# How Pinterest refuses a refresh token that is corrupt, expired or revoked (pinterest/pinterest-python-sdk
# issue 114: `{"code":283,"message":"The authorization grant is invalid"}` with HTTP 401).
INVALID_GRANT_CODE = 283
INVALID_GRANT_MESSAGE = "The authorization grant is invalid"


@dataclasses.dataclass
class AccessToken:
    user_id: str
    scopes: frozenset[str]
    expires_at: float | None  # wall-clock epoch seconds; None: never
    calls: int = 0  # API calls made with it (see --token-max-calls)


@dataclasses.dataclass
class RefreshToken:
    user_id: str
    scopes: frozenset[str]
    expires_at: float


@dataclasses.dataclass
class AuthCode:
    client_id: str
    redirect_uri: str
    scopes: frozenset[str]
    expires_at: float
    used: bool = False


def parse_scopes(text: str | None) -> frozenset[str]:
    scopes = frozenset(s.strip() for s in (text or "").replace(" ", ",").split(",") if s.strip())
    unknown = sorted(scopes - set(ALL_SCOPES))
    if unknown:
        raise invalid(f"Unknown scope(s): {', '.join(unknown)}.")
    return scopes


def dev_tokens(user_number: int) -> tuple[str, str]:
    """The development (access, refresh) tokens of the simulator's n-th user (1-based): `pina_SANDBOX` and
    `pinr_SANDBOX` for the first, `pina_SANDBOX_2` and `pinr_SANDBOX_2` for the second, and so on."""
    suffix = "" if user_number == 1 else f"_{user_number}"
    return DEV_ACCESS_TOKEN + suffix, DEV_REFRESH_TOKEN + suffix


class TokenStore:
    """Tokens the simulator accepts. Each user's development tokens are valid from start; others it issues
    (through the consent stand-in, always for the first user)."""

    def __init__(self, user_ids: list[str], token_ttl_seconds: int | None, clock=time.time, *,
                 max_calls: int | None = None, refresh_revoked: bool = False):
        self._clock = clock
        self._refresh_revoked = refresh_revoked  # every refresh token is refused, as if revoked
        self._ttl = token_ttl_seconds
        self._max_calls = max_calls
        self._lock = threading.Lock()
        dev_expiry = clock() + token_ttl_seconds if token_ttl_seconds else None
        self._access, self._refresh = {}, {}
        for number, user_id in enumerate(user_ids, start=1):
            access, refresh = dev_tokens(number)
            self._access[access] = AccessToken(user_id, frozenset(ALL_SCOPES), dev_expiry)
            self._refresh[refresh] = RefreshToken(user_id, frozenset(ALL_SCOPES), float("inf"))
        self._codes: dict[str, AuthCode] = {}
        self._user_id = user_ids[0]

    def authenticate(self, authorization: str | None) -> AccessToken:
        """The access token of a `Bearer pina_...` header; 401 code 2 when missing, unknown or expired."""
        if not authorization or not authorization.startswith("Bearer "):
            raise auth_failed()
        token = self._access.get(authorization[len("Bearer "):].strip())
        if token is None or (token.expires_at is not None and self._clock() >= token.expires_at):
            raise auth_failed()
        if self._max_calls is not None:
            with self._lock:
                if token.calls >= self._max_calls:
                    raise auth_failed()
                token.calls += 1
        return token

    def known_tokens(self) -> set[str]:
        """Every access and refresh token the simulator accepts or ever issued (for tests looking for leaks)."""
        with self._lock:
            return set(self._access) | set(self._refresh)

    def issue_code(self, client_id: str, redirect_uri: str, scopes: frozenset[str]) -> str:
        code = secrets.token_urlsafe(24)
        with self._lock:
            self._codes[code] = AuthCode(client_id, redirect_uri, scopes, self._clock() + CODE_SECONDS)
        return code

    def exchange(self, authorization: str | None, form: dict[str, list[str]]) -> dict:
        """POST /oauth/token: the three grants, with the app's Basic credentials."""
        client_id = _basic_client(authorization)
        grant = (form.get("grant_type") or [None])[-1]
        if grant == "authorization_code":
            code_text = _required(form, "code")
            redirect_uri = _required(form, "redirect_uri")
            with self._lock:
                code = self._codes.get(code_text)
                if code is None or code.used or code.client_id != client_id or code.redirect_uri != redirect_uri \
                        or self._clock() >= code.expires_at:
                    raise auth_failed()
                code.used = True
            return self._grant("authorization_code", self._user_id, code.scopes, with_refresh=True)
        if grant == "refresh_token":
            refresh_text = _required(form, "refresh_token")
            refresh = self._refresh.get(refresh_text)
            if refresh is None or self._clock() >= refresh.expires_at or self._refresh_revoked:
                raise ApiError(401, INVALID_GRANT_CODE, INVALID_GRANT_MESSAGE)
            requested = (form.get("scope") or [None])[-1]
            scopes = parse_scopes(requested) if requested else refresh.scopes
            if not scopes <= refresh.scopes:
                raise invalid("The requested scope exceeds the scope granted to the refresh token.")
            return self._grant("refresh_token", refresh.user_id, scopes, with_refresh=True)
        if grant == "client_credentials":
            scopes = parse_scopes(_required(form, "scope"))
            return self._grant("client_credentials", self._user_id, scopes, with_refresh=False)
        raise invalid(f"Parameter 'grant_type' must be authorization_code, refresh_token or client_credentials (was {grant!r}).")

    def _grant(self, response_type: str, user_id: str, scopes: frozenset[str], *, with_refresh: bool) -> dict:
        now = self._clock()
        lifetime = self._ttl or ACCESS_TOKEN_SECONDS
        access = "pina_" + secrets.token_urlsafe(32)
        body = {
            "access_token": access,
            "token_type": "bearer",
            "expires_in": lifetime,
            "scope": ",".join(sorted(scopes)),
            "response_type": response_type,
        }
        with self._lock:
            self._access[access] = AccessToken(user_id, scopes, now + lifetime)
            if with_refresh:
                refresh = "pinr_" + secrets.token_urlsafe(32)
                self._refresh[refresh] = RefreshToken(user_id, scopes, now + REFRESH_TOKEN_SECONDS)
                body.update(refresh_token=refresh, refresh_token_expires_in=REFRESH_TOKEN_SECONDS,
                            refresh_token_expires_at=int(now + REFRESH_TOKEN_SECONDS))
        return body


def _required(form: dict[str, list[str]], name: str) -> str:
    value = (form.get(name) or [""])[-1]
    if not value:
        raise invalid(f"Parameter '{name}' is required.")
    return value


def _basic_client(authorization: str | None) -> str:
    if not authorization or not authorization.startswith("Basic "):
        raise auth_failed()
    try:
        client_id, _, secret = base64.b64decode(authorization[len("Basic "):]).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        raise auth_failed() from None
    if client_id != APP_ID or not secrets.compare_digest(secret, APP_SECRET):
        raise auth_failed()
    return client_id


def consent_redirect(store: TokenStore, query: dict[str, list[str]]) -> str:
    """The stand-in for www.pinterest.com/oauth/: approves at once and returns the redirect URL."""
    def get(name: str) -> str | None:
        return (query.get(name) or [None])[-1]

    client_id = get("client_id") or get("consumer_id")
    if client_id != APP_ID:
        raise ApiError(400, 1, f"Unknown client_id {client_id!r}: the simulator's app id is {APP_ID}.")
    if get("response_type") != "code":
        raise invalid("Parameter 'response_type' must be 'code'.")
    redirect_uri = get("redirect_uri")
    parsed = urllib.parse.urlparse(redirect_uri or "")
    # Real apps register exact redirect URIs; the simulator's app accepts any loopback http(s) URI.
    if parsed.scheme not in ("http", "https") or parsed.hostname not in ("localhost", "127.0.0.1", "::1"):
        raise invalid("Parameter 'redirect_uri' must be a loopback URI (http://localhost or http://127.0.0.1).")
    scopes = parse_scopes(get("scope"))
    if not scopes:
        raise invalid("Parameter 'scope' is required.")
    code = store.issue_code(client_id, redirect_uri, scopes)
    params = {"code": code}
    if get("state") is not None:
        params["state"] = get("state")
    separator = "&" if parsed.query else "?"
    return f"{redirect_uri}{separator}{urllib.parse.urlencode(params)}"
