"""Building clients against a test simulator: fast backoff, generous budgets, tokens in a temp dir."""

from __future__ import annotations

import datetime as dt
import time

import requests

from pipelines.pinterest.accounting import CallStats
from pipelines.pinterest.budgets import RateBudgets
from pipelines.pinterest.client import ClientConfig, PinterestClient
from pipelines.pinterest.credentials import AppCredentials, Secret, TokenFile, Tokens
from pipelines.pinterest.oauth import TokenManager
from pipelines.pinterest.retries import RetryPolicy
from pipelines.pinterest.transport import HttpLimits
from tests.conftest import TODAY

HIGH_BUDGETS = {c: 100_000 for c in ("org_analytics", "org_read", "org_write", "ads_analytics", "ads_read")}
SIMULATOR_APP = AppCredentials("1234567", Secret("sandbox-secret"))
FAST_RETRIES = RetryPolicy(backoff_base_seconds=0.02, backoff_max_seconds=0.2)


def make_client(server, token_file_dir=None, *, tokens: Tokens | None = None, budgets: dict | None = None,
                retry: RetryPolicy = FAST_RETRIES, concurrency: int = 4, app: AppCredentials | None = SIMULATOR_APP,
                sleep=None, limits: HttpLimits | None = None, base_url: str | None = None) -> PinterestClient:
    config = ClientConfig(base_url=base_url or server.base_url, retry=retry, concurrency=concurrency,
                          today=lambda: TODAY, limits=limits or HttpLimits())
    stats = CallStats()
    session = requests.Session()
    token_file = TokenFile(token_file_dir / "token.json") if token_file_dir is not None else None
    manager = TokenManager(tokens or Tokens(Secret("pina_SANDBOX"), Secret("pinr_SANDBOX")), session, config.base_url, app,
                           token_file, config.limits, on_refresh=lambda: stats.add(token_refreshes=1), retry=retry)
    extra = {"sleep": sleep} if sleep is not None else {}
    return PinterestClient(config, manager, budgets=RateBudgets(budgets or HIGH_BUDGETS), stats=stats, session=session,
                           seed=1, **extra)


def server_stats(server) -> dict:
    return requests.get(f"{server.root_url}/_sandbox/stats").json()


def advance_quota_clock(server, seconds: float) -> dict:
    """Moves the simulator's quota clock `seconds` forward (POST /_sandbox/clock); its answer: the clock's time and
    the seconds to its next UTC midnight."""
    answer = requests.post(f"{server.root_url}/_sandbox/clock", params={"advance_seconds": repr(seconds)})
    answer.raise_for_status()
    return answer.json()


def quota_reset_in(server, seconds: float) -> dt.datetime:
    """Moves the simulator's quota clock forward so that its next UTC midnight, when a spent daily quota resets, is
    `seconds` away; returns that moment by this machine's clock (the one the client names a reset by)."""
    to_midnight = advance_quota_clock(server, 0)["seconds_to_utc_midnight"]
    advance_quota_clock(server, (to_midnight - seconds) % 86_400)
    return dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=seconds)


def quota_reset_hours_away(server) -> dt.datetime:
    """`quota_reset_in` about 12 hours, far beyond the client's longest wait (so a spent quota stops the call at any
    hour of the machine's day), at the 30th second of a minute: a reset named to the minute is that minute
    whatever the few seconds the test's calls take."""
    half_a_day = 12 * 3600
    return quota_reset_in(server, half_a_day + (30 - (time.time() + half_a_day) % 60) % 60)
