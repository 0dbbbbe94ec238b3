"""One HTTP exchange with hard limits: a deadline for the whole attempt, a cap on the decompressed body, no
redirect followed, and failures described in our own words.

`requests`' timeouts bound each socket read, not the request: a server sending one byte every few seconds
holds a plain `session.get` for days. So the body is streamed, chunk by chunk (`read1`: whatever has arrived),
the socket's timeout is set to what is left of the attempt before each read, and the deadline is checked
between chunks. The text of a `requests`/urllib3 exception can quote a request header (InvalidHeader quotes
the `Authorization` value), so no such text is ever passed on: only the exception's class name.
"""

from __future__ import annotations

import dataclasses
import math
import time
import urllib.parse
from collections.abc import Mapping
from typing import Any

import requests
import urllib3

from pipelines.pinterest.errors import RequestNotSentError, ResponseTooLargeError

MB = 1024 * 1024
CHUNK_BYTES = 64 * 1024


@dataclasses.dataclass(frozen=True)
class HttpLimits:
    """How long and how much one call may take (settings: see `pipelines.settings.http_limits`)."""

    attempt_seconds: float = 30.0  # one attempt: connect, send, and the whole answer
    call_seconds: float = 60.0  # one call: its attempts that got no usable answer, and the backoff between them
    connect_seconds: float = 10.0  # the connection alone (never more than the attempt's)
    max_body_bytes: int = 256 * MB  # one answer, decompressed
    # Pinterest caps an account at 200,000 pins and 2,000 boards: 800 pages of 250 at most for any listing.
    max_pages: int = 1000

    def __post_init__(self) -> None:
        for name in ("attempt_seconds", "call_seconds", "connect_seconds"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive number of seconds (got {value})")
        if self.max_body_bytes < 1 or self.max_pages < 1:
            raise ValueError(f"max_body_bytes and max_pages must be positive (got {self.max_body_bytes}, "
                             f"{self.max_pages})")


@dataclasses.dataclass(frozen=True)
class Answer:
    """A complete HTTP answer: status, reason phrase, headers and the decoded body."""

    status: int
    reason: str
    headers: Mapping[str, str]
    content: bytes


@dataclasses.dataclass(frozen=True)
class NoAnswer:
    """An attempt that got no complete answer (refused, cut off, timed out): worth another attempt."""

    description: str
    timed_out: bool


# Failures of the connection or of reading the answer: a retry may well succeed. (Every `requests` exception
# is an OSError, so those of building the request, such as InvalidHeader, are told apart by class.)
_CONNECTION_FAILURES = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError,
                        requests.exceptions.ContentDecodingError)
_LOW_LEVEL_FAILURES = (urllib3.exceptions.HTTPError, OSError)


def exchange(session: requests.Session, method: str, url: str, *, what: str, limits: HttpLimits, seconds: float,
             headers: Mapping[str, str] | None = None, params: Any = None, json: Any = None,
             data: Any = None) -> Answer | NoAnswer:
    """Send one request and read its whole answer within `seconds` (at most `limits.attempt_seconds`).
    Raises RequestNotSentError when the request cannot be built or sent, ResponseTooLargeError past the body
    cap; `what` names the call in those messages."""
    seconds = min(seconds, limits.attempt_seconds)
    deadline = time.monotonic() + seconds
    try:
        response = session.request(method, url, params=params, json=json, data=data, headers=headers,
                                   timeout=(min(limits.connect_seconds, seconds), seconds), stream=True,
                                   allow_redirects=False)
    except Exception as error:  # noqa: BLE001 - every failure is described by us, never by its text
        failure = _failure(error, seconds)
    else:
        failure = None
    if isinstance(failure, NoAnswer):
        return failure
    if failure is not None:  # raised outside the handler: the library's exception must not ride along as context
        raise RequestNotSentError(f"{what}: the request could not be sent ({failure}); check the URL and the "
                                  "credentials' format")
    try:
        content = _read_body(response.raw, deadline, limits.max_body_bytes)
    except Exception as error:  # noqa: BLE001 - as above
        content, failure = None, _failure(error, seconds)
    if content is None or len(content) > limits.max_body_bytes:
        response.close()  # the rest of the answer is not wanted: drop the connection
    else:
        response.raw.release_conn()  # read to its end: the connection can serve the next request
    if failure is not None:
        return failure if isinstance(failure, NoAnswer) else NoAnswer(f"{failure} (the answer was unreadable)", False)
    if content is None:
        return NoAnswer(f"no complete answer within {seconds:g} s", timed_out=True)
    if len(content) > limits.max_body_bytes:
        raise ResponseTooLargeError(f"{what}: the answer is larger than {limits.max_body_bytes / MB:g} MB once "
                                    "decompressed; stopped reading it (PINTEREST_HTTP_MAX_BODY_MB sets the cap)")
    return Answer(response.status_code, response.reason or "", response.headers, content)


def _failure(error: Exception, seconds: float) -> NoAnswer | str:
    """A connection failure as a NoAnswer to retry; any other failure as its class name alone."""
    connection = isinstance(error, _CONNECTION_FAILURES) or (
        isinstance(error, _LOW_LEVEL_FAILURES) and not isinstance(error, requests.RequestException))
    if not connection:
        return type(error).__name__
    timed_out = isinstance(error, (requests.Timeout, urllib3.exceptions.TimeoutError, TimeoutError))
    reason = f"no answer within {seconds:g} s" if timed_out else "connection failed or was cut off"
    return NoAnswer(f"{type(error).__name__} ({reason})", timed_out)


def _read_body(raw: urllib3.HTTPResponse, deadline: float, cap: int) -> bytes | None:
    """The decoded body, read chunk by chunk; None when the deadline passes first. Stops one chunk past
    `cap` (the caller refuses such a body) rather than decompressing all of it."""
    sock = getattr(raw.connection, "sock", None)
    chunks: list[bytes] = []
    size = 0
    while size <= cap:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        if sock is not None:
            sock.settimeout(left)
        chunk = raw.read1(CHUNK_BYTES, decode_content=True)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def unreachable_message(url: str, limits: HttpLimits, attempts: int, last_failure: str) -> str:
    """The one error of a call that got no answer within its time bound: which host, which bound, which setting."""
    return (f"the API at {urllib.parse.urlsplit(url).hostname} did not answer within {limits.call_seconds:g} s "
            f"({attempts} attempt(s) of at most {limits.attempt_seconds:g} s each; PINTEREST_HTTP_TIMEOUT_SECONDS, "
            f"PINTEREST_HTTP_CALL_TIMEOUT_SECONDS); last failure: {last_failure}. Check the network and the API's "
            f"status, then run again")
