"""Request planning is pure: windows of at most 90 days, pins in chunks of 100 of one type, the call formula."""

from __future__ import annotations

import datetime as dt
import math

import pytest

from pipelines.organic.extract import PinRef, plan_organic
from pipelines.planning import DateRange, chunks, plan_windows

TODAY = dt.date(2026, 11, 28)


def days_back(n: int) -> dt.date:
    return TODAY - dt.timedelta(days=n)


@pytest.mark.parametrize("start_back, end_back, windows", [(1, 1, 1), (89, 1, 1), (89, 0, 1), (30, 10, 1)])
def test_reachable_ranges_need_ceil_days_over_90_windows(start_back, end_back, windows):
    plan = plan_windows(DateRange(days_back(start_back), days_back(end_back)), TODAY)
    assert len(plan.windows) == windows == math.ceil((start_back - end_back + 1) / 90)
    assert plan.unreachable is None
    assert all(w.days <= 90 for w in plan.windows)
    assert plan.windows[0].start == days_back(start_back) and plan.windows[-1].end == days_back(end_back)


def test_dates_older_than_the_window_are_unreachable_and_never_planned():
    plan = plan_windows(DateRange(days_back(120), days_back(1)), TODAY)
    assert plan.unreachable == DateRange(days_back(120), days_back(90))
    assert plan.windows == (DateRange(days_back(89), days_back(1)),)


def test_a_range_entirely_out_of_the_window_plans_no_call():
    plan = plan_windows(DateRange(days_back(200), days_back(150)), TODAY)
    assert plan.windows == () and plan.unreachable == DateRange(days_back(200), days_back(150))


def test_windows_never_reach_past_today():
    plan = plan_windows(DateRange(days_back(3), TODAY + dt.timedelta(days=5)), TODAY)
    assert plan.windows == (DateRange(days_back(3), TODAY),)


@pytest.mark.parametrize("pins, splits, days", [(0, (), 1), (1, ("APP_TYPE",), 1), (500, ("APP_TYPE",), 90),
                                                (250, ("APP_TYPE", "SOURCE"), 60), (101, (), 89)])
def test_organic_call_count_is_the_documented_formula(pins, splits, days):
    refs = [PinRef(str(10**17 + i), i % 7 == 0) for i in range(pins)]
    videos = sum(p.is_video for p in refs)
    plan = plan_organic(DateRange(days_back(days), days_back(1) if days <= 90 else TODAY), TODAY, refs, splits)
    pin_batches = math.ceil((pins - videos) / 100) + math.ceil(videos / 100)  # one pin type per bulk call
    assert plan.analytics_calls == math.ceil(days / 90) * (1 + len(splits) + pin_batches)
    assert all(len(batch) <= 100 and len({p.is_video for p in batch}) == 1 for batch in plan.pin_batches)
    assert sorted(p.pin_id for batch in plan.pin_batches for p in batch) == sorted(p.pin_id for p in refs)


def test_unknown_split_field_is_rejected_before_any_call():
    with pytest.raises(ValueError, match="BY_MOOD"):
        plan_organic(DateRange(days_back(5), days_back(1)), TODAY, [], ["BY_MOOD"])


def test_chunks_cover_everything_in_order():
    assert chunks(list(range(7)), 3) == [[0, 1, 2], [3, 4, 5], [6]]
    with pytest.raises(ValueError):
        chunks([1], 0)


def test_a_range_must_not_end_before_it_starts():
    with pytest.raises(ValueError, match="after it ends"):
        DateRange(TODAY, days_back(1))
