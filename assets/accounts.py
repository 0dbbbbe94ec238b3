"""Running an asset's work for every configured Pinterest account, one after another, so that one
account's failure does not stop the others."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Generic, TypeVar

import dagster as dg

from assets.resources import PinterestResource
from pipelines.accounts import Account
from pipelines.pinterest.accounting import CallStats

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
    """`work(account, stats)` for every account in order. With one account an error fails the step as
    usual; with several it is logged, recorded (the `every_account_succeeded` check fails) and the next
    account goes on."""
    accounts, stats = pinterest.accounts(), CallStats()
    results: AccountResults[T] = AccountResults({}, {}, stats)
    for account in accounts:
        try:
            results.done[account] = work(account, stats)
        except Exception as error:
            if len(accounts) == 1:
                raise
            message = f"{type(error).__name__}: {error}"
            context.log.error(f"{account.describe()} failed, the other accounts go on: {message}")
            results.failed[account.name] = message
    return results
