"""The settings of one run: the environment's, and each configured account's, each read and checked once."""

from __future__ import annotations

import dataclasses
import os
import types
from collections.abc import Mapping

from pipelines.accounts import Account, load_accounts
from pipelines.pinterest.credentials import CredentialsError, TokenFile
from pipelines.settings import Settings, SettingsError, credentials_configured


@dataclasses.dataclass(frozen=True)
class RunSettings:
    """The environment's settings, and per account the run extracts (the accounts file's, in its order, or the
    environment's own) the settings of that account's environment (`Account.environment`: its own tokens, token
    file, app and ad accounts)."""

    environment: Settings
    accounts: Mapping[Account, Settings]

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> RunSettings:
        """Every setting of `env` and of each account's environment, or the first refused one (an account's
        names the account). Writes nothing."""
        environment = Settings.from_env(env)
        credentials_configured(env)  # an explicit token file that is missing is refused, not simulated
        accounts = {}
        for account in load_accounts(env):
            if not account.from_file:
                accounts[account] = environment
                continue
            try:
                accounts[account] = own = Settings.from_env(account.environment(env))
            except (SettingsError, CredentialsError) as error:
                raise type(error)(f"{account.describe()}: {_in_accounts_variables(str(error), account)}") from None
            if own.tokens is None and not TokenFile(own.token_file).exists():
                unset = f"{account.access_token_env} is unset and " if account.access_token_env else ""
                raise SettingsError(f"{account.describe()} has no credentials: {unset}its token file {own.token_file} "
                                    f"does not exist; run `pinterest-etl auth login --account {account.name}`, or "
                                    "remove the account from the accounts file")
        return cls(environment, types.MappingProxyType(accounts))


def _in_accounts_variables(message: str, account: Account) -> str:
    """An error about an account's credentials, naming the variables the account reads them from (its
    `access_token_env` ...) instead of those `Account.environment` moved them to."""
    for variable, own in account.credential_variables().items():
        message = message.replace(variable, own)
    return message


def check_all(env: Mapping[str, str] = os.environ) -> None:
    """Check every setting, writing nothing: SettingsError, or the client's CredentialsError/BaseUrlError,
    naming the variable (and the account, for one of an account's own)."""
    RunSettings.from_env(env)
