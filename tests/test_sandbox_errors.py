"""Every invalid request gets Pinterest's error shape and status, never a traceback or an HTML page."""

from __future__ import annotations

import datetime as dt
import http.client
import json
import socket

import pytest
import requests

from tests.conftest import TODAY

WINDOW = {"start_date": (TODAY - dt.timedelta(days=30)).isoformat(), "end_date": TODAY.isoformat()}


def assert_error(response: requests.Response, status: int, code: int, message_part: str = "") -> None:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers.get("x-pinterest-rid")
    body = response.json()
    assert set(body) == {"code", "message"}
    assert body["code"] == code
    assert message_part in body["message"]


def first_id(api, url: str) -> str:
    return api.get(url, params={"page_size": 1}).json()["items"][0]["id"]


def test_missing_token_is_401_code_2(sandbox):
    assert_error(requests.get(f"{sandbox.base_url}/user_account"), 401, 2, "Authentication failed.")


def test_unknown_token_is_401_code_2(sandbox):
    response = requests.get(f"{sandbox.base_url}/user_account", headers={"Authorization": "Bearer pina_nope"})
    assert_error(response, 401, 2)


def test_unknown_route_is_404_json(sandbox, api):
    assert_error(api.get(f"{sandbox.base_url}/no_such_thing"), 404, 404)


def test_wrong_method_is_405_code_5(sandbox, api):
    assert_error(api.delete(f"{sandbox.base_url}/user_account"), 405, 5, "Method not allowed")


def test_head_options_and_any_other_method_answer_405_code_5_in_json(sandbox, api):
    url = f"{sandbox.base_url}/user_account"
    for method in ("OPTIONS", "PROPFIND", "BREW"):
        assert_error(api.request(method, url), 405, 5, "Method not allowed")
    head = api.head(url)  # a HEAD answer carries the error's headers but, as HTTP requires, no body
    assert head.status_code == 405 and head.headers["Content-Type"] == "application/json"
    assert head.headers.get("x-pinterest-rid") and int(head.headers["Content-Length"]) > 0 and head.content == b""
    assert api.get(url).status_code == 200  # the kept-alive connection is still in step after the HEAD


def raw_exchange(server, request: bytes) -> tuple[http.client.HTTPResponse, bytes]:
    """Send bytes no HTTP client library would produce; a hang fails after 5 s instead of blocking."""
    host, port = server.root_url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(request)
        response = http.client.HTTPResponse(sock)
        response.begin()
        return response, response.read()


def assert_raw_error(response: http.client.HTTPResponse, body: bytes, status: int, code: int, message_part: str) -> None:
    assert response.status == status, body
    assert response.getheader("Content-Type") == "application/json"
    assert response.getheader("x-pinterest-rid")
    error = json.loads(body)
    assert set(error) == {"code", "message"} and error["code"] == code and message_part in error["message"]


@pytest.mark.parametrize("request_bytes, status, fragment", [
    (b"GARBAGE\r\n\r\n", 400, "Bad request syntax"),
    (b"GET /v5/user_account HTTP/2.0\r\n\r\n", 505, "HTTP version"),
    (b"GET /v5/user_account HTTP/1.1\r\nHost: x\r\nX-Long: " + b"a" * 70_000 + b"\r\n\r\n", 431, "Line too long"),
    (b"GET /v5/" + b"a" * 70_000 + b" HTTP/1.1\r\n\r\n", 414, "Request-URI Too Long"),
], ids=["bad-request-line", "http-2", "header-too-long", "uri-too-long"])
def test_errors_the_http_library_answers_itself_are_json_with_a_request_id(sandbox, request_bytes, status, fragment):
    response, body = raw_exchange(sandbox, request_bytes)
    assert_raw_error(response, body, status, status, fragment)


@pytest.mark.parametrize("content_length", ["abc", "-1", "1e3"])
def test_malformed_content_length_is_400_code_1_not_a_crash_or_a_hang(sandbox, content_length):
    request = (f"POST /v5/ad_accounts/1/reports HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer pina_SANDBOX\r\n"
               f"Content-Type: application/json\r\nContent-Length: {content_length}\r\n\r\n{{}}").encode()
    response, body = raw_exchange(sandbox, request)
    assert_raw_error(response, body, 400, 1, "Content-Length")
    assert response.getheader("Connection") == "close"  # the body's end is unknown: the connection cannot be reused


def test_start_date_older_than_90_days_is_rejected(sandbox, api):
    params = {"start_date": (TODAY - dt.timedelta(days=91)).isoformat(), "end_date": TODAY.isoformat()}
    response = api.get(f"{sandbox.base_url}/user_account/analytics", params=params)
    assert_error(response, 400, 1, "You can only get data from the last 90 days.")


def test_start_date_exactly_90_days_back_is_accepted(sandbox, api):
    params = {"start_date": (TODAY - dt.timedelta(days=90)).isoformat(), "end_date": TODAY.isoformat()}
    body = api.get(f"{sandbox.base_url}/user_account/analytics", params=params).json()
    assert len(body["all"]["daily_metrics"]) == 91


def test_range_longer_than_90_days_is_rejected_for_ads(sandbox, api):
    account = first_id(api, f"{sandbox.base_url}/ad_accounts")
    params = {"start_date": (TODAY - dt.timedelta(days=90)).isoformat(), "end_date": TODAY.isoformat(),
              "columns": "SPEND_IN_MICRO_DOLLAR", "granularity": "DAY"}
    assert api.get(f"{sandbox.base_url}/ad_accounts/{account}/analytics", params=params).status_code == 200
    params["start_date"] = (TODAY - dt.timedelta(days=91)).isoformat()
    assert_error(api.get(f"{sandbox.base_url}/ad_accounts/{account}/analytics", params=params), 400, 1)


@pytest.mark.parametrize("params, fragment", [
    ({"end_date": TODAY.isoformat()}, "start_date"),
    ({"start_date": "2026/11/01", "end_date": TODAY.isoformat()}, "YYYY-MM-DD"),
    ({"start_date": "2026-02-30", "end_date": TODAY.isoformat()}, "not a valid date"),
    ({"start_date": TODAY.isoformat(), "end_date": (TODAY - dt.timedelta(days=1)).isoformat()}, ""),
    ({**WINDOW, "metric_types": "IMPRESSION,NOPE"}, "NOPE"),
    ({**WINDOW, "split_field": "BY_MOOD"}, "split_field"),
    ({**WINDOW, "app_types": "web"}, "app_types"),  # enums are case-sensitive
])
def test_bad_user_account_analytics_parameters_are_400_code_1(sandbox, api, params, fragment):
    assert_error(api.get(f"{sandbox.base_url}/user_account/analytics", params=params), 400, 1, fragment)


def test_future_end_date_is_rejected(sandbox, api):
    params = {"start_date": TODAY.isoformat(), "end_date": (TODAY + dt.timedelta(days=1)).isoformat()}
    assert_error(api.get(f"{sandbox.base_url}/user_account/analytics", params=params), 400, 1, "future")


def test_pin_analytics_requires_metric_types(sandbox, api):
    pin = first_id(api, f"{sandbox.base_url}/pins")
    assert_error(api.get(f"{sandbox.base_url}/pins/{pin}/analytics", params=WINDOW), 400, 1, "metric_types")


def test_pin_analytics_rejects_a_split_other_than_app_type(sandbox, api):
    pin = first_id(api, f"{sandbox.base_url}/pins")
    params = {**WINDOW, "metric_types": "IMPRESSION", "split_field": "SOURCE"}
    assert_error(api.get(f"{sandbox.base_url}/pins/{pin}/analytics", params=params), 400, 1, "split_field")


def test_pin_analytics_rejects_metric_types_all_with_a_split(sandbox, api):
    pin = first_id(api, f"{sandbox.base_url}/pins")
    url = f"{sandbox.base_url}/pins/{pin}/analytics"
    assert_error(api.get(url, params={**WINDOW, "metric_types": "ALL", "split_field": "APP_TYPE"}), 400, 1, "metric_types")
    assert api.get(url, params={**WINDOW, "metric_types": "ALL", "split_field": "NO_SPLIT"}).status_code == 200
    assert api.get(url, params={**WINDOW, "metric_types": "IMPRESSION", "split_field": "APP_TYPE"}).status_code == 200


def test_bulk_pin_analytics_rejects_more_than_100_ids(sandbox, api):
    pins = [p["id"] for p in api.get(f"{sandbox.base_url}/pins", params={"page_size": 250}).json()["items"]]
    params = {**WINDOW, "metric_types": "IMPRESSION", "pin_ids": ",".join(pins[:101])}
    assert_error(api.get(f"{sandbox.base_url}/pins/analytics", params=params), 400, 1, "at most 100")
    params["pin_ids"] = ",".join(pins[:100])
    assert len(api.get(f"{sandbox.base_url}/pins/analytics", params=params).json()) == 100


def test_bulk_pin_analytics_rejects_split_field(sandbox, api):
    pin = first_id(api, f"{sandbox.base_url}/pins")
    params = {**WINDOW, "metric_types": "IMPRESSION", "pin_ids": pin, "split_field": "NO_SPLIT"}
    assert_error(api.get(f"{sandbox.base_url}/pins/analytics", params=params), 400, 1, "split_field")


def test_bulk_pin_analytics_unknown_pin_is_404_code_50(sandbox, api):
    params = {**WINDOW, "metric_types": "IMPRESSION", "pin_ids": "123"}
    assert_error(api.get(f"{sandbox.base_url}/pins/analytics", params=params), 404, 50, "Pin not found.")


def test_bulk_pin_analytics_foreign_pin_is_401_code_7(sandbox, api):
    foreign = sandbox.state.world.foreign_pin_ids[0]
    params = {**WINDOW, "metric_types": "IMPRESSION", "pin_ids": foreign}
    assert_error(api.get(f"{sandbox.base_url}/pins/analytics", params=params), 401, 7, "Not authorized")


def test_id_lists_are_read_comma_joined_and_refused_as_repeated_keys(sandbox, api):
    pins = [p["id"] for p in api.get(f"{sandbox.base_url}/pins", params={"page_size": 3}).json()["items"]]
    base = {**WINDOW, "metric_types": "IMPRESSION"}
    joined = api.get(f"{sandbox.base_url}/pins/analytics", params={**base, "pin_ids": ",".join(pins)}).json()
    assert sorted(joined) == sorted(pins)
    repeated = api.get(f"{sandbox.base_url}/pins/analytics", params=[*base.items(), *(("pin_ids", p) for p in pins)])
    assert_error(repeated, 400, 1, "Parameter 'pin_ids' was sent 3 times; send a list as one comma-joined value")


def test_campaign_analytics_rejects_more_than_250_ids(sandbox, api):
    account = first_id(api, f"{sandbox.base_url}/ad_accounts")
    params = {**WINDOW, "columns": "SPEND_IN_MICRO_DOLLAR", "granularity": "DAY",
              "campaign_ids": ",".join(str(10**11 + i) for i in range(251))}
    assert_error(api.get(f"{sandbox.base_url}/ad_accounts/{account}/campaigns/analytics", params=params), 400, 1, "250")


@pytest.mark.parametrize("params, fragment", [
    ({"granularity": "DAY"}, "columns"),
    ({"columns": "SPEND_IN_MICRO_DOLLAR"}, "granularity"),
    ({"columns": "SPEND_IN_MICRO_DOLLAR,NOT_A_COLUMN", "granularity": "DAY"}, "NOT_A_COLUMN"),
    ({"columns": "SPEND_IN_MICRO_DOLLAR", "granularity": "DAILY"}, "granularity"),
    ({"columns": "SPEND_IN_MICRO_DOLLAR", "granularity": "DAY", "click_window_days": "3"}, "click_window_days"),
])
def test_bad_ads_analytics_parameters_are_400_code_1(sandbox, api, params, fragment):
    account = first_id(api, f"{sandbox.base_url}/ad_accounts")
    response = api.get(f"{sandbox.base_url}/ad_accounts/{account}/analytics", params={**WINDOW, **params})
    assert_error(response, 400, 1, fragment)


def test_hourly_ads_analytics_limited_to_8_days_back(sandbox, api):
    account = first_id(api, f"{sandbox.base_url}/ad_accounts")
    params = {"start_date": (TODAY - dt.timedelta(days=9)).isoformat(), "end_date": (TODAY - dt.timedelta(days=8)).isoformat(),
              "columns": "SPEND_IN_MICRO_DOLLAR", "granularity": "HOUR"}
    assert_error(api.get(f"{sandbox.base_url}/ad_accounts/{account}/analytics", params=params), 400, 1)


def test_ads_analytics_needs_ad_ids_or_campaign_and_pin_ids(sandbox, api):
    account = first_id(api, f"{sandbox.base_url}/ad_accounts")
    params = {**WINDOW, "columns": "SPEND_IN_MICRO_DOLLAR", "granularity": "DAY"}
    assert_error(api.get(f"{sandbox.base_url}/ad_accounts/{account}/ads/analytics", params=params), 400, 1, "ad_ids")


def test_foreign_ad_account_is_403(sandbox, api):
    assert_error(api.get(f"{sandbox.base_url}/ad_accounts/999/campaigns"), 403, 29)


@pytest.mark.parametrize("page_size", ["0", "251", "3e"])
def test_page_size_outside_1_to_250_is_400_code_1(sandbox, api, page_size):
    assert_error(api.get(f"{sandbox.base_url}/pins", params={"page_size": page_size}), 400, 1, "page_size")


def test_forged_bookmark_is_400(sandbox, api):
    assert_error(api.get(f"{sandbox.base_url}/pins", params={"bookmark": "not-a-bookmark"}), 400, 1, "bookmark")


def test_bookmark_is_only_valid_with_the_same_filters(sandbox, api):
    bookmark = api.get(f"{sandbox.base_url}/pins", params={"page_size": 5}).json()["bookmark"]
    response = api.get(f"{sandbox.base_url}/pins", params={"page_size": 5, "bookmark": bookmark, "creative_types": "VIDEO"})
    assert_error(response, 400, 1, "bookmark")


def test_unknown_query_parameters_are_ignored(sandbox, api):
    assert api.get(f"{sandbox.base_url}/user_account", params={"utm_source": "x"}).status_code == 200


def test_report_creation_rejects_query_parameters_and_bad_bodies(sandbox, api):
    account = first_id(api, f"{sandbox.base_url}/ad_accounts")
    url = f"{sandbox.base_url}/ad_accounts/{account}/reports"
    valid = {"start_date": WINDOW["start_date"], "end_date": WINDOW["end_date"], "granularity": "DAY",
             "level": "CAMPAIGN", "columns": ["SPEND_IN_MICRO_DOLLAR"]}
    assert_error(api.post(url, params={"level": "CAMPAIGN"}, json=valid), 400, 1, "JSON body")
    assert_error(api.post(url, data=b"{not json", headers={"Content-Type": "application/json"}), 400, 1, "JSON")
    assert_error(api.post(url, json={**valid, "level": "TEAM"}), 400, 1, "level")
    assert_error(api.post(url, json={k: v for k, v in valid.items() if k != "columns"}), 400, 1, "columns")
    too_old = {**valid, "start_date": (TODAY - dt.timedelta(days=915)).isoformat(),
               "end_date": (TODAY - dt.timedelta(days=900)).isoformat()}
    assert_error(api.post(url, json=too_old), 400, 1, "914")
    too_long = {**valid, "start_date": (TODAY - dt.timedelta(days=200)).isoformat()}
    assert_error(api.post(url, json=too_long), 400, 1, "186")
    assert_error(api.post(url, json={**valid, "campaign_ids": [str(i) for i in range(501)]}), 400, 1, "500")
    assert_error(api.post(url, json={**valid, "campaign_statuses": ["RUNNING"] * 7}), 400, 1, "6")


@pytest.mark.parametrize("change, field", [
    ({"columns": [{}]}, "columns"),
    ({"columns": ["SPEND_IN_MICRO_DOLLAR", 5]}, "columns"),
    ({"campaign_ids": 5}, "campaign_ids"),
    ({"ad_group_ids": [123]}, "ad_group_ids"),
    ({"ad_ids": ["12a"]}, "ad_ids"),
    ({"campaign_statuses": "ACTIVE"}, "campaign_statuses"),
    ({"ad_statuses": [1]}, "ad_statuses"),
    ({"start_date": "20261101"}, "start_date"),
    ({"end_date": "2026-11-1"}, "end_date"),
])
def test_report_body_fields_of_the_wrong_type_or_format_are_400_code_1_naming_the_field(sandbox, api, change, field):
    account = first_id(api, f"{sandbox.base_url}/ad_accounts")
    valid = {"start_date": WINDOW["start_date"], "end_date": WINDOW["end_date"], "granularity": "DAY",
             "level": "CAMPAIGN", "columns": ["SPEND_IN_MICRO_DOLLAR"]}
    assert_error(api.post(f"{sandbox.base_url}/ad_accounts/{account}/reports", json={**valid, **change}), 400, 1, f"'{field}'")


def test_missing_scope_is_401_code_3(make_sandbox):
    server = make_sandbox()
    token = requests.post(f"{server.base_url}/oauth/token", auth=("1234567", "sandbox-secret"),
                          data={"grant_type": "client_credentials", "scope": "user_accounts:read"}).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    assert requests.get(f"{server.base_url}/user_account", headers=headers).status_code == 200
    assert_error(requests.get(f"{server.base_url}/ad_accounts", headers=headers), 401, 3, "sufficient permissions")
