"""Load: a year of history, then a month of daily runs on successive days, against one ageing world.

The world keeps its epoch while the simulator's `today` moves forward a day at a time, exactly as the
real API ages. Scale: PINTEREST_LOAD_TEST_PINS pins (default 500, the default world, so that CI's 31
runs stay within a few minutes; the issue's 20,000 with PINTEREST_LOAD_TEST_PINS=20000) and 5 ad accounts.
"""

from __future__ import annotations

import datetime as dt
import math
import os

import pytest
import requests

from pipelines.sandbox import SandboxConfig, running_sandbox
from tests.client_support import server_stats
from tests.conftest import TODAY, UNLIMITED
from tests.pipeline_support import bulk_pin_calls_per_window, pipeline_env, query, run

PINS = int(os.environ.get("PINTEREST_LOAD_TEST_PINS", "500"))
DAILY_RUNS = 30
REPULL_DAYS = 30
WORLD = {"pins": PINS, "boards": 20, "ad_accounts": 5, "campaigns": 4, "ad_groups": 2, "ads": 2, "report_polls": 0,
         "epoch": TODAY, "rate_limits": dict(UNLIMITED)}
ANALYTICS = ("user_account/analytics", "multi_pins/analytics", "ad_account/analytics", "campaigns/analytics",
             "ad_groups/analytics", "ads/analytics", "metrics_ready_state/get", "analytics/create_report")


def analytics_calls(server) -> dict[str, int]:
    return {k: v for k, v in server_stats(server)["requests"].items() if k in ANALYTICS}


def daily(monkeypatch, home, today: dt.date) -> tuple[dict[str, int], int]:
    """One scheduled day: the trailing 30 days as one run. Returns its analytics calls and the lake rows it wrote."""
    with running_sandbox(SandboxConfig(today=today, **WORLD)) as server:
        pipeline_env(monkeypatch, home, server, today, PINTEREST_REPORT_POLL_SECONDS="0.01")
        assert run(today - dt.timedelta(days=REPULL_DAYS), today - dt.timedelta(days=1), only=None) == 0
        return analytics_calls(server), rows_in_range(home, today - dt.timedelta(days=REPULL_DAYS), today)


def rows_in_range(home, start: dt.date, end: dt.date) -> int:
    return query(home, "SELECT count(*) FROM metric_daily WHERE date >= ? AND date < ?", [start, end])[0][0]


@pytest.mark.slow
def test_a_year_of_history_then_a_month_of_daily_runs(monkeypatch, tmp_path):
    # 1. The backfill: 365 days; organic serves the last 90 only, ads the older ones through async reports.
    with running_sandbox(SandboxConfig(today=TODAY, **WORLD)) as server:
        pipeline_env(monkeypatch, tmp_path, server, TODAY, PINTEREST_REPORT_POLL_SECONDS="0.01")
        assert run(TODAY - dt.timedelta(days=365), TODAY - dt.timedelta(days=1), only=None) == 0
        backfill_calls = analytics_calls(server)
        pin_batches = bulk_pin_calls_per_window(server.state.world)
    assert backfill_calls["analytics/create_report"] == 5 * 4 * math.ceil((365 - 89) / 186)
    first, last, ads_days = query(tmp_path, "SELECT min(date), max(date), count(DISTINCT date) FROM ad_account_daily")[0]
    assert (first, last) <= (TODAY - dt.timedelta(days=365), TODAY - dt.timedelta(days=1)) and ads_days >= 330
    warehouse = tmp_path / "warehouse.duckdb"
    size_after_backfill = warehouse.stat().st_size
    rows_after_backfill = query(tmp_path, "SELECT count(*) FROM metric_daily")[0][0]
    rows_of_last_30_days = rows_in_range(tmp_path, TODAY - dt.timedelta(days=30), TODAY)

    # 2. Thirty scheduled days on successive dates.
    calls, rewritten, settled = [], [], None
    for day in range(1, DAILY_RUNS + 1):
        day_calls, day_rows = daily(monkeypatch, tmp_path, TODAY + dt.timedelta(days=day))
        calls.append(day_calls)
        rewritten.append(day_rows)
        if day == 10:
            settled = (warehouse.stat().st_size, query(tmp_path, "SELECT count(*) FROM metric_daily")[0][0])
    final_today = TODAY + dt.timedelta(days=DAILY_RUNS)

    # Work per day does not grow with history: the same calls every day (the planning formula's), and
    # about 30 days of rows rewritten every day.
    assert all(c == calls[0] for c in calls), calls
    assert calls[0]["user_account/analytics"] == 3 * 2 and calls[0]["multi_pins/analytics"] == pin_batches  # 3 content types
    assert calls[0]["ad_account/analytics"] == 5 and "analytics/create_report" not in calls[0]
    assert max(rewritten) <= 1.1 * min(rewritten)

    # No duplicates anywhere, and one row per key in the whole table.
    assert query(tmp_path, "SELECT count(*) FROM (SELECT date, entity_type, entity_id, split_field, split_value, "
                           "content_type, metric FROM metric_daily GROUP BY ALL HAVING count(*) > 1)") == [(0,)]
    assert query(tmp_path, "SELECT count(*) FROM (SELECT date, entity_type, entity_id, split_field, split_value, "
                           "content_type FROM daily_status GROUP BY ALL HAVING count(*) > 1)") == [(0,)]
    # The warehouse grows with the 30 new days (about as many rows as the backfill's last 30 days), not with
    # the 30 rewrites of 30 days each. The DuckDB file keeps about one re-pull window of freed blocks, which
    # the next load reuses: once that is reached (day 10 here), the file grows only as the rows do.
    rows_now = query(tmp_path, "SELECT count(*) FROM metric_daily")[0][0]
    new_rows = rows_now - rows_after_backfill
    assert 0.5 * rows_of_last_30_days <= new_rows <= 1.5 * rows_of_last_30_days, (new_rows, rows_of_last_30_days)
    settled_size, settled_rows = settled
    assert warehouse.stat().st_size / settled_size <= 1.25 * rows_now / settled_rows, \
        (size_after_backfill, settled_size, warehouse.stat().st_size)

    # Final numbers equal the simulator's as of the last day.
    with running_sandbox(SandboxConfig(today=final_today, **WORLD)) as server:
        headers = {"Authorization": "Bearer pina_SANDBOX"}
        window = {"start_date": (final_today - dt.timedelta(days=89)).isoformat(),
                  "end_date": (final_today - dt.timedelta(days=1)).isoformat()}
        organic = requests.get(f"{server.base_url}/user_account/analytics", headers=headers, params=window).json()
        served = {(dt.date.fromisoformat(d["date"]), m): v for d in organic["all"]["daily_metrics"]
                  if d["data_status"] == "READY" for m, v in d["metrics"].items()}
        loaded = {(d, m): v for d, m, v in query(
            tmp_path, "SELECT m.date, m.metric, m.value FROM metric_daily m WHERE m.entity_type = 'user_account' "
                      "AND m.split_field = 'NO_SPLIT' AND m.content_type = 'ALL' AND m.is_final AND m.date >= ?",
            [final_today - dt.timedelta(days=89)])}
        assert len(served) > 500
        assert loaded == served
        account = query(tmp_path, "SELECT ad_account_id FROM ad_accounts ORDER BY 1 LIMIT 1")[0][0]
        campaigns = [r[0] for r in query(tmp_path, "SELECT campaign_id FROM campaigns WHERE ad_account_id = ?", [account])]
        columns = "SPEND_IN_MICRO_DOLLAR,PAID_IMPRESSION,TOTAL_CONVERSIONS"
        ads = requests.get(f"{server.base_url}/ad_accounts/{account}/campaigns/analytics", headers=headers,
                           params={**window, "granularity": "DAY", "columns": columns,
                                   "campaign_ids": ",".join(campaigns)}).json()
        served_ads = {(dt.date.fromisoformat(r["DATE"]), r["CAMPAIGN_ID"], c): float(r[c])
                      for r in ads for c in columns.split(",") if c in r}
        final_ads = {(d, c, m): v for d, c, m, v in query(
            tmp_path, "SELECT date, entity_id, metric, value FROM metric_daily WHERE entity_type = 'campaign' AND is_final "
                      "AND entity_id IN (SELECT unnest(?::VARCHAR[])) AND metric IN (SELECT unnest(?::VARCHAR[])) "
                      "AND date >= ?", [campaigns, columns.split(","), final_today - dt.timedelta(days=89)])}
        assert final_ads and all(served_ads.get(key) == value for key, value in final_ads.items())
