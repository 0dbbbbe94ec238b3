"""Which failures are worth retrying, and how long to wait before the next attempt (pure functions)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import email.utils
import logging
import math
import random
import re
import time
from collections.abc import Iterable

from pipelines.pinterest.errors import redacted

log = logging.getLogger("pipelines.pinterest")
_DELTA_SECONDS = re.compile(r"[0-9]+(?:\.[0-9]+)?")
_RETRY_AFTER_IN_MESSAGE = re.compile(r"[Rr]etry after (\d+(?:\.\d+)?) seconds?")
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
TRANSIENT_400_CODES = frozenset({12})
# Pinterest sometimes refuses a window inside the last 90 days with this 400 code 1; the same call succeeds when
# retried (Airbyte's source-pinterest retries it too). Only this exact text is retried: other 400s are final.
SPURIOUS_WINDOW_REFUSAL = "you can only get data from the last 90 days"


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    """Retry limits and backoff. Every wait honours the server's hint, else backs off exponentially."""

    max_attempts: int = 8  # per request, the first attempt included
    run_retry_budget: int = 1000  # retries per run, all requests together
    backoff_base_seconds: float = 1.0
    backoff_max_seconds: float = 60.0
    # The longest wait a server's hint (Retry-After, X-RateLimit-Reset) may impose; a rate limit asking for
    # longer (a daily quota) stops the call (PINTEREST_MAX_RATE_LIMIT_WAIT_SECONDS).
    max_rate_limit_wait_seconds: float = 900.0
    # Retries of a call refused as "You can only get data from the last 90 days." although its window is inside
    # them (the client checks every window before sending); past them the refusal is final.
    window_refusal_retries: int = 3

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1 (got {self.max_attempts})")
        if self.run_retry_budget < 0:
            raise ValueError(f"run_retry_budget must be >= 0 (got {self.run_retry_budget})")
        if self.window_refusal_retries < 0:
            raise ValueError(f"window_refusal_retries must be >= 0 (got {self.window_refusal_retries})")
        if not self.max_rate_limit_wait_seconds > 0:
            raise ValueError(f"max_rate_limit_wait_seconds must be more than 0 (got {self.max_rate_limit_wait_seconds})")


def is_transient_400(code: int | None, message: str) -> bool:
    """Pinterest's 400s that mean "try again": code 12, or a message asking to retry after N seconds."""
    return code in TRANSIENT_400_CODES or bool(_RETRY_AFTER_IN_MESSAGE.search(message or ""))


def is_spurious_window_refusal(status: int, code: int | None, message: str) -> bool:
    """The 400 code 1 "You can only get data from the last 90 days." (any case), for a window the client has
    checked to be inside them: worth a bounded number of retries."""
    return status == 400 and code == 1 and SPURIOUS_WINDOW_REFUSAL in (message or "").lower()


# X-RateLimit-Reset counts seconds until the reset; a value this large can only be a moment (a Unix time): about
# 31 years of seconds, while a reset is hours away at most.
EPOCH_THRESHOLD_SECONDS = 1_000_000_000
# A daily quota resets within a day; a reset further away than this is not named as a date (it is not plausible).
PLAUSIBLE_RESET_SECONDS = 2 * 86_400


def server_wait_seconds(headers, message: str = "", now: float | None = None, secrets: Iterable[str] = (),
                        cap: float | None = None) -> float | None:
    """The server's own hint: Retry-After, else X-RateLimit-Reset (seconds, or a Unix time), else "Retry after
    N seconds" in the message. When hints disagree and any of them is longer than `cap` (the longest wait the
    client honours), the longest wins: a server announcing a daily reset is out of quota, whatever a short
    Retry-After says. A header that is not a valid value is ignored with a warning (the usual backoff applies)
    showing it without `secrets` (a server may echo them)."""
    now = time.time() if now is None else now
    hints = []
    retry_after = headers.get("Retry-After")
    if retry_after:
        wait = retry_after_seconds(retry_after, now)
        if wait is None:
            log.warning("ignoring the header Retry-After: %r (neither whole seconds nor an HTTP date)",
                        redacted(retry_after, secrets)[:40])
        else:
            hints.append(wait)
    reset = headers.get("X-RateLimit-Reset")
    if reset:
        wait = reset_seconds(reset, now)
        if wait is None:
            log.warning("ignoring the header X-RateLimit-Reset: %r (not a finite, non-negative number of seconds)",
                        redacted(reset, secrets)[:40])
        else:
            hints.append(wait)
    match = _RETRY_AFTER_IN_MESSAGE.search(message or "")
    if match:
        hints.append(float(match.group(1)))
    if not hints:
        return None
    return max(hints) if cap is not None and max(hints) > cap else hints[0]


def retry_after_seconds(value: str, now: float) -> float | None:
    """RFC 9110 Retry-After: delta-seconds or an HTTP-date; None for anything else (nan, inf, -5, 1e3,
    garbage). Digits with a decimal fraction are accepted too (the simulator sends fractions for fast tests).
    A date in the past means no wait."""
    value = value.strip()
    if _DELTA_SECONDS.fullmatch(value):
        return float(value)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:  # an HTTP-date is always GMT; "-0000" parses as naive
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return max(moment.timestamp() - now, 0.0)


def reset_seconds(value: str, now: float | None = None) -> float | None:
    """X-RateLimit-Reset: seconds until the window resets (as Pinterest sends it), or, for a value of
    EPOCH_THRESHOLD_SECONDS or more, the Unix time of the reset (as GitHub and others send it), as the seconds
    from `now` (none for a moment past). A finite number >= 0, else None."""
    try:
        seconds = float(value)
    except ValueError:
        return None
    if not (math.isfinite(seconds) and seconds >= 0):
        return None
    if seconds >= EPOCH_THRESHOLD_SECONDS:
        return max(seconds - (time.time() if now is None else now), 0.0)
    return seconds


@dataclasses.dataclass
class CallClock:
    """The time one call has spent without a usable answer: attempts that failed (no answer, timeouts, 5xx)
    and the backoff after them. Deliberate rate-limit waits are not counted: they have their own cap."""

    limit_seconds: float
    spent_seconds: float = 0.0

    def left(self) -> float:
        return self.limit_seconds - self.spent_seconds

    def spend(self, seconds: float) -> None:
        self.spent_seconds += seconds


def backoff_seconds(policy: RetryPolicy, attempt: int, hint: float | None, rng: random.Random) -> float:
    """Wait before retry number `attempt` (1-based): the server's hint plus a little jitter (up to a quarter
    of the backoff base, so threads told the same wait do not return at once), else exponential backoff
    with full jitter, capped."""
    if hint is not None:
        return capped_wait(policy, hint) + rng.uniform(0.0, policy.backoff_base_seconds / 4)
    ceiling = min(policy.backoff_max_seconds, policy.backoff_base_seconds * (2 ** (attempt - 1)))
    return rng.uniform(ceiling / 2, ceiling)


def capped_wait(policy: RetryPolicy, hint: float) -> float:
    """A server's wait as the client may honour it: never longer than the policy's cap. Every wait a hint
    causes (the sleep before a retry, the block of a rate-limit category) goes through here."""
    return min(hint, policy.max_rate_limit_wait_seconds)


def refusal_to_wait(policy: RetryPolicy, hint: float | None, now: float | None = None,
                    category: str | None = None) -> str | None:
    """Why a call stops instead of waiting when the server asks for longer than the cap (a daily quota,
    or a nonsensical hint), naming the rate-limit `category` and when to try again; None for a wait within the cap."""
    if hint is None or hint <= policy.max_rate_limit_wait_seconds:
        return None
    limit = f"the {category} rate limit is spent: " if category else ""
    return (f"{limit}the API asked to wait {_duration(hint)} (likely a daily quota), longer than "
            f"PINTEREST_MAX_RATE_LIMIT_WAIT_SECONDS ({policy.max_rate_limit_wait_seconds:g} s); stopping instead of "
            f"waiting. Run again {_reset_moment(hint, now)}")


def quota_without_reset(policy: RetryPolicy, attempts: int, category: str | None = None) -> str:
    """Why a call stops when every attempt was refused with a 429 and no answer said when to try again (the
    official description declares no rate-limit header): the limit is spent for longer than the backoff covers."""
    limit = f"the {category} rate limit is spent: " if category else ""
    return (f"{limit}{attempts} attempts in a row were refused with HTTP 429 over about "
            f"{_duration(_backoff_span(policy, attempts))} of backoff, and the API did not say when the limit resets "
            f"(no Retry-After or X-RateLimit-Reset); likely a daily quota: stopping instead of calling again. "
            f"Run again later (a daily quota resets by the next day)")


def _backoff_span(policy: RetryPolicy, attempts: int) -> float:
    """The longest total backoff before the last of `attempts` attempts (each wait at its ceiling)."""
    return sum(min(policy.backoff_max_seconds, policy.backoff_base_seconds * 2 ** (n - 1)) for n in range(1, attempts))


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 3600 else f"{seconds:.0f} s ({seconds / 3600:.1f} hours)"


def _reset_moment(hint: float, now: float | None) -> str:
    """When to run again: the reset as a UTC time, unless it is further away than a daily quota can be."""
    if hint > PLAUSIBLE_RESET_SECONDS:
        return (f"later: the reset the API gave is {hint / 86_400:.0f} days away, not plausible for a daily quota "
                "(try again tomorrow)")
    until = dt.datetime.fromtimestamp((time.time() if now is None else now) + hint, dt.timezone.utc)
    return f"after {until:%Y-%m-%d %H:%M} UTC"
