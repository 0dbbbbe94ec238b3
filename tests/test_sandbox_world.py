"""The synthetic world: plausible, internally consistent numbers and the late-data model."""

from __future__ import annotations

import datetime as dt

import pytest

from pipelines import api_enums as enums
from tests.conftest import TODAY


def days_back(n: int) -> str:
    return (TODAY - dt.timedelta(days=n)).isoformat()


def account_daily(api, sandbox, **params) -> dict:
    params = {"start_date": days_back(89), "end_date": TODAY.isoformat(), **params}
    return api.get(f"{sandbox.base_url}/user_account/analytics", params=params).json()


def all_pin_ids(api, sandbox) -> list[str]:
    ids, bookmark = [], None
    while True:
        body = api.get(f"{sandbox.base_url}/pins", params={"page_size": 250, **({"bookmark": bookmark} if bookmark else {})}).json()
        ids += [p["id"] for p in body["items"]]
        bookmark = body["bookmark"]
        if not bookmark:
            return ids


def test_default_world_has_the_documented_shape(sandbox, api):
    account = api.get(f"{sandbox.base_url}/user_account").json()
    assert account["account_type"] == "BUSINESS"
    assert len(all_pin_ids(api, sandbox)) == 500  # the development token may read secret boards
    accounts = api.get(f"{sandbox.base_url}/ad_accounts").json()["items"]
    assert [a["currency"] for a in accounts] == ["USD", "EUR"]
    for account in accounts:
        campaigns = api.get(f"{sandbox.base_url}/ad_accounts/{account['id']}/campaigns",
                            params={"entity_statuses": "ACTIVE,PAUSED,ARCHIVED", "page_size": 250}).json()["items"]
        assert len(campaigns) == 6
        groups = api.get(f"{sandbox.base_url}/ad_accounts/{account['id']}/ad_groups",
                         params={"entity_statuses": "ACTIVE,PAUSED,ARCHIVED", "page_size": 250}).json()["items"]
        assert len(groups) == 12
        ads = api.get(f"{sandbox.base_url}/ad_accounts/{account['id']}/ads",
                      params={"entity_statuses": "ACTIVE,PAUSED,ARCHIVED", "page_size": 250}).json()["items"]
        assert len(ads) == 36


def test_last_two_days_processing_two_before_estimate_older_ready(sandbox, api):
    daily = account_daily(api, sandbox, start_date=days_back(6))["all"]["daily_metrics"]
    statuses = {d["date"]: d["data_status"] for d in daily}
    assert [statuses[days_back(n)] for n in range(6, -1, -1)] == \
        ["READY", "READY", "READY", "ESTIMATE", "ESTIMATE", "PROCESSING", "PROCESSING"]
    for day in daily:
        assert (day["metrics"] == {}) == (day["data_status"] == "PROCESSING")


def test_estimate_days_differ_from_their_final_values_and_then_settle(make_sandbox, api):
    """The same date read on successive days: ESTIMATE numbers change, READY numbers never do."""
    date = TODAY - dt.timedelta(days=10)
    seen = []
    for age in range(0, 8):
        server = make_sandbox(today=date + dt.timedelta(days=age), epoch=date - dt.timedelta(days=30))
        body = api.get(f"{server.base_url}/user_account/analytics",
                       params={"start_date": date.isoformat(), "end_date": date.isoformat()}).json()
        day = body["all"]["daily_metrics"][0]
        seen.append((day["data_status"], day["metrics"].get("IMPRESSION")))
    assert [s for s, _ in seen] == ["PROCESSING", "PROCESSING", "ESTIMATE", "ESTIMATE", "READY", "READY", "READY", "READY"]
    estimates = [v for s, v in seen if s == "ESTIMATE"]
    finals = {v for s, v in seen if s == "READY"}
    assert len(finals) == 1
    final = finals.pop()
    assert estimates[0] < estimates[1] < final


def test_organic_account_totals_equal_the_sum_of_its_pins(make_sandbox, api):
    server = make_sandbox(boards=5)  # no secret board: every pin is visible
    start, end = days_back(20), days_back(5)
    totals = api.get(f"{server.base_url}/user_account/analytics",
                     params={"start_date": start, "end_date": end, "metric_types": "IMPRESSION,SAVE",
                             "content_type": "ORGANIC"}).json()["all"]
    ids = all_pin_ids(api, server)
    assert len(ids) == 500
    pin_sum = {"IMPRESSION": 0, "SAVE": 0}
    for i in range(0, len(ids), 100):
        bulk = api.get(f"{server.base_url}/pins/analytics", params={
            "pin_ids": ",".join(ids[i:i + 100]), "start_date": start, "end_date": end, "metric_types": "IMPRESSION,SAVE"}).json()
        for pin in bulk.values():
            for metric in pin_sum:
                pin_sum[metric] += pin["all"]["summary_metrics"][metric]
    assert totals["summary_metrics"]["IMPRESSION"] == pin_sum["IMPRESSION"] > 0
    assert totals["summary_metrics"]["SAVE"] == pin_sum["SAVE"] > 0


def test_rates_are_consistent_with_counts(sandbox, api):
    body = account_daily(api, sandbox)["all"]
    for day in body["daily_metrics"]:
        m = day["metrics"]
        if m:
            assert m["PIN_CLICK"] <= m["IMPRESSION"]
            assert m["OUTBOUND_CLICK"] <= m["PIN_CLICK"]
            assert m["SAVE_RATE"] == pytest.approx(m["SAVE"] / m["IMPRESSION"])
            assert m["ENGAGEMENT_RATE"] == pytest.approx(m["ENGAGEMENT"] / m["IMPRESSION"])
    summary = body["summary_metrics"]
    assert summary["IMPRESSION"] == sum(d["metrics"].get("IMPRESSION", 0) for d in body["daily_metrics"])
    assert summary["SAVE_RATE"] == pytest.approx(summary["SAVE"] / summary["IMPRESSION"])


def test_weekends_are_busier_than_weekdays(sandbox, api):
    daily = account_daily(api, sandbox)["all"]["daily_metrics"]
    ready = [d for d in daily if d["data_status"] == "READY"]
    weekend = [d["metrics"]["IMPRESSION"] for d in ready if dt.date.fromisoformat(d["date"]).weekday() >= 5]
    weekday = [d["metrics"]["IMPRESSION"] for d in ready if dt.date.fromisoformat(d["date"]).weekday() < 5]
    assert sum(weekend) / len(weekend) > sum(weekday) / len(weekday)


def test_split_buckets_add_up_to_the_unsplit_total(sandbox, api):
    total = account_daily(api, sandbox)["all"]["summary_metrics"]["IMPRESSION"]
    pin_formats = {"ORGANIC_IMAGE", "ORGANIC_VIDEO", "ADS_STANDARD", "ADS_VIDEO"}  # content_type ALL: paid formats too
    for split_field, buckets in (("APP_TYPE", {"MOBILE", "WEB", "TABLET"}), ("PIN_FORMAT", pin_formats),
                                 ("SOURCE", {"YOUR_PINS", "OTHER_PINS"}), ("OWNED_CONTENT", {"CLAIMED", "OTHER"})):
        body = account_daily(api, sandbox, split_field=split_field)
        assert set(body) == buckets
        assert sum(b["summary_metrics"]["IMPRESSION"] for b in body.values()) == total


@pytest.mark.parametrize("filter_name, value, split_field", [
    ("app_types", "MOBILE", "APP_TYPE"),
    ("source", "OTHER_PINS", "SOURCE"),
    ("from_claimed_content", "CLAIMED", "OWNED_CONTENT"),
    ("pin_format", "ORGANIC_VIDEO", "PIN_FORMAT"),
])
def test_a_filter_and_a_split_on_the_same_dimension_give_only_the_filtered_bucket(sandbox, api, filter_name, value, split_field):
    filtered = account_daily(api, sandbox, **{filter_name: value})["all"]
    split = account_daily(api, sandbox, **{filter_name: value, "split_field": split_field})
    assert split == {value: filtered}  # not the filtered counts split a second time
    assert filtered["summary_metrics"]["IMPRESSION"] > 0


def test_a_pin_app_type_filter_with_the_app_type_split_gives_only_that_bucket(sandbox, api):
    world = sandbox.state.world
    older = [i for i in range(len(world.pin_ids)) if world.today_day - world.pin_created_day[i] > 40]
    pin = world.pin_ids[max(older, key=lambda i: world.pin_popularity[i])]  # busy on every day of the window
    params = {"start_date": days_back(30), "end_date": TODAY.isoformat(), "metric_types": "IMPRESSION,SAVE", "app_types": "WEB"}
    filtered = api.get(f"{sandbox.base_url}/pins/{pin}/analytics", params=params).json()["all"]
    split = api.get(f"{sandbox.base_url}/pins/{pin}/analytics", params={**params, "split_field": "APP_TYPE"}).json()
    assert split == {"WEB": filtered}
    assert filtered["summary_metrics"]["IMPRESSION"] > 0


def top_pins(api, sandbox, **params) -> dict:
    params = {"start_date": days_back(29), "end_date": TODAY.isoformat(), "sort_by": "IMPRESSION", **params}
    response = api.get(f"{sandbox.base_url}/user_account/analytics/top_pins", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def test_top_pins_default_to_every_user_account_metric_type(sandbox, api):
    pins = top_pins(api, sandbox)["pins"]
    assert pins
    for pin in pins:
        assert set(pin["metrics"]) == set(pin["data_status"]) == set(enums.USER_ACCOUNT_METRIC_TYPES)
        assert len(pin["metrics"]) == 9
    narrowed = top_pins(api, sandbox, metric_types="SAVE,IMPRESSION")["pins"]
    assert all(set(pin["metrics"]) == {"SAVE", "IMPRESSION"} for pin in narrowed)


@pytest.mark.parametrize("first, last, status", [(1, 0, "PROCESSING"), (3, 0, "ESTIMATE"), (3, 2, "ESTIMATE"), (30, 4, "READY")])
def test_top_pins_data_status_follows_the_days_of_the_window(sandbox, api, first, last, status):
    pins = top_pins(api, sandbox, start_date=days_back(first), end_date=days_back(last))["pins"]
    assert pins
    assert {s for pin in pins for s in pin["data_status"].values()} == {status}
    if status == "PROCESSING":  # no day of the window has numbers yet
        assert all(value == 0 for pin in pins for value in pin["metrics"].values())


def test_pin_metrics_90d_sums_the_last_90_days_today_included(sandbox, api):
    world = sandbox.state.world
    old = [world.pin_ids[i] for i in range(len(world.pin_ids)) if world.today_day - world.pin_created_day[i] > 200][:5]

    def summary(pin_id: str, first: int) -> dict:
        return api.get(f"{sandbox.base_url}/pins/{pin_id}/analytics", params={
            "start_date": days_back(first), "end_date": TODAY.isoformat(),
            "metric_types": "IMPRESSION,PIN_CLICK,OUTBOUND_CLICK"}).json()["all"]["summary_metrics"]

    differs_from_91_days = False
    for pin_id in old:
        pin_metrics = api.get(f"{sandbox.base_url}/pins/{pin_id}", params={"pin_metrics": "true"}).json()["pin_metrics"]
        days_90, days_91 = summary(pin_id, 89), summary(pin_id, 90)
        assert pin_metrics["90d"] == {"impression": days_90["IMPRESSION"], "pin_click": days_90["PIN_CLICK"],
                                      "clickthrough": days_90["OUTBOUND_CLICK"]}
        differs_from_91_days |= days_91["IMPRESSION"] != days_90["IMPRESSION"]
        assert pin_metrics["lifetime_metrics"]["impression"] > pin_metrics["90d"]["impression"]  # older than the window
    assert differs_from_91_days  # else the equality above could not tell 90 days from 91


def test_pin_filter_exclude_native_lists_the_repins_and_exclude_repins_the_others(sandbox, api):
    def listed(pin_filter: str | None) -> list[dict]:
        items, bookmark = [], None
        while True:
            params = {"page_size": 250, **({"pin_filter": pin_filter} if pin_filter else {}), **({"bookmark": bookmark} if bookmark else {})}
            body = api.get(f"{sandbox.base_url}/pins", params=params).json()
            items += body["items"]
            bookmark = body["bookmark"]
            if not bookmark:
                return items

    repins, natives, every = listed("exclude_native"), listed("exclude_repins"), listed(None)
    assert repins and all(p["parent_pin_id"] is not None for p in repins)
    assert natives and all(p["parent_pin_id"] is None for p in natives)
    assert sorted(p["id"] for p in repins + natives) == sorted(p["id"] for p in every)


def test_days_before_a_pin_was_created_have_no_metrics(sandbox, api):
    world = sandbox.state.world
    young = next(i for i in range(len(world.pin_ids)) if 10 < world.today_day - world.pin_created_day[i] < 80
                 and not world.pin_on_secret_board(i))
    created = world.pin_created_day[young]
    body = api.get(f"{sandbox.base_url}/pins/{world.pin_ids[young]}/analytics", params={
        "start_date": days_back(89), "end_date": TODAY.isoformat(), "metric_types": "IMPRESSION"}).json()["all"]
    for day in body["daily_metrics"]:
        if dt.date.fromisoformat(day["date"]).toordinal() < created:
            assert day == {"date": day["date"], "data_status": "BEFORE_PIN_CREATED", "metrics": {}}
    assert body["lifetime_metrics"]["TOTAL_REACTIONS"] >= 0


def test_video_metrics_only_for_video_pins(sandbox, api):
    world = sandbox.state.world
    visible = [i for i in range(len(world.pin_ids)) if not world.pin_on_secret_board(i)]
    video = next(i for i in visible if world.pin_is_video[i])
    image = next(i for i in visible if not world.pin_is_video[i])
    params = {"start_date": days_back(30), "end_date": days_back(5), "metric_types": "IMPRESSION,VIDEO_START",
              "pin_ids": f"{world.pin_ids[video]},{world.pin_ids[image]}"}
    body = api.get(f"{sandbox.base_url}/pins/analytics", params=params).json()
    assert "VIDEO_START" in body[world.pin_ids[video]]["all"]["summary_metrics"]
    assert set(body[world.pin_ids[image]]["all"]["summary_metrics"]) == {"IMPRESSION"}


def ads_rows(api, sandbox, path: str, **params) -> list[dict]:
    params = {"start_date": days_back(60), "end_date": TODAY.isoformat(), "granularity": "DAY", **params}
    response = api.get(f"{sandbox.base_url}{path}", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def test_ads_levels_sum_exactly_from_ads_to_account(sandbox, api):
    account = api.get(f"{sandbox.base_url}/ad_accounts").json()["items"][0]["id"]
    base = f"/ad_accounts/{account}"
    everything = {"entity_statuses": "ACTIVE,PAUSED,ARCHIVED", "page_size": 250}
    campaigns = [c["id"] for c in api.get(f"{sandbox.base_url}{base}/campaigns", params=everything).json()["items"]]
    groups = [g["id"] for g in api.get(f"{sandbox.base_url}{base}/ad_groups", params=everything).json()["items"]]
    ads = [a["id"] for a in api.get(f"{sandbox.base_url}{base}/ads", params=everything).json()["items"]]
    columns = "SPEND_IN_MICRO_DOLLAR,IMPRESSION_1,CLICKTHROUGH_1,TOTAL_CONVERSIONS"

    def total(rows: list[dict], column: str) -> int:
        return sum(r.get(column, 0) for r in rows)

    levels = [
        ads_rows(api, sandbox, f"{base}/analytics", columns=columns),
        ads_rows(api, sandbox, f"{base}/campaigns/analytics", columns=columns, campaign_ids=",".join(campaigns)),
        ads_rows(api, sandbox, f"{base}/ad_groups/analytics", columns=columns, ad_group_ids=",".join(groups)),
        ads_rows(api, sandbox, f"{base}/ads/analytics", columns=columns, ad_ids=",".join(ads)),
    ]
    for column in columns.split(","):
        sums = [total(rows, column) for rows in levels]
        assert sums[0] > 0 and len(set(sums)) == 1, (column, sums)


def test_ads_rows_are_plausible_and_money_is_consistent(sandbox, api):
    account = api.get(f"{sandbox.base_url}/ad_accounts").json()["items"][0]["id"]
    rows = ads_rows(api, sandbox, f"/ad_accounts/{account}/analytics",
                    columns="SPEND_IN_MICRO_DOLLAR,SPEND_IN_DOLLAR,IMPRESSION_1,CLICKTHROUGH_1,CTR,CPC_IN_MICRO_DOLLAR")
    assert rows
    for row in rows:
        assert isinstance(row["SPEND_IN_MICRO_DOLLAR"], int)
        assert row["SPEND_IN_DOLLAR"] == pytest.approx(row["SPEND_IN_MICRO_DOLLAR"] / 1e6)
        assert row["CLICKTHROUGH_1"] <= row["IMPRESSION_1"]
        assert row["CTR"] == pytest.approx(row["CLICKTHROUGH_1"] / row["IMPRESSION_1"])
        assert row["AD_ACCOUNT_ID"] == account


@pytest.mark.parametrize("granularity", ["DAY", "TOTAL", "HOUR"])
def test_every_micro_dollar_column_is_an_integer(sandbox, api, granularity):
    account = api.get(f"{sandbox.base_url}/ad_accounts").json()["items"][0]["id"]
    window = {"start_date": days_back(7 if granularity == "HOUR" else 60), "end_date": days_back(1)}
    rows = ads_rows(api, sandbox, f"/ad_accounts/{account}/analytics", columns=",".join(enums.ADS_ANALYTICS_COLUMNS),
                    granularity=granularity, **window)
    assert rows
    seen = set()
    for row in rows:
        for column, value in row.items():
            if column.endswith("_MICRO_DOLLAR"):
                assert type(value) is int, (column, value)
                seen.add(column)
    # Every column is requested, but zero values are left out of rows: these are never zero here.
    assert {"SPEND_IN_MICRO_DOLLAR", "CPC_IN_MICRO_DOLLAR", "ECPC_IN_MICRO_DOLLAR", "CPM_IN_MICRO_DOLLAR",
            "ECPM_IN_MICRO_DOLLAR"} <= seen
    if granularity != "HOUR":  # hourly rows carry no conversion columns
        assert {"TOTAL_CHECKOUT_VALUE_IN_MICRO_DOLLAR", "TOTAL_SIGNUP_VALUE_IN_MICRO_DOLLAR",
                "TOTAL_CLICK_CHECKOUT_VALUE_IN_MICRO_DOLLAR", "TOTAL_WEB_CHECKOUT_VALUE_IN_MICRO_DOLLAR"} <= seen


def test_conversions_grow_until_the_attribution_window_passes(make_sandbox, api):
    date = TODAY - dt.timedelta(days=40)
    seen = []
    for age in (1, 5, 15, 29, 30, 35):
        server = make_sandbox(today=date + dt.timedelta(days=age), epoch=date)
        account = api.get(f"{server.base_url}/ad_accounts").json()["items"][0]["id"]
        rows = api.get(f"{server.base_url}/ad_accounts/{account}/analytics", params={
            "start_date": date.isoformat(), "end_date": date.isoformat(), "granularity": "DAY",
            "columns": "TOTAL_CONVERSIONS,SPEND_IN_MICRO_DOLLAR"}).json()
        ready = api.get(f"{server.base_url}/resources/metrics_ready_state", params={"date": date.isoformat()}).json()
        seen.append((rows[0]["TOTAL_CONVERSIONS"], rows[0]["SPEND_IN_MICRO_DOLLAR"], ready["conversion_metrics_ready"]))
    conversions = [c for c, _, _ in seen]
    assert conversions == sorted(conversions)
    assert conversions[0] < conversions[1] < conversions[2]
    assert conversions[4] == conversions[5]  # settled once the 30-day window has passed
    assert len({spend for _, spend, _ in seen}) == 1  # delivery numbers are final after one day
    assert [r for _, _, r in seen] == [False, False, False, False, True, True]


def test_attribution_windows_change_conversions_not_spend(sandbox, api):
    account = api.get(f"{sandbox.base_url}/ad_accounts").json()["items"][0]["id"]
    columns = "TOTAL_CONVERSIONS,SPEND_IN_MICRO_DOLLAR"
    narrow = ads_rows(api, sandbox, f"/ad_accounts/{account}/analytics", columns=columns, click_window_days=1, view_window_days=0,
                      end_date=days_back(40))
    wide = ads_rows(api, sandbox, f"/ad_accounts/{account}/analytics", columns=columns, click_window_days=60, view_window_days=30,
                    end_date=days_back(40))
    assert sum(r["SPEND_IN_MICRO_DOLLAR"] for r in narrow) == sum(r["SPEND_IN_MICRO_DOLLAR"] for r in wide)
    assert sum(r.get("TOTAL_CONVERSIONS", 0) for r in narrow) < sum(r.get("TOTAL_CONVERSIONS", 0) for r in wide)


def test_archived_campaigns_only_when_requested(sandbox, api):
    account = api.get(f"{sandbox.base_url}/ad_accounts").json()["items"][0]["id"]
    default = api.get(f"{sandbox.base_url}/ad_accounts/{account}/campaigns").json()["items"]
    everything = api.get(f"{sandbox.base_url}/ad_accounts/{account}/campaigns",
                         params={"entity_statuses": "ACTIVE,PAUSED,ARCHIVED"}).json()["items"]
    assert {c["status"] for c in default} <= {"ACTIVE", "PAUSED"}
    assert any(c["status"] == "ARCHIVED" for c in everything)
    assert len(everything) > len(default)


def test_shared_ad_accounts_are_listed_unless_excluded(sandbox, api):
    listed = api.get(f"{sandbox.base_url}/ad_accounts").json()["items"]
    owned = api.get(f"{sandbox.base_url}/ad_accounts", params={"include_shared_accounts": "false"}).json()["items"]
    assert len(listed) == 2 and len(owned) == 1
    assert owned[0]["permissions"] == ["OWNER"]


def test_secret_boards_need_the_secret_scope(make_sandbox):
    import requests

    server = make_sandbox()
    token = requests.post(f"{server.base_url}/oauth/token", auth=("1234567", "sandbox-secret"), data={
        "grant_type": "client_credentials", "scope": "boards:read,pins:read"}).json()["access_token"]
    public = requests.get(f"{server.base_url}/boards", headers={"Authorization": f"Bearer {token}"}).json()["items"]
    every = requests.get(f"{server.base_url}/boards", headers={"Authorization": "Bearer pina_SANDBOX"}).json()["items"]
    assert {b["privacy"] for b in public} == {"PUBLIC"}
    assert sum(b["privacy"] == "SECRET" for b in every) == 2
    assert len(every) == len(public) + 2


def test_several_users_each_have_a_world_tokens_and_rate_limits_of_their_own(make_sandbox):
    import requests

    from pipelines.sandbox.auth import APP_ID, APP_SECRET, dev_tokens

    server = make_sandbox(users=3, rate_limits={"org_read": 3})

    def get(token: str, path: str) -> requests.Response:
        return requests.get(f"{server.base_url}{path}", headers={"Authorization": f"Bearer {token}"})

    accounts = [get(dev_tokens(n)[0], "/user_account").json() for n in (1, 2, 3)]
    assert len({a["id"] for a in accounts}) == 3
    assert [a["username"] for a in accounts] == ["sandbox_studio", "sandbox_studio_2", "sandbox_studio_3"]
    assert accounts[0]["id"] == make_sandbox(rate_limits={}).state.world.user_id  # the first user is the one-user world
    pins = [{p["id"] for p in get(dev_tokens(n)[0], "/pins?page_size=250").json()["items"]} for n in (1, 2)]
    assert pins[0] and pins[1] and not pins[0] & pins[1]
    # Budgets are per user: the first user's three org_read calls are spent, the third user still has its own.
    assert get(dev_tokens(1)[0], "/boards").status_code == 200
    assert get(dev_tokens(1)[0], "/boards").status_code == 429
    assert get(dev_tokens(3)[0], "/boards").status_code == 200
    # A refresh keeps the refresh token's user.
    refreshed = requests.post(f"{server.root_url}/v5/oauth/token", auth=(APP_ID, APP_SECRET),
                              data={"grant_type": "refresh_token", "refresh_token": dev_tokens(2)[1]}).json()
    assert get(refreshed["access_token"], "/user_account").json()["id"] == accounts[1]["id"]


def test_no_two_users_worlds_share_an_id(make_sandbox):
    """Each user's boards, ad accounts, campaigns, ad groups and ads were spaced by their index with a small random
    part, so ten users' worlds shared an ad group and five ads (Pinterest ids are unique): an agency's accounts,
    loaded together, then failed the ads load's blocking checks (ads not adding up to their ad groups)."""
    import requests

    from pipelines.sandbox.auth import dev_tokens

    server = make_sandbox(users=10)

    def items(token: str, path: str) -> list[str]:
        answer = requests.get(f"{server.base_url}{path}", params={"page_size": 250, **archived_too(path)},
                              headers={"Authorization": f"Bearer {token}"}).json()
        assert not answer.get("bookmark")
        return [item["id"] for item in answer["items"]]

    def archived_too(path: str) -> dict[str, str]:
        return {"entity_statuses": "ACTIVE,PAUSED,ARCHIVED"} if path.endswith(("campaigns", "ad_groups", "ads")) else {}

    ids: dict[str, list[str]] = {"boards": [], "ad_accounts": [], "campaigns": [], "ad_groups": [], "ads": []}
    for user in range(1, 11):
        token = dev_tokens(user)[0]
        ids["boards"] += items(token, "/boards")
        accounts = items(token, "/ad_accounts")
        ids["ad_accounts"] += accounts
        for account in accounts:
            for kind in ("campaigns", "ad_groups", "ads"):
                ids[kind] += items(token, f"/ad_accounts/{account}/{kind}")
    assert {kind: len(found) for kind, found in ids.items()} == {
        "boards": 120, "ad_accounts": 20, "campaigns": 120, "ad_groups": 240, "ads": 720}
    assert {kind: len(set(found)) for kind, found in ids.items()} == {kind: len(found) for kind, found in ids.items()}
