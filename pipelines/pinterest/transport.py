"""One HTTP exchange with hard limits: a deadline for the whole attempt, a cap on the decompressed body, no
redirect followed, and failures described in our own words.

`requests`' timeouts bound each socket read, not the request: a server sending one byte every few seconds
(of the status line, the headers, the body, or a gzip header that decodes to nothing) holds a plain
`session.get` for days. So every attempt has one deadline, from sending to the last byte, kept by a
watchdog: the attempt's connection registers its socket (`DeadlineAdapter`, mounted on the session), and
at the deadline one shared watchdog thread shuts that socket down, so whatever read is blocked returns at
once and the attempt fails as "no complete answer within N s". The attempt holds a duplicate of the
socket's descriptor until it ends, so the watchdog can never shut a socket that was closed and its number
reused. A connection goes back to the pool only once its attempt has ended and been unregistered: urllib3
returns it as soon as the last byte is read, so the pool holds it back until then (`_AttemptPool`), and
an old deadline can never shut a connection another attempt took meanwhile. The body is still streamed
chunk by chunk with the socket's timeout set to what is left, which ends a silent body on time even
without the watchdog; the socket is looked up before each read and left alone once urllib3 let it go.

The text of a `requests`/urllib3 exception can quote a request header (InvalidHeader quotes the
`Authorization` value), so no such text is ever passed on: only the exception's class name.
"""

from __future__ import annotations

import dataclasses
import heapq
import itertools
import math
import os
import socket
import ssl
import threading
import time
import urllib.parse
from collections.abc import Mapping
from typing import Any

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from pipelines.pinterest.errors import CertificateError, RequestNotSentError, ResponseTooLargeError

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
    """Send one request and read its whole answer within `seconds` (at most `limits.attempt_seconds`), from
    connecting to the last byte, whatever the server does. Raises RequestNotSentError when the request cannot
    be built or sent, ResponseTooLargeError past the body cap; `what` names the call in those messages. The
    session's adapter for `url` must be a DeadlineAdapter: another one is replaced by one (on the session)."""
    seconds = min(seconds, limits.attempt_seconds)
    use_deadline_adapter(session, url)
    attempt = _Attempt(time.monotonic() + seconds)
    _WATCHDOG.add(attempt)
    _running.attempt = attempt
    response = content = failure = None
    try:
        response = session.request(method, url, params=params, json=json, data=data, headers=headers,
                                   timeout=(min(limits.connect_seconds, seconds), seconds), stream=True,
                                   allow_redirects=False)
        content = _read_body(response.raw, attempt.deadline, limits.max_body_bytes)
    except Exception as error:  # noqa: BLE001 - every failure is described by us, never by its text
        failure = _UNVERIFIED_CERTIFICATE if _is_unverified_certificate(error) else _failure(error, seconds)
    finally:
        _running.attempt = None
        expired = attempt.finish()  # from here on the watchdog leaves the socket alone
    if response is not None:
        if expired or content is None or len(content) > limits.max_body_bytes:
            response.close()  # cut off by the deadline, or the rest is not wanted: drop the connection
        else:
            response.raw.release_conn()  # read to its end: the connection can serve the next request
    if expired or (failure is None and content is None):
        return NoAnswer(f"no complete answer within {seconds:.3g} s", timed_out=True)
    if isinstance(failure, NoAnswer):
        return failure
    if failure is _UNVERIFIED_CERTIFICATE:  # retrying cannot help: say what can
        raise CertificateError(
            f"{what}: the TLS certificate of {urllib.parse.urlsplit(url).hostname} could not be verified; if a proxy "
            "inspects TLS with its own CA, set PINTEREST_CA_BUNDLE to that CA's PEM file")
    if failure is not None and response is None:  # raised outside the handler: the library's exception must not
        raise RequestNotSentError(  # ride along as context
            f"{what}: the request could not be sent ({failure}); check the URL and the credentials' format")
    if failure is not None:
        return NoAnswer(f"{failure} (the answer was unreadable)", False)
    if len(content) > limits.max_body_bytes:
        raise ResponseTooLargeError(f"{what}: the answer is larger than {limits.max_body_bytes / MB:g} MB once "
                                    "decompressed; stopped reading it (PINTEREST_HTTP_MAX_BODY_MB sets the cap)")
    return Answer(response.status_code, response.reason or "", response.headers, content)


_UNVERIFIED_CERTIFICATE = "certificate verification failed"


def _is_unverified_certificate(error: BaseException) -> bool:
    """Whether an exception (or one it was raised from) is a failed TLS certificate verification."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in str(error):
            return True
        error = error.__cause__ or error.__context__
    return False


def _failure(error: Exception, seconds: float) -> NoAnswer | str:
    """A connection failure as a NoAnswer to retry; any other failure as its class name alone."""
    connection = isinstance(error, _CONNECTION_FAILURES) or (
        isinstance(error, _LOW_LEVEL_FAILURES) and not isinstance(error, requests.RequestException))
    if not connection:
        return type(error).__name__
    timed_out = isinstance(error, (requests.Timeout, urllib3.exceptions.TimeoutError, TimeoutError))
    reason = f"no answer within {seconds:.3g} s" if timed_out else "connection failed or was cut off"
    return NoAnswer(f"{type(error).__name__} ({reason})", timed_out)


# ----------------------------------------------------------------------------- the attempt's deadline
class _Attempt:
    """One exchange's deadline and the socket it talks over, held as a duplicate descriptor owned here: the
    watchdog shuts that one, which shuts the connection for every descriptor of it (and wakes a blocked
    read), and it cannot have been closed and its number reused by another connection meanwhile."""

    __slots__ = ("deadline", "expired", "_finished", "_held", "_lock", "_sock")

    def __init__(self, deadline: float):
        self.deadline = deadline
        self.expired = False
        self._finished = False
        self._held: list[tuple[_AttemptPool, Any]] = []
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None

    @property
    def finished(self) -> bool:
        return self._finished

    def watch(self, sock: Any) -> None:
        """From now on the deadline shuts `sock` (at once if it has passed already)."""
        try:
            duplicate = socket.fromfd(sock.fileno(), sock.family, sock.type, sock.proto)
        except (AttributeError, OSError, ValueError):  # closed already, or not a socket (TLS inside TLS): the
            return  # socket under it stays watched
        with self._lock:
            if self._finished:
                stale = duplicate
            else:
                stale, self._sock = self._sock, duplicate
                if self.expired:
                    _shut(duplicate)
        if stale is not None:
            stale.close()

    def hold(self, pool: _AttemptPool, conn: Any) -> bool:
        """Keep `conn`, which urllib3 hands back to `pool`, until this attempt ends; False once it has ended."""
        with self._lock:
            if self._finished:
                return False
            self._held.append((pool, conn))
            return True

    def expire(self) -> None:
        """The deadline passed: shut the socket, unless the exchange ended first."""
        with self._lock:
            if self._finished:
                return
            self.expired = True
            if self._sock is not None:
                _shut(self._sock)

    def finish(self) -> bool:
        """The exchange ended: the watchdog no longer touches its socket, and the connections held back go to
        their pool, or are closed when the deadline had passed (the socket is shut: not to be reused). True
        when it had."""
        with self._lock:
            self._finished = True
            sock, self._sock = self._sock, None
            held, self._held = self._held, []
        if sock is not None:
            sock.close()
        for pool, conn in held:
            if self.expired and conn is not None:
                conn.close()
                conn = None  # urllib3's own way to give a dropped connection's place back
            pool.put_back(conn)
        return self.expired


def _shut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:  # not connected any more: nothing to wake
        pass


class _Watchdog:
    """One daemon thread for every attempt of the process: a heap of deadlines; at each, the attempt is
    expired unless it finished first. Attempts that finished stay in the heap until their deadline (they
    are skipped) or until the heap is compacted; a timer thread per attempt would cost far more."""

    MIN_COMPACT = 1024

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self._condition = threading.Condition(threading.Lock())
        self._heap: list[tuple[float, int, _Attempt]] = []
        self._order = itertools.count()
        self._compact_at = self.MIN_COMPACT
        self._thread: threading.Thread | None = None

    def add(self, attempt: _Attempt) -> None:
        with self._condition:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="http-deadlines", daemon=True)
                self._thread.start()
            if len(self._heap) >= self._compact_at:
                self._heap = [entry for entry in self._heap if not entry[2].finished]
                heapq.heapify(self._heap)
                self._compact_at = max(self.MIN_COMPACT, 2 * len(self._heap))
            heapq.heappush(self._heap, (attempt.deadline, next(self._order), attempt))
            if self._heap[0][2] is attempt:  # sooner than what the thread waits for
                self._condition.notify()

    def _run(self) -> None:
        while True:
            with self._condition:
                while not self._heap or self._heap[0][0] > time.monotonic():
                    self._condition.wait(self._heap[0][0] - time.monotonic() if self._heap else None)
                due = []
                now = time.monotonic()
                while self._heap and self._heap[0][0] <= now:
                    due.append(heapq.heappop(self._heap)[2])
            for attempt in due:
                attempt.expire()


_WATCHDOG = _Watchdog()
if hasattr(os, "register_at_fork"):  # a forked child has no watchdog thread, and maybe a lock held by none
    os.register_at_fork(after_in_child=_WATCHDOG._reset)
_running = threading.local()  # .attempt: the exchange running on this thread


def _watch(sock: Any) -> _Attempt | None:
    attempt = getattr(_running, "attempt", None)
    if attempt is not None:
        attempt.watch(sock)
    return attempt


class _WatchedConnection:
    """A connection that hands each socket it talks over to the running exchange's deadline: a new one as
    soon as it is connected (before a TLS handshake), a pooled one when it sends a request."""

    _watched_by: _Attempt | None = None

    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()  # type: ignore[misc]
        self._watched_by = _watch(sock)
        return sock

    def request(self, *args: Any, **kwargs: Any) -> None:
        sock = getattr(self, "sock", None)
        if sock is not None and self._watched_by is not getattr(_running, "attempt", None):
            self._watched_by = _watch(sock)
        return super().request(*args, **kwargs)  # type: ignore[misc]


class _HTTPConnection(_WatchedConnection, HTTPConnection):
    pass


class _HTTPSConnection(_WatchedConnection, HTTPSConnection):
    pass


class _AttemptPool:
    """A pool that takes a connection back from a running exchange only once the exchange has ended: urllib3
    returns it when the last byte is read, while the exchange's deadline still watches its socket."""

    def _put_conn(self, conn: Any) -> None:
        attempt = getattr(_running, "attempt", None)
        if attempt is None or not attempt.hold(self, conn):
            self.put_back(conn)

    def put_back(self, conn: Any) -> None:
        super()._put_conn(conn)  # type: ignore[misc]


class _HTTPConnectionPool(_AttemptPool, HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSConnectionPool(_AttemptPool, HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


_POOL_CLASSES = {"http": _HTTPConnectionPool, "https": _HTTPSConnectionPool}


class DeadlineAdapter(HTTPAdapter):
    """An HTTPAdapter whose connections (direct or through an HTTP proxy) give their sockets to the running
    `exchange`, so that its deadline can shut them. `exchange` needs one mounted for its URL."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(_POOL_CLASSES)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if isinstance(manager, urllib3.ProxyManager):  # a SOCKS manager keeps its own connections
            manager.pool_classes_by_scheme = dict(_POOL_CLASSES)
        return manager


_MOUNT_LOCK = threading.Lock()


def use_deadline_adapter(session: requests.Session, url: str) -> None:
    """Make sure `session` sends to `url` through a DeadlineAdapter, mounting one for http and https if not."""
    try:
        if isinstance(session.get_adapter(url), DeadlineAdapter):
            return
    except requests.RequestException:  # no adapter for such a URL: sending it fails, as it should
        return
    with _MOUNT_LOCK:
        if isinstance(session.get_adapter(url), DeadlineAdapter):
            return
        adapter = DeadlineAdapter(max_retries=0)
        session.mount("https://", adapter)
        session.mount("http://", adapter)


def _read_body(raw: urllib3.HTTPResponse, deadline: float, cap: int) -> bytes | None:
    """The decoded body, read chunk by chunk; None when the deadline passes first. Stops one chunk past
    `cap` (the caller refuses such a body) rather than decompressing all of it."""
    chunks: list[bytes] = []
    size = 0
    while size <= cap:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        sock = getattr(raw.connection, "sock", None)  # None once urllib3 let the connection go
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
