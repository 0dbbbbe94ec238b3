"""The spurious "You can only get data from the last 90 days." 400 (code 1), which Pinterest sometimes answers for a
window inside them and which passes on retry, is retried a bounded number of times; no other 400 is. The client
against the simulator's --edge-400-rate over real HTTP."""

from __future__ import annotations

import datetime as dt

import pytest

from pipelines.pinterest.errors import InvalidRequestError
from pipelines.pinterest.retries import RetryPolicy
from tests.client_support import FAST_RETRIES, make_client, server_stats
from tests.conftest import TODAY

# The oldest start the planners ask for (one day of margin inside the 90 days).
WINDOW = {"start_date": TODAY - dt.timedelta(days=89), "end_date": TODAY - dt.timedelta(days=1)}
CALLS = 20


def account_analytics(client, **extra):
    return client.get("user_account/analytics", params={**WINDOW, **extra})


def test_a_spurious_90_day_refusal_is_retried_until_the_call_succeeds(make_sandbox):
    server = make_sandbox(edge_400_rate=0.3)
    with make_client(server) as client:
        answers = [account_analytics(client) for _ in range(CALLS)]
    stats = server_stats(server)
    refusals = stats["responses"]["400"]
    assert all(answer["all"]["daily_metrics"] for answer in answers)
    assert refusals > 0
    assert stats["requests"] == {"user_account/analytics": CALLS + refusals}
    assert stats["responses"]["200"] == CALLS
    assert client.stats.snapshot()["retries"] == refusals


def test_a_90_day_refusal_that_persists_fails_after_the_bounded_retries_with_what_to_check(make_sandbox):
    server = make_sandbox(edge_400_rate=1.0)
    with make_client(server) as client, pytest.raises(InvalidRequestError) as refusal:
        account_analytics(client)
    assert server_stats(server)["requests"] == {"user_account/analytics": 1 + FAST_RETRIES.window_refusal_retries}
    message = str(refusal.value)
    assert "You can only get data from the last 90 days." in message
    assert f"answered 4 times for start_date {WINDOW['start_date']}" in message
    assert f"this client's date {TODAY} UTC" in message and "PINTEREST_ETL_TODAY" in message


def test_the_number_of_90_day_refusal_retries_is_a_policy_setting(make_sandbox):
    server = make_sandbox(edge_400_rate=1.0)
    no_retries = RetryPolicy(backoff_base_seconds=0.02, backoff_max_seconds=0.2, window_refusal_retries=0)
    with make_client(server, retry=no_retries) as client, pytest.raises(InvalidRequestError):
        account_analytics(client)
    assert server_stats(server)["requests"] == {"user_account/analytics": 1}


def test_another_400_code_1_is_not_retried(make_sandbox):
    server = make_sandbox(edge_400_rate=1.0)
    with make_client(server) as client, pytest.raises(InvalidRequestError, match="metric_types"):
        account_analytics(client, metric_types=["NOT_A_METRIC"])
    assert server_stats(server)["requests"] == {"user_account/analytics": 1}
