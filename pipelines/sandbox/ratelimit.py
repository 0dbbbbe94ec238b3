"""Server-side rate limiting per (user, category): token buckets refilled continuously, and daily quotas."""

from __future__ import annotations

import collections
import math
import threading
import time

from pipelines.sandbox.config import DEFAULT_RATE_LIMITS_PER_MINUTE, UNIVERSAL_LIMIT_PER_SECOND


class _Bucket:
    def __init__(self, capacity: float, per_second: float, now: float):
        self.capacity = capacity
        self.per_second = per_second
        self.tokens = capacity
        self.updated = now

    def refill(self, now: float) -> None:
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.per_second)
        self.updated = now


class RateDecision:
    """Whether a call may proceed, and the X-RateLimit-* numbers to report for its category."""

    def __init__(self, allowed: bool, limit: int, remaining: int, reset_seconds: int, retry_after: int):
        self.allowed = allowed
        self.limit = limit
        self.remaining = remaining
        self.reset_seconds = reset_seconds
        self.retry_after = retry_after


SECONDS_PER_DAY = 86_400


def seconds_until_utc_midnight(epoch_seconds: float) -> int:
    """Whole seconds from `epoch_seconds` (Unix time) to the next UTC midnight, at least 1: when a daily quota resets."""
    return max(math.ceil(SECONDS_PER_DAY - epoch_seconds % SECONDS_PER_DAY), 1)


class RateLimiter:
    """Per-minute budgets per category plus Pinterest's universal per-second limit, per user; and, for the
    categories given one, a quota of calls per UTC day (counted from start or reset, and again from each UTC
    midnight of the quota clock: the machine's clock, moved forward by `advance_clock`)."""

    def __init__(self, per_minute: dict[str, int], clock=time.monotonic, *, daily_quotas: dict[str, int] | None = None,
                 wall_clock=time.time):
        self._per_minute = {**DEFAULT_RATE_LIMITS_PER_MINUTE, **per_minute}  # unnamed categories: the defaults
        self._clock = clock
        self._buckets: dict[tuple[str, str], _Bucket] = {}
        self._daily_quotas = dict(daily_quotas or {})
        self._wall_clock = wall_clock
        self._advanced_seconds = 0.0
        self._calls_today: collections.Counter[tuple[str, str]] = collections.Counter()
        self._quota_day = self._utc_day(self.quota_clock())
        self._lock = threading.Lock()

    def quota_clock(self) -> float:
        """Unix time as the daily quotas read it: the machine's clock plus every `advance_clock`."""
        return self._wall_clock() + self._advanced_seconds

    def advance_clock(self, seconds: float) -> float:
        """Move the quota clock `seconds` forward (a day passing without waiting for it); returns its new time."""
        with self._lock:
            self._advanced_seconds += seconds
            return self.quota_clock()

    @staticmethod
    def _utc_day(epoch_seconds: float) -> int:
        return int(epoch_seconds // SECONDS_PER_DAY)

    def _bucket(self, user: str, category: str, now: float) -> _Bucket:
        key = (user, category)
        bucket = self._buckets.get(key)
        if bucket is None:
            if category == "*universal*":
                bucket = _Bucket(UNIVERSAL_LIMIT_PER_SECOND, UNIVERSAL_LIMIT_PER_SECOND, now)
            else:
                budget = self._per_minute[category]
                bucket = _Bucket(budget, budget / 60.0, now)
            self._buckets[key] = bucket
        bucket.refill(now)
        return bucket

    def acquire(self, user: str, category: str) -> RateDecision:
        with self._lock:
            quota = self._daily_quotas.get(category)
            now_utc = self.quota_clock()
            if self._utc_day(now_utc) != self._quota_day:  # past the UTC midnight the refusals announced
                self._quota_day = self._utc_day(now_utc)
                self._calls_today.clear()
            if quota is not None and self._calls_today[(user, category)] >= quota:
                # A spent daily quota: the headers say so (limit = the quota, nothing left, reset at midnight UTC).
                until_midnight = seconds_until_utc_midnight(now_utc)
                return RateDecision(allowed=False, limit=quota, remaining=0, reset_seconds=until_midnight,
                                    retry_after=until_midnight)
            now = self._clock()
            bucket = self._bucket(user, category, now)
            universal = self._bucket(user, "*universal*", now)
            allowed = bucket.tokens >= 1 and universal.tokens >= 1
            if allowed:
                bucket.tokens -= 1
                universal.tokens -= 1
                self._calls_today[(user, category)] += 1
            wait = max((1 - bucket.tokens) / bucket.per_second, (1 - universal.tokens) / universal.per_second, 0.0)
            return RateDecision(
                allowed=allowed,
                limit=self._per_minute[category],
                remaining=max(int(bucket.tokens), 0),
                reset_seconds=math.ceil((bucket.capacity - bucket.tokens) / bucket.per_second),
                retry_after=max(math.ceil(wait), 1),
            )

    def reset(self) -> None:
        """Full buckets and every daily quota unspent (the quota clock is not moved)."""
        with self._lock:
            self._buckets.clear()
            self._calls_today.clear()
