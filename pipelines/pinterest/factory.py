"""Builds a PinterestClient from the environment: base URL, credentials, token file, budgets."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping

from pipelines import settings
from pipelines.pinterest.accounting import CallStats
from pipelines.pinterest.budgets import RateBudgets
from pipelines.pinterest.client import ClientConfig, PinterestClient
from pipelines.pinterest.credentials import (
    AppCredentials,
    Secret,
    TokenFile,
    app_credentials_from_env,
    load_tokens,
    tokens_from_env,
)
from pipelines.pinterest.oauth import TokenManager, token_endpoint_url
from pipelines.pinterest.retries import RetryPolicy
from pipelines.pinterest.sessions import isolated, warn_about_ignored_proxies
from pipelines.pinterest.urls import check_base_url, is_local

# The simulator's development app; used automatically only for a local simulator base URL.
SIMULATOR_APP = AppCredentials("1234567", Secret("sandbox-secret"))


def app_credentials(env: Mapping[str, str], base_url: str) -> AppCredentials | None:
    app = app_credentials_from_env(env)
    if app is None and is_local(base_url):
        return SIMULATOR_APP
    return app


def check_client_settings(env: Mapping[str, str] = os.environ) -> None:
    """Raise BaseUrlError, CredentialsError or SettingsError for a base URL, token endpoint, credentials,
    token file or HTTP limit that cannot work, before a run calls or writes anything."""
    base_url = check_base_url(settings.api_base_url(env))
    token_endpoint_url(base_url)
    settings.http_limits(env)
    settings.retry_policy(env)
    settings.https_proxy(env)
    settings.ca_bundle(env)
    app_credentials(env, base_url)
    tokens_from_env(env)
    token_file = TokenFile(settings.token_file_path(env))
    if token_file.exists():
        token_file.read()


def client_from_env(env: Mapping[str, str] = os.environ, *, config: ClientConfig | None = None,
                    budgets: RateBudgets | None = None, stats: CallStats | None = None,
                    retry: Callable[[RetryPolicy], RetryPolicy] | None = None) -> tuple[PinterestClient, str]:
    """A client for the configured account and a description of where its tokens came from. The retry
    policy and the HTTP limits always come from the environment (PINTEREST_RETRY_BACKOFF_SECONDS,
    PINTEREST_HTTP_*, PINTEREST_MAX_PAGES, PINTEREST_MAX_RATE_LIMIT_WAIT_SECONDS); `retry` may only narrow the
    environment's policy (`pinterest-etl probe` bounds its attempts). Its only proxy is PINTEREST_HTTPS_PROXY,
    its only CA bundle PINTEREST_CA_BUNDLE."""
    base_url = settings.api_base_url(env)
    policy = settings.retry_policy(env)
    config = dataclasses.replace(config or ClientConfig(base_url=base_url, today=lambda: settings.today(env)),
                                 retry=retry(policy) if retry else policy, limits=settings.http_limits(env))
    token_file = TokenFile(settings.token_file_path(env))
    tokens, source = load_tokens(env, token_file)
    stats = stats or CallStats()
    proxy = settings.https_proxy(env)
    warn_about_ignored_proxies(env, proxy)
    session = isolated(https_proxy=proxy, ca_bundle=settings.ca_bundle(env))
    manager = TokenManager(tokens, session, config.base_url, app_credentials(env, config.base_url), token_file,
                           config.limits, on_refresh=lambda: stats.add(token_refreshes=1), retry=config.retry)
    return PinterestClient(config, manager, budgets=budgets, stats=stats, session=session), source
