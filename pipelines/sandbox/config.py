"""Settings of one simulator instance: the synthetic world's size, its clock, limits and injected faults."""

from __future__ import annotations

import dataclasses
import datetime as dt

# Per-minute budgets per rate-limit category. ads_analytics and ads_read are Pinterest's published
# Standard-access numbers; the page listing the org_* categories is truncated in every available copy,
# so org_analytics=300 and org_read/org_write=1000 are assumptions (see docs/simulator.md).
DEFAULT_RATE_LIMITS_PER_MINUTE = {
    "org_analytics": 300,
    "org_read": 1000,
    "org_write": 1000,
    "ads_analytics": 300,
    "ads_read": 1000,
}
# Seeds are 0..2**63-1 (numpy's generators and the uint64 entity hashes take non-negative seeds).
MAX_SEED = 2**63 - 1
MAX_USERS = 50
# Pinterest's universal limit: 100 calls per second per user per app.
UNIVERSAL_LIMIT_PER_SECOND = 100
# How a parameter sent as repeated keys may be read (SandboxConfig.repeated_list_keys); the first is the default.
REPEATED_LIST_KEY_READINGS = ("reject", "last", "all")

# How GET /pins/analytics refuses an app without the beta endpoint (SandboxConfig.bulk_pin_refusal): 403 code 29,
# or one of the refusals the official description documents for it (401 code 7, 404 code 50, 400 code 1).
BULK_PIN_REFUSALS = ("403", "401-7", "404-50", "400-1")

class SandboxConfigError(ValueError):
    """A simulator setting is out of range; the message names the setting and the allowed values."""


@dataclasses.dataclass(frozen=True)
class SandboxConfig:
    """Everything that shapes one simulator: same config (seed, today, sizes) => same answers."""

    seed: int = 42
    today: dt.date | None = None  # None: the real UTC date when the server starts
    # The world's entities are dated relative to the epoch (pins created over the two years before it).
    # None: the same date as today. Keep it fixed while moving `today` to watch one world age.
    epoch: dt.date | None = None
    pins: int = 500
    boards: int = 12
    ad_accounts: int = 2
    campaigns: int = 6  # per ad account
    ad_groups: int = 2  # per campaign
    ads: int = 3  # per ad group
    rate_limits: dict[str, int] = dataclasses.field(default_factory=lambda: dict(DEFAULT_RATE_LIMITS_PER_MINUTE))
    rate_limit_headers: bool = True
    bulk_pin_analytics: bool = True
    api_sandbox_mode: bool = False  # behave like api-sandbox.pinterest.com (some endpoints disabled)
    latency_ms: int = 0
    fail_rate: float = 0.0
    throttle_rate: float = 0.0
    throttle_retry_after: float = 1.0  # Retry-After of the injected 429s (fractions allowed, for fast tests)
    truncate_rate: float = 0.0
    transient_rate: float = 0.0
    token_ttl_seconds: int | None = None
    # An access token stops working after this many API calls made with it: an expiry at a repeatable
    # point of a run, whatever the machine's speed.
    token_max_calls: int | None = None
    extra_fields: bool = False  # every answer object carries a field the official description does not have
    drop_field: str | None = None  # this field is left out of every answer object (a missing field)
    wide_ids: bool = False  # every entity id has 20 digits, beyond 64-bit integers
    bookmark_loop: bool = False  # list endpoints hand the same bookmark out again (a looping API)
    forbidden_ad_accounts: int = 0  # the last N listed ad accounts answer 403 (a revoked Business Access role)
    failed_reports: int = 0  # the first N async reports end FAILED
    report_polls: int = 2  # polls a report answers IN_PROGRESS before FINISHED
    # Business accounts (users), each with a world of its own and development tokens of its own
    # (pina_SANDBOX / pina_SANDBOX_2 / ...): an agency's several accounts.
    users: int = 1
    # Which of those business accounts' worlds this config builds (1-based; `for_user` sets it).
    user: int = 1
    # Every refresh token (the development ones included) is refused with 401 code 283, as when the user
    # revoked the app's access or the refresh token expired.
    refresh_tokens_revoked: bool = False
    # The age in days at which metrics_ready_state says a date's conversion metrics are ready (the default
    # 30-day attribution window has passed): later keeps dates not ready past the window, sooner makes them
    # ready inside it.
    conversions_ready_after_days: int = 30
    # How the simulator reads a parameter sent as repeated keys (pin_ids=1&pin_ids=2): "reject" (400 code 1
    # asking to comma-join: only comma-joined lists are known to work), "last" (one value per key, the
    # last: a server that silently drops ids) or "all" (every value, the old lenient reading).
    repeated_list_keys: str = "reject"
    # API calls per rate-limit category per simulated day (per user); past it, 429 code 8 with
    # X-RateLimit-Reset and Retry-After the seconds until the next UTC midnight: a daily quota.
    daily_quotas: dict[str, int] = dataclasses.field(default_factory=dict)
    # Fraction of analytics calls with a valid window answered 400 code 1 "You can only get data from the
    # last 90 days." anyway (Pinterest does, spuriously; a retry succeeds).
    edge_400_rate: float = 0.0
    # How GET /pins/analytics refuses when bulk_pin_analytics is off: one of BULK_PIN_REFUSALS.
    bulk_pin_refusal: str = "403"
    # The world's last N pins are private to the caller: refused alone (403) and a bulk call asking for one of
    # them answers 401 code 7 (a pin made secret or moved to a board the token cannot read since the listing).
    private_pins: int = 0
    # The world's last N pins are silently left out of every bulk answer that asks for them (not looked at, so a
    # private one among them does not refuse the call); asked alone, each answers as it would without it.
    missing_bulk_pins: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or not 0 <= self.seed <= MAX_SEED:
            raise SandboxConfigError(f"--seed must be a whole number between 0 and {MAX_SEED} (was {self.seed!r})")
        for name in ("pins", "boards", "ad_accounts", "campaigns", "ad_groups", "ads"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 0:
                raise SandboxConfigError(f"--{name.replace('_', '-')} must be a whole number >= 0 (was {value!r})")
        if self.pins > 0 and self.boards < 1:
            raise SandboxConfigError("--boards must be >= 1 when there are pins (pins live on boards)")
        if self.pins > 1_000_000:
            raise SandboxConfigError(f"--pins must be <= 1000000 (was {self.pins})")
        if self.ad_accounts * self.campaigns * self.ad_groups * self.ads > 2_000_000:
            raise SandboxConfigError("the ads world is too large: ad-accounts x campaigns x ad-groups x ads must be <= 2000000")
        for name in ("fail_rate", "throttle_rate", "truncate_rate", "transient_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise SandboxConfigError(f"--{name.replace('_', '-')} must be a fraction between 0 and 1 (was {value!r})")
        if self.fail_rate + self.throttle_rate + self.transient_rate > 1.0:
            raise SandboxConfigError("--fail-rate + --throttle-rate + --transient-rate must not exceed 1")
        if self.latency_ms < 0:
            raise SandboxConfigError(f"--latency-ms must be >= 0 (was {self.latency_ms})")
        if self.token_ttl_seconds is not None and self.token_ttl_seconds < 1:
            raise SandboxConfigError(f"--token-ttl must be >= 1 second (was {self.token_ttl_seconds})")
        if self.token_max_calls is not None and self.token_max_calls < 1:
            raise SandboxConfigError(f"--token-max-calls must be >= 1 (was {self.token_max_calls})")
        if not 0 <= self.throttle_retry_after <= 3600:
            raise SandboxConfigError("--throttle-retry-after must be between 0 and 3600 seconds "
                                     f"(was {self.throttle_retry_after!r})")
        if self.drop_field is not None and not self.drop_field:
            raise SandboxConfigError("--drop-field needs a field name")
        if not 0 <= self.forbidden_ad_accounts <= self.ad_accounts:
            raise SandboxConfigError(f"--forbidden-ad-accounts must be between 0 and --ad-accounts (was {self.forbidden_ad_accounts})")
        if not isinstance(self.conversions_ready_after_days, int) or not 1 <= self.conversions_ready_after_days <= 120:
            raise SandboxConfigError("--conversions-ready-after-days must be a whole number of days from 1 to 120 "
                                     f"(was {self.conversions_ready_after_days!r})")
        if self.failed_reports < 0:
            raise SandboxConfigError(f"--failed-reports must be >= 0 (was {self.failed_reports})")
        if not isinstance(self.users, int) or not 1 <= self.users <= MAX_USERS:
            raise SandboxConfigError(f"--users must be a whole number from 1 to {MAX_USERS} (was {self.users!r})")
        if self.report_polls < 0:
            raise SandboxConfigError(f"--report-polls must be >= 0 (was {self.report_polls})")
        for category, budget in self.rate_limits.items():
            if category not in DEFAULT_RATE_LIMITS_PER_MINUTE:
                known = ", ".join(sorted(DEFAULT_RATE_LIMITS_PER_MINUTE))
                raise SandboxConfigError(f"--rate-limit: unknown category {category!r} (known: {known})")
            if not isinstance(budget, int) or budget < 1:
                raise SandboxConfigError(f"--rate-limit {category}: calls per minute must be >= 1 (was {budget!r})")

        if self.repeated_list_keys not in REPEATED_LIST_KEY_READINGS:
            raise SandboxConfigError(f"--repeated-list-keys must be one of {', '.join(REPEATED_LIST_KEY_READINGS)} "
                                     f"(was {self.repeated_list_keys!r})")
        for category, quota in self.daily_quotas.items():
            if category not in DEFAULT_RATE_LIMITS_PER_MINUTE:
                known = ", ".join(sorted(DEFAULT_RATE_LIMITS_PER_MINUTE))
                raise SandboxConfigError(f"--daily-quota: unknown category {category!r} (known: {known})")
            if not isinstance(quota, int) or isinstance(quota, bool) or quota < 0:
                raise SandboxConfigError(f"--daily-quota {category}: calls per day must be a whole number >= 0 (was {quota!r})")
        if not 0.0 <= self.edge_400_rate <= 1.0:
            raise SandboxConfigError(f"--edge-400-rate must be a fraction between 0 and 1 (was {self.edge_400_rate!r})")
        if self.bulk_pin_refusal not in BULK_PIN_REFUSALS:
            raise SandboxConfigError(f"--bulk-pin-refusal must be one of {', '.join(BULK_PIN_REFUSALS)} "
                                     f"(was {self.bulk_pin_refusal!r})")
        for name in ("private_pins", "missing_bulk_pins"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= self.pins:
                raise SandboxConfigError(f"--{name.replace('_', '-')} must be a whole number between 0 and --pins "
                                         f"(was {value!r})")
        if self.epoch is not None and self.today is not None and self.today < self.epoch:
            raise SandboxConfigError(f"--today ({self.today}) must not be before --epoch ({self.epoch}): "
                                     "the world would contain pins and campaigns created after today")

    def for_user(self, number: int) -> SandboxConfig:
        """The config of the n-th user's world (1-based): the first user's world is the one `seed` makes,
        every other user's comes from a seed derived from it, its ids in a range of their own (World)."""
        if number == 1:
            return self
        return dataclasses.replace(self, seed=(self.seed + (number - 1) * 0x9E3779B97F4A7C15) % (MAX_SEED + 1),
                                   user=number)

    def resolved_today(self) -> dt.date:
        return self.today or dt.datetime.now(dt.timezone.utc).date()

    def resolved_epoch(self) -> dt.date:
        return self.epoch or self.resolved_today()
