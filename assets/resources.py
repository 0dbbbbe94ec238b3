"""Dagster resources: where the data lives, and the Pinterest client for one run."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import dagster as dg

from pipelines import settings
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

    def raw(self) -> RawZone:
        return RawZone(self.root / "raw")

    def lake(self) -> Lake:
        return Lake(self.root / "lake")

    def warehouse(self) -> Warehouse:
        return Warehouse(self.root / "warehouse.duckdb")

    def temp_directory(self) -> str:
        path = self.root / "tmp"
        path.mkdir(parents=True, exist_ok=True)
        return str(path)


class PinterestResource(dg.ConfigurableResource):
    """The Pinterest API client, configured from the environment (base URL, tokens, token file)."""

    concurrency: int = 4

    def today(self) -> dt.date:
        return settings.today()

    def client(self) -> tuple[PinterestClient, str]:
        env = os.environ
        config = ClientConfig(base_url=settings.api_base_url(env), concurrency=self.concurrency,
                              today=lambda: settings.today(env))
        return client_from_env(env, config=config, stats=CallStats(), budgets=RateBudgets(settings.rate_budgets(env)))
