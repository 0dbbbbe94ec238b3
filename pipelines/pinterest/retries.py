"""Which failures are worth retrying, and how long to wait before the next attempt (pure functions)."""

from __future__ import annotations

import dataclasses
import email.utils
import random
import re
import time

_RETRY_AFTER_IN_MESSAGE = re.compile(r"[Rr]etry after (\d+(?:\.\d+)?) seconds?")
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
TRANSIENT_400_CODES = frozenset({12})


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    """Retry limits and backoff. Every wait honours the server's hint, else backs off exponentially."""

    max_attempts: int = 8  # per request, the first attempt included
    run_retry_budget: int = 1000  # retries per run, all requests together
    backoff_base_seconds: float = 1.0
    backoff_max_seconds: float = 60.0
    max_server_wait_seconds: float = 900.0  # longest Retry-After / X-RateLimit-Reset we are willing to honour

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1 (got {self.max_attempts})")
        if self.run_retry_budget < 0:
            raise ValueError(f"run_retry_budget must be >= 0 (got {self.run_retry_budget})")


def is_transient_400(code: int | None, message: str) -> bool:
    """Pinterest's 400s that mean "try again": code 12, or a message asking to retry after N seconds."""
    return code in TRANSIENT_400_CODES or bool(_RETRY_AFTER_IN_MESSAGE.search(message or ""))


def server_wait_seconds(headers, message: str = "", now: float | None = None) -> float | None:
    """The server's own hint, in order: Retry-After, X-RateLimit-Reset (seconds), "Retry after N seconds"."""
    retry_after = headers.get("Retry-After")
    if retry_after:
        retry_after = retry_after.strip()
        try:
            return max(float(retry_after), 0.0)
        except ValueError:
            parsed = email.utils.parsedate_to_datetime(retry_after) if retry_after else None
            if parsed is not None:
                return max(parsed.timestamp() - (now if now is not None else time.time()), 0.0)
    reset = headers.get("X-RateLimit-Reset")
    if reset:
        try:
            return max(float(reset), 0.0)
        except ValueError:
            pass
    match = _RETRY_AFTER_IN_MESSAGE.search(message or "")
    return float(match.group(1)) if match else None


def backoff_seconds(policy: RetryPolicy, attempt: int, hint: float | None, rng: random.Random) -> float:
    """Wait before retry number `attempt` (1-based): the server's hint plus a little jitter (up to a quarter
    of the backoff base, so threads told the same wait do not return at once), else exponential backoff
    with full jitter, capped."""
    if hint is not None:
        return min(hint, policy.max_server_wait_seconds) + rng.uniform(0.0, policy.backoff_base_seconds / 4)
    ceiling = min(policy.backoff_max_seconds, policy.backoff_base_seconds * (2 ** (attempt - 1)))
    return rng.uniform(ceiling / 2, ceiling)
