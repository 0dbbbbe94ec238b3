"""Client-side rate budgets: one token bucket per rate-limit category, shared by every thread.

The bucket paces calls at the category's per-minute budget (with a small burst), so the client slows
down before the server has to say 429. It adapts to what the server reports: a lower per-minute
`X-RateLimit-Limit` becomes the pace, and the bucket never holds more than `X-RateLimit-Remaining`.
After a 429 it is emptied until the server's wait is over.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

# Per-minute budgets per category. ads_analytics 300 and ads_read 1000 are Pinterest's published
# Standard-access limits; the published table is truncated before org_analytics/org_read/org_write,
# so 300/1000/1000 are assumptions (the same as the simulator's defaults). Configurable.
DEFAULT_BUDGETS_PER_MINUTE = {
    "org_analytics": 300,
    "org_read": 1000,
    "org_write": 1000,
    "ads_analytics": 300,
    "ads_read": 1000,
}
DEFAULT_BURST_SECONDS = 1.0


class _Bucket:
    def __init__(self, per_minute: int, burst_seconds: float, now: float):
        self.burst_seconds = burst_seconds
        self.set_budget(per_minute)
        # Start with a single call: its answer tells the server's remaining budget (it may be spent by an
        # earlier run in the same minute) before the other threads go.
        self.tokens = 1.0
        self.updated = now
        self.blocked_until = 0.0

    def set_budget(self, per_minute: float) -> None:
        self.per_minute = per_minute
        self.rate = per_minute / 60.0
        self.capacity = max(1.0, self.rate * self.burst_seconds)

    def refill(self, now: float) -> None:
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now


class RateBudgets:
    """Token buckets by category; `acquire` blocks until a call may go and returns the seconds waited."""

    def __init__(self, per_minute: dict[str, int] | None = None, burst_seconds: float = DEFAULT_BURST_SECONDS,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep):
        self._per_minute = {**DEFAULT_BUDGETS_PER_MINUTE, **(per_minute or {})}
        for category, budget in self._per_minute.items():
            if budget < 1:
                raise ValueError(f"rate budget for {category} must be at least 1 call per minute (got {budget})")
        self._burst = burst_seconds
        self._clock = clock
        self._sleep = sleep
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def budget(self, category: str) -> int:
        return self._per_minute[category]

    def _bucket(self, category: str, now: float) -> _Bucket:
        bucket = self._buckets.get(category)
        if bucket is None:
            if category not in self._per_minute:
                raise KeyError(f"no rate budget for category {category!r}")
            bucket = self._buckets[category] = _Bucket(self._per_minute[category], self._burst, now)
        bucket.refill(now)
        return bucket

    def acquire(self, category: str) -> float:
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                bucket = self._bucket(category, now)
                if now >= bucket.blocked_until and bucket.tokens >= 1.0:
                    bucket.tokens -= 1.0
                    return waited
                wait = max(bucket.blocked_until - now, (1.0 - bucket.tokens) / bucket.rate, 0.001)
            self._sleep(wait)
            waited += wait

    def observe(self, category: str, limit: int | None, remaining: int | None, reset_seconds: float | None = None,
                *, refused: bool = False) -> None:
        """Adopt the server's per-minute budget when it is lower than ours, and its count of calls left.

        X-RateLimit-Limit counts the calls of a window that resets in X-RateLimit-Reset seconds: a per-minute budget
        (Pinterest's Standard access) resets within a minute, a daily quota (a trial app's 1,000 calls a day) at
        UTC midnight, hours away. So a limit is taken as the per-minute pace only from an answer that was not
        `refused` (a 429 reports what was spent, a daily quota's calls per day even seconds before midnight; its
        wait is kept by `block`) and whose window resets within a minute (or does not say when)."""
        if limit is None and remaining is None:
            return
        per_minute = not refused and (reset_seconds is None or reset_seconds <= 60)
        with self._lock:
            bucket = self._bucket(category, self._clock())
            if per_minute and limit is not None and 0 < limit < bucket.per_minute:
                bucket.set_budget(limit)
                bucket.tokens = min(bucket.tokens, bucket.capacity)
            if remaining is not None:
                bucket.tokens = min(bucket.tokens, float(remaining))

    def current_budget(self, category: str) -> float:
        with self._lock:
            return self._bucket(category, self._clock()).per_minute

    def block(self, category: str, seconds: float) -> None:
        """After a 429: no thread calls this category again until the server's wait is over."""
        with self._lock:
            now = self._clock()
            bucket = self._bucket(category, now)
            bucket.tokens = 0.0
            bucket.blocked_until = max(bucket.blocked_until, now + seconds)
