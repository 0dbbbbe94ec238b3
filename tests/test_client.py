"""The API client against the simulator over real HTTP: limits, retries, refresh, paging, concurrency."""

from __future__ import annotations

import datetime as dt
import json
import logging
import time

import pytest

from pipelines.pinterest.client import ClientConfig
from pipelines.pinterest.errors import (
    AuthError,
    ForbiddenError,
    InvalidRequestError,
    NotFoundError,
    PaginationLoopError,
    RateLimitedError,
    RequestValidationError,
    RetryBudgetExhausted,
    ServerError,
)
from pipelines.pinterest.retries import RetryPolicy
from pipelines.pinterest.urls import BaseUrlError, check_base_url
from tests.client_support import make_client, server_stats
from tests.conftest import TODAY

WINDOW = {"start_date": TODAY - dt.timedelta(days=29), "end_date": TODAY}


def pin_batches(client, size=100):
    ids = [p["id"] for p in client.paginate("pins/list")]
    return [ids[i:i + size] for i in range(0, len(ids), size)]


def bulk(client, batch):
    return client.get("multi_pins/analytics", params={**WINDOW, "pin_ids": batch, "metric_types": ["IMPRESSION", "SAVE"]})


def test_paging_reads_every_item_with_page_size_250_and_exact_call_count(make_sandbox):
    server = make_sandbox()
    with make_client(server) as client:
        pins = list(client.paginate("pins/list"))
    assert len(pins) == 500 and len({p["id"] for p in pins}) == 500
    assert server_stats(server)["requests"] == {"pins/list": 2}
    assert client.stats.snapshot()["calls_by_endpoint"] == {"pins/list": 2}


def test_a_repeated_bookmark_stops_paging_with_an_error(make_sandbox):
    server = make_sandbox(bookmark_loop=True)
    with make_client(server) as client, pytest.raises(PaginationLoopError, match="second time"):
        list(client.paginate("pins/list"))
    assert server_stats(server)["requests"] == {"pins/list": 2}  # the second page repeats the first bookmark


@pytest.mark.parametrize("name, params, fragment", [
    ("user_account/analytics", {"start_date": TODAY - dt.timedelta(days=91), "end_date": TODAY}, "more than 90 days back"),
    ("user_account/analytics", {"start_date": TODAY - dt.timedelta(days=5), "end_date": TODAY + dt.timedelta(days=1)}, "future"),
    ("user_account/analytics", {"start_date": TODAY, "end_date": TODAY - dt.timedelta(days=1)}, "after end_date"),
    ("user_account/analytics", {"start_date": "2026-11-31", "end_date": TODAY}, "YYYY-MM-DD"),
    ("multi_pins/analytics", {**WINDOW, "metric_types": ["IMPRESSION"], "pin_ids": [str(i) for i in range(101)]},
     "101 ids; the limit is 100"),
    ("campaigns/analytics", {**WINDOW, "columns": ["SPEND_IN_MICRO_DOLLAR"], "granularity": "DAY",
                             "campaign_ids": [str(i) for i in range(251)]}, "251 ids; the limit is 250"),
    ("multi_pins/analytics", {**WINDOW, "pin_ids": ["1"]}, "missing required parameter(s) metric_types"),
])
def test_requests_breaking_a_documented_limit_fail_locally_without_a_call(make_sandbox, name, params, fragment):
    server = make_sandbox()
    with make_client(server) as client, pytest.raises(RequestValidationError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        client.get(name, path_params={"ad_account_id": "1"}, params=params)
    assert server_stats(server)["requests"] == {}


@pytest.mark.slow
def test_429_bursts_with_headers_are_retried_and_lose_nothing(make_sandbox):
    clean, faulty = make_sandbox(), make_sandbox(throttle_rate=0.5)
    with make_client(clean) as a, make_client(faulty) as b:
        expected = a.map(lambda batch: bulk(a, batch), pin_batches(a)[:3])
        got = b.map(lambda batch: bulk(b, batch), pin_batches(b)[:3])
    assert got == expected
    stats = b.stats.snapshot()
    assert stats["throttled_429"] > 0 and stats["retries"] == stats["throttled_429"]
    assert sum(server_stats(faulty)["requests"].values()) == stats["calls"]
    assert server_stats(faulty)["responses"]["429"] == stats["throttled_429"]


def test_429s_without_headers_back_off_exponentially_and_complete(make_sandbox):
    server = make_sandbox(throttle_rate=0.5, rate_limit_headers=False)
    with make_client(server) as client:
        pins = list(client.paginate("pins/list"))
    assert len(pins) == 500 and client.stats.throttled > 0


def test_retry_after_is_honoured(make_sandbox):
    server = make_sandbox(throttle_rate=1.0)
    waits = []
    # No throttle span: the call gives up on its second 429 (the span is tested in tests/test_server_waits.py).
    with make_client(server, retry=RetryPolicy(max_attempts=2, throttle_span_seconds=0), sleep=waits.append) as client, \
            pytest.raises(RateLimitedError):
        client.get("user_account/get")
    assert len(waits) == 1 and 1.0 <= waits[0] <= 1.25  # Retry-After: 1, plus a little jitter


@pytest.mark.slow  # 3 s and more: run by CI's second phase (make test-slow)
def test_client_adopts_a_lower_server_budget_and_paces_to_it(make_sandbox):
    """Configured far above the server's budget, the client learns it from X-RateLimit-Limit."""
    budgets = {"org_read": 1200, "org_analytics": 300, "org_write": 1000, "ads_analytics": 300, "ads_read": 1000}
    server = make_sandbox(rate_limits=budgets)
    with make_client(server, concurrency=1) as client:
        started = time.perf_counter()
        for _ in range(60):
            client.get("user_account/get")
        elapsed = time.perf_counter() - started
        assert client.budgets.current_budget("org_read") == 1200
    assert server_stats(server)["responses"] == {"200": 60}
    assert elapsed >= 1.9  # 20 calls per second after a one-second burst


def test_5xx_and_truncated_bodies_are_retried_and_lose_nothing(make_sandbox):
    clean, faulty = make_sandbox(), make_sandbox(fail_rate=0.2, truncate_rate=0.2)
    with make_client(clean) as a, make_client(faulty) as b:
        expected = a.map(lambda batch: bulk(a, batch), pin_batches(a))
        got = b.map(lambda batch: bulk(b, batch), pin_batches(b))
    assert got == expected
    stats = b.stats.snapshot()
    assert stats["server_errors_5xx"] > 0 and stats["transport_errors"] > 0
    assert stats["retries"] == stats["server_errors_5xx"] + stats["transport_errors"]


def test_transient_400s_are_retried(make_sandbox):
    server = make_sandbox(transient_rate=0.4)
    with make_client(server) as client:
        results = client.map(lambda batch: bulk(client, batch), pin_batches(client, size=50))
    assert sum(len(r) for r in results) == 500
    assert client.stats.retries > 0 and "400" in server_stats(server)["responses"]


def test_other_4xx_are_never_retried_and_raise_typed_errors(make_sandbox):
    server = make_sandbox()
    with make_client(server) as client:
        with pytest.raises(NotFoundError) as not_found:
            client.get("multi_pins/analytics", params={**WINDOW, "pin_ids": ["123"], "metric_types": ["IMPRESSION"]})
        with pytest.raises(ForbiddenError):
            client.get("campaigns/list", path_params={"ad_account_id": "999"})
        with pytest.raises(InvalidRequestError):
            client.get("ad_account/analytics", path_params={"ad_account_id": server.state.world.ad_account_ids[0]},
                       params={**WINDOW, "columns": ["NOT_A_COLUMN"], "granularity": "DAY"})
    assert not_found.value.status == 404 and not_found.value.code == 50 and not_found.value.request_id
    assert "multi_pins/analytics" in str(not_found.value)
    assert client.stats.retries == 0
    assert sum(server_stats(server)["requests"].values()) == 3


def test_persistent_failures_raise_after_the_per_request_attempts(make_sandbox):
    server = make_sandbox(fail_rate=1.0)
    with make_client(server, retry=RetryPolicy(max_attempts=3, backoff_base_seconds=0.01)) as client, \
            pytest.raises(ServerError) as failure:
        client.get("user_account/get")
    assert failure.value.status in (500, 503)
    assert server_stats(server)["requests"] == {"user_account/get": 3}


def test_persistent_429s_raise_rate_limited_never_return_empty(make_sandbox):
    server = make_sandbox(throttle_rate=1.0, rate_limit_headers=False)
    policy = RetryPolicy(max_attempts=2, backoff_base_seconds=0.01, throttle_span_seconds=0)
    with make_client(server, retry=policy) as client, pytest.raises(RateLimitedError):
        client.get("user_account/get")


def test_the_run_retry_budget_stops_a_failing_run(make_sandbox):
    server = make_sandbox(fail_rate=1.0)
    policy = RetryPolicy(max_attempts=10, run_retry_budget=4, backoff_base_seconds=0.01)
    with make_client(server, retry=policy) as client, pytest.raises(RetryBudgetExhausted, match="4 retries"):
        client.get("user_account/get")
    assert server_stats(server)["requests"] == {"user_account/get": 5}


def test_concurrent_map_preserves_order(make_sandbox):
    server = make_sandbox(latency_ms=30)
    with make_client(server) as client:
        batches = pin_batches(client, size=20)
        results = client.map(lambda batch: bulk(client, batch), batches)
    assert [sorted(r) for r in results] == [sorted(b) for b in batches]


@pytest.mark.slow  # 3 s and more: run by CI's second phase (make test-slow)
def test_expired_token_mid_concurrent_extraction_refreshes_exactly_once(make_sandbox, tmp_path):
    server = make_sandbox(token_ttl_seconds=3, latency_ms=60)
    started = time.monotonic()
    with make_client(server, tmp_path) as client:
        batches = pin_batches(client, size=25)  # the listing works with the development token
        time.sleep(max(0.0, 3.1 - (time.monotonic() - started)))  # now it has expired: every thread meets a 401
        results = client.map(lambda batch: bulk(client, batch), batches)
    assert len(results) == 20 and all(len(r) == 25 for r in results)
    assert server_stats(server)["requests"]["oauth/token"] == 1  # single flight: one refresh for all threads
    assert client.stats.token_refreshes == 1
    saved = (tmp_path / "token.json")
    assert saved.stat().st_mode & 0o777 == 0o600
    assert "pinr_SANDBOX" not in saved.read_text()  # the rotated refresh token replaced the old one


def test_a_failing_refresh_stops_with_a_login_hint(make_sandbox):
    server = make_sandbox(token_ttl_seconds=1)
    from pipelines.pinterest.credentials import Secret, Tokens

    time.sleep(1.1)
    with make_client(server, tokens=Tokens(Secret("pina_SANDBOX"), Secret("pinr_revoked"))) as client, \
            pytest.raises(AuthError, match="pinterest-etl auth login"):
        client.get("user_account/get")


def test_without_a_refresh_token_an_expired_token_is_an_auth_error(make_sandbox):
    server = make_sandbox(token_ttl_seconds=1)
    from pipelines.pinterest.credentials import Secret, Tokens

    time.sleep(1.1)
    with make_client(server, tokens=Tokens(Secret("pina_SANDBOX"))) as client, pytest.raises(AuthError) as failure:
        client.get("user_account/get")
    assert failure.value.code == 2


def test_missing_scope_is_an_auth_error_without_refresh(make_sandbox):
    import requests

    from pipelines.pinterest.credentials import Secret, Tokens
    server = make_sandbox()
    token = requests.post(f"{server.base_url}/oauth/token", auth=("1234567", "sandbox-secret"),
                          data={"grant_type": "client_credentials", "scope": "pins:read"}).json()["access_token"]
    with make_client(server, tokens=Tokens(Secret(token))) as client, pytest.raises(AuthError) as failure:
        client.get("ad_accounts/list")
    assert failure.value.code == 3 and client.stats.token_refreshes == 0


def test_secrets_never_reach_logs_errors_or_reprs(make_sandbox, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    server = make_sandbox(token_ttl_seconds=1, fail_rate=0.2, throttle_rate=0.1, rate_limit_headers=False)
    time.sleep(1.1)
    errors = []
    with make_client(server, tmp_path) as client:
        client.map(lambda batch: bulk(client, batch), pin_batches(client, size=25))
        try:
            client.get("campaigns/list", path_params={"ad_account_id": "999"})
        except ForbiddenError as error:
            errors.append(error)
        new_tokens = client.tokens.tokens
    visible = caplog.text + "".join(f"{e!s}{e!r}" for e in errors) + repr(new_tokens) + str(new_tokens)
    secrets = ["pina_SANDBOX", "pinr_SANDBOX", "sandbox-secret", new_tokens.access_token.reveal(),
               new_tokens.refresh_token.reveal()]
    assert client.stats.token_refreshes >= 1 and client.stats.retries > 0
    for secret in secrets:
        assert secret not in visible


@pytest.mark.parametrize("url, ok", [
    ("https://api.pinterest.com/v5", True), ("http://127.0.0.1:8787/v5", True), ("http://localhost:1/v5", True),
    ("http://api.pinterest.com/v5", False), ("ftp://api.pinterest.com/v5", False), ("api.pinterest.com/v5", False),
])
def test_only_https_base_urls_except_a_local_simulator(url, ok):
    if ok:
        assert check_base_url(url) == url
    else:
        with pytest.raises(BaseUrlError, match="PINTEREST_API_BASE_URL"):
            ClientConfig(base_url=url)


def test_an_expired_token_met_on_the_last_attempt_is_refreshed_and_the_call_made_again():
    """Attempt 1 meets a 503, attempt 2 (the last of 2) an expired token: the call is made once more with the
    refreshed token instead of ending in an internal error."""
    import http.server
    import threading

    answers = iter([(503, {"code": 503, "message": "busy"}), (401, {"code": 2, "message": "Authentication failed."}),
                    (200, {"username": "after_refresh", "account_type": "BUSINESS"})])
    seen: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def _send(self, status: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):  # noqa: N802 (http.server's name)
            seen.append(self.headers.get("Authorization", ""))
            self._send(*next(answers))

        def do_POST(self):  # noqa: N802
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self._send(200, {"access_token": "pina_REFRESHED", "refresh_token": "pinr_REFRESHED", "token_type": "bearer",
                             "expires_in": 3600, "refresh_token_expires_in": 86400, "scope": "user_accounts:read"})

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}/v5"
        retry = RetryPolicy(max_attempts=2, backoff_base_seconds=0.01, backoff_max_seconds=0.02)
        with make_client(None, base_url=base, retry=retry) as client:
            assert client.get("user_account/get")["username"] == "after_refresh"
            assert client.stats.token_refreshes == 1
    finally:
        server.shutdown()
        server.server_close()
    assert seen == ["Bearer pina_SANDBOX", "Bearer pina_SANDBOX", "Bearer pina_REFRESHED"]
