"""`pinterest-etl auth login | refresh | status`: OAuth credentials, never printing a token."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import time
import webbrowser
from typing import TYPE_CHECKING

from pipelines import settings
from pipelines.commands.failure import fail
from pipelines.pinterest.credentials import DEFAULT_REDIRECT_URI, DEFAULT_SCOPES, CredentialsError, TokenFile, Tokens
from pipelines.pinterest.errors import PinterestError

if TYPE_CHECKING:
    from pipelines.accounts import Account

# The client stack (requests, the OAuth flow) is imported by the handlers, so that `pinterest-etl sandbox`
# does not pay for it at start-up.


def add_parser(commands) -> None:
    p = commands.add_parser("auth", help="authorize with Pinterest (OAuth 2.0) and inspect the saved tokens",
                            description="OAuth 2.0 credentials. Tokens are saved to PINTEREST_TOKEN_FILE "
                                        "(default: PINTEREST_ETL_HOME/credentials/pinterest-token.json, mode 0600); "
                                        "no command ever prints a token.")
    sub = p.add_subparsers(dest="auth_command", required=True, metavar="ACTION")
    login_p = sub.add_parser("login", help="authorization-code flow with a local redirect listener",
                             description="Opens (or prints) Pinterest's consent page, receives the code on a one-shot "
                                         "listener on 127.0.0.1, checks `state`, exchanges the code and saves the tokens. "
                                         "Needs PINTEREST_APP_ID and PINTEREST_APP_SECRET (for a local simulator base "
                                         "URL, the simulator's development app is used when they are unset).")
    login_p.add_argument("--redirect-uri", default=DEFAULT_REDIRECT_URI,
                         help=f"redirect URI registered on your app (default: {DEFAULT_REDIRECT_URI})")
    login_p.add_argument("--scopes", default=",".join(DEFAULT_SCOPES), help=f"comma-separated scopes (default: {','.join(DEFAULT_SCOPES)})")
    login_p.add_argument("--no-browser", action="store_true", help="print the consent URL instead of opening a browser")
    login_p.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for the consent (default: 300)")
    login_p.set_defaults(handler=_login)
    refresh_p = sub.add_parser("refresh", help="refresh the access token now and save the new tokens")
    refresh_p.set_defaults(handler=_refresh)
    status_p = sub.add_parser("status", help="where the tokens come from, their scopes and expiry, and whether they work")
    status_p.set_defaults(handler=_status)
    for action in (login_p, refresh_p, status_p):
        action.add_argument("--account", metavar="NAME",
                            help="an account of the accounts file (PINTEREST_ACCOUNTS_FILE or PINTEREST_ETL_HOME/"
                                 "accounts.toml): its token file and credentials instead of the environment's")


def _environment(args: argparse.Namespace) -> tuple[dict[str, str], Account]:
    """The environment the command works with, and the account it is of (an `accounts.Account`, whose
    `errors_named` names a refused setting as the account sets it): the named account's credentials, or the
    process's own."""
    from pipelines.accounts import ENVIRONMENT_ACCOUNT, load_accounts

    if not args.account:
        return dict(os.environ), ENVIRONMENT_ACCOUNT
    accounts = {a.name: a for a in load_accounts(os.environ)}
    if args.account not in accounts:
        raise CredentialsError(f"no account {args.account!r} in the accounts file (accounts: "
                               f"{', '.join(accounts) or 'none'})")
    return accounts[args.account].environment(os.environ), accounts[args.account]


def _fail(message: str) -> int:
    return fail("auth", message)


def _when(epoch: float | None) -> str:
    if epoch is None:
        return "unknown"
    moment = dt.datetime.fromtimestamp(epoch, dt.timezone.utc)
    left = epoch - time.time()
    return f"{moment:%Y-%m-%d %H:%M} UTC ({'in ' + _duration(left) if left > 0 else 'expired'})"


def _duration(seconds: float) -> str:
    if seconds >= 86400:
        return f"{seconds / 86400:.0f} days"
    if seconds >= 3600:
        return f"{seconds / 3600:.0f} hours"
    return f"{seconds / 60:.0f} minutes"


def _describe(tokens: Tokens) -> str:
    return (f"  scopes: {tokens.scope or 'unknown'}\n  access token expires: {_when(tokens.expires_at)}\n"
            f"  refresh token: {'present, expires ' + _when(tokens.refresh_token_expires_at) if tokens.refresh_token else 'none'}")


def _login(args: argparse.Namespace) -> int:
    from pipelines.clients import app_credentials
    from pipelines.pinterest.credentials import app_credentials_from_env
    from pipelines.pinterest.oauth import login
    from pipelines.pinterest.sessions import isolated, proxies_set_in, warn_about_ignored_proxies
    from pipelines.pinterest.urls import BaseUrlError, check_base_url

    try:
        env, _ = _environment(args)
        base_url = check_base_url(settings.api_base_url(env))
        app = app_credentials(app_credentials_from_env(env), base_url)
        limits, retry = settings.http_limits(env), settings.retry_policy(env)  # read before the consent page
        if app is None:
            return _fail("set PINTEREST_APP_ID and PINTEREST_APP_SECRET (your app's id and secret from "
                         "developers.pinterest.com) to log in")

        def show(url: str) -> None:
            print(f"Open this URL to authorize pinterest-etl:\n  {url}", flush=True)
            if not args.no_browser:
                webbrowser.open(url)

        scopes = tuple(s.strip() for s in args.scopes.split(",") if s.strip())
        proxy = settings.https_proxy(env)
        warn_about_ignored_proxies(proxies_set_in(env), proxy)
        with isolated(https_proxy=proxy, ca_bundle=settings.ca_bundle(env)) as session:
            tokens = login(base_url, app, show, redirect_uri=args.redirect_uri, scopes=scopes,
                           timeout_seconds=args.timeout, session=session, limits=limits, retry=retry)
        token_file = TokenFile(settings.token_file_path(env))
        token_file.write(tokens)
    except (BaseUrlError, CredentialsError, PinterestError, OSError, settings.SettingsError) as error:
        return _fail(str(error))
    print(f"Authorized. Tokens saved to {token_file.path} (mode 0600).\n{_describe(tokens)}")
    return 0


def _refresh(args: argparse.Namespace) -> int:
    from pipelines.clients import client_from_env
    from pipelines.pinterest.urls import BaseUrlError

    try:
        env, account = _environment(args)
        with account.errors_named():
            client, source = client_from_env(env)
        with client:
            if not client.tokens.can_refresh():
                return _fail("no refresh token (or no PINTEREST_APP_ID/PINTEREST_APP_SECRET) to refresh with; "
                             "run `pinterest-etl auth login`")
            client.tokens.refresh()
            tokens = client.tokens.tokens
    except (BaseUrlError, CredentialsError, PinterestError, OSError, settings.SettingsError) as error:
        return _fail(str(error))
    print(f"Refreshed (tokens were from the {source}); saved to {settings.token_file_path(env)}.\n{_describe(tokens)}")
    return 0


def _status(args: argparse.Namespace) -> int:
    from pipelines.clients import client_from_env
    from pipelines.pinterest.urls import BaseUrlError

    try:
        env, account = _environment(args)
        with account.errors_named():
            client, source = client_from_env(env)
        with client:
            print(f"Tokens from the {source}; API {client.base_url}\n{_describe(client.tokens.tokens)}")
            user = client.get("user_account/get")
    except (BaseUrlError, CredentialsError, PinterestError, OSError, settings.SettingsError) as error:
        return _fail(str(error))
    print(f"  works: yes (user @{user.get('username')}, {user.get('account_type')})")
    return 0
