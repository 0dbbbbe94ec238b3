"""Every wait a server's hint causes is capped (PINTEREST_MAX_RATE_LIMIT_WAIT_SECONDS), a rate limit asking
for longer stops the call at once with when to run again, and no answer's shape can crash the parser.
Against a real HTTP server whose 429s carry the hint under test; the client's clock and sleep are virtual."""

from __future__ import annotations

import pytest
import requests

from pipelines import settings
from pipelines.pinterest.budgets import RateBudgets
from pipelines.pinterest.client import ClientConfig, PinterestClient
from pipelines.pinterest.errors import AuthError, RateLimitedError, TransportError
from pipelines.pinterest.oauth import request_tokens
from pipelines.pinterest.retries import RetryPolicy
from pipelines.pinterest.transport import HttpLimits
from tests.client_support import HIGH_BUDGETS, SIMULATOR_APP, make_client
from tests.conftest import TODAY
from tests.echo_support import EchoServer

THREE_ATTEMPTS = RetryPolicy(max_attempts=3)
FAR_HINTS = ["Retry-After=86400", "X-RateLimit-Reset=1e9", "Retry-After=Fri, 31 Dec 9999 23:59:59 GMT"]


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
    """Retry-After: 86400 cost a day per call (the budget's block took the hint uncapped); a reset of 1e9 s or
    an HTTP date in the year 9999, centuries."""
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
