"""`pinterest-etl probe`: at most 20 calls that check this project's assumptions about the API, a table and
probe.json that agree, exit 1 only when an assumption the pipeline depends on fails, and no secret anywhere.
Against the simulator over real HTTP; calls are counted by the simulator (/_sandbox/stats)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import gzip
import json
import logging
import os
import re
import secrets
import threading
import time

import pytest

from pipelines.cli import main
from pipelines.pinterest.credentials import DEFAULT_SCOPES, Secret, TokenFile, Tokens
from pipelines.probe import CALL_LIMIT, FAILED, MOST_PLANNED_CALLS, OK, UNKNOWN, WARNING, Outcome, ready_state_check
from pipelines.sandbox.auth import APP_SECRET
from tests.client_support import quota_reset_hours_away, server_stats
from tests.conftest import TODAY
from tests.hostile_server_support import HostileServer, Reply
from tests.process_support import SMALL_WORLD, cli_env
from tests.test_security import issued_tokens

DEFAULT_CALLS = 15  # 4 reads, 3 content types, 2 bulk (both encodings), 3 ready states, 1 ad account analytics,
# 1 campaign list and 1 campaign analytics (comma-joined campaign ids)
FAST_RETRY = {"PINTEREST_RETRY_BACKOFF_SECONDS": "0.01"}
DEPENDED_ON = ("token", "scopes", "comma_joined_ids", "content_type", "metrics_ready_state", "answer_shapes",
               "api_answers")


def probe_in_process(monkeypatch, capsys, home, server, args=(), written_as="probe.json",
                     **extra) -> tuple[int, str, str, dict]:
    """`pinterest-etl probe <args>` in this process against `server`: (exit code, stdout, stderr, the JSON file
    `written_as` in `home`)."""
    for name in [n for n in os.environ if n.startswith(("PINTEREST_", "DAGSTER_"))]:
        monkeypatch.delenv(name)
    for name, value in cli_env(home, server, TODAY, **extra).items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(next(p for p in home.parents if p.is_dir()))  # no .env of the repository is read
    code = main(["probe", *args])
    shown = capsys.readouterr()
    written = home / written_as
    return code, shown.out, shown.err, json.loads(written.read_text()) if written.is_file() else {}


def statuses(probe: dict) -> dict[str, str]:
    return {check["name"]: check["status"] for check in probe["checks"]}


def observed(probe: dict, name: str) -> str:
    return next(check["observed"] for check in probe["checks"] if check["name"] == name)


def calls_made(server) -> int:
    return sum(server_stats(server)["requests"].values())


def test_the_default_simulator_holds_every_assumption_in_15_calls_with_the_table_and_probe_json_agreeing(
        make_sandbox, tmp_path, monkeypatch, capsys, caplog):
    """Tokens from a token file (issued through the consent stand-in, so the granted scopes are recorded): exit
    0, every check the pipeline depends on OK, the repeated-key form refused (the simulator's default, like the
    real API) as a warning; the table shows each check of probe.json with its status and observation; no token
    or app secret in the output, the logs or the file."""
    caplog.set_level(logging.DEBUG)
    server = make_sandbox(**SMALL_WORLD)
    issued = issued_tokens(server)
    home = tmp_path / "etl"
    TokenFile(home / "credentials" / "pinterest-token.json").write(Tokens(
        Secret(issued["access_token"]), Secret(issued["refresh_token"]), scope=issued["scope"]))
    before = calls_made(server)

    code, out, err, probe = probe_in_process(monkeypatch, capsys, home, server, PINTEREST_ACCESS_TOKEN="",
                                             PINTEREST_REFRESH_TOKEN="")

    assert code == 0, err
    assert probe["api_base_url"] == server.base_url and probe["holds"] is True and probe["stopped"] is None
    assert probe["calls"] == calls_made(server) - before == DEFAULT_CALLS <= CALL_LIMIT
    assert probe["calls_by_endpoint"] == {"ad_account/analytics": 1, "ad_accounts/list": 1, "boards/list": 1,
                                          "campaigns/analytics": 1, "campaigns/list": 1, "metrics_ready_state/get": 3, "multi_pins/analytics": 2, "pins/list": 1,
                                          "user_account/analytics": 3, "user_account/get": 1}
    assert dt.datetime.fromisoformat(probe["probed_at"]).utcoffset() == dt.timedelta(0)
    assert statuses(probe) == {**dict.fromkeys(DEPENDED_ON, OK), "ad_accounts": OK, "repeated_key_ids": "WARNING",
                               "bulk_pin_analytics": OK, "rate_limit_headers": OK}
    assert observed(probe, "scopes").startswith(f"granted (token file): {', '.join(sorted(DEFAULT_SCOPES))}")
    assert "X-RateLimit-Limit=" in observed(probe, "rate_limit_headers")
    # The date the pipeline asks first (just past the 30-day attribution window) is asked too.
    assert f"{TODAY - dt.timedelta(days=30)}: conversion_metrics_ready true, non_conversion_metrics_ready true: final" in \
        observed(probe, "metrics_ready_state")
    table = " ".join(out.split())
    for check in probe["checks"]:
        assert re.search(rf"^{check['status']}\s+{check['name']}\s", out, re.MULTILINE), check["name"]
        assert " ".join(check["observed"].split()) in table, check["name"]
    assert f"{DEFAULT_CALLS} calls of at most {CALL_LIMIT}" in out
    for secret in server.state.tokens.known_tokens() | {APP_SECRET}:
        assert secret not in out + err + caplog.text + (home / "probe.json").read_text()


def test_a_server_that_keeps_one_value_per_key_loses_ids_only_in_the_repeated_form_and_the_probe_still_holds(
        make_sandbox, tmp_path, monkeypatch, capsys):
    server = make_sandbox(**SMALL_WORLD, repeated_list_keys="last")
    before = calls_made(server)
    code, out, err, probe = probe_in_process(monkeypatch, capsys, tmp_path / "etl", server)
    assert code == 0, err
    assert statuses(probe)["comma_joined_ids"] == OK and statuses(probe)["repeated_key_ids"] == "WARNING"
    assert "answered 1 of 5 ids" in observed(probe, "repeated_key_ids")
    assert "harmless: the pipeline sends ids comma-joined" in observed(probe, "repeated_key_ids")
    assert probe["calls"] == calls_made(server) - before == DEFAULT_CALLS


def test_an_answer_the_pipeline_cannot_parse_fails_the_probe_naming_the_assumption(
        make_sandbox, tmp_path, monkeypatch, capsys):
    """Organic analytics answers without daily_metrics: the shape check fails, exit 1 names it."""
    server = make_sandbox(**SMALL_WORLD, drop_field="daily_metrics")
    code, out, err, probe = probe_in_process(monkeypatch, capsys, tmp_path / "etl", server)
    assert code == 1
    assert [c["name"] for c in probe["checks"] if c["status"] == FAILED] == ["answer_shapes"]
    assert probe["holds"] is False
    assert "user_account/analytics: no 'all' key holding a daily_metrics list" in observed(probe, "answer_shapes")
    assert "do not hold: answer_shapes" in out
    assert probe["calls"] == DEFAULT_CALLS


def test_an_app_without_bulk_pin_analytics_is_a_warning_with_its_cost_in_calls_and_the_longest_probe(
        make_sandbox, tmp_path, monkeypatch, capsys):
    """The bulk endpoint refused (403): a warning saying what the fallback costs; the single-pin answer's shape
    is checked instead, and both list encodings are compared on a campaign list. This is the probe's longest
    path: MOST_PLANNED_CALLS."""
    server = make_sandbox(**{**SMALL_WORLD, "campaigns": 6}, bulk_pin_analytics=False)
    before = calls_made(server)
    code, out, err, probe = probe_in_process(monkeypatch, capsys, tmp_path / "etl", server)
    assert code == 0, err
    assert statuses(probe)["bulk_pin_analytics"] == "WARNING"
    # One bulk call per 100 pins of one type: the 18 standard pins and the 2 video pins are two batches.
    assert ("falls back to one call per pin once bulk calls for two pins that answer alone are refused too: for 20 "
            "pins (18 standard, 2 video), 20 calls per window instead of 2 (one bulk call per 100 pins of one type)"
            ) in observed(probe, "bulk_pin_analytics")
    assert statuses(probe)["comma_joined_ids"] == OK and "on campaigns/list: answered all" in observed(
        probe, "comma_joined_ids")
    assert "pins/analytics" in observed(probe, "answer_shapes")
    assert "on campaigns/analytics: rows for" in observed(probe, "comma_joined_ids")
    assert probe["calls"] == calls_made(server) - before == MOST_PLANNED_CALLS == 17
    assert probe["calls_by_endpoint"]["campaigns/list"] == 3 and probe["calls_by_endpoint"]["pins/analytics"] == 1
    assert probe["calls_by_endpoint"]["campaigns/analytics"] == 1


@pytest.mark.parametrize("refresh_token, calls, cause", [
    ("", 1, "run `pinterest-etl auth login`"),
    (f"pinr_{secrets.token_urlsafe(24)}", 2, "refreshing it failed (oauth/token: HTTP 401, Pinterest code 283")],
    ids=["without-refresh-token", "refresh-token-refused"])  # never the token in a test's name
def test_a_refused_token_is_one_line_naming_the_fix_exit_1_and_never_shown(
        make_sandbox, tmp_path, monkeypatch, capsys, refresh_token, calls, cause):
    """Without a refresh token, or with one the token endpoint refuses (its request counted too)."""
    server = make_sandbox(**SMALL_WORLD)
    token = f"pina_{secrets.token_urlsafe(24)}"
    code, out, err, probe = probe_in_process(monkeypatch, capsys, tmp_path / "etl", server,
                                             PINTEREST_ACCESS_TOKEN=token, PINTEREST_REFRESH_TOKEN=refresh_token)
    assert code == 1 and out == ""
    assert len(err.strip().splitlines()) == 1
    assert "refused the access token" in err and cause in err and "pinterest-etl auth login" in err
    assert statuses(probe) == {"token": FAILED} and probe["calls"] == calls_made(server) == calls
    for secret in (token, refresh_token):
        assert not secret or secret not in err + json.dumps(probe)


def test_a_daily_quota_429_is_reported_with_its_headers_not_waited_for_and_does_not_fail_the_probe(
        make_sandbox, tmp_path, monkeypatch, capsys):
    """One ads_analytics call a day: the second metrics_ready_state call meets a 429 asking to wait hours; the
    third and the ad account's analytics are not asked."""
    server = make_sandbox(**SMALL_WORLD, daily_quotas={"ads_analytics": 1})
    quota_reset_hours_away(server)
    started = time.monotonic()
    code, out, err, probe = probe_in_process(monkeypatch, capsys, tmp_path / "etl", server)
    assert time.monotonic() - started < 30  # instead of waiting until midnight
    assert code == 0, err
    assert statuses(probe)["rate_limit_headers"] == "WARNING"
    assert "HTTP 429 on metrics_ready_state/get: " in observed(probe, "rate_limit_headers")
    assert "X-RateLimit-Reset=" in observed(probe, "rate_limit_headers").split("HTTP 429")[1]
    assert statuses(probe)["metrics_ready_state"] == "UNKNOWN" and "rate limited (HTTP 429" in observed(
        probe, "metrics_ready_state")
    assert ("not checked: ad_account/analytics (not asked: ads_analytics answered HTTP 429 code 8 (most likely the "
            "app's daily quota is spent" in observed(probe, "answer_shapes"))
    assert probe["quota_refused"] == ["metrics_ready_state/get"]
    assert "HTTP 429 code 8 on metrics_ready_state/get: most likely the app's daily quota is spent" in out
    # Not retried (the wait is past the probe's cap); the category's last two calls not sent, nor the campaign
    # calls (the client stops every call once a daily quota is met).
    assert probe["calls"] == calls_made(server) == DEFAULT_CALLS - 4


def test_readiness_that_falls_with_a_dates_age_fails_the_ready_state_assumption():
    """The pipeline binary-searches the newest ready date: a ready yesterday with a week ago not ready breaks it."""
    yesterday, week_ago = TODAY - dt.timedelta(days=1), TODAY - dt.timedelta(days=7)
    ready = {"conversion_metrics_ready": True, "non_conversion_metrics_ready": True}
    not_ready = {"conversion_metrics_ready": False, "non_conversion_metrics_ready": True}
    check = ready_state_check({yesterday: Outcome("metrics_ready_state/get", ready),
                               week_ago: Outcome("metrics_ready_state/get", not_ready)}, TODAY, 30, True, "")
    assert check.status == FAILED and check.breaks_pipeline
    assert "a newer date is ready while an older one is not" in check.observed


@pytest.mark.parametrize("days_old, ready, expected", [
    (31, True, "final"), (31, False, "not final, re-pulled until the API says ready"),
    (1, True, "not final, re-pulled until its 30-day attribution window passes on 2026-12-27")])
def test_the_ready_state_check_says_what_the_pipeline_does_with_each_date(days_old, ready, expected):
    from pipelines.probe import finality_of

    assert finality_of(TODAY - dt.timedelta(days=days_old), ready, TODAY, 30) == expected


# ------------------------------------------------------------------ servers that are not the Pinterest API
NOT_THE_API = {
    "an HTML page": Reply(200, b"<html><body>Welcome to nginx!</body></html>", "text/html"),
    "404 everywhere (no /v5)": Reply(404, {"code": 404, "message": "Not found"}),
    "502 everywhere": Reply(502, b"<html>Bad gateway</html>", "text/html"),
}


@pytest.mark.parametrize("kind", NOT_THE_API)
def test_a_base_url_that_is_not_the_pinterest_api_fails_the_probe_in_one_line_naming_the_setting(
        tmp_path, monkeypatch, capsys, kind):
    """Nothing the server answers can be parsed: the probe stops after its first request (and its one retry of a
    5xx or an unreadable 200) instead of calling everything and reporting every check unknown."""
    reply = NOT_THE_API[kind]
    with HostileServer(lambda request: reply) as server:
        code, out, err, probe = probe_in_process(monkeypatch, capsys, tmp_path / "etl", server, **FAST_RETRY)
    assert code == 1 and out == ""
    assert len(err.strip().splitlines()) == 1
    answered = f"user_account/get answered HTTP {reply.status} {reply.content_type}, not an answer of the Pinterest API"
    assert answered in err and f"PINTEREST_API_BASE_URL ({server.base_url})" in err
    unparsed = reply.status == 200
    assert statuses(probe) == {"token": FAILED, **({"answer_shapes": FAILED} if unparsed else {})}
    assert probe["holds"] is False
    assert probe["calls"] == server.total() == (1 if reply.status == 404 else 2)


def test_a_missing_scope_is_named_only_when_the_api_refused_it_and_otherwise_the_actual_failure():
    from pipelines.pinterest.errors import AuthError, NotFoundError
    from pipelines.probe import not_asked

    refused = Outcome("pins/list", error=AuthError(401, 3, "missing scope", "pins/list", None))
    missing = Outcome("pins/list", error=NotFoundError(404, 404, "Not found", "pins/list", None))
    assert not_asked(refused, "pins:read").startswith("not asked: pins:read is missing (HTTP 401 code 3")
    assert not_asked(missing, "pins:read") == "not asked: pins/list failed (HTTP 404 code 404: Not found)"


# ----------------------------------------------------------------------------------- the call limit
def test_the_server_never_receives_more_than_20_requests_from_a_flaky_token_endpoint_issuing_tokens_that_expire_at_once(
        make_sandbox, tmp_path, monkeypatch, capsys):
    """The access token is refused (a refresh), the token endpoint answers 503 to every other request and gives
    tokens `expires_in: 0`, and one API call answers 503: every token request is charged to the probe, at most one
    refresh per request, and nothing is sent past the limit."""
    upstream = make_sandbox(**SMALL_WORLD)
    api_calls = []

    def flaky(request):
        if request.path.endswith("/oauth/token"):
            return Reply(503, {"code": 503, "message": "busy"}) if request.of_path % 2 else None
        api_calls.append(request.path)
        return Reply(503, {"code": 503, "message": "busy"}) if len(api_calls) == 6 else None

    def expires_at_once(request, reply):
        if request.path.endswith("/oauth/token") and reply.status == 200:
            return dataclasses.replace(reply, body={**reply.json(), "expires_in": 0})
        return reply

    with HostileServer(flaky, upstream.root_url, expires_at_once) as server:
        code, out, err, probe = probe_in_process(monkeypatch, capsys, tmp_path / "etl", server, **FAST_RETRY,
                                                 PINTEREST_ACCESS_TOKEN=f"pina_{secrets.token_urlsafe(24)}")
    assert server.total() == probe["calls"] <= CALL_LIMIT
    # Five requests (user_account/get, its 401 repeated once; three lists; user_account/analytics ALL, its 503
    # retried once), one refresh each: a token request and the retry of its 503. The next request could cost 4
    # calls (21 in all): not sent.
    assert probe["calls_by_endpoint"] == {"oauth/token": 10, "user_account/get": 2, "boards/list": 1, "pins/list": 1,
                                          "ad_accounts/list": 1, "user_account/analytics": 2}
    assert server.received["/v5/oauth/token"] == 10 and probe["calls"] == 17
    assert code == 0, err  # the checks it could not reach are unknown, with the reason
    assert "the probe's limit of 20 calls is reached" in json.dumps(probe)


def test_token_requests_that_get_no_answer_are_counted_as_sent(tmp_path, monkeypatch, capsys):
    """The access token is refused and the token endpoint never answers: its two attempts are calls too."""
    released = threading.Event()

    def silent_token_endpoint(request):
        if request.path.endswith("/oauth/token"):
            released.wait(30)
            return Reply(503, {"code": 503, "message": "late"})
        return Reply(401, {"code": 2, "message": "Authentication failed."})

    with HostileServer(silent_token_endpoint) as server:
        try:
            code, out, err, probe = probe_in_process(monkeypatch, capsys, tmp_path / "etl", server, **FAST_RETRY,
                                                     PINTEREST_HTTP_TIMEOUT_SECONDS="0.3",
                                                     PINTEREST_HTTP_CALL_TIMEOUT_SECONDS="2")
        finally:
            released.set()
    assert code == 1
    assert server.received == {"/v5/user_account": 1, "/v5/oauth/token": 2}
    assert probe["calls"] == 3 and probe["calls_by_endpoint"] == {"oauth/token": 2, "user_account/get": 1}


# ---------------------------------------------------------------------------------------- no secret shown
def test_a_token_echoed_bare_into_answers_headers_and_the_scope_is_never_printed_or_written(
        tmp_path, monkeypatch, capsys):
    """A token not shaped like `pina_...` (the redaction by shape cannot catch it) echoed as the username, an ad
    account id, a metrics_ready_state flag, a rate-limit header's name and value, and the token file's scope."""
    token, refresh = secrets.token_hex(20), secrets.token_hex(20)
    home = tmp_path / "etl"
    TokenFile(home / "credentials" / "pinterest-token.json").write(Tokens(
        Secret(token), Secret(refresh), scope=f"user_accounts:read,{token}"))

    def echo(request):
        bearer = request.headers.get("Authorization", "").split(" ", 1)[-1]
        headers = ((f"X-RateLimit-{bearer}", bearer), ("X-RateLimit-Limit", "1000"))
        answers = {"/v5/user_account": {"username": bearer, "account_type": "BUSINESS", "pin_count": 3},
                   "/v5/ad_accounts": {"items": [{"id": bearer}], "bookmark": None},
                   "/v5/resources/metrics_ready_state": {"conversion_metrics_ready": bearer,
                                                         "non_conversion_metrics_ready": True}}
        body = answers.get(request.path)
        return Reply(200, body, headers=headers) if body else Reply(404, {"code": 404, "message": bearer}, headers=headers)

    with HostileServer(echo) as server:
        code, out, err, probe = probe_in_process(monkeypatch, capsys, home, server, PINTEREST_ACCESS_TOKEN="",
                                                 PINTEREST_REFRESH_TOKEN="")
    assert server.received["/v5/resources/metrics_ready_state"] >= 1  # the echoed flag was asked for
    assert statuses(probe)["metrics_ready_state"] == FAILED
    written = (home / "probe.json").read_text()
    assert "X-RateLimit-****=****" in written
    for secret in (token, refresh):
        assert secret not in out + err + written


# ------------------------------------------------------------------------------------- content types
def test_only_the_configured_content_types_are_asked_and_all_against_organic_still_compares(
        make_sandbox, tmp_path, monkeypatch, capsys):
    """PINTEREST_CONTENT_TYPES=ALL,ORGANIC with a server refusing content_type=PAID: the pipeline never asks PAID,
    so neither does the probe."""
    upstream = make_sandbox(**SMALL_WORLD)

    def refuse_paid(request):
        return Reply(400, {"code": 1, "message": "Invalid content_type"}) if "content_type=PAID" in request.query else None

    with HostileServer(refuse_paid, upstream.root_url) as server:
        code, out, err, probe = probe_in_process(monkeypatch, capsys, tmp_path / "etl", server,
                                                 PINTEREST_CONTENT_TYPES="ALL,ORGANIC")
    assert code == 0, err
    assert statuses(probe)["content_type"] == OK and "(ALL differs from ORGANIC)" in observed(probe, "content_type")
    assert probe["calls_by_endpoint"]["user_account/analytics"] == 2
    assert probe["calls"] == server.total() == DEFAULT_CALLS - 1


# ------------------------------------------------------------------------------------------- pacing
def test_a_server_pacing_a_category_to_one_call_a_minute_is_reported_and_not_waited_for(
        make_sandbox, tmp_path, monkeypatch, capsys):
    """X-RateLimit-Limit: 1 and Remaining: 0 on every answer: the client would wait a minute before each further
    call of a category; the probe sends each category's first call and reports the others not sent."""
    upstream = make_sandbox(**SMALL_WORLD)

    def one_a_minute(request, reply):
        kept = tuple((k, v) for k, v in reply.headers if not k.lower().startswith("x-ratelimit"))
        return dataclasses.replace(reply, headers=(*kept, ("X-RateLimit-Limit", "1"), ("X-RateLimit-Remaining", "0")))

    started = time.monotonic()
    with HostileServer(lambda request: None, upstream.root_url, one_a_minute) as server:
        code, out, err, probe = probe_in_process(monkeypatch, capsys, tmp_path / "etl", server)
    assert time.monotonic() - started < 20  # instead of a minute per call (about 8 minutes)
    assert statuses(probe)["rate_limit_headers"] == WARNING
    assert "org_read paced to 1/minute by the server's headers" in observed(probe, "rate_limit_headers")
    assert statuses(probe)["scopes"] == UNKNOWN and "org_read is paced to 1 calls a minute" in observed(probe, "scopes")
    # One call per category: org_read, org_analytics, ads_read, ads_analytics.
    assert probe["calls"] == server.total() == 4


# ---------------------------------------------------------------------------------- round-2 review breaks
def test_an_endpoint_that_stops_answering_mid_probe_fails_api_answers_and_keeps_every_other_check(
        make_sandbox, tmp_path, monkeypatch, capsys):
    """Bulk pin analytics answers after the call's time bound: its step is the failure (api_answers FAILED naming
    it), the checks already made are kept and printed, the steps after it are reported not asked (the client
    stops calling an API that did not answer) and the token is not blamed."""
    upstream = make_sandbox(**SMALL_WORLD)
    released = threading.Event()

    def slow_bulk(request):
        if request.path == "/v5/pins/analytics":
            released.wait(30)
        return None

    with HostileServer(slow_bulk, upstream.root_url) as server:
        try:
            code, out, err, probe = probe_in_process(monkeypatch, capsys, tmp_path / "etl", server, **FAST_RETRY,
                                                     PINTEREST_HTTP_TIMEOUT_SECONDS="0.3",
                                                     PINTEREST_HTTP_CALL_TIMEOUT_SECONDS="0.3")
        finally:
            released.set()
    assert code == 1 and probe["stopped"] is None
    assert statuses(probe) == {"token": OK, "scopes": OK, "ad_accounts": OK, "comma_joined_ids": UNKNOWN,
                               "repeated_key_ids": UNKNOWN, "bulk_pin_analytics": UNKNOWN, "content_type": OK,
                               "metrics_ready_state": UNKNOWN, "answer_shapes": OK, "rate_limit_headers": OK,
                               "api_answers": FAILED}
    assert observed(probe, "api_answers").startswith(
        "no usable answer: multi_pins/analytics: the API at 127.0.0.1 did not answer within 0.3 s")
    assert "not asked: the API stopped answering after multi_pins/analytics" in observed(probe, "metrics_ready_state")
    assert "multi_pins/analytics: failed (no usable answer" in observed(probe, "comma_joined_ids")
    assert re.search(r"^FAILED\s+api_answers\s", out, re.MULTILINE) and "do not hold: api_answers" in out
    # One attempt of the bulk call (the 0.3 s bound is spent), nothing after it.
    assert probe["calls_by_endpoint"] == {"ad_accounts/list": 1, "boards/list": 1, "multi_pins/analytics": 1,
                                          "pins/list": 1, "user_account/analytics": 3, "user_account/get": 1}
    assert probe["calls"] == server.total() == 8


def test_a_token_file_scope_written_as_a_list_is_read_comma_joined_and_any_other_value_is_ignored(tmp_path, caplog):
    path = tmp_path / "token.json"
    for scope, read in ((["ads:read", "boards:read"], "ads:read,boards:read"), ({"scope": 1}, None), (7, None)):
        path.write_text(json.dumps({"access_token": "pina_x", "scope": scope}))
        path.chmod(0o600)
        assert TokenFile(path).read().scope == read
    assert f"the scope in {path} is neither text nor a list of texts (a int); it is ignored" in caplog.text
    assert Tokens.from_token_response({"access_token": "pina_x", "scope": ["pins:read", "user_accounts:read"]}
                                      ).scope == "pins:read,user_accounts:read"


def test_a_space_separated_scope_and_a_503_leave_the_scope_unknown_never_missing(
        make_sandbox, tmp_path, monkeypatch, capsys):
    """The token file's scope written as RFC 6749 does (spaces) is read scope by scope, and boards/list answering
    503 says nothing about boards:read: unknown, not 'run auth login'."""
    upstream = make_sandbox(**SMALL_WORLD)
    home = tmp_path / "etl"
    TokenFile(home / "credentials" / "pinterest-token.json").write(Tokens(
        Secret("pina_SANDBOX"), Secret("pinr_SANDBOX"), scope="user_accounts:read boards:read pins:read ads:read"))

    def busy_boards(request):
        return Reply(503, {"code": 503, "message": "busy"}) if request.path == "/v5/boards" else None

    with HostileServer(busy_boards, upstream.root_url) as server:
        code, out, err, probe = probe_in_process(monkeypatch, capsys, home, server, **FAST_RETRY,
                                                 PINTEREST_ACCESS_TOKEN="", PINTEREST_REFRESH_TOKEN="")
    assert code == 0, err
    scopes = observed(probe, "scopes")
    assert statuses(probe)["scopes"] == UNKNOWN
    assert scopes.startswith("granted (token file): ads:read, boards:read, pins:read, user_accounts:read; reads: ")
    assert "boards:read unknown (HTTP 503 code 503: busy)" in scopes and "auth login" not in scopes


def test_a_403_on_calls_the_pipeline_depends_on_fails_the_probe_naming_the_permission(
        make_sandbox, tmp_path, monkeypatch, capsys):
    """Every call but user_account/get refused with 403: the pipeline would fail on each, so the scopes and
    content_type checks fail (a permission or role the user lacks) instead of an exit 0 with 'unknown'."""
    upstream = make_sandbox(**SMALL_WORLD)

    def forbidden(request):
        if request.path == "/v5/user_account":
            return None
        return Reply(403, {"code": 29, "message": "You are not permitted to access that resource."})

    with HostileServer(forbidden, upstream.root_url) as server:
        code, out, err, probe = probe_in_process(monkeypatch, capsys, tmp_path / "etl", server)
    assert code == 1
    assert {name for name, status in statuses(probe).items() if status == FAILED} == {"scopes", "content_type"}
    assert "boards:read: boards/list refused (HTTP 403 code 29" in observed(probe, "scopes")
    for name in ("scopes", "content_type"):
        assert "or its user a permission or role on the account (403" in observed(probe, name)
    assert "do not hold: scopes, content_type" in out


def test_a_decompression_bomb_is_named_an_answer_too_large_not_an_unparsed_one(
        make_sandbox, tmp_path, monkeypatch, capsys):
    upstream = make_sandbox(**SMALL_WORLD)
    bomb = gzip.compress(b'{"items": [], "bookmark": "' + b"a" * (3 * 1024 * 1024) + b'"}', 9)

    def bomb_pins(request):
        if request.path == "/v5/pins":
            return Reply(200, bomb, headers=(("Content-Encoding", "gzip"),))
        return None

    with HostileServer(bomb_pins, upstream.root_url) as server:
        code, out, err, probe = probe_in_process(monkeypatch, capsys, tmp_path / "etl", server,
                                                 PINTEREST_HTTP_MAX_BODY_MB="1")
    assert code == 0, err
    shapes = observed(probe, "answer_shapes")
    assert statuses(probe)["answer_shapes"] == OK and "not JSON" not in shapes
    assert "not checked: pins/list (answer too large: pins/list: the answer is larger than 1 MB" in shapes


@pytest.mark.parametrize("blocked", ["PINTEREST_ETL_HOME under a file", "probe.json a directory"])
def test_probe_json_that_cannot_be_written_is_one_line_naming_the_file_after_the_table(
        make_sandbox, tmp_path, monkeypatch, capsys, blocked):
    """Exit 1 (probe.json, which scripts read, is missing or stale), the table and the verdict shown, no traceback."""
    server = make_sandbox(**SMALL_WORLD)
    if blocked == "probe.json a directory":
        home = tmp_path / "etl"
        (home / "probe.json").mkdir(parents=True)
    else:
        (tmp_path / "a-file").write_text("")
        home = tmp_path / "a-file" / "etl"
    code, out, err, probe = probe_in_process(monkeypatch, capsys, home, server)
    assert code == 1 and probe == {}
    assert "every assumption the pipeline depends on that could be checked holds" in out
    assert err.strip().splitlines() == [
        next(line for line in err.splitlines() if line.startswith("pinterest-etl probe: error: could not write "))]
    assert f"could not write {home / 'probe.json'}" in err and "The probe's results are in the table above only" in err


def test_an_accounts_file_accounts_refused_token_names_its_own_variable_and_login_and_its_own_probe_file(
        make_sandbox, tmp_path, monkeypatch, capsys):
    server = make_sandbox(**SMALL_WORLD)
    home = tmp_path / "etl"
    home.mkdir()
    (home / "accounts.toml").write_text('[[account]]\nname = "brand-b"\naccess_token_env = "BRAND_B_ACCESS_TOKEN"\n')
    token = f"pina_{secrets.token_urlsafe(24)}"
    code, out, err, probe = probe_in_process(monkeypatch, capsys, home, server, ["--account", "brand-b"],
                                             "probe.brand-b.json", BRAND_B_ACCESS_TOKEN=token)
    assert code == 1
    assert ("run `pinterest-etl auth login --account brand-b`, or set BRAND_B_ACCESS_TOKEN to a valid token" in err
            and "PINTEREST_ACCESS_TOKEN" not in err and token not in err)
    assert statuses(probe) == {"token": FAILED} and "account 'brand-b'" in probe["credentials"]
    assert not (home / "probe.json").exists()


# ---------------------------------------------------------------------------------- round-3 review breaks
def test_an_api_ignoring_content_type_with_paid_activity_fails_the_probe(make_sandbox, tmp_path, monkeypatch, capsys):
    """Every content type answered with ALL's numbers: PAID has activity and ALL equals ORGANIC, so the pipeline
    would store paid activity as ORGANIC: FAILED, exit 1."""
    from tests.content_type_proxy_support import ContentTypeProxy

    upstream = make_sandbox(**SMALL_WORLD)
    with ContentTypeProxy(upstream.root_url, ignore=True) as proxy:
        code, out, err, probe = probe_in_process(monkeypatch, capsys, tmp_path / "etl", proxy)
    assert code == 1
    assert statuses(probe)["content_type"] == FAILED and probe["holds"] is False
    assert "PAID has activity but ALL equals ORGANIC: the API ignores content_type" in observed(probe, "content_type")
    assert "do not hold: content_type" in out


def test_all_equal_to_organic_while_the_ad_account_delivered_fails_the_probe_when_paid_is_not_configured(
        make_sandbox, tmp_path, monkeypatch, capsys):
    """PINTEREST_CONTENT_TYPES=ALL,ORGANIC against an API ignoring content_type: PAID is not asked, but the ad
    account's analytics (already asked) show paid impressions in the same window: FAILED, no extra call."""
    from tests.content_type_proxy_support import ContentTypeProxy

    upstream = make_sandbox(**SMALL_WORLD)
    before = calls_made(upstream)
    with ContentTypeProxy(upstream.root_url, ignore=True) as proxy:
        code, out, err, probe = probe_in_process(monkeypatch, capsys, tmp_path / "etl", proxy,
                                                 PINTEREST_CONTENT_TYPES="ALL,ORGANIC")
    assert code == 1
    assert statuses(probe)["content_type"] == FAILED
    assert re.search(r"ALL equals ORGANIC although the ad account delivered PAID_IMPRESSION [1-9][\d,]* in the same "
                     r"window \(ad_account/analytics\): the API ignores content_type", observed(probe, "content_type"))
    assert probe["calls"] == calls_made(upstream) - before == DEFAULT_CALLS - 1


def test_comma_joined_campaign_ids_refused_on_the_ads_analytics_endpoints_fails_the_probe_naming_the_endpoint(
        make_sandbox, tmp_path, monkeypatch, capsys):
    """Bulk pin analytics take comma-joined ids, campaigns/analytics refuses them (400): the run would fail on
    the ads analytics, so the probe does."""
    upstream = make_sandbox(**SMALL_WORLD)

    def refuse_comma_campaigns(request):
        if request.path.endswith("/campaigns/analytics") and re.search(r"campaign_ids=[^&]*%2C", request.query):
            return Reply(400, {"code": 1, "message": "Invalid parameters. campaign_ids: must be repeated"})
        return None

    with HostileServer(refuse_comma_campaigns, upstream.root_url) as server:
        code, out, err, probe = probe_in_process(monkeypatch, capsys, tmp_path / "etl", server)
    assert code == 1
    assert statuses(probe)["comma_joined_ids"] == FAILED and "do not hold: comma_joined_ids" in out
    assert "5 ids on multi_pins/analytics: answered all 5 ids" in observed(probe, "comma_joined_ids")
    assert ("2 ids on campaigns/analytics: refused (HTTP 400 code 1: Invalid parameters. campaign_ids: must be "
            "repeated)") in observed(probe, "comma_joined_ids")
    assert probe["calls"] == server.total() == DEFAULT_CALLS


def test_a_daily_quota_met_mid_probe_without_headers_names_the_spent_quota_and_never_blames_the_account(
        make_sandbox, tmp_path, monkeypatch, capsys):
    """429 code 8 without any header after the first 6 calls: the pins and ad accounts were listed, so no check
    says the account has too few pins or no ad account; the failures name the likely spent daily quota, the
    verdict says so instead of "every assumption holds", and the 429 lines are not repeated."""
    upstream = make_sandbox(**SMALL_WORLD)

    def quota_after_6(request):
        if request.number > 6:
            return Reply(429, {"code": 8, "message": "You have exceeded your rate limit. Try again later."})
        return None

    started = time.monotonic()
    with HostileServer(quota_after_6, upstream.root_url) as server:
        code, out, err, probe = probe_in_process(monkeypatch, capsys, tmp_path / "etl", server, **FAST_RETRY)
    assert time.monotonic() - started < 30  # the probe's 429s are retried once, never for minutes
    assert code == 0, err
    comma = observed(probe, "comma_joined_ids")
    assert "fewer than 2" not in comma and "no ad account" not in comma
    assert ("multi_pins/analytics: failed (not asked: org_analytics answered HTTP 429 code 8 (most likely the app's "
            "daily quota is spent") in comma
    assert "campaigns/list: rate limited (HTTP 429 code 8: most likely the app's daily quota is spent" in comma
    assert probe["quota_refused"] == ["user_account/analytics"]
    verdict_line = out.strip().splitlines()[-1]
    assert verdict_line.startswith("no assumption the pipeline depends on failed, but ")
    assert "most likely the app's daily quota is spent" in verdict_line and "every assumption" not in verdict_line
    limits = observed(probe, "rate_limit_headers").split("; ")
    assert len(limits) == len(set(limits))
    assert limits[-1].startswith("HTTP 429 on user_account/analytics (2 times): no rate-limit headers")
    assert probe["calls"] == server.total() <= CALL_LIMIT


def test_comma_joined_pin_ids_refused_with_400_while_repeated_keys_answer_is_a_refused_encoding_not_a_refused_bulk(
        make_sandbox, tmp_path, monkeypatch, capsys):
    """A 400 on the comma-joined bulk call may refuse the encoding, not the app: the repeated form is asked once;
    it answers, so comma_joined_ids fails naming multi_pins/analytics and bulk pin analytics is available."""
    upstream = make_sandbox(**SMALL_WORLD, repeated_list_keys="all")

    def refuse_comma_pins(request):
        if request.path == "/v5/pins/analytics" and re.search(r"pin_ids=[^&]*%2C", request.query):
            return Reply(400, {"code": 1, "message": "Invalid parameters. pin_ids: must be repeated"})
        return None

    with HostileServer(refuse_comma_pins, upstream.root_url) as server:
        code, out, err, probe = probe_in_process(monkeypatch, capsys, tmp_path / "etl", server)
    assert code == 1
    assert statuses(probe)["comma_joined_ids"] == FAILED and statuses(probe)["bulk_pin_analytics"] == OK
    assert ("the comma-joined encoding is refused on multi_pins/analytics (HTTP 400 code 1: Invalid parameters. "
            "pin_ids: must be repeated), while the same ids as repeated keys are answered") in observed(
        probe, "comma_joined_ids")
    assert "refused" not in observed(probe, "bulk_pin_analytics").split(";")[0]
    assert probe["calls_by_endpoint"]["multi_pins/analytics"] == 2 and "pins/analytics" not in probe["calls_by_endpoint"]
    assert probe["calls"] == server.total() == DEFAULT_CALLS


def test_bulk_pin_analytics_refused_with_400_in_both_encodings_is_a_bulk_refusal_within_the_longest_path(
        make_sandbox, tmp_path, monkeypatch, capsys):
    """The documented 400 code 1 refusal of the beta endpoint: the repeated form is refused too, so it is the
    app's refusal (a warning), the encodings are compared on campaigns; at most MOST_PLANNED_CALLS calls."""
    server = make_sandbox(**{**SMALL_WORLD, "campaigns": 6}, bulk_pin_analytics=False, bulk_pin_refusal="400-1")
    before = calls_made(server)
    code, out, err, probe = probe_in_process(monkeypatch, capsys, tmp_path / "etl", server)
    assert code == 0, err
    assert statuses(probe)["bulk_pin_analytics"] == WARNING and statuses(probe)["comma_joined_ids"] == OK
    assert "on campaigns/list: answered all" in observed(probe, "comma_joined_ids")
    assert probe["calls_by_endpoint"]["multi_pins/analytics"] == 2
    assert probe["calls"] == calls_made(server) - before == MOST_PLANNED_CALLS
