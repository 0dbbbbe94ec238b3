"""Running an asset's work for every configured Pinterest account, one after another, so that one
account's failure does not stop the others."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

import dagster as dg

from assets.resources import PinterestResource
from pipelines.accounts import Account
from pipelines.pinterest.accounting import CallStats
from pipelines.pinterest.errors import DailyQuotaError
from pipelines.progress import StepProgress, watching
from pipelines.resume import Resumption, with_resume_note

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
                     work: Callable[[Account, CallStats], T], resume: Resumption | None = None,
                     progress: StepProgress | None = None) -> AccountResults[T]:
    """`work(account, stats)` for every account in order. With one account an error fails the step as
    usual; with several it is logged, recorded (the `every_account_succeeded` check fails) and the next
    account goes on. With `resume`, a daily quota that stops an account is recorded for the next run to resume
    (its message, in the step failure or the check's metadata, says where the answers are and how to resume),
    and so are the accounts that completed in the same run (the resume re-uses their answers instead of
    fetching them again); an account that completes in a run nothing stopped has its record removed. With
    `progress`, the API calls made are its count while the accounts run (the work plans each account's calls)."""
    stats = CallStats()
    with watching(progress, stats.calls_made) if progress is not None else contextlib.nullcontext():
        return _each_account(context, pinterest.accounts(), stats, work, resume)


def _each_account(context: dg.AssetExecutionContext, accounts: list[Account], stats: CallStats,
                  work: Callable[[Account, CallStats], T], resume: Resumption | None) -> AccountResults[T]:
    results: AccountResults[T] = AccountResults({}, {}, stats)
    started: dict[Account, dt.datetime] = {}
    stopped_by_quota = False
    for account in accounts:
        started[account] = dt.datetime.now(dt.timezone.utc)
        try:
            results.done[account] = work(account, stats)
        except Exception as error:
            if isinstance(error, DailyQuotaError) and resume is not None:
                resume.stopped(account.name, started[account], error.api_message)
                error = with_resume_note(error, resume.note(account.raw_root(resume.home)))
                stopped_by_quota = True
                if len(accounts) == 1:
                    raise error from None
            elif len(accounts) == 1:
                raise
            message = f"{type(error).__name__}: {error}"
            context.log.error(f"{account.describe()} failed, the other accounts go on: {message}")
            results.failed[account.name] = message
        else:
            if resume is not None:
                resume.completed(account.name)
    if stopped_by_quota:
        for account in results.done:
            resume.stopped(account.name, started[account], "completed in a run a daily quota stopped for another account")
    return results


class ApiProgress(StepProgress):
    """A raw step's progress in API calls: done of planned, with the time left at the rate budget of `category` of
    the client calling now (each account's client has budgets of its own), in the terminal and in the step's
    Dagster log."""

    def __init__(self, context: dg.AssetExecutionContext, category: str):
        self._budgets = None
        super().__init__(context.op_execution_context.op_handle.name, "API calls", log=context.log.info,
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
