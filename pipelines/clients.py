"""Builds a PinterestClient from the settings (pipelines/settings.py): base URL, credentials, token file, limits.
Above the client package, which knows no settings."""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Mapping

from pipelines.pinterest.accounting import CallStats
from pipelines.pinterest.budgets import RateBudgets
from pipelines.pinterest.client import ClientConfig, PinterestClient
from pipelines.pinterest.credentials import AppCredentials, Secret, TokenFile, choose_tokens
from pipelines.pinterest.oauth import TokenManager
from pipelines.pinterest.retries import RetryPolicy
from pipelines.pinterest.sessions import isolated, warn_about_ignored_proxies
from pipelines.pinterest.urls import is_local
from pipelines.settings import SETTINGS, Settings

# The simulator's development app; used automatically only for a local simulator base URL.
SIMULATOR_APP = AppCredentials("1234567", Secret("sandbox-secret"))


def app_credentials(app: AppCredentials | None, base_url: str) -> AppCredentials | None:
    """The app that refreshes tokens: the configured one, else the simulator's for a local simulator."""
    if app is None and is_local(base_url):
        return SIMULATOR_APP
    return app


# The fields of `Settings` a client is built from (`client_from_settings`). A command that needs only a client
# (`auth status`, `auth refresh`, `probe`) reads only these: a bad schedule or ads column list, which it never
# uses, does not stop it from checking or refreshing a token.
_CLIENT_FIELDS = frozenset({"etl_home", "fixed_today", "api_base_url", "tokens", "app", "token_file", "https_proxy",
                            "environment_proxies", "ca_bundle", "http_limits", "retry_policy", "rate_budgets"})


def client_settings(env: Mapping[str, str] = os.environ, also: Collection[str] = ()) -> Settings:
    """The settings of `env` a client reads, and the fields `also` (names of `Settings`' fields), checked; every
    other PINTEREST_* setting at its default."""
    unused = {variable for variable, field in SETTINGS.items() if field not in _CLIENT_FIELDS | set(also)}
    return Settings.from_env({name: value for name, value in env.items() if name not in unused})


def check_client_settings(env: Mapping[str, str] = os.environ, also: Collection[str] = ()) -> None:
    """Raise BaseUrlError, CredentialsError or SettingsError for a base URL, token endpoint, credentials,
    token file or HTTP limit (or a field `also` names) that cannot work, before anything is called or written."""
    client_settings(env, also)


def client_from_settings(settings: Settings, *, concurrency: int = ClientConfig.concurrency,
                         budgets: RateBudgets | None = None, stats: CallStats | None = None,
                         retry: Callable[[RetryPolicy], RetryPolicy] | None = None,
                         token_file: bool = True) -> tuple[PinterestClient, str]:
    """A client of the account `settings` are of, and a description of where its tokens came from. The retry
    policy and the HTTP limits are the settings' (PINTEREST_RETRY_BACKOFF_SECONDS, PINTEREST_HTTP_*,
    PINTEREST_MAX_PAGES, PINTEREST_MAX_RATE_LIMIT_WAIT_SECONDS); `retry` may only narrow that policy
    (`pinterest-etl probe` bounds its attempts). Its only proxy is PINTEREST_HTTPS_PROXY, its only CA bundle
    PINTEREST_CA_BUNDLE. Rate budgets: `budgets`, else PINTEREST_RATE_BUDGETS. Not `token_file`: the settings'
    tokens only, the token file neither read nor written (the embedded simulator's development tokens)."""
    policy = settings.retry_policy
    config = ClientConfig(base_url=settings.api_base_url, concurrency=concurrency, today=settings.today,
                          retry=retry(policy) if retry else policy, limits=settings.http_limits)
    kept = TokenFile(settings.token_file) if token_file else None
    tokens, source = choose_tokens(settings.tokens, kept) if kept else (settings.tokens, "environment")
    stats = stats or CallStats()
    warn_about_ignored_proxies(settings.environment_proxies, settings.https_proxy)
    session = isolated(https_proxy=settings.https_proxy, ca_bundle=settings.ca_bundle)
    manager = TokenManager(tokens, session, config.base_url, app_credentials(settings.app, config.base_url),
                           kept, config.limits, on_refresh=lambda: stats.add(token_refreshes=1), retry=config.retry)
    client = PinterestClient(config, manager, budgets=budgets or RateBudgets(dict(settings.rate_budgets)), stats=stats,
                             session=session)
    return client, source


def client_from_env(env: Mapping[str, str] = os.environ, **options) -> tuple[PinterestClient, str]:
    """A client built from the client settings of `env` (`client_settings`; `client_from_settings`' options)."""
    return client_from_settings(client_settings(env), **options)
