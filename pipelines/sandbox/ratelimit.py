"""Server-side rate limiting per (user, category), as token buckets refilled continuously."""

from __future__ import annotations

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


class RateLimiter:
    """Per-minute budgets per category plus Pinterest's universal per-second limit, per user."""

    def __init__(self, per_minute: dict[str, int], clock=time.monotonic):
        self._per_minute = {**DEFAULT_RATE_LIMITS_PER_MINUTE, **per_minute}  # unnamed categories: the defaults
        self._clock = clock
        self._buckets: dict[tuple[str, str], _Bucket] = {}
        self._lock = threading.Lock()

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
            now = self._clock()
            bucket = self._bucket(user, category, now)
            universal = self._bucket(user, "*universal*", now)
            allowed = bucket.tokens >= 1 and universal.tokens >= 1
            if allowed:
                bucket.tokens -= 1
                universal.tokens -= 1
            wait = max((1 - bucket.tokens) / bucket.per_second, (1 - universal.tokens) / universal.per_second, 0.0)
            return RateDecision(
                allowed=allowed,
                limit=self._per_minute[category],
                remaining=max(int(bucket.tokens), 0),
                reset_seconds=math.ceil((bucket.capacity - bucket.tokens) / bucket.per_second),
                retry_after=max(math.ceil(wait), 1),
            )

    def reset(self) -> None:
        with self._lock:
            self._buckets.clear()
