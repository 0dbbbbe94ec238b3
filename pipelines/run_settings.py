"""The settings of one run: the environment's, and each configured account's, each read and checked once."""

from __future__ import annotations

import dataclasses
import os
import types
from collections.abc import Mapping

from pipelines.accounts import Account, load_accounts
from pipelines.pinterest.credentials import CredentialsError
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
            try:
                accounts[account] = Settings.from_env(account.environment(env)) if account.from_file else environment
            except (SettingsError, CredentialsError) as error:
                raise type(error)(f"{account.describe()}: {error}") from None
        return cls(environment, types.MappingProxyType(accounts))


def check_all(env: Mapping[str, str] = os.environ) -> None:
    """Check every setting, writing nothing: SettingsError, or the client's CredentialsError/BaseUrlError,
    naming the variable (and the account, for one of an account's own)."""
    RunSettings.from_env(env)
