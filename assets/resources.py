"""Dagster resources: where the data lives, and the settings and Pinterest clients of one run."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
from pydantic import PrivateAttr

from pipelines import settings
from pipelines.accounts import ENVIRONMENT_ACCOUNT, Account, accounts_from_json, raw_roots
from pipelines.clients import client_from_settings
from pipelines.data_locations import DataLocations, data_locations
from pipelines.embedded import EmbeddedSimulator, refuse_with_real_credentials
from pipelines.lake import Lake
from pipelines.object_store import StoreError
from pipelines.pinterest.accounting import CallStats
from pipelines.pinterest.client import PinterestClient
from pipelines.pinterest.urls import is_local
from pipelines.planning import DateRange
from pipelines.raw_zone import RawZone
from pipelines.run_settings import RunSettings
from pipelines.sandbox.auth import DEV_ACCESS_TOKEN, DEV_REFRESH_TOKEN
from pipelines.warehouse import Warehouse


class StorageResource(dg.ConfigurableResource):
    """PINTEREST_ETL_HOME (or `home`, when set): warehouse.duckdb and, unless PINTEREST_LAKE_URI and
    PINTEREST_RAW_URI say otherwise (pipelines/data_locations.py), raw/ (API answers) and lake/ (Parquet). The
    directory, the locations and PINTEREST_WAREHOUSE_LOCK_WAIT_SECONDS are read once, when the step's process
    sets the resource up, as PinterestResource reads the other settings. A lake or raw zone on an object store
    is checked (listed and written) then, and the lake's store pulled into its local copy; a step that writes
    them pushes its files when it ends (`publishing`)."""

    home: str = ""
    _root: Path = PrivateAttr()
    _locations: DataLocations = PrivateAttr()
    _warehouse_lock_wait_seconds: float = PrivateAttr()

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        self._root = Path(self.home) if self.home else settings.etl_home()
        self._locations = data_locations(self._root)
        self._warehouse_lock_wait_seconds = settings.warehouse_lock_wait_seconds()
        if self._locations.mirrors():
            self._locations.check_stores()
            pulled = self._locations.pull_lake()
            if context.log and pulled:
                context.log.info(f"Pulled {pulled} file(s) of {self._locations.describe_lake()} into its local copy")
            self._warn_ignored(context.log)

    def pull_raw(self, requested: DateRange, log: dg.DagsterLogManager | None = None) -> None:
        """The raw zone store's answers of `requested` into its local copy (nothing for a local raw zone), for a
        step that normalizes them on a machine that may not have fetched them (`run --from-raw`)."""
        pulled = self._locations.pull_raw(requested)
        if log and pulled:
            log.info(f"Pulled {pulled} answer(s) of {requested} from {self._locations.describe_raw()} into its "
                     "local copy")
        self._warn_ignored(log)

    def _warn_ignored(self, log: dg.DagsterLogManager | None) -> None:
        ignored = self._locations.ignored()
        if log and ignored:
            log.warning(f"{len(ignored)} object(s) of the store were left out of its local copy: their keys cannot be "
                        f"files (an empty, . or .. part, or an object named like a folder of others), so the pipeline "
                        f"never wrote them ({', '.join(ignored[:5])}{', ...' if len(ignored) > 5 else ''}); move "
                        "them out of the prefix")

    @property
    def root(self) -> Path:
        return self._root

    @property
    def locations(self) -> DataLocations:
        return self._locations

    def raw(self, account: Account = ENVIRONMENT_ACCOUNT) -> RawZone:
        """The raw zone of one Pinterest account (`raw/`, or `raw/account=<name>/` for a named one)."""
        return RawZone(account.raw_root(self._locations.raw))

    def raw_zones(self) -> list[RawZone]:
        """The raw zone of every account that ever stored answers here (normalization reads them all)."""
        return [RawZone(root) for root in raw_roots(self._locations.raw)]

    def lake(self) -> Lake:
        return Lake(self._locations.lake)

    @contextlib.contextmanager
    def publishing(self, log: dg.DagsterLogManager | None = None) -> Iterator[None]:
        """Push the lake's and raw zone's new files to their object stores when the block ends (nothing for local
        ones). When the block fails, what it wrote is pushed all the same (the answers it fetched are kept in
        the store; a resumed run re-uses them only on this machine, whose PINTEREST_ETL_HOME holds the stop's
        record), and a failure to push is logged without hiding the block's own error."""
        try:
            yield
        except BaseException:
            try:
                self._locations.publish()
            except (StoreError, OSError) as error:
                if log:
                    log.warning(f"The files written before the failure were not all pushed: {error}")
            raise
        pushed = self._locations.publish()
        if log and pushed:
            log.info(f"Pushed {pushed} file(s) to {self._locations.describe_lake()} and "
                     f"{self._locations.describe_raw()}")

    def warehouse(self) -> Warehouse:
        return Warehouse(self.root / "warehouse.duckdb", self._warehouse_lock_wait_seconds)

    def temp_directory(self) -> str:
        path = self.root / "tmp"
        path.mkdir(parents=True, exist_ok=True)
        return str(path)


class PinterestResource(dg.ConfigurableResource):
    """The run's settings, read once when the run starts (pipelines/run_settings.py: the environment's and each
    account's), and the Pinterest API clients of its accounts. `pinterest-etl run` points it at the embedded
    simulator (`with_simulator`): its URL, and `embedded_simulator` for the simulator's public development tokens
    (only those: the token file is neither read nor written, and the flag is refused while real credentials are
    configured).
    No token is ever configuration (the UI shows and stores run configuration): real ones come only from the
    environment, token files and the accounts file."""

    concurrency: int = 4
    api_base_url: str = ""
    embedded_simulator: bool = False
    # The accounts the run read when it started (pipelines/accounts.py `accounts_json`: no secret), which
    # `pinterest-etl run` sets so that each step's process extracts those, not those of an accounts file edited
    # since; empty: the accounts file's of the moment the resource is set up (a run launched from the UI).
    run_accounts: str = ""
    _run: RunSettings = PrivateAttr()

    def with_simulator(self, simulator: EmbeddedSimulator) -> PinterestResource:
        """This resource, calling `simulator` with its development tokens."""
        return PinterestResource(concurrency=self.concurrency, api_base_url=simulator.base_url, embedded_simulator=True,
                                 run_accounts=self.run_accounts)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        configured = {"PINTEREST_API_BASE_URL": self.api_base_url} if self.api_base_url else {}
        if self.embedded_simulator:
            if not is_local(self.api_base_url):
                raise settings.SettingsError(f"embedded_simulator is set for {self.api_base_url or 'no URL'}: the "
                                             "embedded simulator runs on this machine (a 127.0.0.1 URL)")
            refuse_with_real_credentials(os.environ)
            configured.update(PINTEREST_ACCESS_TOKEN=DEV_ACCESS_TOKEN, PINTEREST_REFRESH_TOKEN=DEV_REFRESH_TOKEN)
        self._run = RunSettings.from_env({**os.environ, **configured},
                                         accounts_from_json(self.run_accounts) if self.run_accounts else None)

    @property
    def settings(self) -> settings.Settings:
        """The environment's settings (those of the run as a whole: dates, repull windows, columns ...)."""
        return self._run.environment

    def today(self) -> dt.date:
        return self.settings.today()

    def accounts(self) -> list[Account]:
        return list(self._run.accounts)

    def account_settings(self, account: Account) -> settings.Settings:
        """The settings of `account`'s environment: its own tokens, token file, app and ad accounts."""
        return self._run.accounts[account]

    def client(self, account: Account, stats: CallStats | None = None) -> tuple[PinterestClient, str]:
        """A client with the account's tokens and rate budgets of its own (limits are per Pinterest user);
        calls are counted in `stats` (shared by the accounts of a step, for its metadata)."""
        return client_from_settings(self.account_settings(account), concurrency=self.concurrency,
                                    stats=stats or CallStats(), token_file=not self.embedded_simulator)
