"""Typed errors of the Pinterest client. They carry context (endpoint, status, code, request id), never secrets."""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Iterable

# Server-provided text (an error message, a reason phrase, a header) is shown at most this long.
MAX_SERVER_TEXT = 300
# A value taken from an answer (a metric, a status, an id, a key) is shown at most this long in a message.
MAX_ANSWER_VALUE = 80
# What a credential looks like even when it is not one of ours: an Authorization value, a Pinterest token.
# A token glued to other text (`x_pina_...`) is a token too: no word boundary before pina_/pinr_.
_CREDENTIAL_PATTERN = re.compile(r"\b(Bearer|Basic)\s+\S+|pin[ar]_\S+", re.IGNORECASE)
# Control characters (a newline, an escape sequence), line and paragraph separators and bidirectional overrides
# would let a value forge log lines, repaint a terminal or reorder what a reader sees.
_CONTROL_CHARACTER = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _escaped(text: str) -> str:
    return _CONTROL_CHARACTER.sub(lambda match: f"\\x{ord(match.group()):02x}" if ord(match.group()) < 0x100
                                  else f"\\u{ord(match.group()):04x}", text)


def redacted(text: str, secrets: Iterable[str] = ()) -> str:
    """Server-provided `text` as an error or a log line may carry it: each of `secrets` (also URL-encoded),
    any Authorization value and anything shaped like a Pinterest token replaced by ****, control characters
    escaped (as in `shown_value`), and cut to MAX_SERVER_TEXT characters. A server may echo what it was sent,
    or send a newline that forges a log line: nothing of that may reach a message."""
    variants = {form for secret in secrets if secret
                for form in (secret, urllib.parse.quote(secret, safe=""), urllib.parse.quote_plus(secret))}
    for secret in sorted(variants, key=len, reverse=True):
        text = text.replace(secret, "****")
    text = _escaped(_without_credentials(text))
    return text if len(text) <= MAX_SERVER_TEXT else f"{text[:MAX_SERVER_TEXT]}... (cut)"


def _without_credentials(text: str) -> str:
    return _CREDENTIAL_PATTERN.sub(lambda match: f"{match.group(1)} ****" if match.group(1) else "****", text)


def shown_value(value: object) -> str:
    """A value taken from an answer or a raw file (a metric value, a data_status, an id, a key, an endpoint name)
    as an error or a log line may show it: JSON values as their JSON text (`Infinity`, `true`, `null`), text and
    anything else as str(), with credentials masked as in `redacted` and control characters escaped, cut to
    MAX_ANSWER_VALUE characters saying how long it was. Every such value goes through here: an answer may echo a
    token, hold a newline that forges a log line, or megabytes in one string."""
    try:
        text = json.dumps(value) if isinstance(value, (bool, int, float, list, dict, type(None))) else str(value)
    except (TypeError, ValueError):  # something JSON has no text for, or an integer of thousands of digits
        text = f"(a {type(value).__name__} without a short text)"
    length = len(text)
    text = _escaped(_without_credentials(text))
    return text if len(text) <= MAX_ANSWER_VALUE else f"{text[:MAX_ANSWER_VALUE]}… ({length} chars)"


class PinterestError(Exception):
    """Base of every error the client raises."""


class RequestValidationError(PinterestError, ValueError):
    """A request breaks a documented API limit; it was not sent."""


class ResponseShapeError(PinterestError):
    """A successful answer lacks a field the pipeline needs (the endpoint and field are named)."""


class PaginationLoopError(PinterestError):
    """The API handed out a bookmark it had already given: paging would never end."""


class PageLimitError(PaginationLoopError):
    """A listing went past the page limit (PINTEREST_MAX_PAGES) with a new bookmark on every page."""


class UnsafeUrlError(PinterestError, ValueError):
    """A URL the client would send to is refused: not https (and not this machine), or written so that URL
    parsers could disagree on its host (backslash, user info, whitespace, non-ASCII)."""


class RequestNotSentError(PinterestError):
    """A request could not be built or sent (for example an invalid header); never retried. The message is
    ours: the library's own text may quote a header, and headers carry the token."""


class CertificateError(PinterestError):
    """The server's TLS certificate could not be verified; never retried (PINTEREST_CA_BUNDLE may help)."""


class ResponseTooLargeError(PinterestError):
    """An answer grew past the body cap (PINTEREST_HTTP_MAX_BODY_MB) once decompressed; never retried."""


class RetryBudgetExhausted(PinterestError):
    """The run's total retry budget is spent; the run stops instead of hammering the API."""


class TransportError(PinterestError):
    """The API could not be reached or its answer was unreadable, after every retry."""

    def __init__(self, message: str, endpoint: str):
        super().__init__(f"{endpoint}: {message}")
        self.endpoint = endpoint
        self.reason = message


class ApiUnreachableError(TransportError):
    """No complete answer from the API within a call's time bound. The client remembers it: its later
    calls raise the same error at once instead of waiting another time bound each."""


class ApiError(PinterestError):
    """An error answer from the API: HTTP status, Pinterest code and message, endpoint, request id."""

    def __init__(self, status: int, code: int | None, message: str, endpoint: str, request_id: str | None):
        self.status = status
        self.code = code
        self.api_message = message
        self.endpoint = endpoint
        self.request_id = request_id
        super().__init__(
            f"{endpoint}: HTTP {status}, Pinterest code {code}: {message} (x-pinterest-rid: {request_id or 'none'})"
        )


class AuthError(ApiError):
    """401: the token is missing, invalid or expired and could not be refreshed, or lacks a scope."""


class ForbiddenError(ApiError):
    """403: authenticated but not allowed (another ad account, a missing Business Access role, a beta endpoint)."""


class NotFoundError(ApiError):
    """404: the entity does not exist."""


class RedirectError(ApiError):
    """3xx: API calls never follow redirects (a redirect could lead the token to another host or to plain http)."""


class InvalidRequestError(ApiError):
    """400 (other than the transient kinds): the API rejected the parameters."""


class RateLimitedError(ApiError):
    """429 on every attempt, after the retries allowed for one request."""


class DailyQuotaError(RateLimitedError):
    """A rate limit asked to wait longer than PINTEREST_MAX_RATE_LIMIT_WAIT_SECONDS (a daily quota): the client
    stops every call at once; the message names the rate-limit category and when it resets (UTC)."""


class ServerError(ApiError):
    """5xx on every attempt, after the retries allowed for one request."""


def error_for_status(status: int) -> type[ApiError]:
    if status == 401:
        return AuthError
    if status == 403:
        return ForbiddenError
    if status == 404:
        return NotFoundError
    if status == 429:
        return RateLimitedError
    if status >= 500:
        return ServerError
    if 300 <= status < 400:
        return RedirectError
    return InvalidRequestError
