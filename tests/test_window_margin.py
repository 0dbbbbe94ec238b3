"""One day of margin: the planners never ask for the API's oldest day (on that boundary Pinterest answers "You can
only get data from the last 90 days."). Sync windows start at most 89 days back, async reports at most 913; the
dates in between are reported like every other unreachable date. Pure functions."""

from __future__ import annotations

import datetime as dt

import pytest

from pipelines.ads.reports import plan_report_ranges
from pipelines.planning import BOUNDARY_MARGIN_DAYS, REPORT_BACK_DAYS, SYNC_BACK_DAYS, DateRange, plan_windows
from pipelines.range_policy import resolve_range

TODAY = dt.date(2026, 11, 28)


def days_back(n: int) -> dt.date:
    return TODAY - dt.timedelta(days=n)


def env(**extra: str) -> dict[str, str]:
    """Settings for `resolve_range` with a first partition long ago, so only the API's reach limits a range."""
    return {"PINTEREST_ETL_TODAY": TODAY.isoformat(), "PINTEREST_START_DATE": "2020-01-01", **extra}


def test_the_margin_is_one_day_inside_the_api_limits():
    assert BOUNDARY_MARGIN_DAYS == 1 and SYNC_BACK_DAYS == 89 and REPORT_BACK_DAYS == 913


def test_a_sync_window_starts_89_days_back_and_the_90th_day_is_unreachable():
    plan = plan_windows(DateRange(days_back(90), days_back(1)), TODAY)
    assert plan.windows == (DateRange(days_back(89), days_back(1)),)
    assert plan.unreachable == DateRange(days_back(90), days_back(90))


def test_a_range_starting_89_days_back_is_reachable_in_full():
    plan = plan_windows(DateRange(days_back(89), TODAY), TODAY)
    assert plan.windows == (DateRange(days_back(89), TODAY),) and plan.unreachable is None


def test_async_reports_are_asked_for_at_most_913_days_back():
    ranges = plan_report_ranges(DateRange(days_back(1000), days_back(90)), TODAY)
    assert ranges[0].start == days_back(913) and ranges[-1].end == days_back(90)


def test_no_async_report_is_asked_for_a_range_ending_914_days_back():
    assert plan_report_ranges(DateRange(days_back(1000), days_back(914)), TODAY) == []


def test_the_default_start_of_a_run_is_89_days_back():
    assert resolve_range(None, None, env()) == (days_back(89), days_back(1))


@pytest.mark.parametrize("only, oldest_end", [("organic", 89), (None, 913), ("ads", 913)])
def test_a_run_entirely_older_than_the_planners_reach_is_refused_before_any_call(only, oldest_end):
    assert resolve_range(days_back(1000), days_back(oldest_end), env(), only=only)[1] == days_back(oldest_end)
    with pytest.raises(ValueError, match=f"dates are requested up to {oldest_end} days back"):
        resolve_range(days_back(1000), days_back(oldest_end + 1), env(), only=only)
