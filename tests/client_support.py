"""Building clients against a test simulator: fast backoff, generous budgets, tokens in a temp dir."""

from __future__ import annotations

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
