"""Protocol behaviours: paging, OAuth, rate limits and headers, faults, counters, determinism."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import os
import subprocess
import sys
import threading
import time
import urllib.parse

import pytest
import requests

from tests.conftest import TODAY

DEV = {"Authorization": "Bearer pina_SANDBOX"}
APP = ("1234567", "sandbox-secret")


def test_paging_walks_every_item_once_over_at_least_three_pages(sandbox, api):
    seen, bookmarks, pages = [], [], 0
    params = {"page_size": 120}
    while True:
        body = api.get(f"{sandbox.base_url}/pins", params=params).json()
        pages += 1
        seen += [p["id"] for p in body["items"]]
        if body["bookmark"] is None:
            break
        bookmarks.append(body["bookmark"])
        params["bookmark"] = body["bookmark"]
    assert pages == 5  # 500 pins, 120 per page
    assert len(seen) == len(set(seen)) == 500
    assert len(set(bookmarks)) == len(bookmarks)
    created = [sandbox.state.world.pin_created_day[sandbox.state.world.pin_index_by_id[i]] for i in seen]
    assert created == sorted(created, reverse=True)  # newest first


def test_default_page_size_is_25(sandbox, api):
    body = api.get(f"{sandbox.base_url}/pins").json()
    assert len(body["items"]) == 25 and body["bookmark"]


def test_last_page_has_a_null_bookmark(sandbox, api):
    body = api.get(f"{sandbox.base_url}/ad_accounts", params={"page_size": 250}).json()
    assert body["bookmark"] is None and len(body["items"]) == 2


def test_campaign_order_is_respected(sandbox, api):
    account = api.get(f"{sandbox.base_url}/ad_accounts").json()["items"][0]["id"]
    url = f"{sandbox.base_url}/ad_accounts/{account}/campaigns"
    everything = {"entity_statuses": "ACTIVE,PAUSED,ARCHIVED"}
    ascending = [int(c["id"]) for c in api.get(url, params={**everything, "order": "ASCENDING"}).json()["items"]]
    descending = [int(c["id"]) for c in api.get(url, params={**everything, "order": "DESCENDING"}).json()["items"]]
    assert ascending == sorted(ascending) and descending == ascending[::-1]


def oauth_login(server, scope="ads:read,boards:read,pins:read,user_accounts:read", state="xyz-state"):
    redirect_uri = "http://127.0.0.1:8085/callback"
    consent = requests.get(f"{server.root_url}/oauth/", allow_redirects=False, params={
        "client_id": "1234567", "redirect_uri": redirect_uri, "response_type": "code", "scope": scope, "state": state})
    assert consent.status_code == 302
    location = urllib.parse.urlsplit(consent.headers["Location"])
    query = urllib.parse.parse_qs(location.query)
    assert f"{location.scheme}://{location.netloc}{location.path}" == redirect_uri
    assert query["state"] == [state]
    return query["code"][0], redirect_uri


def test_oauth_authorization_code_flow_end_to_end(make_sandbox):
    server = make_sandbox()
    code, redirect_uri = oauth_login(server)
    tokens = requests.post(f"{server.base_url}/oauth/token", auth=APP, data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri, "continuous_refresh": "true"})
    assert tokens.status_code == 200
    body = tokens.json()
    assert body["access_token"].startswith("pina_") and body["refresh_token"].startswith("pinr_")
    assert body["token_type"] == "bearer" and body["response_type"] == "authorization_code"
    assert body["scope"] == "ads:read,boards:read,pins:read,user_accounts:read"
    assert body["refresh_token_expires_in"] == 60 * 86400 and body["expires_in"] > 0
    assert abs(body["refresh_token_expires_at"] - (time.time() + 60 * 86400)) < 60
    me = requests.get(f"{server.base_url}/user_account", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200

    refreshed = requests.post(f"{server.base_url}/oauth/token", auth=APP, data={
        "grant_type": "refresh_token", "refresh_token": body["refresh_token"], "refresh_on": "true"}).json()
    assert refreshed["response_type"] == "refresh_token"
    assert refreshed["access_token"] != body["access_token"] and refreshed["refresh_token"].startswith("pinr_")
    assert requests.get(f"{server.base_url}/user_account",
                        headers={"Authorization": f"Bearer {refreshed['access_token']}"}).status_code == 200


def test_an_authorization_code_works_once(make_sandbox):
    server = make_sandbox()
    code, redirect_uri = oauth_login(server)
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
    assert requests.post(f"{server.base_url}/oauth/token", auth=APP, data=data).status_code == 200
    reused = requests.post(f"{server.base_url}/oauth/token", auth=APP, data=data)
    assert reused.status_code == 401 and reused.json()["code"] == 2


@pytest.mark.parametrize("auth, data, status, code", [
    (("1234567", "wrong"), {"grant_type": "refresh_token", "refresh_token": "pinr_SANDBOX"}, 401, 2),
    (None, {"grant_type": "refresh_token", "refresh_token": "pinr_SANDBOX"}, 401, 2),
    (APP, {"grant_type": "refresh_token", "refresh_token": "pinr_unknown"}, 401, 283),  # the grant, not the app
    (APP, {"grant_type": "password"}, 400, 1),
    (APP, {}, 400, 1),
    (APP, {"grant_type": "refresh_token", "refresh_token": "pinr_SANDBOX", "scope": "not:a_scope"}, 400, 1),
])
def test_bad_token_requests_are_rejected(sandbox, auth, data, status, code):
    response = requests.post(f"{sandbox.base_url}/oauth/token", auth=auth, data=data)
    assert response.status_code == status and response.json()["code"] == code


def test_refresh_can_narrow_but_never_widen_scopes(make_sandbox):
    server = make_sandbox()
    code, redirect_uri = oauth_login(server, scope="pins:read,boards:read")
    refresh = requests.post(f"{server.base_url}/oauth/token", auth=APP, data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}).json()["refresh_token"]
    narrowed = requests.post(f"{server.base_url}/oauth/token", auth=APP, data={
        "grant_type": "refresh_token", "refresh_token": refresh, "scope": "pins:read"})
    assert narrowed.json()["scope"] == "pins:read"
    widened = requests.post(f"{server.base_url}/oauth/token", auth=APP, data={
        "grant_type": "refresh_token", "refresh_token": refresh, "scope": "pins:read,ads:read"})
    assert widened.status_code == 400


def test_consent_stand_in_rejects_foreign_redirects_and_unknown_apps(sandbox):
    base = {"client_id": "1234567", "response_type": "code", "scope": "pins:read", "state": "s"}
    evil = requests.get(f"{sandbox.root_url}/oauth/", allow_redirects=False, params={**base, "redirect_uri": "https://evil.example/cb"})
    assert evil.status_code == 400 and "loopback" in evil.json()["message"]
    unknown = requests.get(f"{sandbox.root_url}/oauth/", allow_redirects=False,
                           params={**base, "client_id": "999", "redirect_uri": "http://localhost:1/cb"})
    assert unknown.status_code == 400


def test_token_ttl_expires_access_tokens_with_401_code_2(make_sandbox):
    server = make_sandbox(token_ttl_seconds=1)
    assert requests.get(f"{server.base_url}/user_account", headers=DEV).status_code == 200
    time.sleep(1.2)
    expired = requests.get(f"{server.base_url}/user_account", headers=DEV)
    assert expired.status_code == 401 and expired.json() == {"code": 2, "message": "Authentication failed."}
    fresh = requests.post(f"{server.base_url}/oauth/token", auth=APP, data={
        "grant_type": "refresh_token", "refresh_token": "pinr_SANDBOX"}).json()
    assert fresh["expires_in"] == 1
    assert requests.get(f"{server.base_url}/user_account", headers={"Authorization": f"Bearer {fresh['access_token']}"}).status_code == 200


def test_rate_limit_per_category_answers_429_code_8_with_headers(make_sandbox):
    server = make_sandbox(rate_limits={"org_read": 3, "org_analytics": 300, "org_write": 1000,
                                       "ads_analytics": 300, "ads_read": 1000})
    with requests.Session() as s:
        s.headers.update(DEV)
        answers = [s.get(f"{server.base_url}/user_account") for _ in range(4)]
        assert [r.status_code for r in answers] == [200, 200, 200, 429]
        assert [r.headers["X-RateLimit-Remaining"] for r in answers[:3]] == ["2", "1", "0"]
        assert answers[0].headers["X-RateLimit-Limit"] == "3"
        throttled = answers[3]
        assert throttled.json()["code"] == 8 and "rate limit" in throttled.json()["message"]
        assert int(throttled.headers["Retry-After"]) >= 1 and int(throttled.headers["X-RateLimit-Reset"]) >= 1
        # Another category has its own budget.
        assert s.get(f"{server.base_url}/ad_accounts").status_code == 200


def test_rate_limit_headers_can_be_switched_off(make_sandbox):
    server = make_sandbox(rate_limit_headers=False, rate_limits={"org_read": 1, "org_analytics": 300, "org_write": 1000,
                                                                 "ads_analytics": 300, "ads_read": 1000})
    ok = requests.get(f"{server.base_url}/user_account", headers=DEV)
    limited = requests.get(f"{server.base_url}/user_account", headers=DEV)
    assert limited.status_code == 429
    for response in (ok, limited):
        assert not any(h.lower().startswith("x-ratelimit") or h.lower() == "retry-after" for h in response.headers)
        assert response.headers["x-pinterest-rid"]


def test_fail_rate_answers_500_or_503_in_the_error_shape(make_sandbox):
    server = make_sandbox(fail_rate=1.0)
    statuses = set()
    for _ in range(20):
        response = requests.get(f"{server.base_url}/user_account", headers=DEV)
        statuses.add(response.status_code)
        assert set(response.json()) == {"code", "message"}
    assert statuses == {500, 503}


def test_throttle_rate_answers_429_code_8(make_sandbox):
    server = make_sandbox(throttle_rate=1.0)
    response = requests.get(f"{server.base_url}/user_account", headers=DEV)
    assert response.status_code == 429 and response.json()["code"] == 8 and response.headers["Retry-After"] == "1"


def test_transient_rate_answers_code_12_or_retry_after(make_sandbox):
    server = make_sandbox(transient_rate=1.0)
    messages = {requests.get(f"{server.base_url}/user_account", headers=DEV).json()["code"] for _ in range(30)}
    assert messages == {1, 12}


def test_truncate_rate_cuts_bodies_short(make_sandbox):
    server = make_sandbox(truncate_rate=1.0)
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        requests.get(f"{server.base_url}/user_account", headers=DEV)


def test_latency_is_added_to_every_api_call(make_sandbox):
    server = make_sandbox(latency_ms=150)
    started = time.perf_counter()
    requests.get(f"{server.base_url}/user_account", headers=DEV)
    assert time.perf_counter() - started >= 0.15


def test_bulk_pin_analytics_can_be_switched_off(make_sandbox):
    server = make_sandbox(bulk_pin_analytics=False)
    pin = requests.get(f"{server.base_url}/pins", headers=DEV).json()["items"][0]["id"]
    window = {"start_date": (TODAY - dt.timedelta(days=5)).isoformat(), "end_date": TODAY.isoformat(), "metric_types": "IMPRESSION"}
    bulk = requests.get(f"{server.base_url}/pins/analytics", headers=DEV, params={**window, "pin_ids": pin})
    assert bulk.status_code == 403 and bulk.json()["code"] == 29
    single = requests.get(f"{server.base_url}/pins/{pin}/analytics", headers=DEV, params=window)
    assert single.status_code == 200


def test_api_sandbox_mode_disables_the_endpoints_pinterest_disables(make_sandbox):
    server = make_sandbox(api_sandbox_mode=True)
    window = {"start_date": (TODAY - dt.timedelta(days=5)).isoformat(), "end_date": TODAY.isoformat()}
    assert requests.get(f"{server.base_url}/user_account/analytics", headers=DEV, params=window).status_code == 403
    assert requests.get(f"{server.base_url}/user_account", headers=DEV).status_code == 200


def test_stats_count_requests_by_operation_and_responses_by_status(make_sandbox):
    server = make_sandbox()
    requests.get(f"{server.base_url}/user_account", headers=DEV)
    requests.get(f"{server.base_url}/user_account", headers=DEV)
    requests.get(f"{server.base_url}/pins", headers=DEV, params={"page_size": 0})
    stats = requests.get(f"{server.root_url}/_sandbox/stats").json()
    assert stats == {"requests": {"pins/list": 1, "user_account/get": 2}, "responses": {"200": 2, "400": 1}}
    assert requests.post(f"{server.root_url}/_sandbox/reset").status_code == 200
    assert requests.get(f"{server.root_url}/_sandbox/stats").json() == {"requests": {}, "responses": {}}


def test_every_response_carries_a_request_id(sandbox, api):
    ids = {api.get(f"{sandbox.base_url}/user_account").headers["x-pinterest-rid"] for _ in range(3)}
    ids.add(requests.get(f"{sandbox.base_url}/user_account").headers["x-pinterest-rid"])
    assert len(ids) == 4


def test_async_report_goes_in_progress_then_finished_with_a_download(sandbox, api):
    account = api.get(f"{sandbox.base_url}/ad_accounts").json()["items"][0]["id"]
    start = (TODAY - dt.timedelta(days=300)).isoformat()
    end = (TODAY - dt.timedelta(days=150)).isoformat()
    created = api.post(f"{sandbox.base_url}/ad_accounts/{account}/reports", json={
        "start_date": start, "end_date": end, "granularity": "DAY", "level": "CAMPAIGN",
        "columns": ["CAMPAIGN_ID", "SPEND_IN_MICRO_DOLLAR", "IMPRESSION_1"]}).json()
    assert created["report_status"] == "IN_PROGRESS"
    statuses = []
    for _ in range(5):
        polled = api.get(f"{sandbox.base_url}/ad_accounts/{account}/reports", params={"token": created["token"]}).json()
        statuses.append(polled["report_status"])
        if polled["report_status"] == "FINISHED":
            break
    assert statuses == ["IN_PROGRESS", "IN_PROGRESS", "FINISHED"]
    download = requests.get(polled["url"])  # no Bearer header, like S3
    assert download.status_code == 200 and len(download.content) == polled["size"]
    report = download.json()
    world = sandbox.state.world
    assert report and set(report) <= set(world.campaign_ids)
    for campaign_id, rows in report.items():
        for row in rows:
            assert row["CAMPAIGN_ID"] == campaign_id and start <= row["DATE"] <= end
            assert row.get("SPEND_IN_MICRO_DOLLAR", 0) > 0 or row.get("IMPRESSION_1", 0) > 0


def test_concurrent_report_polls_are_each_counted_and_share_one_rendered_report(make_sandbox):
    server = make_sandbox(report_polls=20)
    account = requests.get(f"{server.base_url}/ad_accounts", headers=DEV).json()["items"][0]["id"]
    url = f"{server.base_url}/ad_accounts/{account}/reports"
    token = requests.post(url, headers=DEV, json={
        "start_date": (TODAY - dt.timedelta(days=180)).isoformat(), "end_date": TODAY.isoformat(), "granularity": "DAY",
        "level": "PIN_PROMOTION", "columns": ["AD_ID", "SPEND_IN_MICRO_DOLLAR", "IMPRESSION_1"]}).json()["token"]
    answers: list[dict] = []
    start = threading.Barrier(8)

    def poll() -> None:
        with requests.Session() as session:
            session.headers.update(DEV)
            start.wait()
            for _ in range(6):
                answers.append(session.get(url, params={"token": token}).json())

    threads = [threading.Thread(target=poll) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(answers) == 48
    assert sum(a["report_status"] == "IN_PROGRESS" for a in answers) == 20  # no poll lost to a race
    finished = [a for a in answers if a["report_status"] == "FINISHED"]
    assert len(finished) == 28 and len({a["size"] for a in finished}) == 1
    downloads = {requests.get(a["url"]).content for a in finished[:5]}
    assert len(downloads) == 1 and len(next(iter(downloads))) == finished[0]["size"]


def test_unknown_report_token_does_not_exist(sandbox, api):
    account = api.get(f"{sandbox.base_url}/ad_accounts").json()["items"][0]["id"]
    polled = api.get(f"{sandbox.base_url}/ad_accounts/{account}/reports", params={"token": "nope"}).json()
    assert polled["report_status"] == "DOES_NOT_EXIST"


def _fingerprint_in_subprocess(port_file: str) -> str:
    code = f"""
import hashlib, requests
from pipelines.sandbox import SandboxConfig, running_sandbox
import datetime as dt
paths = {FINGERPRINT_PATHS!r}
digest = hashlib.sha256()
with running_sandbox(SandboxConfig(today=dt.date(2026, 11, 28), seed=7)) as server:
    with requests.Session() as s:
        s.headers['Authorization'] = 'Bearer pina_SANDBOX'
        pins = s.get(server.base_url + '/pins', params={{'page_size': 100}}).json()
        ids = ','.join(p['id'] for p in pins['items'])
        accounts = s.get(server.base_url + '/ad_accounts').json()['items']
        for path in paths:
            url = server.base_url + path.format(pins=ids, account=accounts[0]['id'])
            digest.update(s.get(url).content)
print(digest.hexdigest())
"""
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          env={**os.environ, "PYTHONHASHSEED": port_file}).stdout.strip()


FINGERPRINT_PATHS = [
    "/user_account",
    "/user_account/analytics?start_date=2026-09-01&end_date=2026-11-28&split_field=APP_TYPE",
    "/pins?page_size=250",
    "/pins/analytics?pin_ids={pins}&start_date=2026-09-01&end_date=2026-11-28&metric_types=IMPRESSION,SAVE,SAVE_RATE",
    "/ad_accounts/{account}/campaigns?entity_statuses=ACTIVE,PAUSED,ARCHIVED",
    "/ad_accounts/{account}/analytics?start_date=2026-09-01&end_date=2026-11-28&granularity=DAY"
    "&columns=SPEND_IN_MICRO_DOLLAR,CTR,TOTAL_CONVERSIONS",
]


def test_same_seed_and_today_give_byte_identical_answers_in_two_processes():
    first = _fingerprint_in_subprocess("1")
    second = _fingerprint_in_subprocess("2")  # a different hash seed: no dependence on set/dict ordering
    assert first == second and len(first) == 64


def test_a_different_seed_gives_a_different_world(make_sandbox):
    one = make_sandbox(seed=1)
    two = make_sandbox(seed=2)
    body = lambda s: requests.get(f"{s.base_url}/pins", headers=DEV).content  # noqa: E731
    assert hashlib.sha256(body(one)).digest() != hashlib.sha256(body(two)).digest()


def test_bookmarks_are_opaque_base64(sandbox, api):
    bookmark = api.get(f"{sandbox.base_url}/pins").json()["bookmark"]
    base64.urlsafe_b64decode(bookmark.encode())
    assert not bookmark.isdigit()


def test_reports_expire_after_an_hour_and_links_after_five_minutes(make_sandbox):
    server = make_sandbox(report_polls=0)
    clock = [1_000_000.0]
    server.state.reports.clock = lambda: clock[0]
    account = requests.get(f"{server.base_url}/ad_accounts", headers=DEV).json()["items"][0]["id"]
    url = f"{server.base_url}/ad_accounts/{account}/reports"
    token = requests.post(url, headers=DEV, json={
        "start_date": (TODAY - dt.timedelta(days=10)).isoformat(), "end_date": TODAY.isoformat(), "granularity": "DAY",
        "level": "ADVERTISER", "columns": ["SPEND_IN_MICRO_DOLLAR"], "report_format": "CSV"}).json()["token"]
    finished = requests.get(url, headers=DEV, params={"token": token}).json()
    assert finished["report_status"] == "FINISHED"
    csv_text = requests.get(finished["url"]).text
    assert csv_text.splitlines()[0] == "DATE,SPEND_IN_MICRO_DOLLAR"
    clock[0] += 301
    assert requests.get(finished["url"]).status_code == 403
    assert requests.get(url, headers=DEV, params={"token": token}).json()["report_status"] == "FINISHED"
    clock[0] += 3600
    assert requests.get(url, headers=DEV, params={"token": token}).json()["report_status"] == "EXPIRED"


def test_business_access_parameter_is_checked(sandbox, api):
    owned, shared = (a["id"] for a in api.get(f"{sandbox.base_url}/ad_accounts").json()["items"])
    assert api.get(f"{sandbox.base_url}/user_account", params={"ad_account_id": owned}).status_code == 200
    refused = api.get(f"{sandbox.base_url}/user_account", params={"ad_account_id": shared})
    assert refused.status_code == 403 and refused.json()["code"] == 29
