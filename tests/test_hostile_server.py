"""The client against a hostile server over real HTTP: every wait, body and listing is bounded, every URL it
sends to is https or this machine, and a server's nonsense headers are ignored, not obeyed."""

from __future__ import annotations

import re
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from pipelines import settings
from pipelines.pinterest.errors import (
    ApiUnreachableError,
    PageLimitError,
    RedirectError,
    ResponseTooLargeError,
    UnsafeUrlError,
)
from pipelines.pinterest.oauth import request_tokens
from pipelines.pinterest.transport import MB, Answer, DeadlineAdapter, HttpLimits, NoAnswer, exchange
from tests.client_support import SIMULATOR_APP, make_client
from tests.hostile_support import REPORT_FILE, HostileServer, TlsDripServer

# Small bounds, so that each test ends in seconds; the defaults are asserted below.
QUICK = HttpLimits(attempt_seconds=1.0, call_seconds=2.5, connect_seconds=1.0, max_body_bytes=8 * MB, max_pages=5)
# A generous upper bound proving that a call ends instead of hanging (the bounds above add up to ~3 s).
ENDS_WITHIN_SECONDS = 30
# Answers dripped before their first byte of content: each socket read gets a byte in time (every 0.2 s, well
# within the 1 s per read), so only the attempt's deadline (its watchdog) ends them; unbounded they last hours.
DRIPPED_BEFORE_THE_CONTENT = ["drip-status", "drip-headers", "drip-gzip"]
# An attempt of 1 s must end well within this, however loaded the machine.
ATTEMPT_ENDS_WITHIN_SECONDS = 10


@pytest.fixture
def hostile():
    with HostileServer(drip_seconds=0.2, bomb_bytes=64 * MB) as server:
        yield server


def client_for(hostile: HostileServer, behaviour: str, argument: str = "-", limits: HttpLimits = QUICK, **options):
    return make_client(None, base_url=hostile.url(behaviour, argument), limits=limits, **options)


def test_the_defaults_end_a_dead_server_in_about_a_minute_and_a_bookmark_loop_after_1000_pages():
    """Defaults: 30 s per attempt (connect to last byte), 60 s of unanswered attempts and backoff per call,
    256 MB per decompressed answer, 1,000 pages per listing (Pinterest caps an account at 200,000 pins: 800
    pages of 250, so no real account reaches it)."""
    limits = settings.http_limits({})
    assert limits == HttpLimits()
    assert (limits.attempt_seconds, limits.call_seconds, limits.connect_seconds) == (30.0, 60.0, 10.0)
    assert (limits.max_body_bytes, limits.max_pages) == (256 * MB, 1000)
    assert 200_000 / 250 < limits.max_pages


def test_the_limits_are_read_from_the_environment():
    limits = settings.http_limits({"PINTEREST_HTTP_TIMEOUT_SECONDS": "5", "PINTEREST_HTTP_CALL_TIMEOUT_SECONDS": "12",
                                   "PINTEREST_HTTP_MAX_BODY_MB": "16", "PINTEREST_MAX_PAGES": "40"})
    assert limits == HttpLimits(attempt_seconds=5, call_seconds=12, connect_seconds=5, max_body_bytes=16 * MB,
                                max_pages=40)


@pytest.mark.parametrize("name, value, message", [
    ("PINTEREST_HTTP_TIMEOUT_SECONDS", "0", "PINTEREST_HTTP_TIMEOUT_SECONDS must be more than 0 seconds"),
    ("PINTEREST_HTTP_TIMEOUT_SECONDS", "nan", "PINTEREST_HTTP_TIMEOUT_SECONDS must be a number of seconds"),
    ("PINTEREST_HTTP_CALL_TIMEOUT_SECONDS", "-1", "PINTEREST_HTTP_CALL_TIMEOUT_SECONDS must be a number of seconds"),
    ("PINTEREST_HTTP_MAX_BODY_MB", "1.5", "PINTEREST_HTTP_MAX_BODY_MB must be a whole number"),
    ("PINTEREST_MAX_PAGES", "0", "PINTEREST_MAX_PAGES must be a whole number from 1"),
])
def test_an_invalid_limit_is_refused_naming_the_setting(name, value, message):
    with pytest.raises(settings.SettingsError, match=message):
        settings.http_limits({name: value})


@pytest.mark.slow
def test_a_body_dripped_byte_by_byte_ends_the_call_within_its_time_bound(hostile):
    started = time.monotonic()
    with client_for(hostile, "drip") as client, pytest.raises(ApiUnreachableError) as failure:
        client.get("user_account/get")
    assert time.monotonic() - started < ENDS_WITHIN_SECONDS
    message = str(failure.value)
    assert message.startswith("user_account/get: the API at 127.0.0.1 did not answer within 2.5 s")
    assert "PINTEREST_HTTP_TIMEOUT_SECONDS" in message and "PINTEREST_HTTP_CALL_TIMEOUT_SECONDS" in message


@pytest.mark.slow
def test_a_server_that_never_answers_ends_the_call_within_its_time_bound(hostile):
    started = time.monotonic()
    with client_for(hostile, "silent") as client, pytest.raises(ApiUnreachableError, match="did not answer within 2.5 s"):
        client.get("user_account/get")
    assert time.monotonic() - started < ENDS_WITHIN_SECONDS
    assert hostile.requests["silent"] >= 2  # it was retried within the bound, not given up after one attempt


@pytest.mark.slow
def test_after_an_unreachable_call_the_clients_next_calls_fail_at_once_without_a_request(hostile):
    with client_for(hostile, "silent") as client:
        with pytest.raises(ApiUnreachableError):
            client.get("user_account/get")
        sent = hostile.requests["silent"]
        started = time.monotonic()
        for _ in range(3):
            with pytest.raises(ApiUnreachableError, match="found by an earlier call of this client"):
                client.get("boards/list")
        assert time.monotonic() - started < ENDS_WITHIN_SECONDS / 10
    assert hostile.requests["silent"] == sent


@pytest.mark.slow
def test_a_token_endpoint_that_never_answers_ends_the_refresh_within_its_time_bound(hostile):
    started = time.monotonic()
    with requests.Session() as session, pytest.raises(ApiUnreachableError, match="oauth/token: the API at 127.0.0.1"):
        request_tokens(session, hostile.url("silent"), SIMULATOR_APP, {"grant_type": "refresh_token"}, QUICK,
                       sleep=lambda seconds: None)
    assert time.monotonic() - started < ENDS_WITHIN_SECONDS


def test_a_gzip_bomb_is_refused_at_the_body_cap_and_not_retried(hostile):
    with client_for(hostile, "bomb") as client, pytest.raises(ResponseTooLargeError) as failure:
        client.get("user_account/get")
    assert str(failure.value) == ("user_account/get: the answer is larger than 8 MB once decompressed; stopped reading "
                                  "it (PINTEREST_HTTP_MAX_BODY_MB sets the cap)")
    assert hostile.requests["bomb"] == 1


def test_a_new_bookmark_on_every_page_stops_at_the_page_limit(hostile):
    with client_for(hostile, "bookmarks") as client, pytest.raises(PageLimitError) as failure:
        list(client.paginate("boards/list"))
    assert str(failure.value).startswith("boards/list: the API still hands out a new bookmark after 5 pages (the page "
                                          "limit, PINTEREST_MAX_PAGES)")
    assert hostile.requests["bookmarks"] == 5


@pytest.mark.parametrize("header", ["Retry-After=nan", "Retry-After=inf", "Retry-After=-5", "Retry-After=1e3",
                                    "Retry-After=soon", "X-RateLimit-Reset=nan", "X-RateLimit-Reset=-5"])
@pytest.mark.slow
def test_an_unusable_wait_header_is_ignored_with_a_warning_and_the_call_retried(hostile, header, caplog):
    waits: list[float] = []
    with client_for(hostile, "wait", header, sleep=waits.append) as client:
        assert client.get("user_account/get") == {"username": "hostile"}
    assert hostile.requests["wait"] == 2 and len(waits) == 1
    assert 0 <= waits[0] <= 1  # the usual backoff (FAST_RETRIES), not the header's nonsense
    assert f"ignoring the header {header.split('=')[0]}" in caplog.text


def test_api_calls_never_follow_a_redirect(hostile):
    with client_for(hostile, "redirect", "http://example.invalid/v5/user_account") as client, \
            pytest.raises(RedirectError) as failure:
        client.get("user_account/get")
    assert failure.value.status == 302 and failure.value.endpoint == "user_account/get"
    assert "API calls never follow redirects" in str(failure.value)
    assert hostile.requests["redirect"] == 1


def test_a_report_download_url_over_plain_http_is_refused_before_it_is_fetched(hostile):
    with client_for(hostile, "report", "http://example.invalid/report.json") as client:
        report = client.get("analytics/get_report", {"ad_account_id": "1"}, {"token": "report-1"})
        with pytest.raises(UnsafeUrlError, match="the report download URL the API handed out must use https for "
                                                 "example.invalid"):
            client.download(report["url"])


def test_a_report_download_redirected_to_plain_http_is_refused_before_the_hop(hostile):
    url = f"{hostile.url('redirect', 'http://example.invalid/report.json')}/report"
    with client_for(hostile, "file") as client, \
            pytest.raises(UnsafeUrlError, match="a redirect of the report download must use https for example.invalid"):
        client.download(url)
    assert hostile.requests["redirect"] == 1


def test_a_report_download_redirected_to_an_accepted_url_is_followed(hostile):
    target = f"{hostile.url('file')}/report.json"
    with client_for(hostile, "file") as client:
        assert client.download(f"{hostile.url('redirect', target)}/report") == REPORT_FILE
    assert (hostile.requests["redirect"], hostile.requests["file"]) == (1, 1)


@pytest.mark.slow
def test_a_report_download_that_drips_ends_within_its_time_bound(hostile):
    started = time.monotonic()
    with client_for(hostile, "file") as client, pytest.raises(ApiUnreachableError, match="report download: the API"):
        client.download(f"{hostile.url('drip')}/{urllib.parse.quote('report.json')}")
    assert time.monotonic() - started < ENDS_WITHIN_SECONDS


@pytest.mark.parametrize("behaviour", DRIPPED_BEFORE_THE_CONTENT)
@pytest.mark.slow
def test_an_answer_dripped_before_its_content_ends_the_attempt_at_its_deadline(hostile, behaviour):
    """The status line, the headers, or a gzip header that decodes to nothing, one byte every 0.2 s: the
    attempt ends at its deadline (1 s), as "no complete answer within 1 s"."""
    with requests.Session() as session:
        started = time.monotonic()
        answer = exchange(session, "GET", f"{hostile.url(behaviour)}/user_account", what="user_account/get",
                          limits=QUICK, seconds=1.0)
        assert time.monotonic() - started < ATTEMPT_ENDS_WITHIN_SECONDS
    assert answer == NoAnswer("no complete answer within 1 s", timed_out=True)
    assert hostile.requests[behaviour] == 1


@pytest.mark.parametrize("behaviour", DRIPPED_BEFORE_THE_CONTENT)
@pytest.mark.slow
def test_an_api_call_dripped_before_its_content_ends_within_its_time_bound(hostile, behaviour):
    started = time.monotonic()
    with client_for(hostile, behaviour) as client, pytest.raises(ApiUnreachableError) as failure:
        client.get("user_account/get")
    assert time.monotonic() - started < ENDS_WITHIN_SECONDS / 2
    message = str(failure.value)
    assert message.startswith("user_account/get: the API at 127.0.0.1 did not answer within 2.5 s")
    # The last attempt has what is left of the call's 2.5 s (here, about half a second).
    assert re.search(r"; last failure: no complete answer within (1|0\.\d+) s\. Check the network", message), message


@pytest.mark.parametrize("behaviour", ["drip-status", "drip-headers"])
@pytest.mark.slow
def test_a_token_endpoint_that_drips_ends_the_refresh_within_its_time_bound(hostile, behaviour):
    started = time.monotonic()
    with requests.Session() as session, pytest.raises(ApiUnreachableError) as failure:
        request_tokens(session, hostile.url(behaviour), SIMULATOR_APP, {"grant_type": "refresh_token"}, QUICK,
                       sleep=lambda seconds: None)
    assert time.monotonic() - started < ENDS_WITHIN_SECONDS / 2
    assert str(failure.value).startswith("oauth/token: the API at 127.0.0.1 did not answer within 2.5 s")
    assert "no complete answer within" in str(failure.value)


@pytest.mark.parametrize("behaviour", DRIPPED_BEFORE_THE_CONTENT)
@pytest.mark.slow
def test_a_report_download_dripped_before_its_content_ends_within_its_time_bound(hostile, behaviour):
    started = time.monotonic()
    with client_for(hostile, "file") as client, pytest.raises(ApiUnreachableError, match="report download: the API"):
        client.download(f"{hostile.url(behaviour)}/report.json")
    assert time.monotonic() - started < ENDS_WITHIN_SECONDS / 2


@pytest.mark.slow
def test_a_tls_handshake_dripped_byte_by_byte_ends_the_attempt_at_its_deadline():
    with TlsDripServer(drip_seconds=0.2) as server, requests.Session() as session:
        started = time.monotonic()
        answer = exchange(session, "GET", f"{server.url}/user_account", what="user_account/get", limits=QUICK,
                          seconds=1.0)
        assert time.monotonic() - started < ATTEMPT_ENDS_WITHIN_SECONDS
    assert isinstance(answer, NoAnswer) and answer.timed_out


@pytest.mark.slow
def test_a_connection_cut_at_its_deadline_is_not_reused(hostile):
    """The attempt cut off at its deadline drops its connection: the next request, to the same server
    through the same session, opens a new one and gets its answer."""
    with requests.Session() as session:
        answer = exchange(session, "GET", f"{hostile.url('drip-headers')}/x", what="x", limits=QUICK, seconds=0.5)
        assert answer == NoAnswer("no complete answer within 0.5 s", timed_out=True)
        after = [exchange(session, "GET", f"{hostile.url('file')}/x", what="x", limits=QUICK, seconds=1.0)
                 for _ in range(3)]
    assert all(isinstance(a, Answer) and a.content == REPORT_FILE for a in after)
    assert hostile.connections == 2  # the cut one, then one new connection for the three answers


@pytest.mark.slow
def test_pooled_connections_are_reused_and_never_shut_by_a_past_deadline(hostile):
    """Every deadline of a round passes while its connection waits in the pool; the next round reuses the
    same connections without a single failure: a finished attempt's deadline never touches its socket."""
    limits = HttpLimits(attempt_seconds=0.3, call_seconds=5, connect_seconds=0.3, max_body_bytes=MB)
    with client_for(hostile, "file", limits=limits, concurrency=4) as client:
        for _ in range(3):
            assert client.map(lambda _: client.get("user_account/get"), list(range(60))) == [{"rows": []}] * 60
            time.sleep(0.4)
        stats = client.stats.snapshot()
    assert hostile.requests["file"] == 180
    assert stats["transport_errors"] == 0 and stats["retries"] == 0
    assert hostile.connections <= 6  # the pool's size (concurrency + 2): reused, not reopened


@pytest.mark.slow
def test_a_deadline_never_cuts_a_connection_another_attempt_took_from_the_pool(hostile):
    """Sixteen threads share four pooled connections. Half the calls have a deadline that falls due about when
    their answer's last byte arrives, the other half a generous one: connections go back to the pool (or are
    dropped, the pool being full) while short deadlines fall due and other attempts take them. Every generous
    call gets its whole answer; a short one gets its answer or fails as a deadline, never otherwise."""
    limits = HttpLimits(attempt_seconds=20, call_seconds=20, connect_seconds=5, max_body_bytes=MB)

    def call(index: int) -> tuple[bool, Answer | NoAnswer]:
        short = index % 2 == 0
        url = hostile.url("late", "0.1" if short else "0.15") + f"/call-{index}"
        return short, exchange(session, "GET", url, what="late", limits=limits, seconds=0.102 if short else 20)

    with requests.Session() as session:
        session.mount("http://", DeadlineAdapter(pool_connections=1, pool_maxsize=4, max_retries=0))
        with ThreadPoolExecutor(16) as threads:
            results = list(threads.map(call, range(320)))
    generous = [answer for short, answer in results if not short]
    cut_short = [answer for short, answer in results if short and isinstance(answer, NoAnswer)]
    assert [a for a in generous if not (isinstance(a, Answer) and a.content == REPORT_FILE)] == []
    assert [a for a in cut_short if not a.timed_out] == []
