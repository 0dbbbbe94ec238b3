"""The settings of one run: the environment's, and each configured account's, each read and checked once."""

from __future__ import annotations

import dataclasses
import os
import types
from collections.abc import Mapping

from pipelines.accounts import Account, load_accounts, refuse_shared_step_keys
from pipelines.pinterest.credentials import TokenFile
from pipelines.settings import Settings, SettingsError, credentials_configured


@dataclasses.dataclass(frozen=True)
class RunSettings:
    """The environment's settings, and per account the run extracts (the accounts file's, in its order, or the
    environment's own) the settings of that account's environment (`Account.environment`: its own tokens, token
    file, app and ad accounts)."""

    environment: Settings
    accounts: Mapping[Account, Settings]

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ, listed: list[Account] | None = None) -> RunSettings:
        """Every setting of `env` and of each account's environment, or the first refused one (an account's
        names the account), for the accounts `listed` (default: those `env` configures now). Writes nothing."""
        environment = Settings.from_env(env)
        credentials_configured(env)  # an explicit token file that is missing is refused, not simulated
        accounts, token_files = {}, {}
        listed = load_accounts(env) if listed is None else listed
        refuse_shared_step_keys(listed)
        for account in listed:
            if not account.from_file:
                accounts[account] = environment
                continue
            with account.errors_named():
                accounts[account] = own = Settings.from_env(account.environment(env))
            if own.tokens is None and not TokenFile(own.token_file).exists():
                unset = f"{account.access_token_env} is unset and " if account.access_token_env else ""
                raise SettingsError(f"{account.describe()} has no credentials: {unset}its token file {own.token_file} "
                                    f"does not exist; run `pinterest-etl auth login --account {account.name}`, or "
                                    "remove the account from the accounts file")
            # Each account refreshes into its token file, which wins over its variables: a shared one would give
            # one account's tokens to the other.
            shared = token_files.setdefault(own.token_file.resolve(), account)
            if shared is not account:
                raise SettingsError(f"{shared.describe()} and {account.describe()} have one token file, "
                                    f"{own.token_file}; give each account its own token_file in the accounts file")
        return cls(environment, types.MappingProxyType(accounts))


def check_all(env: Mapping[str, str] = os.environ) -> None:
    """Check every setting, writing nothing: SettingsError, or the client's CredentialsError/BaseUrlError,
    naming the variable (and the account, for one of an account's own)."""
    RunSettings.from_env(env)
