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
    run_retry_budget: int = 1000  # retries of failures per run, all requests together (429s are not counted)
    backoff_base_seconds: float = 1.0
    backoff_max_seconds: float = 60.0
    # The longest wait a server's hint (Retry-After, X-RateLimit-Reset) may impose; a rate limit asking for
    # longer (a daily quota) stops the call (PINTEREST_MAX_RATE_LIMIT_WAIT_SECONDS).
    max_rate_limit_wait_seconds: float = 900.0
    # Retries of a call refused as "You can only get data from the last 90 days." although its window is inside
    # them (the client checks every window before sending); past them the refusal is final.
    window_refusal_retries: int = 3
    # A call gives up on HTTP 429s only once it has waited this long since its first (and made its attempts): a
    # per-minute limit clears within a minute, so 429s lasting past two minutes are no per-minute limit, whatever
    # the backoff setting.
    throttle_span_seconds: float = 120.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1 (got {self.max_attempts})")
        if self.run_retry_budget < 0:
            raise ValueError(f"run_retry_budget must be >= 0 (got {self.run_retry_budget})")
        if self.window_refusal_retries < 0:
            raise ValueError(f"window_refusal_retries must be >= 0 (got {self.window_refusal_retries})")
        if self.throttle_span_seconds < 0:
            raise ValueError(f"throttle_span_seconds must be >= 0 (got {self.throttle_span_seconds})")
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


def server_wait_seconds(headers, message: str = "", now: float | None = None,
                        secrets: Iterable[str] = ()) -> float | None:
    """The server's own hint: Retry-After, else X-RateLimit-Reset (seconds, or a Unix time), else "Retry after
    N seconds" in the message. When hints disagree, the longest wins: a short Retry-After with a reset 55 s away
    is a per-minute limit that clears in 55 s, and with a daily reset it is a spent quota. A header that is not a
    valid value is ignored with a warning (the usual backoff applies) showing it without `secrets` (a server may
    echo them)."""
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
    return max(hints)


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


@dataclasses.dataclass
class Throttling:
    """The HTTP 429s one call met: how many, the longest usable wait they asked for (a hint of 0 or a moment past
    is none: the usual backoff applies), and the seconds waited since the first of them."""

    refusals: int = 0
    longest_hint: float | None = None
    seconds: float = 0.0

    def refused(self, hint: float | None) -> None:
        self.refusals += 1
        if hint is not None and hint > 0:
            self.longest_hint = max(hint, self.longest_hint or 0.0)

    def waited(self, seconds: float) -> None:
        if self.refusals:
            self.seconds += seconds

    def gives_up(self, policy: RetryPolicy, attempt: int) -> bool:
        """Whether a call whose attempt number `attempt` met a 429 stops: only after its attempts and the policy's
        throttle span of waiting since its first 429 (a per-minute limit has cleared by then)."""
        return attempt >= policy.max_attempts and self.seconds >= policy.throttle_span_seconds

    def is_quota(self) -> bool:
        """No 429 of the call said when to come back: the limit outlasted every wait, likely a daily quota. With a
        usable hint the API said the limit clears soon: it is a rate limit that did not clear, not a quota."""
        return self.longest_hint is None

    def message(self, category: str | None = None) -> str:
        """Why the call stops, as it happened."""
        limit = f"the {category} rate limit " if category else "the rate limit "
        refused = (f"{self.refusals} attempt(s) were refused with HTTP 429 over {_duration(self.seconds)} of "
                   "waiting between them")
        if self.is_quota():
            return (f"{limit}is spent: {refused}, and the API did not say when the limit resets (no usable Retry-After "
                    f"or X-RateLimit-Reset); likely a daily quota: stopping instead of calling again. Run again later "
                    f"(a daily quota resets by the next day)")
        return (f"{limit}did not clear: {refused}, each wait at least as long as the API asked (at most "
                f"{_duration(self.longest_hint)}); stopping this call. Run again later, or lower PINTEREST_RATE_BUDGETS "
                "if other programs share this app's limits")


def throttled_wait_seconds(policy: RetryPolicy, attempt: int, hint: float | None, rng: random.Random) -> float:
    """Wait before retrying a 429: as long as the server asked (capped) but never shorter than the usual backoff,
    so a short hint repeated on every attempt still spreads the attempts over a limit's minute."""
    backoff = backoff_seconds(policy, attempt, None, rng)
    if hint is None or hint <= 0:
        return backoff
    return max(backoff_seconds(policy, attempt, hint, rng), backoff)


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


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 3600 else f"{seconds:.0f} s ({seconds / 3600:.1f} hours)"


def _reset_moment(hint: float, now: float | None) -> str:
    """When to run again: the reset as a UTC time, unless it is further away than a daily quota can be."""
    if hint > PLAUSIBLE_RESET_SECONDS:
        return (f"later: the reset the API gave is {hint / 86_400:.0f} days away, not plausible for a daily quota "
                "(try again tomorrow)")
    until = dt.datetime.fromtimestamp((time.time() if now is None else now) + hint, dt.timezone.utc)
    return f"after {until:%Y-%m-%d %H:%M} UTC"
