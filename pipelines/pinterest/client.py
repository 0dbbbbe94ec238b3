"""PinterestClient: the one request loop behind every endpoint: budgets, retries, refresh, paging, pool."""

from __future__ import annotations

import concurrent.futures
import dataclasses
import datetime as dt
import functools
import logging
import random
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

import requests

from pipelines.pinterest.accounting import CallStats
from pipelines.pinterest.budgets import RateBudgets
from pipelines.pinterest.endpoints import COMMA, ITEMS, PAGE_SIZE, ROWS, Endpoint, encode_query, endpoint
from pipelines.pinterest.errors import (
    ApiError,
    ApiUnreachableError,
    DailyQuotaError,
    PageLimitError,
    PaginationLoopError,
    PinterestError,
    RateLimitedError,
    ResponseShapeError,
    RetryBudgetExhausted,
    TransportError,
    error_for_status,
    redacted,
)
from pipelines.pinterest.json_values import loads
from pipelines.pinterest.oauth import TokenManager
from pipelines.pinterest.replay import ReplayIndex, request_key
from pipelines.pinterest.retries import (
    RETRYABLE_STATUSES,
    CallClock,
    RetryPolicy,
    Throttling,
    backoff_seconds,
    capped_wait,
    is_spurious_window_refusal,
    is_transient_400,
    refusal_to_wait,
    reset_seconds,
    server_wait_seconds,
    throttled_wait_seconds,
)
from pipelines.pinterest.sessions import isolated
from pipelines.pinterest.transport import (
    Answer,
    DeadlineAdapter,
    HttpLimits,
    NoAnswer,
    exchange,
    unreachable_message,
)
from pipelines.pinterest.urls import check_base_url, check_url, shown
from pipelines.pinterest.validation import validate_request

log = logging.getLogger("pipelines.pinterest")
T = TypeVar("T")
R = TypeVar("R")
# A pre-signed report link may pass through a CDN or two; more hops than this is a loop.
MAX_DOWNLOAD_REDIRECTS = 5
DOWNLOAD = "report download"


@dataclasses.dataclass(frozen=True)
class ClientConfig:
    base_url: str = "https://api.pinterest.com/v5"
    limits: HttpLimits = dataclasses.field(default_factory=HttpLimits)
    concurrency: int = 4
    retry: RetryPolicy = dataclasses.field(default_factory=RetryPolicy)
    today: Callable[[], dt.date] = lambda: dt.datetime.now(dt.timezone.utc).date()

    def __post_init__(self) -> None:
        check_base_url(self.base_url)
        if not 1 <= self.concurrency <= 32:
            raise ValueError(f"concurrency must be between 1 and 32 (got {self.concurrency})")


@dataclasses.dataclass(frozen=True)
class ApiResponse:
    """A successful answer: parsed JSON, the exact body bytes (for the raw zone) and the request id."""

    data: Any
    content: bytes
    request_id: str | None
    replayed: bool = False  # taken from the raw zone for a resumed run (pipelines/resume.py), not called
    replayed_from: str | None = None  # the raw file a replayed answer was taken from, for errors about it


@dataclasses.dataclass
class _Failure:
    """A failed attempt worth retrying."""

    kind: str  # "no answer", "transport" (an unreadable answer), "server", "throttled", "transient", "auth",
    # "window refused" (the spurious last-90-days 400)
    description: str
    wait_hint: float | None
    error: ApiError | None = None

    @property
    def unanswered(self) -> bool:
        """No usable answer (none, an unreadable one, a 5xx): its time counts against the call's time bound."""
        return self.kind in ("no answer", "transport", "server")


class PinterestClient:
    """A Pinterest API v5 client for one account: thread-safe, pooled, budgeted, retrying."""

    def __init__(self, config: ClientConfig, tokens: TokenManager | None, *, budgets: RateBudgets | None = None,
                 stats: CallStats | None = None, session: requests.Session | None = None,
                 sleep: Callable[[float], None] = time.sleep, seed: int | None = None):
        self.config = config
        self.base_url = check_base_url(config.base_url)
        self.budgets = budgets or RateBudgets()
        self.stats = stats or CallStats()
        self.tokens = tokens
        self._sleep = sleep
        self._rng = random.Random(seed)
        self._rng_lock = threading.Lock()
        self._retries_left = config.retry.run_retry_budget
        self._retry_lock = threading.Lock()
        self.session = isolated(session)
        # Its connections give their sockets to each attempt's deadline (transport.exchange).
        adapter = DeadlineAdapter(pool_connections=4, pool_maxsize=config.concurrency + 2, max_retries=0)
        self.session.mount("https://", adapter)
        self.session.mount("http://", adapter)
        self.limits = config.limits
        # Set once a call found the API unreachable: later calls fail at once with the same error instead of
        # spending another time bound each (a dead server would otherwise cost a minute per call of a step).
        self._unreachable: ApiUnreachableError | None = None
        # Set once a rate limit asked to wait past the cap (a daily quota): every later call of this client, on
        # any thread, stops at once with it instead of spending a call on the same refusal.
        self._quota_spent: DailyQuotaError | None = None
        # Answers of a run a daily quota stopped, re-used instead of calling again (see `use_replay`).
        self._replay: ReplayIndex | None = None

    def use_replay(self, index: ReplayIndex) -> None:
        """Answer a GET of a non-paged endpoint identical (endpoint, path parameters, encoded query) to one in
        `index` from it instead of calling: a resumed run's hook (pipelines/resume.py). Counted as replayed."""
        self._replay = index

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> PinterestClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------------------------ requests
    def get(self, name: str, path_params: Mapping[str, str] | None = None, params: Mapping[str, Any] | None = None) -> Any:
        """One call of a GET endpoint; returns the parsed JSON body."""
        return self.fetch(name, path_params, params).data

    def fetch(self, name: str, path_params: Mapping[str, str] | None = None,
              params: Mapping[str, Any] | None = None, *, list_encoding: str = COMMA,
              replay: bool = True) -> ApiResponse:
        """One call of a GET endpoint; returns the parsed body with its exact bytes and request id.
        `list_encoding` says how list parameters travel: "comma" (`pin_ids=1,2`, the default, what Pinterest's
        SDK sends) or "repeated" (`pin_ids=1&pin_ids=2`, the official description's default style; only
        for comparing the two, as `pinterest-etl probe` does: a server may keep one value per key).
        `replay=False` always asks the API, even for a request a resumed run stored (`use_replay`): for a call
        whose point is what the API answers now (an access check)."""
        return self._call(endpoint(name), path_params or {}, params or {}, None, list_encoding, replay)

    def post(self, name: str, path_params: Mapping[str, str] | None = None, body: Any = None) -> Any:
        """One call of a POST endpoint with a JSON body."""
        return self._call(endpoint(name), path_params or {}, {}, body).data

    def paginate(self, name: str, path_params: Mapping[str, str] | None = None,
                 params: Mapping[str, Any] | None = None) -> Iterator[dict]:
        """Every item of a paged endpoint, page after page."""
        for page in self.pages(name, path_params, params):
            yield from page.data["items"]

    def pages(self, name: str, path_params: Mapping[str, str] | None = None,
              params: Mapping[str, Any] | None = None) -> Iterator[ApiResponse]:
        """Every page of a paged endpoint (page_size=250), stopping with an error on a repeated bookmark or
        past the page limit (PINTEREST_MAX_PAGES)."""
        spec = endpoint(name)
        if not spec.paged:
            raise ValueError(f"{name} is not a paged endpoint")
        seen: set[str] = set()
        bookmark = None
        while True:
            if len(seen) >= self.limits.max_pages:
                raise PageLimitError(
                    f"{name}: the API still hands out a new bookmark after {self.limits.max_pages} pages (the page "
                    f"limit, PINTEREST_MAX_PAGES); stopping instead of paging forever. No real account needs that many "
                    f"(Pinterest caps an account at 200,000 pins: 800 pages of {PAGE_SIZE}); raise it only if yours does")
            page_params = {**(params or {}), "page_size": PAGE_SIZE}
            if bookmark:
                page_params["bookmark"] = bookmark
            page = self._call(spec, path_params or {}, page_params, None)
            yield page
            bookmark = page.data.get("bookmark")
            if not bookmark:
                return
            if bookmark in seen:
                raise PaginationLoopError(f"{name}: the API returned bookmark {redacted(bookmark, self._secrets())[:24]!r}... a second time; "
                                          f"stopping instead of paging forever")
            seen.add(bookmark)

    def map(self, function: Callable[[T], R], items: Sequence[T]) -> list[R]:
        """`function` over independent items on the bounded thread pool; results in the items' order.
        The first failure cancels what has not started and is raised."""
        if self.config.concurrency == 1 or len(items) <= 1:
            return [function(item) for item in items]
        with concurrent.futures.ThreadPoolExecutor(max_workers=self.config.concurrency,
                                                   thread_name_prefix="pinterest") as pool:
            futures = [pool.submit(function, item) for item in items]
            try:
                return [future.result() for future in futures]
            except BaseException:
                for future in futures:
                    future.cancel()
                raise

    def download(self, url: str) -> bytes:
        """A report file from the URL the API handed out (no Authorization header: it is pre-signed). The URL
        and every redirect hop must be https (or this machine); a hop elsewhere is an UnsafeUrlError."""
        check_url(url, "the report download URL the API handed out")
        clock = CallClock(self.limits.call_seconds)
        for attempt in range(1, self.config.retry.max_attempts + 1):
            started = time.monotonic()
            answer = self._follow(url, clock)
            clock.spend(time.monotonic() - started)
            if isinstance(answer, Answer):
                self.stats.add(bytes_received=len(answer.content))
                if answer.status == 200:
                    return answer.content
                if answer.status not in RETRYABLE_STATUSES:
                    raise TransportError(f"report download answered HTTP {answer.status} (the link lasts 5 minutes; "
                                         "poll the report again for a fresh one)", DOWNLOAD)
                failure = f"HTTP {answer.status}"
            else:
                failure = answer.description
            delay = self._backoff(attempt, None)
            if attempt == self.config.retry.max_attempts or clock.left() <= delay:
                if isinstance(answer, NoAnswer):
                    raise ApiUnreachableError(unreachable_message(url, self.limits, attempt, failure), DOWNLOAD)
                raise TransportError(f"report download failed {attempt} times ({failure})", DOWNLOAD)
            clock.spend(delay)
            self._wait_before_retry(DOWNLOAD, attempt, delay, failure)
        raise AssertionError("unreachable")

    def _follow(self, url: str, clock: CallClock) -> Answer | NoAnswer:
        """GET `url`, following redirects only to URLs `check_url` accepts, each hop checked before it is sent."""
        for _ in range(MAX_DOWNLOAD_REDIRECTS + 1):
            answer = exchange(self.session, "GET", url, what=DOWNLOAD, limits=self.limits, seconds=clock.left())
            if isinstance(answer, NoAnswer) or answer.status not in (301, 302, 303, 307, 308):
                return answer
            location = answer.headers.get("Location")
            if not location:
                raise TransportError(f"HTTP {answer.status} without a Location to follow", DOWNLOAD)
            url = check_url(urllib.parse.urljoin(url, location), "a redirect of the report download")
        raise TransportError(f"more than {MAX_DOWNLOAD_REDIRECTS} redirects (a loop?)", DOWNLOAD)

    # --------------------------------------------------------------------------------- the loop
    def _url(self, spec: Endpoint, path_params: Mapping[str, str]) -> str:
        try:
            path = spec.path.format(**{k: urllib.parse.quote(str(v), safe="") for k, v in path_params.items()})
        except KeyError as missing:
            raise ValueError(f"{spec.name}: missing path parameter {missing}") from None
        return f"{self.base_url}{path}"

    def _call(self, spec: Endpoint, path_params: Mapping[str, str], params: Mapping[str, Any], body: Any,
              list_encoding: str = COMMA, replay: bool = True) -> ApiResponse:
        query = encode_query(params, list_encoding)
        validate_request(spec, params, self.config.today())
        url = self._url(spec, path_params)
        replayed = self._replayed(spec, path_params, query) if replay else None
        if replayed is not None:
            return replayed
        try:
            return self._call_until_answered(spec, url, query, body)
        except ApiUnreachableError as error:
            self._unreachable = self._unreachable or error
            raise

    def _replayed(self, spec: Endpoint, path_params: Mapping[str, str], query: list) -> ApiResponse | None:
        """The stored answer of an identical request of the run being resumed, or None. Listings are never
        replayed: their pages are stored without the bookmark that asked them."""
        if self._replay is None or spec.method != "GET" or spec.paged:
            return None
        stored = self._replay.find(request_key(spec.name, path_params, query))
        if stored is None:
            return None
        self.stats.replay(spec.name)
        return ApiResponse(loads(stored.body), stored.body, stored.request_id, replayed=True,
                           replayed_from=str(stored.path))

    def _call_until_answered(self, spec: Endpoint, url: str, query: list, body: Any) -> ApiResponse:
        """The retry loop: attempts until an answer, a typed error, the attempt limit or the call's time bound."""
        clock = CallClock(self.limits.call_seconds)
        throttling = Throttling()
        refreshed = False
        window_refusals = 0
        attempt = 0
        while True:
            attempt += 1
            self._raise_if_unreachable(spec.name)
            self._raise_if_quota_spent(spec.name)
            waited = self.budgets.acquire(spec.category)
            self.stats.add(limiter_wait_seconds=waited)
            self._raise_if_quota_spent(spec.name)
            token = self._quota_checked(self.tokens.access_token) if self.tokens else None
            headers = {"Accept": "application/json"}
            if token is not None:
                headers["Authorization"] = f"Bearer {token.reveal()}"
            self.stats.call(spec.name, spec.category)
            started = time.monotonic()
            failure = self._attempt(spec, url, query, body, headers, clock.left())
            if not isinstance(failure, _Failure):
                return failure
            if failure.kind == "auth":
                if refreshed or self.tokens is None or not self.tokens.can_refresh():
                    raise failure.error
                self._quota_checked(functools.partial(self.tokens.refresh, token))
                refreshed = True
                # The attempt the expired token spoiled is made again with the new one, also after a last attempt
                # (at most once: `refreshed`).
                attempt -= 1
                continue
            if failure.unanswered:
                clock.spend(time.monotonic() - started)
            self._refuse_a_wait_beyond_the_cap(spec, failure)
            if failure.kind == "window refused":
                window_refusals += 1
                if window_refusals > self.config.retry.window_refusal_retries or attempt >= self.config.retry.max_attempts:
                    raise self._persistent_window_refusal(spec, query, failure.error, window_refusals)
            if failure.kind == "throttled":
                throttling.refused(failure.wait_hint)
                if throttling.gives_up(self.config.retry, attempt):
                    raise self._throttled_error(spec, failure.error, throttling)
                delay = self._throttled_wait(attempt, failure.wait_hint)
            else:
                delay = self._backoff(attempt, failure.wait_hint)
                if attempt >= self.config.retry.max_attempts or (failure.unanswered and clock.left() <= delay):
                    raise self._final_error(spec, url, attempt, failure)
            if failure.unanswered:
                clock.spend(delay)
            throttling.waited(delay)
            if failure.kind == "throttled" and failure.wait_hint is not None:
                self.budgets.block(spec.category, capped_wait(self.config.retry, failure.wait_hint))
            self._wait_before_retry(spec.name, attempt, delay, failure.description,
                                    charged=failure.kind != "throttled")

    def _throttled_error(self, spec: Endpoint, error: ApiError, throttling: Throttling) -> RateLimitedError:
        """A call that gave up on 429s: a spent quota (stopping the client's later calls) when no 429 said when to
        come back, else a rate limit that did not clear (this call's failure only)."""
        message = throttling.message(spec.category)
        if throttling.is_quota():
            return self._spend_quota(DailyQuotaError(error.status, error.code, message, spec.name, error.request_id))
        return RateLimitedError(error.status, error.code, message, spec.name, error.request_id)

    def _refuse_a_wait_beyond_the_cap(self, spec: Endpoint, failure: _Failure) -> None:
        """A rate limit (429, or a 400 asking to retry later) whose wait is longer than the cap is a quota:
        the call stops at once with when to run again, rather than sleeping for hours or, on a forged hint,
        for centuries. (A 5xx's wait needs no such rule: its waits count against the call's time bound.)"""
        refusal = refusal_to_wait(self.config.retry, failure.wait_hint, category=spec.category)
        if refusal and failure.kind in ("throttled", "transient"):
            error = failure.error
            raise self._spend_quota(DailyQuotaError(error.status, error.code, refusal, spec.name, error.request_id))

    def _spend_quota(self, error: DailyQuotaError) -> DailyQuotaError:
        """Remember the first spent quota of this client (every later call, on any thread, stops with it) and
        return the error to raise."""
        with self._retry_lock:
            self._quota_spent = self._quota_spent or error
        return error

    def _quota_checked(self, token_call: Callable[[], T]) -> T:
        """A call of the token manager: a spent quota of the token endpoint (it counts as org_read) stops this
        client's later calls like any other."""
        try:
            return token_call()
        except DailyQuotaError as error:
            self._spend_quota(error)
            raise

    def _raise_if_quota_spent(self, name: str) -> None:
        spent = self._quota_spent
        if spent is not None:
            raise DailyQuotaError(spent.status, spent.code, f"{spent.api_message} (found by an earlier {spent.endpoint} "
                                  "call of this client; not calling again)", name, spent.request_id)

    def _persistent_window_refusal(self, spec: Endpoint, query: list, error: ApiError, times: int) -> ApiError:
        """The last-90-days 400 that retrying did not clear: final, saying what the client believed and what to check."""
        start = next((value for name, value in query if name == "start_date"), "?")
        return type(error)(error.status, error.code,
                           f"{error.api_message} (answered {times} times for start_date {start}, inside the last 90 days "
                           f"by this client's date {self.config.today().isoformat()} UTC; check this machine's clock and "
                           "PINTEREST_ETL_TODAY, or run a range that starts later)", spec.name, error.request_id)

    def _secrets(self) -> tuple[str, ...]:
        """Every secret this client has sent; a server may echo any of them back."""
        return self.tokens.secrets() if self.tokens else ()

    def _final_error(self, spec: Endpoint, url: str, attempts: int, failure: _Failure) -> PinterestError:
        """The error of a call whose last attempt failed and that may not try again."""
        if failure.error is not None:
            return failure.error
        if failure.kind == "no answer":
            return ApiUnreachableError(unreachable_message(url, self.limits, attempts, failure.description), spec.name)
        return TransportError(f"{failure.description}, {attempts} attempts", spec.name)

    def _raise_if_unreachable(self, name: str) -> None:
        if self._unreachable is not None:
            raise ApiUnreachableError(f"{self._unreachable.reason} (found by an earlier call of this client; not "
                                      "trying again)", name)

    def _attempt(self, spec: Endpoint, url: str, query: list, body: Any, headers: dict, seconds: float) -> Any:
        """One HTTP exchange: the parsed body on success, a _Failure to retry, or a raised typed error."""
        answer = exchange(self.session, spec.method, url, what=spec.name, limits=self.limits, seconds=seconds,
                          params=query, json=body, headers=headers)
        if isinstance(answer, NoAnswer):
            self.stats.add(transport_errors=1)
            return _Failure("no answer", answer.description, None)
        content = answer.content
        self.stats.add(bytes_received=len(content))
        secrets = self._secrets()
        request_id = redacted(answer.headers.get("x-pinterest-rid") or "", secrets) or None
        reset = (answer.headers.get("X-RateLimit-Reset") or "").strip()
        self.budgets.observe(spec.category, _header_int(answer.headers, "X-RateLimit-Limit"),
                             _header_int(answer.headers, "X-RateLimit-Remaining"),
                             reset_seconds(reset) if reset else None, refused=answer.status == 429)
        try:
            parsed = loads(content) if content else None
        except (ValueError, RecursionError):  # RecursionError: JSON nested deeper than the parser goes
            parsed = _UNREADABLE
        status = answer.status
        if status == 200:
            if parsed is _UNREADABLE:
                self.stats.add(transport_errors=1)
                return _Failure("transport", f"HTTP 200 with a truncated or non-JSON body ({len(content)} bytes)", None)
            self._check_shape(spec, parsed)
            return ApiResponse(parsed, content, request_id)
        error_body = parsed if isinstance(parsed, dict) else {}
        code = error_body.get("code")
        # The server's words may echo what it was sent (the Authorization header): never shown as they are.
        message = redacted(str(error_body.get("message") or answer.reason or ""), secrets)
        if 300 <= status < 400:
            location = redacted(shown(answer.headers.get("Location") or ""), secrets)
            message = (f"the API answered with a redirect (to {location}); API calls never follow redirects: check "
                       "PINTEREST_API_BASE_URL")
        error = error_for_status(status)(status, code if isinstance(code, int) else None, message, spec.name, request_id)
        if status == 401 and code in (2, None):
            return _Failure("auth", "access token rejected", None, error)
        hint = server_wait_seconds(answer.headers, message, secrets=secrets) \
            if status in (400, *RETRYABLE_STATUSES) else None
        if status == 429:
            self.stats.add(throttled=1)
            return _Failure("throttled", "HTTP 429 (rate limited)", hint, error)
        if status in RETRYABLE_STATUSES:
            self.stats.add(server_errors=1)
            return _Failure("server", f"HTTP {status}", hint, error)
        if status == 400 and is_transient_400(error.code, message):
            return _Failure("transient", f"HTTP 400 code {code} (transient)", hint, error)
        if is_spurious_window_refusal(status, error.code, message):
            return _Failure("window refused", "HTTP 400 code 1 'You can only get data from the last 90 days.' for a "
                            "window inside them (known to pass on retry)", None, error)
        raise error

    @staticmethod
    def _check_shape(spec: Endpoint, parsed: Any) -> None:
        if spec.records == ITEMS and not (isinstance(parsed, dict) and isinstance(parsed.get("items"), list)):
            raise ResponseShapeError(f"{spec.name}: the answer has no 'items' list")
        if spec.records == ROWS and not isinstance(parsed, list):
            raise ResponseShapeError(f"{spec.name}: expected a JSON array of rows, got {type(parsed).__name__}")

    def _backoff(self, attempt: int, hint: float | None) -> float:
        with self._rng_lock:
            return backoff_seconds(self.config.retry, attempt, hint, self._rng)

    def _throttled_wait(self, attempt: int, hint: float | None) -> float:
        with self._rng_lock:
            return throttled_wait_seconds(self.config.retry, attempt, hint, self._rng)

    def _wait_before_retry(self, name: str, attempt: int, delay: float, description: str, *,
                           charged: bool = True) -> None:
        """Sleep `delay` before retry number `attempt`. A `charged` retry (a failure: 5xx, no answer, an unreadable
        answer, a transient 400) spends one of the run's retry budget; a 429's is not charged: a per-minute limit
        met on every call of a long run is no persistent failure, and each call's 429s are already bounded
        (RetryPolicy.throttle_span_seconds, the wait cap)."""
        if charged:
            with self._retry_lock:
                if self._retries_left <= 0:
                    raise RetryBudgetExhausted(
                        f"{name}: the run's retry budget ({self.config.retry.run_retry_budget} retries) is spent; "
                        f"last failure: {description}. The API is failing persistently; try again later.")
                self._retries_left -= 1
        log.warning("%s: %s; retry %d in %.1f s", name, description, attempt, delay)
        self.stats.add(retries=1, retry_wait_seconds=delay)
        self._sleep(delay)


_UNREADABLE = object()


def _header_int(headers, name: str) -> int | None:
    value = (headers.get(name) or "").strip()
    return int(value) if value.isascii() and value.isdigit() else None
