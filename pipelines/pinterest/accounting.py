"""Per-run accounting of API use: calls by endpoint and category, retries, 429s, 5xx, bytes, waits."""

from __future__ import annotations

import collections
import threading


class CallStats:
    """Thread-safe counters the pipeline puts into Dagster metadata and the benchmarks read."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.calls_by_endpoint: collections.Counter[str] = collections.Counter()
        self.calls_by_category: collections.Counter[str] = collections.Counter()
        # Answers a resumed run took from the raw zone instead of calling (not calls: no quota spent).
        self.replayed_by_endpoint: collections.Counter[str] = collections.Counter()
        self.retries = 0
        self.throttled = 0  # 429 answers
        self.server_errors = 0  # 5xx answers
        self.transport_errors = 0  # connection errors, time-outs, truncated or unreadable bodies
        self.token_refreshes = 0
        self.bytes_received = 0
        self.limiter_wait_seconds = 0.0
        self.retry_wait_seconds = 0.0

    def call(self, endpoint: str, category: str) -> None:
        with self._lock:
            self.calls_by_endpoint[endpoint] += 1
            self.calls_by_category[category] += 1

    def replay(self, endpoint: str) -> None:
        with self._lock:
            self.replayed_by_endpoint[endpoint] += 1

    def add(self, **amounts: float) -> None:
        with self._lock:
            for name, amount in amounts.items():
                setattr(self, name, getattr(self, name) + amount)

    def merge(self, other: CallStats) -> None:
        """Add `other`'s counts to these (an account's step's calls into its asset's)."""
        theirs = other.__getstate__()
        with self._lock:
            for name, value in theirs.items():
                setattr(self, name, getattr(self, name) + value)

    def __getstate__(self) -> dict:
        """The counts without the lock: an account's step hands its stats to the step that collects them (pickled
        when the steps run in processes of their own)."""
        with self._lock:
            return {name: (value.copy() if isinstance(value, collections.Counter) else value)
                    for name, value in vars(self).items() if name != "_lock"}

    def __setstate__(self, state: dict) -> None:
        self.__init__()
        vars(self).update(state)

    def calls_made(self) -> int:
        """API calls made so far (answers replayed from the raw zone are not calls)."""
        with self._lock:
            return sum(self.calls_by_endpoint.values())

    def snapshot(self) -> dict:
        with self._lock:
            return {
                "calls": sum(self.calls_by_endpoint.values()),
                "calls_by_endpoint": dict(sorted(self.calls_by_endpoint.items())),
                "calls_by_category": dict(sorted(self.calls_by_category.items())),
                "replayed": sum(self.replayed_by_endpoint.values()),
                "replayed_by_endpoint": dict(sorted(self.replayed_by_endpoint.items())),
                "retries": self.retries,
                "throttled_429": self.throttled,
                "server_errors_5xx": self.server_errors,
                "transport_errors": self.transport_errors,
                "token_refreshes": self.token_refreshes,
                "bytes_received": self.bytes_received,
                "limiter_wait_seconds": round(self.limiter_wait_seconds, 3),
                "retry_wait_seconds": round(self.retry_wait_seconds, 3),
            }
