"""The ads pipeline end to end against the simulator: calls, levels adding up, finality, money."""

from __future__ import annotations

import datetime as dt
import math

import pytest
import requests

from pipelines import catalog
from tests.client_support import server_stats
from tests.conftest import TODAY
from tests.pipeline_support import pipeline_env, query, run

START, END = TODAY - dt.timedelta(days=89), TODAY - dt.timedelta(days=1)
ADS_OPERATIONS = ("ad_accounts/list", "campaigns/list", "ad_groups/list", "ads/list", "ad_account/analytics",
                  "campaigns/analytics", "ad_groups/analytics", "ads/analytics", "metrics_ready_state/get")


def ads_calls(server) -> dict:
    return {k: v for k, v in server_stats(server)["requests"].items() if k in ADS_OPERATIONS}


@pytest.mark.slow
def test_a_backfill_makes_one_call_per_level_and_id_batch_never_one_per_entity(make_sandbox, monkeypatch, tmp_path):
    server = make_sandbox(campaigns=30, ad_groups=10, ads=3)  # 300 ad groups and 900 ads per account
    pipeline_env(monkeypatch, tmp_path, server, TODAY)
    assert run(START, END, only="ads") == 0
    calls = ads_calls(server)
    # Ad groups and ads are requested only for campaigns that had rows in the window.
    active = query(tmp_path, "SELECT c.ad_account_id, count(DISTINCT g.ad_group_id), count(DISTINCT a.ad_id) "
                             "FROM campaigns c JOIN ad_groups g USING (campaign_id) JOIN ads a USING (campaign_id) "
                             "WHERE c.campaign_id IN (SELECT entity_id FROM daily_status WHERE entity_type = 'campaign') "
                             "GROUP BY c.ad_account_id")
    assert calls["ad_account/analytics"] == 2 and calls["campaigns/analytics"] == 2  # 30 campaigns: one batch each
    assert calls["ad_groups/analytics"] == sum(math.ceil(groups / 250) for _, groups, _ in active)
    assert calls["ads/analytics"] == sum(math.ceil(ads / 250) for _, _, ads in active)
    assert calls["ads/analytics"] < 2 * 900 / 250 + 2  # nowhere near one call per ad
    assert calls["metrics_ready_state/get"] == 1  # the newest date past the 30-day window is ready: so are the older
    assert calls["campaigns/list"] == 2 and calls["ad_groups/list"] == 2 * math.ceil(300 / 250)
    assert calls["ads/list"] == 2 * math.ceil(900 / 250)


@pytest.mark.slow
def test_archived_entities_are_kept_and_levels_add_up(make_sandbox, monkeypatch, tmp_path):
    server = make_sandbox()
    pipeline_env(monkeypatch, tmp_path, server, TODAY)
    assert run(START, END, only="ads") == 0
    assert query(tmp_path, "SELECT count(*) FROM campaigns WHERE status = 'ARCHIVED'")[0][0] > 0
    assert query(tmp_path, "SELECT count(*) FROM campaigns")[0][0] == 12
    for child, parent, link in (("ad_daily", "ad_group_daily", "ad_group_id"), ("ad_group_daily", "campaign_daily", "campaign_id"),
                                ("campaign_daily", "ad_account_daily", "ad_account_id")):
        mismatches = query(tmp_path, f"""
            SELECT count(*) FROM (SELECT c.date, c.{link}, sum(c.spend_in_micro_dollar) AS s FROM {child} c GROUP BY ALL) c
            JOIN {parent} p ON p.date = c.date AND p.{link} = c.{link}
            WHERE c.s <> p.spend_in_micro_dollar""")[0][0]
        assert mismatches == 0, (child, parent)
    total = query(tmp_path, "SELECT sum(spend_in_micro_dollar) FROM ad_account_daily")[0][0]
    assert total == query(tmp_path, "SELECT sum(spend_in_micro_dollar) FROM ad_daily")[0][0] > 0


def test_money_stays_integer_micro_units_with_the_account_currency(make_sandbox, monkeypatch, tmp_path):
    server = make_sandbox()
    pipeline_env(monkeypatch, tmp_path, server, TODAY)
    assert run(END - dt.timedelta(days=13), END, only="ads") == 0
    assert query(tmp_path, "SELECT count(*) FROM metric_daily WHERE metric LIKE '%MICRO_DOLLAR' AND value <> floor(value)")[0][0] == 0
    currencies = dict(query(tmp_path, "SELECT ad_account_id, any_value(currency) FROM campaign_daily GROUP BY 1"))
    assert sorted(currencies.values()) == ["EUR", "USD"]


@pytest.mark.slow
def test_recent_conversions_change_until_final_and_then_converge(make_sandbox, monkeypatch, tmp_path):
    epoch = TODAY - dt.timedelta(days=40)
    date = TODAY - dt.timedelta(days=10)
    day1 = make_sandbox(today=TODAY, epoch=epoch)
    pipeline_env(monkeypatch, tmp_path, day1, TODAY)
    assert run(date - dt.timedelta(days=3), TODAY - dt.timedelta(days=1), only="ads") == 0
    sql = "SELECT total_conversions, is_final FROM ad_account_daily WHERE date = ? ORDER BY ad_account_id"
    before = query(tmp_path, sql, [date])
    assert before and not any(final for _, final in before)

    later = TODAY + dt.timedelta(days=20)  # the date is now 30 days old: its 30-day attribution window has passed
    day2 = make_sandbox(today=later, epoch=epoch)
    pipeline_env(monkeypatch, tmp_path, day2, later)
    assert run(later - dt.timedelta(days=30), later - dt.timedelta(days=1), only="ads") == 0  # the ads re-pull window
    after = query(tmp_path, sql, [date])
    assert all(final for _, final in after)
    assert sum(c for c, _ in after) > sum(c for c, _ in before)
    account = query(tmp_path, "SELECT ad_account_id FROM ad_accounts ORDER BY ad_account_id LIMIT 1")[0][0]
    api = requests.get(f"{day2.base_url}/ad_accounts/{account}/analytics", headers={"Authorization": "Bearer pina_SANDBOX"},
                       params={"start_date": date.isoformat(), "end_date": date.isoformat(), "granularity": "DAY",
                               "columns": "TOTAL_CONVERSIONS"}).json()
    assert after[0][0] == api[0]["TOTAL_CONVERSIONS"]


def test_an_ad_account_outside_the_token_is_reported_and_the_others_continue(make_sandbox, monkeypatch, tmp_path, capsys):
    server = make_sandbox()
    owned = requests.get(f"{server.base_url}/ad_accounts", headers={"Authorization": "Bearer pina_SANDBOX"}).json()["items"][0]["id"]
    pipeline_env(monkeypatch, tmp_path, server, TODAY, PINTEREST_AD_ACCOUNT_IDS=f"{owned},999999")
    assert run(END - dt.timedelta(days=6), END, only="ads") == 0
    assert "999999" in capsys.readouterr().out  # the run's summary names the skipped account
    assert query(tmp_path, "SELECT ad_account_id FROM ad_accounts") == [(owned,)]
    assert query(tmp_path, "SELECT count(DISTINCT ad_account_id) FROM ad_account_daily")[0][0] == 1


def test_an_unknown_ads_column_fails_before_any_call(make_sandbox, monkeypatch, tmp_path):
    import subprocess
    import sys

    server = make_sandbox()
    pipeline_env(monkeypatch, tmp_path / "home", server, TODAY, PINTEREST_ADS_COLUMNS="SPEND_IN_MICRO_DOLLAR,SPENDZ")
    result = subprocess.run([sys.executable, "-m", "pipelines.cli", "run", "--start", "2026-11-20"], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 2 and "SPENDZ" in result.stderr
    assert server_stats(server)["requests"] == {}


@pytest.mark.slow
def test_history_beyond_90_days_comes_from_async_reports_into_the_same_tables(make_sandbox, monkeypatch, tmp_path):
    epoch = TODAY - dt.timedelta(days=20)
    server = make_sandbox(report_polls=1, epoch=epoch)
    # 200 days back: 111 days older than the sync windows ask for (89 days back), then 10 days they ask for.
    start, end = TODAY - dt.timedelta(days=200), TODAY - dt.timedelta(days=80)
    pipeline_env(monkeypatch, tmp_path, server, TODAY, PINTEREST_REPORT_POLL_SECONDS="0.01")
    assert run(start, end, only="ads") == 0
    calls = ads_calls(server)
    reports = server_stats(server)["requests"]["analytics/create_report"]
    assert reports == 2 * 4  # per ad account: one report per level for the 111 days beyond the window (<= 186)
    assert server_stats(server)["requests"]["analytics/get_report"] == 2 * reports  # IN_PROGRESS once, then FINISHED
    assert calls["ad_account/analytics"] == 2  # the reachable 10 days: one sync window per account
    old = query(tmp_path, "SELECT min(date), count(DISTINCT date) FROM ad_account_daily")[0]
    assert old[0] <= start + dt.timedelta(days=31) and old[1] > 100
    # A reported date's spend equals what the sync endpoint served for it back when it was recent
    # (the same world, seen 20 days earlier; spend is final after a day).
    both = TODAY - dt.timedelta(days=100)
    earlier = make_sandbox(today=epoch, epoch=epoch)
    account = query(tmp_path, "SELECT ad_account_id FROM ad_accounts ORDER BY 1 LIMIT 1")[0][0]
    sync = requests.get(f"{earlier.base_url}/ad_accounts/{account}/campaigns/analytics",
                        headers={"Authorization": "Bearer pina_SANDBOX"},
                        params={"start_date": both.isoformat(), "end_date": both.isoformat(), "granularity": "DAY",
                                "columns": "SPEND_IN_MICRO_DOLLAR",
                                "campaign_ids": ",".join(r[0] for r in query(tmp_path, "SELECT campaign_id FROM campaigns "
                                                                                        "WHERE ad_account_id = ?", [account]))}).json()
    loaded = dict(query(tmp_path, "SELECT campaign_id, spend_in_micro_dollar FROM campaign_daily WHERE date = ? "
                                  "AND ad_account_id = ?", [both, account]))
    assert loaded == {r["CAMPAIGN_ID"]: float(r["SPEND_IN_MICRO_DOLLAR"]) for r in sync}


def test_a_forbidden_ad_account_is_reported_by_id_and_the_others_continue(make_sandbox, monkeypatch, tmp_path, capsys):
    server = make_sandbox(forbidden_ad_accounts=1)
    listed = [a["id"] for a in requests.get(f"{server.base_url}/ad_accounts",
                                            headers={"Authorization": "Bearer pina_SANDBOX"}).json()["items"]]
    pipeline_env(monkeypatch, tmp_path, server, TODAY)
    assert run(END - dt.timedelta(days=6), END, only="ads") == 0
    out = capsys.readouterr().out
    assert listed[1] in out and "403" in out
    assert query(tmp_path, "SELECT ad_account_id FROM ad_accounts") == [(listed[0],)]
    assert query(tmp_path, "SELECT DISTINCT ad_account_id FROM ad_account_daily") == [(listed[0],)]


@pytest.mark.slow
def test_a_failed_async_report_is_requested_once_more(make_sandbox, monkeypatch, tmp_path):
    server = make_sandbox(report_polls=0, failed_reports=1)
    pipeline_env(monkeypatch, tmp_path, server, TODAY, PINTEREST_REPORT_POLL_SECONDS="0.01")
    assert run(dt.date(2026, 6, 1), TODAY - dt.timedelta(days=85), only="ads") == 0
    assert server_stats(server)["requests"]["analytics/create_report"] == 2 * 4 + 1


def test_a_report_failing_twice_stops_the_run_naming_it_and_loads_nothing(make_sandbox, monkeypatch, tmp_path, capsys):
    server = make_sandbox(report_polls=0, failed_reports=2)
    pipeline_env(monkeypatch, tmp_path, server, TODAY, PINTEREST_REPORT_POLL_SECONDS="0.01")
    assert run(dt.date(2026, 6, 1), TODAY - dt.timedelta(days=85), only="ads") == 1
    err = capsys.readouterr().err
    assert "report ADVERTISER 2026-06-01..2026-08-30 ended FAILED" in err
    assert not [t.name for t in catalog.FACT_TABLES.values() if (tmp_path / "lake" / t.name).exists()]
    assert not (tmp_path / "warehouse.duckdb").exists()


@pytest.mark.slow
def test_rerunning_ads_gives_the_same_tables(make_sandbox, monkeypatch, tmp_path):
    server = make_sandbox()
    pipeline_env(monkeypatch, tmp_path, server, TODAY)
    tables = ("metric_daily", "daily_status", "ad_accounts", "campaigns", "ad_groups", "ads")

    def snapshot() -> dict:
        return {t: query(tmp_path, f"SELECT * EXCLUDE (extracted_at) FROM {t} ORDER BY ALL") for t in tables}

    assert run(END - dt.timedelta(days=20), END, only="ads") == 0
    first = snapshot()
    assert run(END - dt.timedelta(days=20), END, only="ads") == 0
    assert snapshot() == first and len(first["metric_daily"]) > 1000


def test_ad_accounts_without_campaigns_are_extracted_and_loaded(make_sandbox, monkeypatch, tmp_path):
    """New ad accounts have no campaigns yet: the call plan counts none under them (it divided an empty sum, a
    TypeError that failed the step, before), one analytics call per account is made, and nothing delivered loads
    no ads rows beside the organic ones."""
    server = make_sandbox(ad_accounts=2, campaigns=0)
    pipeline_env(monkeypatch, tmp_path, server, TODAY)
    assert run(END, END, only=None) == 0
    assert ads_calls(server).get("ad_account/analytics") == 2
    assert [query(tmp_path, f"SELECT count(*) FROM {table}")[0][0]
            for table in ("ad_accounts", "campaigns", "campaign_daily", "ad_daily")] == [2, 0, 0, 0]
    assert query(tmp_path, "SELECT count(*) FROM pin_daily")[0][0] > 0
