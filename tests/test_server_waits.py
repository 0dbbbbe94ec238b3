"""Every wait a server's hint causes is capped (PINTEREST_MAX_RATE_LIMIT_WAIT_SECONDS), a rate limit asking
for longer stops the call at once with when to run again, and no answer's shape can crash the parser.
Against a real HTTP server whose 429s carry the hint under test; the client's clock and sleep are virtual."""

from __future__ import annotations

import datetime as dt
import time as pytime
from collections.abc import Callable

import pytest
import requests

from pipelines import settings
from pipelines.pinterest.budgets import RateBudgets
from pipelines.pinterest.client import ClientConfig, PinterestClient
from pipelines.pinterest.credentials import Secret, Tokens
from pipelines.pinterest.errors import AuthError, DailyQuotaError, RateLimitedError, TransportError
from pipelines.pinterest.oauth import TokenManager, request_tokens
from pipelines.pinterest.retries import RetryPolicy
from pipelines.pinterest.transport import HttpLimits
from tests.client_support import HIGH_BUDGETS, SIMULATOR_APP, make_client
from tests.conftest import TODAY
from tests.echo_support import EchoServer
from tests.hostile_server_support import HostileServer, Reply, Request

THREE_ATTEMPTS = RetryPolicy(max_attempts=3)
DEFAULT_POLICY = RetryPolicy()
THROTTLE_SPAN_SECONDS = DEFAULT_POLICY.throttle_span_seconds
FAR_HINTS = ["Retry-After=86400", "X-RateLimit-Reset=999999999", "Retry-After=Fri, 31 Dec 9999 23:59:59 GMT"]


class VirtualTime:
    """A clock that moves only when slept on: a test can wait hours in no time and see every wait."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture(scope="module")
def api():
    with EchoServer() as server:
        yield server


def virtual_client(base_url: str, time: VirtualTime, retry: RetryPolicy = THREE_ATTEMPTS) -> PinterestClient:
    budgets = RateBudgets(HIGH_BUDGETS, clock=lambda: time.now, sleep=time.sleep)
    config = ClientConfig(base_url=base_url, today=lambda: TODAY, retry=retry, limits=HttpLimits(attempt_seconds=5))
    return PinterestClient(config, None, budgets=budgets, sleep=time.sleep, seed=1)


@pytest.mark.parametrize("hint", FAR_HINTS)
def test_a_429_asking_to_wait_past_the_cap_stops_the_call_at_once_saying_when_to_run_again(api, hint):
    """Retry-After: 86400 cost a day per call (the budget's block took the hint uncapped); a reset of 999999999 s
    (the largest read as seconds, not as a Unix time) or an HTTP date in the year 9999, centuries."""
    time = VirtualTime()
    requests_before = len(api.authorizations)
    with virtual_client(api.url("wait", hint), time) as client, pytest.raises(RateLimitedError) as failure:
        client.get("user_account/get")
    assert time.sleeps == [] and len(api.authorizations) == requests_before + 1
    message = str(failure.value)
    assert "the API asked to wait" in message and "likely a daily quota" in message
    assert "longer than PINTEREST_MAX_RATE_LIMIT_WAIT_SECONDS (900 s)" in message and "Run again" in message


def test_a_429_within_the_cap_is_waited_out_and_no_wait_exceeds_the_cap(api):
    time = VirtualTime()
    with virtual_client(api.url("wait", "Retry-After=900"), time) as client, pytest.raises(RateLimitedError):
        client.get("user_account/get")
    assert len(time.sleeps) >= 2 and max(time.sleeps) <= 900 + 0.25
    assert sum(time.sleeps) <= 2 * 900 + 2  # two retries, each one capped wait (the sleep and the budget's block overlap)


def test_the_cap_is_a_setting(api):
    policy = settings.retry_policy({"PINTEREST_MAX_RATE_LIMIT_WAIT_SECONDS": "5"})
    time = VirtualTime()
    with virtual_client(api.url("wait", "Retry-After=60"), time, policy) as client, \
            pytest.raises(RateLimitedError, match=r"asked to wait 60 s .* PINTEREST_MAX_RATE_LIMIT_WAIT_SECONDS \(5 s\)"):
        client.get("user_account/get")
    assert time.sleeps == []


@pytest.mark.parametrize("value", ["0", "-1", "soon", "100000"])
def test_an_unusable_cap_is_refused_naming_the_setting(value):
    with pytest.raises(settings.SettingsError, match="PINTEREST_MAX_RATE_LIMIT_WAIT_SECONDS"):
        settings.retry_policy({"PINTEREST_MAX_RATE_LIMIT_WAIT_SECONDS": value})


def test_a_token_endpoint_asking_to_wait_past_the_cap_stops_the_refresh_at_once(api):
    time = VirtualTime()
    with requests.Session() as session, pytest.raises(RateLimitedError, match="the API asked to wait 86400 s"):
        request_tokens(session, api.url("wait", "Retry-After=86400"), SIMULATOR_APP, {"grant_type": "refresh_token"},
                       sleep=time.sleep)
    assert time.sleeps == []


def test_json_nested_deeper_than_the_parser_goes_is_an_unreadable_answer_not_a_crash(api):
    """`[[[[...]]]]` 200,000 deep raised a raw RecursionError out of the client."""
    with make_client(None, base_url=api.url("deep"), retry=RetryPolicy(max_attempts=2, backoff_base_seconds=0.01)) as client, \
            pytest.raises(TransportError, match="HTTP 200 with a truncated or non-JSON body"):
        client.get("user_account/get")
    with requests.Session() as session, pytest.raises(AuthError, match="token request refused"):
        request_tokens(session, api.url("deep"), SIMULATOR_APP, {"grant_type": "refresh_token"})


def test_a_429_without_any_hint_on_every_attempt_is_a_spent_quota_that_stops_the_clients_later_calls(api):
    """The official description declares no rate-limit header: a hintless 429 code 8 on every attempt was a bare
    RateLimitedError, and the client's other calls went on hitting the spent limit."""
    time = VirtualTime()
    requests_before = len(api.authorizations)
    with virtual_client(api.url("wait"), time) as client:
        with pytest.raises(DailyQuotaError) as stop:
            client.get("user_account/get")
        with pytest.raises(DailyQuotaError, match="found by an earlier user_account/get call"):
            client.get("user_account/get")
    attempts = len(api.authorizations) - requests_before
    assert attempts == len(time.sleeps) + 1 and attempts >= THREE_ATTEMPTS.max_attempts  # none after the stop
    message = str(stop.value)
    assert f"the org_read rate limit is spent: {attempts} attempt(s) were refused with HTTP 429" in message
    assert "the API did not say when the limit resets (no usable Retry-After or X-RateLimit-Reset)" in message


def test_threads_stop_once_one_call_has_spent_its_attempts_on_hintless_429s(api):
    """12 calls on 4 threads made 56 requests: each call spent its own attempts."""
    time = VirtualTime()
    requests_before = len(api.authorizations)
    with virtual_client(api.url("wait"), time) as client, pytest.raises(DailyQuotaError):
        client.map(lambda _: client.get("user_account/get"), list(range(12)))
    # Only the calls already in flight (one per thread) made attempts: not 12 calls x their attempts (at most 10
    # each: the backoff's shortest waits reach two minutes at the 10th).
    assert len(api.authorizations) - requests_before <= client.config.concurrency * 10


def test_hints_that_disagree_are_a_quota_when_any_of_them_is_past_the_cap(api):
    """Retry-After: 2 with X-RateLimit-Reset: 67150 (the reset of a daily quota) was retried every 2 s."""
    time = VirtualTime()
    with virtual_client(api.url("wait", "Retry-After=2&X-RateLimit-Reset=67150"), time) as client, \
            pytest.raises(DailyQuotaError, match=r"the API asked to wait 67150 s \(18.7 hours\)"):
        client.get("user_account/get")
    assert time.sleeps == []


def test_a_rate_limit_reset_given_as_a_unix_time_is_read_as_the_moment_it_names(api):
    """X-RateLimit-Reset: 1796083200 (a Unix time) read as seconds said "run again after 2083"."""
    reset = dt.datetime.now(dt.timezone.utc).replace(second=0, microsecond=0) + dt.timedelta(hours=5)
    time = VirtualTime()
    with virtual_client(api.url("wait", f"X-RateLimit-Reset={reset.timestamp():.0f}"), time) as client, \
            pytest.raises(DailyQuotaError) as stop:
        client.get("user_account/get")
    assert f"Run again after {reset:%Y-%m-%d %H:%M} UTC" in str(stop.value)


def test_a_unix_time_reset_years_away_is_not_named_as_a_date(api):
    years_away = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=3 * 365)
    time = VirtualTime()
    with virtual_client(api.url("wait", f"X-RateLimit-Reset={years_away.timestamp():.0f}"), time) as client, \
            pytest.raises(DailyQuotaError) as stop:
        client.get("user_account/get")
    message = str(stop.value)
    assert "not plausible for a daily quota (try again tomorrow)" in message and str(years_away.year) not in message


def test_a_unix_time_reset_within_the_cap_is_waited_out(api):
    time = VirtualTime()
    soon = dt.datetime.now(dt.timezone.utc).timestamp() + 30
    with virtual_client(api.url("wait", f"X-RateLimit-Reset={soon:.0f}"), time) as client, \
            pytest.raises(RateLimitedError) as stop:
        client.get("user_account/get")
    assert all(29 <= wait <= 31 for wait in time.sleeps)  # not 1.8e9 s, nor capped 900 s
    assert type(stop.value) is RateLimitedError  # the API said when: a limit that did not clear, not a quota


def test_a_transient_400_asking_to_wait_past_the_cap_is_a_spent_quota(api):
    time = VirtualTime()
    requests_before = len(api.authorizations)
    with virtual_client(api.url("later-400", "70000"), time) as client:
        with pytest.raises(DailyQuotaError, match="the org_read rate limit is spent: the API asked to wait 70000 s"):
            client.get("user_account/get")
        with pytest.raises(DailyQuotaError, match="found by an earlier"):
            client.get("user_account/get")
    assert time.sleeps == [] and len(api.authorizations) == requests_before + 1


def test_a_spent_quota_of_the_token_endpoint_stops_the_refresh_and_the_clients_later_calls(api):
    """A 429 of oauth/token (it counts as org_read) was a bare RateLimitedError and later calls tried again."""
    time = VirtualTime()
    base_url = api.url("wait", "Retry-After=86400")
    expired = Tokens(Secret("pina_EXPIRED"), Secret("pinr_SANDBOX"), expires_at=0.0, issued_at=0.0)
    config = ClientConfig(base_url=base_url, today=lambda: TODAY, retry=THREE_ATTEMPTS)
    session = requests.Session()
    tokens = TokenManager(expired, session, base_url, SIMULATOR_APP, None, retry=THREE_ATTEMPTS)
    requests_before = len(api.authorizations)
    with PinterestClient(config, tokens, session=session, sleep=time.sleep, seed=1) as client:
        with pytest.raises(DailyQuotaError, match="oauth/token: HTTP 429, Pinterest code 8: the org_read rate limit is spent"):
            client.get("user_account/get")
        with pytest.raises(DailyQuotaError, match="found by an earlier oauth/token call"):
            client.get("user_account/get")
    assert len(api.authorizations) == requests_before + 1 and time.sleeps == []


def test_a_token_endpoint_refusing_every_attempt_with_hintless_429s_is_a_spent_quota(api):
    time = VirtualTime()
    with requests.Session() as session, pytest.raises(DailyQuotaError, match="the org_read rate limit is spent"):
        request_tokens(session, api.url("wait"), SIMULATOR_APP, {"grant_type": "refresh_token"}, retry=THREE_ATTEMPTS,
                       sleep=time.sleep)
    assert len(time.sleeps) >= THREE_ATTEMPTS.max_attempts - 1 and sum(time.sleeps) >= THROTTLE_SPAN_SECONDS


RATE_LIMITED = {"code": 8, "message": "Rate limited"}


class Throttle:
    """A server's rate limit that refuses every request with a 429 (carrying `headers`) until the virtual clock
    reaches `seconds`, then answers."""

    def __init__(self, time: VirtualTime, seconds: float, headers: Callable[[], tuple] = tuple):
        self.time, self.seconds, self.headers = time, seconds, headers

    def __call__(self, request: Request) -> Reply:
        if self.time.now < self.seconds:
            return Reply(429, RATE_LIMITED, headers=self.headers())
        return Reply(200, {"username": "throttled"})


class ThrottlingServer:
    """One server for a test's throttled calls, each through its own `Throttle`."""

    def __init__(self, server: HostileServer, throttles: list[Throttle]):
        self.server, self._throttles = server, throttles

    def call(self, throttle: Throttle, retry: RetryPolicy = DEFAULT_POLICY, seed: int = 1) -> tuple[object, int]:
        """One call through `throttle`: its result (or the error raised) and the requests it made."""
        self._throttles.append(throttle)
        before = self.server.total()
        budgets = RateBudgets(HIGH_BUDGETS, clock=lambda: throttle.time.now, sleep=throttle.time.sleep)
        config = ClientConfig(base_url=self.server.base_url, today=lambda: TODAY, retry=retry,
                              limits=HttpLimits(attempt_seconds=5))
        with PinterestClient(config, None, budgets=budgets, sleep=throttle.time.sleep, seed=seed) as client:
            try:
                return client.get("user_account/get"), self.server.total() - before
            except RateLimitedError as error:
                return error, self.server.total() - before


@pytest.fixture(scope="module")
def throttling():
    throttles: list[Throttle] = []
    with HostileServer(lambda request: throttles[-1](request)) as server:
        yield ThrottlingServer(server, throttles)


SHORT_HINTS = {
    "Retry-After 1 with X-RateLimit-Reset 55": lambda: (("Retry-After", "1"), ("X-RateLimit-Reset", "55")),
    "Retry-After 5": lambda: (("Retry-After", "5"),),
    "Retry-After 0": lambda: (("Retry-After", "0"),),
    "a reset Unix time already past": lambda: (("X-RateLimit-Reset", f"{pytime.time() - 5:.0f}"),),
}


@pytest.mark.parametrize("hints", SHORT_HINTS.values(), ids=SHORT_HINTS.keys())
def test_a_per_minute_limit_with_short_or_disagreeing_hints_is_waited_out_not_taken_for_a_daily_quota(throttling, hints):
    """Each of these stopped the run as a "daily quota" whose message said the API gave no reset."""
    answer, requests_made = throttling.call(Throttle(VirtualTime(), 90, hints))
    assert answer == {"username": "throttled"}
    assert requests_made <= 9


def test_disagreeing_hints_within_the_cap_are_waited_by_the_longest(throttling):
    time = VirtualTime()
    answer, requests_made = throttling.call(Throttle(time, 55, SHORT_HINTS["Retry-After 1 with X-RateLimit-Reset 55"]))
    assert answer == {"username": "throttled"} and requests_made == 2  # one wait of 55 s, not eight of 1 s
    assert 55 <= time.sleeps[0] <= 55.25


@pytest.mark.parametrize("backoff_base", [1.0, 0.5, 0.25])
def test_a_hintless_throttle_shorter_than_two_minutes_never_stops_the_call_whatever_the_backoff_setting(throttling, backoff_base):
    """At PINTEREST_RETRY_BACKOFF_SECONDS=0.5 a 70-s throttle stopped every call as a quota (8 attempts fit in it)."""
    for seed in range(3):
        answer, _ = throttling.call(Throttle(VirtualTime(), 110), RetryPolicy(backoff_base_seconds=backoff_base), seed)
        assert answer == {"username": "throttled"}, f"seed {seed}: {answer}"


@pytest.mark.parametrize("backoff_base", [1.0, 0.25])
def test_hintless_429s_lasting_past_two_minutes_are_a_spent_quota_saying_how_long_they_lasted(throttling, backoff_base):
    time = VirtualTime()
    stop, requests_made = throttling.call(Throttle(time, float("inf")), RetryPolicy(backoff_base_seconds=backoff_base))
    assert isinstance(stop, DailyQuotaError)
    assert THROTTLE_SPAN_SECONDS <= time.now <= THROTTLE_SPAN_SECONDS + 61
    assert requests_made >= RetryPolicy().max_attempts
    assert f"{requests_made} attempt(s) were refused with HTTP 429 over {time.now:.0f} s" in str(stop)
    assert "the API did not say when the limit resets" in str(stop)


def test_hinted_429s_that_never_clear_are_a_rate_limit_saying_what_the_api_asked_not_a_quota(throttling):
    time = VirtualTime()
    stop, _ = throttling.call(Throttle(time, float("inf"), SHORT_HINTS["Retry-After 5"]))
    assert type(stop) is RateLimitedError
    message = str(stop)
    assert "the org_read rate limit did not clear" in message and "at most 5 s" in message
    assert "did not say" not in message and "daily quota" not in message


class ThrottledTwicePerCall:
    """A per-minute limit met by every call: each path is refused twice with a hintless 429, then answered."""

    def __init__(self) -> None:
        self.refused = 0

    def __call__(self, request: Request) -> Reply:
        if request.of_path <= 2:
            self.refused += 1
            return Reply(429, RATE_LIMITED)
        return Reply(200, {"all": {"daily_metrics": []}})


def test_429s_met_by_every_call_of_a_long_run_are_not_charged_to_the_run_retry_budget():
    """800 calls each meeting two hintless 429s stopped at the 500th with RetryBudgetExhausted ("the API is failing
    persistently"): every 429 wait was charged to the run's budget of 1000 retries."""
    time = VirtualTime()
    calls = 6
    window = {"start_date": TODAY - dt.timedelta(days=5), "end_date": TODAY - dt.timedelta(days=1),
              "metric_types": ["IMPRESSION"]}
    with HostileServer(ThrottledTwicePerCall()) as server, \
            virtual_client(server.base_url, time, RetryPolicy(run_retry_budget=4)) as client:
        answers = [client.get("pins/analytics", path_params={"pin_id": str(1000 + pin)}, params=window)
                   for pin in range(calls)]
        assert answers == [{"all": {"daily_metrics": []}}] * calls
        assert server.total() == 3 * calls and len(time.sleeps) == 2 * calls  # 12 waits on a budget of 4
