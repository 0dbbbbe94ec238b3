"""Client-side rate budgets, on a simulated clock (pure: no HTTP involved)."""

from __future__ import annotations

import pytest

from pipelines.pinterest.budgets import RateBudgets


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def budgets(clock: FakeClock, **per_minute) -> RateBudgets:
    return RateBudgets(per_minute, burst_seconds=1.0, clock=clock, sleep=clock.sleep)


def test_calls_are_paced_at_the_per_minute_budget_from_the_first_call():
    clock = FakeClock()
    limiter = budgets(clock, org_analytics=300)  # 5 per second
    waits = [limiter.acquire("org_analytics") for _ in range(101)]
    assert sum(1 for w in waits if w == 0) == 1  # one call finds out the server's state before the rest go
    assert clock.now == pytest.approx(20.0, abs=0.01)  # the other 100 at 5 per second


def test_an_idle_bucket_refills_to_a_one_second_burst():
    clock = FakeClock()
    limiter = budgets(clock, org_analytics=300)
    limiter.acquire("org_analytics")
    clock.sleep(60.0)
    waits = [limiter.acquire("org_analytics") for _ in range(6)]
    assert waits[:5] == [0, 0, 0, 0, 0] and waits[5] > 0


def test_categories_have_independent_budgets():
    clock = FakeClock()
    limiter = budgets(clock, org_analytics=60, ads_read=60)
    limiter.acquire("org_analytics")
    assert limiter.acquire("ads_read") == 0


def test_remaining_reported_by_the_server_caps_the_bucket():
    clock = FakeClock()
    limiter = budgets(clock, org_read=600)  # 10 per second
    limiter.observe("org_read", limit=None, remaining=0)
    assert limiter.acquire("org_read") == pytest.approx(0.1, abs=1e-6)


def test_a_lower_server_limit_becomes_the_pace():
    clock = FakeClock()
    limiter = budgets(clock, ads_analytics=6000)
    limiter.observe("ads_analytics", limit=60, remaining=59, reset_seconds=1)
    assert limiter.current_budget("ads_analytics") == 60
    limiter.acquire("ads_analytics")
    assert limiter.acquire("ads_analytics") == pytest.approx(1.0, abs=1e-6)


def test_a_daily_quotas_limit_is_no_per_minute_pace():
    """X-RateLimit-Limit counts the calls of the window X-RateLimit-Reset ends: a trial app's 1,000 calls a day
    (reset hours away), or a spent quota's 429 seconds before midnight (limit 1, a 3 s reset), are no budget a
    minute; the 429's wait is kept, no longer."""
    clock = FakeClock()
    limiter = budgets(clock, org_analytics=300)
    limiter.observe("org_analytics", limit=1000, remaining=990, reset_seconds=67_150)
    limiter.observe("org_analytics", limit=1, remaining=0, reset_seconds=3, refused=True)
    limiter.block("org_analytics", 3.0)
    assert limiter.current_budget("org_analytics") == 300
    assert limiter.acquire("org_analytics") == pytest.approx(3.0, abs=1e-6)


def test_a_higher_server_limit_never_raises_the_configured_budget():
    clock = FakeClock()
    limiter = budgets(clock, ads_read=60)
    limiter.observe("ads_read", limit=1000, remaining=999)
    assert limiter.current_budget("ads_read") == 60


def test_after_a_429_no_call_goes_until_the_wait_is_over():
    clock = FakeClock()
    limiter = budgets(clock, org_read=6000)
    limiter.block("org_read", 30.0)
    assert limiter.acquire("org_read") == pytest.approx(30.0, abs=0.02)


def test_a_budget_below_one_call_per_minute_is_rejected():
    with pytest.raises(ValueError, match="at least 1 call per minute"):
        RateBudgets({"org_read": 0})
