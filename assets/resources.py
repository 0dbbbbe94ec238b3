"""Dagster resources: where the data lives, and the Pinterest client for one run."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import dagster as dg

from pipelines import settings
from pipelines.accounts import ENVIRONMENT_ACCOUNT, Account, load_accounts, raw_roots
from pipelines.lake import Lake
from pipelines.pinterest.accounting import CallStats
from pipelines.pinterest.budgets import RateBudgets
from pipelines.pinterest.client import ClientConfig, PinterestClient
from pipelines.pinterest.factory import client_from_env
from pipelines.raw_zone import RawZone
from pipelines.warehouse import Warehouse


class StorageResource(dg.ConfigurableResource):
    """PINTEREST_ETL_HOME: raw/ (API answers), lake/ (Parquet), warehouse.duckdb."""

    home: str = ""

    @property
    def root(self) -> Path:
        return Path(self.home) if self.home else settings.etl_home()

    def raw(self, account: Account = ENVIRONMENT_ACCOUNT) -> RawZone:
        """The raw zone of one Pinterest account (`raw/`, or `raw/account=<name>/` for a named one)."""
        return RawZone(account.raw_root(self.root))

    def raw_zones(self) -> list[RawZone]:
        """The raw zone of every account that ever stored answers here (normalization reads them all)."""
        return [RawZone(root) for root in raw_roots(self.root)]

    def lake(self) -> Lake:
        return Lake(self.root / "lake")

    def warehouse(self) -> Warehouse:
        return Warehouse(self.root / "warehouse.duckdb")

    def temp_directory(self) -> str:
        path = self.root / "tmp"
        path.mkdir(parents=True, exist_ok=True)
        return str(path)


class PinterestResource(dg.ConfigurableResource):
    """The Pinterest API clients of the configured accounts (base URL, tokens, token files from the
    environment and the accounts file)."""

    concurrency: int = 4

    def today(self) -> dt.date:
        return settings.today()

    def accounts(self) -> list[Account]:
        return load_accounts(os.environ)

    def client(self, account: Account = ENVIRONMENT_ACCOUNT, stats: CallStats | None = None) -> tuple[PinterestClient, str]:
        """A client with the account's tokens and rate budgets of its own (limits are per Pinterest user);
        calls are counted in `stats` (shared by the accounts of a step, for its metadata)."""
        env = account.environment(os.environ)
        config = ClientConfig(base_url=settings.api_base_url(env), concurrency=self.concurrency,
                              today=lambda: settings.today(env))
        return client_from_env(env, config=config, stats=stats or CallStats(),
                               budgets=RateBudgets(settings.rate_budgets(env)))
