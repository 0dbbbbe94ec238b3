"""The data checks find what they are meant to find (and only in the run's scope)."""

from __future__ import annotations

import datetime as dt

import pytest

from pipelines.planning import DateRange
from pipelines.quality import ADS_CHECKS, ORGANIC_CHECKS, run_check
from pipelines.warehouse import Warehouse
from tests.wide_support import INCOMING_METRIC, INCOMING_STATUS, publish_incoming, start_incoming

DAY = dt.date(2026, 11, 1)
SCOPE = DateRange(DAY, DAY)
NOW = "2026-11-02 00:00:00+00"


@pytest.fixture
def con(tmp_path):
    warehouse = Warehouse(tmp_path / "warehouse.duckdb")
    with warehouse.connect() as connection:
        warehouse.ensure_schema(connection)
        start_incoming(connection)
        yield connection


def metric(con, entity_type, entity_id, name, value, date=DAY, split=("NO_SPLIT", "ALL"), content_type="ALL"):
    """One metric value as the lake holds it (a long row), to be loaded by `checked`."""
    con.execute(f"INSERT INTO {INCOMING_METRIC} VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'READY', true, ?)",
                [date, entity_type, entity_id, *split, content_type, name, value, NOW])


def checked(con, checks, name, types=("user_account", "pin"), scope=SCOPE, stale_before=None):
    """The named check's outcome on the rows stated so far, loaded into the wide tables as a load would."""
    publish_incoming(con)
    return run_check(con, next(c for c in checks if c.name == name), types, scope, stale_before)


def violations(con, checks, name, types=("user_account", "pin"), scope=SCOPE) -> int:
    return checked(con, checks, name, types, scope).violations


def test_clean_organic_rows_pass_every_check(con):
    metric(con, "user_account", "1", "IMPRESSION", 100)
    metric(con, "pin", "7", "IMPRESSION", 60)
    metric(con, "pin", "7", "SAVE_RATE", 0.1)
    publish_incoming(con)
    assert all(run_check(con, c, ("user_account", "pin"), SCOPE).passed for c in ORGANIC_CHECKS)


def test_duplicates_negative_counts_and_rates_out_of_range_are_found(con):
    metric(con, "pin", "7", "IMPRESSION", 5)
    metric(con, "pin", "7", "IMPRESSION", 5)
    metric(con, "pin", "8", "SAVE", -1)
    metric(con, "pin", "9", "SAVE_RATE", 1.5)
    assert violations(con, ORGANIC_CHECKS, "unique_key") == 1
    assert violations(con, ORGANIC_CHECKS, "no_negative_counts") == 1
    assert violations(con, ORGANIC_CHECKS, "rates_within_0_1") == 1


def test_pins_above_the_account_are_found(con):
    metric(con, "user_account", "1", "IMPRESSION", 100)
    metric(con, "pin", "7", "IMPRESSION", 70)
    metric(con, "pin", "8", "IMPRESSION", 40)
    assert violations(con, ORGANIC_CHECKS, "pin_totals_within_account_totals") == 1


def test_two_users_pins_are_compared_with_both_accounts_once(con):
    # Two Pinterest users, each with pins within their own account's totals: no account row may be counted
    # once per pin, nor a pin once per account (the check ran a join of every pin with every account).
    metric(con, "user_account", "1", "IMPRESSION", 100)
    metric(con, "user_account", "2", "IMPRESSION", 50)
    metric(con, "pin", "7", "IMPRESSION", 90)
    metric(con, "pin", "8", "IMPRESSION", 40)
    assert violations(con, ORGANIC_CHECKS, "pin_totals_within_account_totals") == 0
    metric(con, "pin", "9", "IMPRESSION", 21)
    assert violations(con, ORGANIC_CHECKS, "pin_totals_within_account_totals") == 1


def test_pins_are_compared_with_the_accounts_organic_totals_not_paid_and_organic_together(con):
    metric(con, "user_account", "1", "IMPRESSION", 1000, content_type="ALL")
    metric(con, "user_account", "1", "IMPRESSION", 100, content_type="ORGANIC")
    metric(con, "user_account", "1", "IMPRESSION", 900, content_type="PAID")
    metric(con, "pin", "7", "IMPRESSION", 150)
    assert violations(con, ORGANIC_CHECKS, "pin_totals_within_account_totals") == 1  # 150 > 100, though < 1000


def test_pins_are_compared_with_the_accounts_all_totals_where_organic_is_not_stored(con):
    metric(con, "user_account", "1", "IMPRESSION", 100, content_type="ALL")
    metric(con, "user_account", "1", "IMPRESSION", 60, content_type="PAID")
    metric(con, "pin", "7", "IMPRESSION", 90)
    assert violations(con, ORGANIC_CHECKS, "pin_totals_within_account_totals") == 0


def test_one_metric_of_each_content_type_is_no_duplicate_key(con):
    for content_type, value in (("ALL", 10), ("ORGANIC", 4), ("PAID", 6)):
        metric(con, "user_account", "1", "IMPRESSION", value, content_type=content_type)
    assert violations(con, ORGANIC_CHECKS, "unique_key") == 0
    metric(con, "user_account", "1", "IMPRESSION", 4, content_type="ORGANIC")
    assert violations(con, ORGANIC_CHECKS, "unique_key") == 1


def test_rows_outside_the_runs_dates_are_not_checked_again(con):
    metric(con, "pin", "8", "SAVE", -1, date=DAY - dt.timedelta(days=1))
    assert violations(con, ORGANIC_CHECKS, "no_negative_counts") == 0


def test_ads_that_do_not_add_up_to_their_ad_group_are_found(con):
    attribution = ("ATTRIBUTION", "CLICK_30D|ENGAGEMENT_30D|VIEW_1D|TIME_OF_AD_ACTION")
    con.execute("INSERT INTO ads (ad_id, ad_group_id, campaign_id, ad_account_id) VALUES ('a1', 'g1', 'c1', 'x'), "
                "('a2', 'g1', 'c1', 'x')")
    metric(con, "ad", "a1", "SPEND_IN_MICRO_DOLLAR", 1_000_000, split=attribution)
    metric(con, "ad", "a2", "SPEND_IN_MICRO_DOLLAR", 2_000_000, split=attribution)
    metric(con, "ad_group", "g1", "SPEND_IN_MICRO_DOLLAR", 3_000_000, split=attribution)
    types = ("ad_account", "campaign", "ad_group", "ad")
    assert violations(con, ADS_CHECKS, "ads_add_up_to_ad_groups", types) == 0
    con.execute(f"UPDATE {INCOMING_METRIC} SET value = 3_500_000 WHERE entity_id = 'g1'")
    assert violations(con, ADS_CHECKS, "ads_add_up_to_ad_groups", types) == 1


def status(con, entity_type, entity_id, date, data_status, is_final):
    con.execute(f"INSERT INTO {INCOMING_STATUS} VALUES (?, ?, ?, 'NO_SPLIT', 'ALL', 'ALL', ?, ?, ?)",
                [date, entity_type, entity_id, data_status, is_final, NOW])


def test_preliminary_days_older_than_the_repull_window_are_flagged(con):
    assert not next(c for c in ORGANIC_CHECKS if c.name == "no_stale_preliminary_rows").blocking
    stale_before = DAY - dt.timedelta(days=5)
    status(con, "user_account", "1", stale_before - dt.timedelta(days=1), "ESTIMATE", False)  # stale
    status(con, "pin", "7", stale_before - dt.timedelta(days=2), "PROCESSING", False)  # stale
    status(con, "pin", "7", stale_before, "ESTIMATE", False)  # still re-pulled by the schedule
    status(con, "pin", "8", stale_before - dt.timedelta(days=9), "BEFORE_PIN_CREATED", False)  # final in effect
    status(con, "pin", "9", stale_before - dt.timedelta(days=9), "READY", True)
    status(con, "campaign", "5", stale_before - dt.timedelta(days=9), None, False)  # another source's row
    stale = "no_stale_preliminary_rows"
    assert checked(con, ORGANIC_CHECKS, stale, ("user_account", "pin"), stale_before=stale_before).violations == 2
    assert checked(con, ORGANIC_CHECKS, stale, ("campaign",), stale_before=stale_before).violations == 1


def test_a_failing_check_names_its_offending_rows(con):
    metric(con, "pin", "8", "SAVE", -1)
    metric(con, "pin", "9", "SAVE", -3)
    outcome = checked(con, ORGANIC_CHECKS, "no_negative_counts", ("pin",))
    assert (outcome.passed, outcome.violations) == (False, 2)
    assert outcome.sample == (
        {"date": "2026-11-01", "entity_type": "pin", "entity_id": "8", "split_field": "NO_SPLIT", "split_value": "ALL",
         "content_type": "ALL", "metric": "SAVE", "value": -1},
        {"date": "2026-11-01", "entity_type": "pin", "entity_id": "9", "split_field": "NO_SPLIT", "split_value": "ALL",
         "content_type": "ALL", "metric": "SAVE", "value": -3})
    assert "entity_id=8, split_field=NO_SPLIT, split_value=ALL, content_type=ALL, metric=SAVE, value=-1" in outcome.describe()


def test_the_sample_of_a_check_holds_at_most_five_rows_and_the_count_all_of_them(con):
    for pin in range(8):
        metric(con, "pin", str(pin), "SAVE", -1)
    outcome = checked(con, ORGANIC_CHECKS, "no_negative_counts", ("pin",))
    assert outcome.violations == 8
    assert [row["entity_id"] for row in outcome.sample] == ["0", "1", "2", "3", "4"]


def test_a_sum_that_does_not_add_up_names_the_parent_the_day_and_both_values(con):
    attribution = ("ATTRIBUTION", "CLICK_30D")
    con.execute("INSERT INTO ads (ad_id, ad_group_id, campaign_id, ad_account_id) VALUES ('a1', 'g1', 'c1', 'x')")
    metric(con, "ad", "a1", "SPEND_IN_MICRO_DOLLAR", 2_000_000_000, split=attribution)
    metric(con, "ad_group", "g1", "SPEND_IN_MICRO_DOLLAR", 2_000_000, split=attribution)
    outcome = checked(con, ADS_CHECKS, "ads_add_up_to_ad_groups", ("ad", "ad_group"))
    assert outcome.sample == ({"date": "2026-11-01", "entity_type": "ad_group", "entity_id": "g1",
                               "split_value": "CLICK_30D", "metric": "SPEND_IN_MICRO_DOLLAR", "value": 2_000_000,
                               "ads_sum": 2_000_000_000},)


ADS_TYPES = ("ad_account", "campaign", "ad_group", "ad")
ATTRIBUTION = ("ATTRIBUTION", "CLICK_30D")


def test_an_ad_whose_ad_group_has_no_value_that_day_is_compared_with_zero(con):
    con.execute("INSERT INTO ads (ad_id, ad_group_id, campaign_id, ad_account_id) VALUES ('a1', 'g1', 'c1', 'x')")
    metric(con, "ad", "a1", "SPEND_IN_MICRO_DOLLAR", 2_000_000, split=ATTRIBUTION)
    metric(con, "ad", "a1", "PAID_IMPRESSION", 0, split=ATTRIBUTION)
    metric(con, "ad_group", "g1", "PAID_IMPRESSION", 0, split=ATTRIBUTION)  # present, but without spend
    outcome = checked(con, ADS_CHECKS, "ads_add_up_to_ad_groups", ADS_TYPES)
    assert outcome.sample == ({"date": "2026-11-01", "entity_type": "ad_group", "entity_id": "g1",
                               "split_value": "CLICK_30D", "metric": "SPEND_IN_MICRO_DOLLAR", "value": None,
                               "ads_sum": 2_000_000},)


def test_a_parent_whose_children_have_no_rows_is_not_a_violation(con):
    con.execute("INSERT INTO ad_groups (ad_group_id, campaign_id, ad_account_id) VALUES ('g1', 'c1', 'x')")
    metric(con, "campaign", "c1", "SPEND_IN_MICRO_DOLLAR", 2_000_000, split=ATTRIBUTION)  # its ad groups were skipped
    assert violations(con, ADS_CHECKS, "ad_groups_add_up_to_campaigns", ADS_TYPES) == 0


def test_ads_rows_of_entities_missing_from_the_dimensions_are_found(con):
    con.execute("INSERT INTO campaigns (campaign_id, ad_account_id) VALUES ('c1', 'x')")
    metric(con, "campaign", "c1", "SPEND_IN_MICRO_DOLLAR", 1, split=ATTRIBUTION)
    metric(con, "ad", "a9", "SPEND_IN_MICRO_DOLLAR", 1, split=ATTRIBUTION)
    status(con, "ad_group", "g9", DAY, None, False)
    outcome = checked(con, ADS_CHECKS, "ads_rows_have_known_entities", ADS_TYPES)
    assert outcome.sample == (
        {"entity_type": "ad", "entity_id": "a9", "first_date": "2026-11-01", "last_date": "2026-11-01"},
        {"entity_type": "ad_group", "entity_id": "g9", "first_date": "2026-11-01", "last_date": "2026-11-01"})


def test_ads_entities_whose_parent_is_missing_null_or_of_another_campaign_are_found(con):
    con.execute("INSERT INTO ad_accounts (ad_account_id) VALUES ('x')")
    con.execute("INSERT INTO campaigns (campaign_id, ad_account_id) VALUES ('c1', 'x'), ('c2', 'x'), ('c3', 'y')")
    con.execute("INSERT INTO ad_groups (ad_group_id, campaign_id, ad_account_id) VALUES ('g1', 'c1', 'x')")
    con.execute("INSERT INTO ads (ad_id, ad_group_id, campaign_id, ad_account_id) VALUES ('a1', 'g1', 'c1', 'x'), "
                "('a2', NULL, 'c1', 'x'), ('a3', 'g9', 'c1', 'x'), ('a4', 'g1', 'c2', 'x')")
    assert violations(con, ADS_CHECKS, "campaigns_have_known_ad_account", ADS_TYPES) == 1
    assert violations(con, ADS_CHECKS, "ad_groups_have_known_campaign", ADS_TYPES) == 0
    outcome = checked(con, ADS_CHECKS, "ads_have_known_ad_group", ADS_TYPES)
    assert [row["ad_id"] for row in outcome.sample] == ["a2", "a3", "a4"]


def test_dimension_keys_that_repeat_or_are_missing_are_found(con):
    con.execute("INSERT INTO pins (pin_id) VALUES ('7'), ('7'), ('8'), (NULL)")
    con.execute("INSERT INTO pin_lifetime VALUES ('7', 'SAVE', 1, ?), ('7', 'SAVE', 2, ?), ('7', 'IMPRESSION', 3, ?)",
                [NOW] * 3)
    assert violations(con, ORGANIC_CHECKS, "unique_key_pins") == 2
    assert violations(con, ORGANIC_CHECKS, "unique_key_pin_lifetime") == 1
    con.execute("INSERT INTO ads (ad_id) VALUES (NULL)")
    assert violations(con, ADS_CHECKS, "unique_key_ads", ADS_TYPES) == 1


def test_negative_and_non_finite_lifetime_totals_are_found(con):
    con.execute("INSERT INTO pin_lifetime VALUES ('7', 'SAVE', -5, ?), ('8', 'SAVE', 'nan', ?), "
                "('9', 'SAVE', 'inf', ?), ('10', 'SAVE', 0, ?)", [NOW] * 4)
    outcome = checked(con, ORGANIC_CHECKS, "pin_lifetime_finite_non_negative", ("pin",))
    assert outcome.sample == ({"pin_id": "7", "metric": "SAVE", "value": -5},
                              {"pin_id": "8", "metric": "SAVE", "value": "nan"},
                              {"pin_id": "9", "metric": "SAVE", "value": "inf"})


def test_pins_are_compared_with_each_accounts_organic_totals_chosen_per_day_never_all_for_a_metric_organic_lacks(con):
    # Account 1's ORGANIC answer of the day has impressions but no saves: its saves are unknown, not ALL's (paid
    # included), as in user_account_organic_daily; account 2's organic saves alone are below the pins' saves.
    metric(con, "user_account", "1", "IMPRESSION", 100, content_type="ORGANIC")
    metric(con, "user_account", "1", "IMPRESSION", 1000, content_type="ALL")
    metric(con, "user_account", "1", "SAVE", 1000, content_type="ALL")
    metric(con, "user_account", "2", "SAVE", 10, content_type="ORGANIC")
    metric(con, "pin", "7", "SAVE", 500)
    assert violations(con, ORGANIC_CHECKS, "pin_totals_within_account_totals") == 1  # 500 > 10, though < 1010
