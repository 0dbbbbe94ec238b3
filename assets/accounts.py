"""The configured Pinterest accounts in an asset's work: the `every_account_succeeded` check every extraction
reports, running a step's work for each account one after another so that one account's failure does not stop the
others, and a raw step's progress in API calls."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

import dagster as dg

from assets.resources import PinterestResource
from pipelines.accounts import Account
from pipelines.pinterest.accounting import CallStats
from pipelines.progress import StepProgress

T = TypeVar("T")
ACCOUNTS_CHECK = "every_account_succeeded"
ACCOUNTS_CHECK_DESCRIPTION = ("Every configured Pinterest account was processed. With several accounts, one that fails "
                              "(revoked token, API errors) is reported here and skipped; the others are loaded.")


@dataclasses.dataclass
class AccountResults(Generic[T]):
    """What the work returned per account that succeeded, the error of each that failed, and the calls made."""

    done: dict[Account, T]
    failed: dict[str, str]
    stats: CallStats

    def check_result(self, asset: str) -> dg.AssetCheckResult:
        return dg.AssetCheckResult(asset_key=asset, check_name=ACCOUNTS_CHECK, passed=not self.failed,
                                   severity=dg.AssetCheckSeverity.ERROR,
                                   metadata={"accounts": len(self.done) + len(self.failed),
                                             "failed_accounts": dg.MetadataValue.json(self.failed)})

    def metadata(self) -> dict:
        return {"accounts": ", ".join(a.name for a in self.done) or "none",
                "failed_accounts": dg.MetadataValue.json(self.failed)}


def accounts_check(asset: str) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(ACCOUNTS_CHECK, asset=asset, description=ACCOUNTS_CHECK_DESCRIPTION)


def for_each_account(context: dg.AssetExecutionContext, pinterest: PinterestResource,
                     work: Callable[[Account, CallStats], T]) -> AccountResults[T]:
    """`work(account, stats)` for every account in order, in this step (the dimension assets and the top-pins
    rankings: a few listing calls per account, and their rules across accounts, one Pinterest user per account and
    a shared ad account extracted once under the first, need the accounts' order; the raw extractions run each
    account as a step of its own: assets/account_steps.py). With one account an error fails the step as usual;
    with several it is logged, recorded (the `every_account_succeeded` check fails) and the next account goes on."""
    results: AccountResults[T] = AccountResults({}, {}, CallStats())
    accounts = pinterest.accounts()
    for account in accounts:
        try:
            results.done[account] = work(account, results.stats)
        except Exception as error:
            if len(accounts) == 1:
                raise
            results.failed[account.name] = failure_message(context, account, error)
    return results


def failure_message(context: dg.OpExecutionContext, account: Account, error: Exception) -> str:
    """The error of an account that failed beside others, logged: its name and message (the check's metadata)."""
    message = f"{type(error).__name__}: {error}"
    context.log.error(f"{account.describe()} failed, the other accounts go on: {message}")
    return message


class ApiProgress(StepProgress):
    """A raw step's progress in API calls: done of planned, with the time left at the rate budget of `category` of
    the client calling now (each account's client has budgets of its own), in the terminal and in the step's
    Dagster log."""

    def __init__(self, context: dg.OpExecutionContext, step: str, category: str):
        self._budgets = None
        super().__init__(step, "API calls", log=context.log.info,
                         per_minute=lambda: self._budgets.current_budget(category) if self._budgets else 0.0)

    @contextlib.contextmanager
    def account(self, client, planned: int, stats: CallStats) -> Iterator[None]:
        """One account's calls: `planned` more, paced by `client`'s budget. When the account is done its plan
        becomes the calls it made: a plan may be an upper bound (ads leave out the ad groups and ads of campaigns
        without delivery) or count answers a resumed run replays instead of calling."""
        self.plan(planned)
        self._budgets, before = client.budgets, stats.calls_made()
        yield
        self.plan(stats.calls_made() - before - planned)
