"""A spent daily quota (a 429 whose wait is longer than PINTEREST_MAX_RATE_LIMIT_WAIT_SECONDS) stops the account's
extraction at once, on every thread, with one message naming the rate-limit category, the reset time in UTC, the
raw zone that keeps what was fetched and the command that resumes; one that resets sooner is waited for. The
simulator's --daily-quota answers it, its quota clock moved (POST /_sandbox/clock) to put the reset where a test
needs it. Real HTTP against the simulator."""

from __future__ import annotations

import datetime as dt
import time

import pytest
import requests

from pipelines.pinterest.errors import DailyQuotaError
from tests.client_support import (
    HIGH_BUDGETS,
    advance_quota_clock,
    make_client,
    quota_reset_hours_away,
    quota_reset_in,
    server_stats,
)
from tests.conftest import TODAY
from tests.pipeline_support import pipeline_env, run

WINDOW = {"start_date": TODAY - dt.timedelta(days=29), "end_date": TODAY - dt.timedelta(days=1)}
QUOTA = 3
START, END = TODAY - dt.timedelta(days=29), TODAY - dt.timedelta(days=1)
SECRETS = ("pina_SANDBOX", "pinr_SANDBOX", "sandbox-secret")


def next_utc_midnight() -> dt.datetime:
    now = dt.datetime.now(dt.timezone.utc)
    return dt.datetime.combine(now.date() + dt.timedelta(days=1), dt.time(), dt.timezone.utc)


def account_analytics(client):
    return client.get("user_account/analytics", params=WINDOW)


def test_a_spent_daily_quota_is_a_429_until_the_next_utc_midnight(make_sandbox, api):
    server = make_sandbox(daily_quotas={"org_analytics": 1})
    url = f"{server.base_url}/user_account/analytics"
    assert api.get(url, params=WINDOW).status_code == 200
    refused = api.get(url, params=WINDOW)
    until_midnight = (next_utc_midnight() - dt.datetime.now(dt.timezone.utc)).total_seconds()
    assert refused.status_code == 429 and refused.json()["code"] == 8
    assert refused.headers["Retry-After"] == refused.headers["X-RateLimit-Reset"]
    assert abs(int(refused.headers["X-RateLimit-Reset"]) - until_midnight) <= 5
    assert (refused.headers["X-RateLimit-Limit"], refused.headers["X-RateLimit-Remaining"]) == ("1", "0")
    assert api.get(f"{server.base_url}/user_account").status_code == 200  # other categories are not spent


def test_a_simulator_reset_starts_a_new_day_with_the_quota_unspent(make_sandbox, api):
    server = make_sandbox(daily_quotas={"org_analytics": 1})
    url = f"{server.base_url}/user_account/analytics"
    assert [api.get(url, params=WINDOW).status_code for _ in range(2)] == [200, 429]
    requests.post(f"{server.root_url}/_sandbox/reset").raise_for_status()
    assert [api.get(url, params=WINDOW).status_code for _ in range(2)] == [200, 429]


def test_a_spent_daily_quota_is_unspent_after_the_utc_midnight_its_refusal_announced(make_sandbox, api):
    """The simulator answered a spent quota with Retry-After/X-RateLimit-Reset = the seconds to the next UTC
    midnight, but cleared its count of the day's calls only on /_sandbox/reset: after the announced reset it
    refused again with a new 24-hour wait, so a client that rightly waited out a reset under its cap stopped
    anyway (runs near midnight 'hung until midnight and failed')."""
    server = make_sandbox(daily_quotas={"org_analytics": 1})
    quota_reset_in(server, 30)
    url = f"{server.base_url}/user_account/analytics"
    first, refused = api.get(url, params=WINDOW), api.get(url, params=WINDOW)
    assert (first.status_code, refused.status_code) == (200, 429) and int(refused.headers["Retry-After"]) <= 30
    assert advance_quota_clock(server, 40)["seconds_to_utc_midnight"] > 86_300  # 10 s into the next UTC day
    assert [api.get(url, params=WINDOW).status_code for _ in range(2)] == [200, 429]  # the new day's quota
    assert server_stats(server)["responses"] == {"200": 2, "429": 2}


def test_the_quota_clock_only_moves_forward(make_sandbox):
    server = make_sandbox()
    for seconds in ("-1", "nan", "1e12", "soon"):
        refused = requests.post(f"{server.root_url}/_sandbox/clock", params={"advance_seconds": seconds})
        assert (refused.status_code, refused.json()["code"]) == (400, 1), seconds
        assert "advance_seconds must be a number of seconds from 0 to" in refused.json()["message"]


def test_a_quota_that_resets_in_seconds_is_waited_for_as_the_api_says_and_leaves_the_pace_as_it_was(make_sandbox):
    """A spent daily quota 2 s before UTC midnight: the client logged 'retry 1 in 2.0 s' but waited a minute. It
    took the 429's X-RateLimit-Limit (1 call per DAY) as its per-MINUTE budget with no call left, so the bucket
    waited a minute for a token, and every later call of the category went at 1 a minute for the rest of the run
    (a wait past the 900 s cap for a larger backlog). Now the one wait is the API's, and the pace is unchanged."""
    server = make_sandbox(daily_quotas={"org_analytics": 1})
    with make_client(server) as client:
        account_analytics(client)
        quota_reset_in(server, 2)
        account_analytics(client)  # refused until the reset, then answered
        assert client.budgets.current_budget("org_analytics") == HIGH_BUDGETS["org_analytics"]
        calls = client.stats.snapshot()
    assert server_stats(server)["responses"] == {"200": 2, "429": 1}
    assert calls["retries"] == 1 and calls["limiter_wait_seconds"] < 1  # not the minute a budget of 1 a minute needs


def test_a_spent_daily_quota_stops_the_call_at_once_naming_the_category_and_the_reset_time(make_sandbox):
    server = make_sandbox(daily_quotas={"org_analytics": QUOTA})
    reset = quota_reset_hours_away(server)
    with make_client(server) as client:
        for _ in range(QUOTA):
            account_analytics(client)
        started = time.monotonic()
        with pytest.raises(DailyQuotaError) as stop:
            account_analytics(client)
    assert time.monotonic() - started < 30  # not the hours until midnight
    message = str(stop.value)
    assert "the org_analytics rate limit is spent" in message and "likely a daily quota" in message
    assert "PINTEREST_MAX_RATE_LIMIT_WAIT_SECONDS (900 s)" in message
    assert f"Run again after {reset:%Y-%m-%d %H:%M} UTC" in message
    assert server_stats(server)["requests"] == {"user_account/analytics": QUOTA + 1}
    assert client.stats.snapshot()["retries"] == 0


def test_after_a_spent_quota_every_later_call_of_the_client_stops_without_calling(make_sandbox):
    server = make_sandbox(daily_quotas={"org_analytics": 0})
    quota_reset_hours_away(server)
    with make_client(server) as client:
        with pytest.raises(DailyQuotaError):
            account_analytics(client)
        with pytest.raises(DailyQuotaError, match="found by an earlier user_account/analytics call"):
            client.get("user_account/get")
    assert server_stats(server)["requests"] == {"user_account/analytics": 1}


def test_threads_of_a_client_stop_on_the_first_quota_refusal_instead_of_each_waiting_for_its_own(make_sandbox):
    server = make_sandbox(daily_quotas={"org_analytics": QUOTA})
    quota_reset_hours_away(server)
    concurrency = 4
    with make_client(server, concurrency=concurrency) as client, pytest.raises(DailyQuotaError):
        client.map(lambda _: account_analytics(client), list(range(40)))
    stats = server_stats(server)
    refusals = stats["responses"]["429"]
    assert stats["responses"]["200"] == QUOTA
    assert 1 <= refusals <= concurrency  # only calls already in flight met the refusal themselves
    assert stats["requests"] == {"user_account/analytics": QUOTA + refusals}


@pytest.mark.slow
def test_a_run_stops_in_seconds_on_a_daily_quota_says_how_to_resume_and_resumes_after_the_reset(
        make_sandbox, monkeypatch, tmp_path, capsys, api):
    day_quota = 50  # more than a whole run needs; all but QUOTA of it spent earlier in the day
    server = make_sandbox(daily_quotas={"org_analytics": day_quota})
    reset = quota_reset_hours_away(server)
    for _ in range(day_quota - QUOTA):
        api.get(f"{server.base_url}/user_account/analytics", params=WINDOW).raise_for_status()
    home = tmp_path / "etl"
    pipeline_env(monkeypatch, home, server, TODAY)
    started = time.monotonic()
    assert run(START, END) == 1
    assert time.monotonic() - started < 60  # instead of waiting until midnight
    printed = capsys.readouterr()
    stop = next(line for line in printed.err.splitlines() if "DailyQuotaError" in line and "resume with" in line)
    assert "the org_analytics rate limit is spent" in stop
    assert f"Run again after {reset:%Y-%m-%d %H:%M} UTC" in stop
    assert f"Everything fetched so far is kept in the raw zone ({home / 'raw'})" in stop
    assert stop.endswith(f"resume with: pinterest-etl run --start {START} --end {END} --only organic")
    assert not any(secret in printed.out + printed.err for secret in SECRETS)
    kept = [p for p in (home / "raw").rglob("*.json.gz") if "analytics" in str(p.relative_to(home / "raw"))]
    assert len(kept) == QUOTA  # every answer the quota allowed is kept

    requests.post(f"{server.root_url}/_sandbox/reset").raise_for_status()  # the next UTC day: the quota unspent
    assert run(START, END) == 0
