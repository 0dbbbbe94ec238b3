"""The Pinterest accounts a run extracts: the one the environment's credentials name, or the list in an
accounts file (an agency's clients, each with its own tokens).

An accounts file is TOML, `PINTEREST_ACCOUNTS_FILE` or else `PINTEREST_ETL_HOME/accounts.toml` when it exists:

    [[account]]
    name = "brand-a"                             # a-z, 0-9, '-' and '_'; names the account's files
    access_token_env = "BRAND_A_ACCESS_TOKEN"    # environment variables holding its tokens ...
    refresh_token_env = "BRAND_A_REFRESH_TOKEN"
    token_file = "credentials/brand-a.json"      # ... or its token file (default: credentials/<name>.json,
                                                 # relative paths are under PINTEREST_ETL_HOME)
    ad_account_ids = ["549755885175"]            # optional: only these ad accounts

The file names where secrets are, never the secrets. Every account's tokens are used only for that
account; the app (PINTEREST_APP_ID / PINTEREST_APP_SECRET, or `app_id_env` / `app_secret_env`) refreshes them.

Storage: the account named `default` (the environment's, or one so named in the file) keeps its raw answers
in `raw/`, another account under `raw/account=<name>/`. The name plays no part in the lake: its files are those of
the stable Pinterest identities (the user, each ad account: pipelines/lake.py), made from every raw folder's
answers of that identity. So renaming an account, moving an ad account to another login, or moving from the
environment's account to a file naming the same user never counts a fact twice, and the old name's raw answers
still count when a range is re-normalized.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path

from pipelines import settings
from pipelines.pinterest.credentials import CredentialsError, stripped_secret
from pipelines.settings import SettingsError

DEFAULT_NAME = "default"
_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")
_KEYS = {"name", "access_token_env", "refresh_token_env", "token_file", "app_id_env", "app_secret_env", "ad_account_ids"}
# The variables a client is built from; an account's own values replace the environment's.
_CREDENTIAL_VARIABLES = ("PINTEREST_ACCESS_TOKEN", "PINTEREST_REFRESH_TOKEN", "PINTEREST_TOKEN_FILE",
                         "PINTEREST_APP_ID", "PINTEREST_APP_SECRET", "PINTEREST_AD_ACCOUNT_IDS")


@dataclasses.dataclass(frozen=True)
class Account:
    """One Pinterest login: where its credentials come from and which ad accounts to read."""

    name: str
    access_token_env: str | None = None
    refresh_token_env: str | None = None
    token_file: Path | None = None
    app_id_env: str = "PINTEREST_APP_ID"
    app_secret_env: str = "PINTEREST_APP_SECRET"
    ad_account_ids: tuple[str, ...] | None = None
    from_file: bool = True

    @property
    def is_default(self) -> bool:
        return self.name == DEFAULT_NAME

    def raw_root(self, raw: Path) -> Path:
        """This account's folder of the raw zone `raw` (pipelines/data_locations.py)."""
        return raw if self.is_default else raw / f"account={self.name}"

    def environment(self, env: Mapping[str, str] = os.environ) -> dict[str, str]:
        """`env` with this account's credentials in the variables the client reads (the environment's own
        account: `env` unchanged)."""
        if not self.from_file:
            return dict(env)
        own = {k: v for k, v in env.items() if k not in _CREDENTIAL_VARIABLES}
        for variable, source in self.credential_variables().items():
            value = env.get(source)
            if value:  # stripped here, for the warning to name the account's own variable (blank: refused later)
                own[variable] = stripped_secret(value, source) if value.strip() else value
        own["PINTEREST_TOKEN_FILE"] = str(self.token_file_path(env))
        if self.ad_account_ids:
            own["PINTEREST_AD_ACCOUNT_IDS"] = ",".join(self.ad_account_ids)
        return own

    def credential_variables(self) -> dict[str, str]:
        """The variables the client reads credentials from, each with the one this account sets it from."""
        pairs = (("PINTEREST_ACCESS_TOKEN", self.access_token_env), ("PINTEREST_REFRESH_TOKEN", self.refresh_token_env),
                 ("PINTEREST_APP_ID", self.app_id_env), ("PINTEREST_APP_SECRET", self.app_secret_env))
        return {variable: source for variable, source in pairs if source}

    def token_file_path(self, env: Mapping[str, str] = os.environ) -> Path:
        if not self.from_file:
            return settings.token_file_path(env)
        path = self.token_file or Path("credentials") / f"{self.name}.json"
        return path if path.is_absolute() else settings.etl_home(env) / path

    @property
    def step_key(self) -> str:
        """The mapping key of the account's Dagster steps (`organic_raw.extract_account[<key>]`), in Dagster's key
        characters (letters, digits, `_`): the name itself when it has no `-`, else the name with each `-` as `_`
        followed by `_D` and the 1-based places of its dashes (`brand-a`: `brand_a_D6`; `a-b-c`: `a_b_c_D2_4`).
        A name has no capital letter, so the `_D` of a key marks where such places start, and a key reads back as
        one name only: two accounts never share a step."""
        dashes = [str(place) for place, character in enumerate(self.name, 1) if character == "-"]
        if not dashes:
            return self.name
        return f"{self.name.replace('-', '_')}_D{'_'.join(dashes)}"

    def describe(self) -> str:
        return f"account {self.name!r}"

    def in_own_names(self, message: str) -> str:
        """An error about this account's settings, naming where the account sets them (its `access_token_env` ...,
        the accounts file's keys) instead of the variables `environment` moved them to."""
        if not self.from_file:
            return message
        names = {**self.credential_variables(), "PINTEREST_TOKEN_FILE": "the accounts file's token_file",
                 "PINTEREST_AD_ACCOUNT_IDS": "the accounts file's ad_account_ids"}
        for variable, own in names.items():
            message = message.replace(variable, own)
        return message

    @contextlib.contextmanager
    def errors_named(self) -> Iterator[None]:
        """Re-raise a refused setting of this account's environment (SettingsError, CredentialsError) naming the
        account and, for a file's account, where it sets it (`in_own_names`)."""
        try:
            yield
        except (SettingsError, CredentialsError) as error:
            if not self.from_file:
                raise
            raise type(error)(f"{self.describe()}: {self.in_own_names(str(error))}") from None


ENVIRONMENT_ACCOUNT = Account(DEFAULT_NAME, from_file=False)


def raw_roots(raw: Path) -> list[Path]:
    """Every account's folder of the raw zone `raw` there is, configured now or not (a renamed or removed
    account's answers still belong to their Pinterest identity): `raw/`, then `raw/account=<name>/` by name."""
    return [raw, *sorted(p for p in raw.glob("account=*") if p.is_dir())]


def accounts_json(accounts: list[Account]) -> str:
    """`accounts` as JSON text, for a run to hand the accounts it started with to its steps' processes
    (`accounts_from_json`): their names, the variables and files their credentials are in, their ad accounts;
    never a secret (nor a comment of the accounts file)."""
    return json.dumps([{**dataclasses.asdict(account), "token_file": account.token_file and str(account.token_file)}
                       for account in accounts])


def accounts_from_json(text: str) -> list[Account]:
    """The accounts `accounts_json` wrote."""
    return [Account(**{**fields, "token_file": fields["token_file"] and Path(fields["token_file"]),
                       "ad_account_ids": fields["ad_account_ids"] and tuple(fields["ad_account_ids"])})
            for fields in json.loads(text)]


def refuse_shared_step_keys(accounts: list[Account]) -> None:
    """SettingsError naming two accounts whose steps would have one key (`Account.step_key`): one of them would
    silently not run. Distinct names never do; this guards the rule that makes them."""
    steps: dict[str, Account] = {}
    for account in accounts:
        shared = steps.setdefault(account.step_key, account)
        if shared is not account:
            raise SettingsError(f"{shared.describe()} and {account.describe()} would share the Dagster step key "
                                f"{account.step_key!r}; rename one of them in the accounts file")


def load_accounts(env: Mapping[str, str] = os.environ) -> list[Account]:
    """The accounts to extract, in the file's order (or the environment's one account)."""
    path = settings.accounts_file(env)
    if path is None:
        return [ENVIRONMENT_ACCOUNT]
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise SettingsError(f"the accounts file {path} (PINTEREST_ACCOUNTS_FILE) is not UTF-8 text (byte "
                            f"{error.start}); save it as UTF-8 TOML") from None
    except OSError as error:
        raise SettingsError(f"the accounts file {path} (PINTEREST_ACCOUNTS_FILE) cannot be read "
                            f"({error.strerror or error})") from None
    return parse_accounts(text, str(path))


def parse_accounts(text: str, origin: str = "accounts file") -> list[Account]:
    """Accounts from TOML text; any unknown key, bad name or type is an error naming it and the fix."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise SettingsError(f"{origin}: not valid TOML ({error})") from None
    unknown = sorted(set(document) - {"account"})
    if unknown:
        raise SettingsError(f"{origin}: unknown top-level key(s) {', '.join(unknown)}; "
                            "the file holds [[account]] tables only")
    entries = document.get("account")
    if not isinstance(entries, list) or not entries:
        raise SettingsError(f"{origin}: no [[account]] table; add one per Pinterest account")
    accounts, names = [], set()
    for number, entry in enumerate(entries, 1):
        where = f"{origin}, account #{number}"
        unknown = sorted(set(entry) - _KEYS)
        if unknown:
            raise SettingsError(f"{where}: unknown key(s) {', '.join(unknown)}; known keys: {', '.join(sorted(_KEYS))}")
        name = entry.get("name")
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise SettingsError(f"{where}: 'name' must be 1-40 characters of a-z, 0-9, '-' and '_', starting with a "
                                f"letter or digit (got {name!r})")
        if name in names:
            raise SettingsError(f"{where}: the name {name!r} is used twice; names must be unique")
        names.add(name)
        for key in ("access_token_env", "refresh_token_env", "app_id_env", "app_secret_env", "token_file"):
            if key in entry and (not isinstance(entry[key], str) or not entry[key].strip()):
                raise SettingsError(f"{where} ({name}): {key!r} must be a non-empty string")
        for key in ("access_token_env", "refresh_token_env", "app_id_env", "app_secret_env"):
            # A Pinterest token (pina_..., pinr_...) is letters, digits and `_` too: pasted here it would be kept
            # as a "name" (in the run's configuration that Dagster stores, among others).
            if key in entry and (not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", entry[key])
                                 or entry[key].startswith(("pina_", "pinr_"))):
                raise SettingsError(f"{where} ({name}): {key!r} names an environment variable, not a value "
                                    f"(got something that is not a variable name, or a token); put the secret in "
                                    f"that variable")
        if "\0" in entry.get("token_file", ""):
            raise SettingsError(f"{where} ({name}): 'token_file' contains a NUL character, which no path can hold")
        ids = entry.get("ad_account_ids")
        if ids is not None and (not isinstance(ids, list)
                                or not all(isinstance(i, str) and i.isascii() and i.isdigit() for i in ids)):
            raise SettingsError(f"{where} ({name}): 'ad_account_ids' must be a list of numeric ids as strings, "
                                'for example ["549755885175"]')
        accounts.append(Account(
            name=name, access_token_env=entry.get("access_token_env"), refresh_token_env=entry.get("refresh_token_env"),
            token_file=Path(entry["token_file"]) if "token_file" in entry else None,
            app_id_env=entry.get("app_id_env", "PINTEREST_APP_ID"),
            app_secret_env=entry.get("app_secret_env", "PINTEREST_APP_SECRET"),
            ad_account_ids=tuple(ids) if ids else None))
    return accounts
