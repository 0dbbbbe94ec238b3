"""The reporting views: one row per entity per day, sums equal to the fact tables' over the same rows, zeros where the
ads API leaves them out, NULL where organic has no numbers yet or a division has no denominator, one attribution
setting per account and day, USING joins that chain, and top_pins over the final days."""

from __future__ import annotations

import datetime as dt
import shutil

import duckdb
import pytest

from pipelines.analyst_sql import open_read_only
from pipelines.reporting_views import ADS_LEVELS, REPORTING_VIEWS, TOP_PINS_DAYS
from tests.conftest import TODAY
from tests.pipeline_support import pipeline_env, run

# (view column, the fact table's column) for every count and money column of the ads views.
ADS_SUMS = (("spend * 1000000", "spend_in_micro_dollar"), ("impressions", "paid_impression"),
            ("clicks", "clickthrough_1"), ("conversions", "total_conversions"), ("checkouts", "total_checkout"),
            ("checkout_value * 1000000", "total_checkout_value_in_micro_dollar"))
PIN_SUMS = (("impressions", "impression"), ("saves", "save"), ("pin_clicks", "pin_click"),
            ("outbound_clicks", "outbound_click"))
OTHER_SETTING = "CLICK_7D|ENGAGEMENT_1D|VIEW_0D|TIME_OF_CONVERSION"


@pytest.fixture(scope="module")
def con(demo_warehouse):
    with open_read_only(demo_warehouse) as connection:
        yield connection


@pytest.fixture
def writable(demo_warehouse, tmp_path) -> duckdb.DuckDBPyConnection:
    """A writable copy of the demo warehouse (its views are bound to its own tables)."""
    shutil.copy(demo_warehouse / "warehouse.duckdb", tmp_path / "warehouse.duckdb")
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as connection:
        yield connection


def per_day_differences(con, view: str, table: str, sums, where: str = "TRUE") -> list[tuple]:
    """The (date, column) pairs whose sum over the view differs from the sum over the fact table's rows (`where`):
    the views read the numbers as stored (ads zeros the API left out are stored as 0)."""
    differences = []
    for view_column, fact in sums:
        differences += con.execute(f"""
            SELECT coalesce(v.date, f.date), '{fact}' FROM
                (SELECT date, sum({view_column}) AS total FROM {view} GROUP BY date) v
            FULL JOIN (SELECT date, sum({fact}) AS total FROM {table} WHERE {where} GROUP BY date) f
            USING (date)
            WHERE v.total IS DISTINCT FROM f.total""").fetchall()
    assert con.execute(f"SELECT count(DISTINCT date) FROM {view}").fetchone()[0] > 0
    return differences


@pytest.mark.parametrize("level", ADS_LEVELS, ids=[level.view for level in ADS_LEVELS])
def test_an_ads_views_sums_equal_its_fact_tables_per_day_and_column(con, level):
    assert per_day_differences(con, level.view, level.fact_table, ADS_SUMS) == []


def test_pin_performances_sums_equal_pin_daily_per_day_and_column(con):
    assert per_day_differences(con, "pin_performance", "pin_daily", PIN_SUMS,
                               where="data_status NOT LIKE 'BEFORE%'") == []


@pytest.mark.parametrize("name", list(REPORTING_VIEWS))
def test_a_view_has_one_row_per_key(con, name):
    key = ", ".join(REPORTING_VIEWS[name].key)
    rows, keys = con.execute(f"SELECT count(*), count(DISTINCT ({key})) FROM {name}").fetchone()
    assert rows == keys and rows > 0


@pytest.mark.parametrize("level", ADS_LEVELS, ids=[level.view for level in ADS_LEVELS])
def test_an_ads_view_has_a_row_for_every_row_of_its_fact_table_under_one_setting(con, level):
    assert con.execute(f"SELECT count(*) FROM {level.view}").fetchone() == \
        con.execute(f"SELECT count(*) FROM {level.fact_table}").fetchone()


def test_counts_are_bigint_and_money_exact_decimals(con):
    types = dict(con.execute("SELECT column_name, data_type FROM information_schema.columns "
                             "WHERE table_name = 'ad_performance'").fetchall())
    assert [types[c] for c in ("impressions", "clicks", "conversions", "checkouts")] == ["BIGINT"] * 4
    assert (types["spend"], types["checkout_value"], types["roas"]) == ("DECIMAL(18,6)", "DECIMAL(18,6)", "DOUBLE")
    types = dict(con.execute("SELECT column_name, data_type FROM information_schema.columns "
                             "WHERE table_name = 'top_pins'").fetchall())
    assert {types[c] for c in ("impressions", "saves", "pin_clicks", "outbound_clicks", "engagements")} == {"BIGINT"}


def test_a_checkout_value_the_ads_api_left_out_reads_zero_and_roas_is_zero_not_null(con):
    """The API leaves a requested zero out of its rows; normalization stores it as 0."""
    omitted = con.execute("SELECT count(*) FROM campaign_daily WHERE total_checkout_value_in_micro_dollar = 0 "
                          "AND spend_in_micro_dollar > 0").fetchone()[0]
    assert omitted > 0  # the default world has campaigns spending without checkouts
    assert con.execute("SELECT count(*) FROM campaign_daily WHERE total_checkout_value_in_micro_dollar IS NULL"
                       ).fetchone()[0] == 0
    assert con.execute("""
        SELECT count(*) FROM campaign_daily f JOIN campaign_performance v USING (date, campaign_id)
        WHERE f.total_checkout_value_in_micro_dollar = 0 AND f.spend_in_micro_dollar > 0
          AND v.checkout_value = 0 AND v.roas = 0""").fetchone()[0] == omitted


def test_a_row_without_values_of_metrics_not_requested_has_null_counts_and_rates(writable):
    """A row with spend only (stored so when only spend was requested, or normalized before requested metrics were
    filled): what was not requested is unknown, not a measured zero."""
    campaign, account, currency = writable.execute(
        "SELECT campaign_id, ad_account_id, currency FROM campaign_daily LIMIT 1").fetchone()
    day = writable.execute("SELECT min(date) - 1 FROM campaign_daily").fetchone()[0]
    writable.execute("INSERT INTO campaign_daily (date, campaign_id, ad_account_id, currency, attribution, is_final, "
                     "extracted_at, spend_in_micro_dollar) VALUES (?, ?, ?, ?, 'A', true, now(), 1234567)",
                     [day, campaign, account, currency])
    row = writable.execute("SELECT spend, impressions, clicks, ctr, cpc, cpm, conversions, checkout_value, roas "
                           "FROM campaign_performance WHERE date = ? AND campaign_id = ?", [day, campaign]).fetchall()
    assert [tuple(map(str, r)) for r in row] == [("1.234567", *["None"] * 8)]


def differs(rate: str, recomputed: str) -> str:
    """An SQL condition: `rate` is not `recomputed` (both NULL, or equal to the last few bits of a DOUBLE)."""
    return (f"(({rate}) IS NULL) <> (({recomputed}) IS NULL) "
            f"OR abs(({rate}) - ({recomputed})) > 1e-12 * greatest(1, abs({recomputed}))")


def test_rates_are_recomputed_from_the_rows_counts_and_null_without_a_denominator(con):
    conditions = [differs("ctr", "clicks / nullif(impressions, 0)"), differs("cpc", "spend::DOUBLE / nullif(clicks, 0)"),
                  differs("cpm", "1000 * spend::DOUBLE / nullif(impressions, 0)"),
                  differs("roas", "checkout_value::DOUBLE / nullif(spend::DOUBLE, 0)")]
    assert con.execute(f"SELECT count(*) FROM ad_performance WHERE {' OR '.join(conditions)}").fetchone()[0] == 0
    assert con.execute("SELECT count(*) FROM ad_performance WHERE clicks = 0 AND cpc IS NULL").fetchone()[0] > 0


def test_pin_performance_keeps_processing_days_with_null_counts_and_leaves_out_days_before_a_pin(con):
    processing = con.execute("SELECT count(*) FROM pin_daily WHERE data_status = 'PROCESSING'").fetchone()[0]
    before = con.execute("SELECT count(*) FROM pin_daily WHERE data_status LIKE 'BEFORE%'").fetchone()[0]
    assert processing > 0 and before > 0
    assert con.execute("SELECT count(*) FROM pin_performance WHERE impressions IS NULL AND saves IS NULL "
                       "AND NOT is_final").fetchone()[0] == processing
    assert con.execute("SELECT count(*) FROM pin_performance p JOIN pins USING (pin_id) "
                       "WHERE p.date < pins.created_at::DATE").fetchone()[0] == 0
    assert con.execute("SELECT count(*) FROM pin_performance").fetchone()[0] == \
        con.execute("SELECT count(*) FROM pin_daily").fetchone()[0] - before


def test_pin_engagement_rate_is_saves_clicks_and_outbound_clicks_per_impression(con):
    assert con.execute("""
        SELECT count(*) FROM pin_performance
        WHERE engagements IS DISTINCT FROM saves + pin_clicks + outbound_clicks
           OR engagement_rate IS DISTINCT FROM engagements / nullif(impressions, 0)""").fetchone()[0] == 0


def test_the_ads_views_show_the_newest_extractions_attribution_setting_of_an_account_and_day(writable):
    account, day = writable.execute("SELECT ad_account_id, max(date) FROM campaign_daily GROUP BY ALL "
                                    "ORDER BY ad_account_id LIMIT 1").fetchone()
    # The same account-day again under other settings, extracted later, with ten times the spend.
    writable.execute("INSERT INTO campaign_daily SELECT * REPLACE (? AS attribution, extracted_at + INTERVAL 1 HOUR "
                     "AS extracted_at, 10 * spend_in_micro_dollar AS spend_in_micro_dollar) FROM campaign_daily "
                     "WHERE ad_account_id = ? AND date = ?", [OTHER_SETTING, account, day])
    shown = writable.execute("SELECT DISTINCT attribution FROM campaign_performance WHERE ad_account_id = ? AND date = ?",
                             [account, day]).fetchall()
    assert shown == [(OTHER_SETTING,)]
    assert per_day_differences(writable, "campaign_performance", "campaign_daily", ADS_SUMS, where=(
        f"NOT (ad_account_id = '{account}' AND date = '{day}' AND attribution <> '{OTHER_SETTING}')")) == []
    rows = writable.execute("SELECT count(*), count(DISTINCT (date, campaign_id)) FROM campaign_performance").fetchone()
    assert rows[0] == rows[1]


@pytest.mark.parametrize("sql, expected_from", [
    ("FROM ad_performance JOIN ad_group_performance USING (date, ad_account_id, campaign_id, ad_group_id) "
     "JOIN campaign_performance USING (date, ad_account_id, campaign_id) JOIN ad_accounts USING (ad_account_id)",
     "ad_performance"),
    ("FROM campaign_performance JOIN campaigns USING (campaign_id, ad_account_id) JOIN ad_accounts USING (ad_account_id)",
     "campaign_performance"),
    ("FROM ad_performance JOIN ads USING (ad_id, ad_group_id, campaign_id, ad_account_id, pin_id) "
     "JOIN ad_groups USING (ad_group_id, campaign_id, ad_account_id) JOIN campaigns USING (campaign_id, ad_account_id)",
     "ad_performance"),
    ("FROM pin_performance JOIN pins USING (pin_id, board_id) JOIN boards USING (board_id)", "pin_performance"),
    ("FROM top_pins JOIN pins USING (pin_id, board_id) JOIN boards USING (board_id)", "top_pins"),
])
def test_using_joins_chain_between_views_and_dimensions(con, sql, expected_from):
    assert con.execute(f"SELECT count(*) {sql}").fetchone() == con.execute(f"SELECT count(*) FROM {expected_from}").fetchone()


def test_paid_and_organic_numbers_of_a_promoted_pin_join_using_date_and_pin_id(con):
    joined = con.execute("SELECT count(*), sum(a.impressions), sum(p.impressions) FROM ad_performance a "
                         "JOIN pin_performance p USING (date, pin_id)").fetchone()
    assert joined[0] > 0 and joined[1] > 0 and joined[2] > 0


def test_top_pins_covers_the_28_days_ending_on_the_newest_day_final_for_every_pin(con):
    newest_final = con.execute("SELECT max(date) FROM (SELECT date FROM pin_daily WHERE data_status NOT LIKE 'BEFORE%' "
                               "GROUP BY date HAVING bool_and(is_final))").fetchone()[0]
    assert newest_final < con.execute("SELECT max(date) FROM pin_daily").fetchone()[0]  # the demo has days not final
    first = newest_final - dt.timedelta(days=TOP_PINS_DAYS - 1)
    assert con.execute("SELECT DISTINCT window_first_day, window_last_day FROM top_pins").fetchall() == \
        [(first, newest_final)]
    expected = con.execute("""
        SELECT pin_id, count(*), sum(impression), sum(save), sum(outbound_click) FROM pin_daily
        WHERE date BETWEEN ? AND ? AND data_status NOT LIKE 'BEFORE%' GROUP BY pin_id ORDER BY pin_id""",
                           [first, newest_final]).fetchall()
    assert con.execute("SELECT pin_id, final_days, impressions, saves, outbound_clicks FROM top_pins "
                       "ORDER BY pin_id").fetchall() == expected


@pytest.mark.parametrize("metric", ["impressions", "saves", "outbound_clicks"])
def test_top_pins_ranks_by_each_metric_with_ties_sharing_a_rank(con, metric):
    rows = con.execute(f"SELECT {metric}, {metric}_rank FROM top_pins ORDER BY {metric}_rank").fetchall()
    assert rows[0][1] == 1 and rows[0][0] == max(value for value, _ in rows)
    for (value, rank), (next_value, next_rank) in zip(rows, rows[1:], strict=False):
        assert next_value <= value and (next_rank == rank) == (next_value == value)



def test_a_metric_not_requested_is_null_not_zero_and_so_are_its_rates(sandbox, tmp_path, monkeypatch):
    """PINTEREST_ADS_COLUMNS without CLICKTHROUGH_1 and TOTAL_CHECKOUT_VALUE_IN_MICRO_DOLLAR: the views read clicks,
    ctr and roas as NULL (unknown), never as a measured 0; the requested spend and impressions are there."""
    pipeline_env(monkeypatch, tmp_path, sandbox, TODAY, PINTEREST_ADS_COLUMNS="SPEND_IN_MICRO_DOLLAR,PAID_IMPRESSION")
    assert run(TODAY - dt.timedelta(days=2), TODAY - dt.timedelta(days=1), only="ads") == 0
    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as con:
        counts = con.execute("SELECT count(*), count(spend), count(impressions), count(clicks), count(ctr), "
                             "count(conversions), count(checkout_value), count(roas) FROM campaign_performance").fetchone()
    assert counts[0] > 0 and counts[1:] == (counts[0], counts[0], 0, 0, 0, 0, 0)
