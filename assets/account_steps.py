"""Extraction assets whose accounts are Dagster steps of their own, so that the multiprocess executor (or a run
launcher that spreads steps) runs several accounts at once while the asset stays one asset of one run.

Such an asset is graph-backed: `accounts` yields one dynamic output per account of the accounts file (its mapping
key the account's name in Dagster's key characters: `Account.step_key`), `extract_account` runs the asset's work
for one account (step `organic_raw.extract_account[brand_a]` for brand_a), with its own client, token and rate
budgets as before, and `collect_accounts` sums their outcomes into the asset's materialization and its
`every_account_succeeded` check.
With one account an error fails its step as it failed the asset's; with several an account's error is logged and
recorded in its outcome, and the others go on. What crosses steps (the outcomes, with their CallStats) goes through
the IO manager: pickled when the steps run in processes of their own."""

import dataclasses
import datetime as dt
from collections.abc import Callable
from typing import Any

import dagster as dg

from assets.accounts import ACCOUNTS_CHECK, AccountResults, ApiProgress, failure_message
from assets.conventions import partition_range
from assets.resources import PinterestResource, StorageResource
from pipelines.accounts import Account
from pipelines.pinterest.accounting import CallStats
from pipelines.pinterest.errors import DailyQuotaError
from pipelines.planning import DateRange
from pipelines.progress import watching
from pipelines.resume import Resumption, with_resume_note
from pipelines.settings import Settings

QUOTA_STOPPED_SIBLING = "completed in a run a daily quota stopped for another account"


@dataclasses.dataclass(frozen=True)
class AccountWork:
    """What one extraction asset does per account and how it sums the accounts up. `only`: the `pinterest-etl run
    --only` value that runs it; `request_settings(settings)`: what else shapes its requests (a resumed run re-uses
    only answers asked with the same: pipelines/resume.py); `work(context, pinterest, storage, account, stats,
    resume, progress)`: one account's extraction, its value picklable; `metadata(context, results, requested)`: the
    materialization's metadata from every account's results (it may log what concerns the whole range)."""

    asset: str
    only: str
    category: str  # the rate-limit category whose budget paces the account's calls (the progress's time left)
    request_settings: Callable[[Settings], str]
    work: Callable[..., Any]
    metadata: Callable[[dg.OpExecutionContext, AccountResults, DateRange], dict]

    def resumption(self, pinterest: PinterestResource, storage: StorageResource, requested: DateRange) -> Resumption:
        """The asset's resume bookkeeping for the requested range."""
        return Resumption(storage.root, self.asset, requested, only=self.only,
                          settings=self.request_settings(pinterest.settings))


@dataclasses.dataclass
class AccountOutcome:
    """One account's step: what its work returned (None when it failed), its error message, the calls it made, when
    it started, the day its windows were planned as of, and whether a daily quota stopped it."""

    account: Account
    value: Any
    error: str | None
    stats: CallStats
    started: dt.datetime
    planned_on: dt.date | None
    stopped_by_quota: bool = False


# The work of each asset built by `account_steps`, by asset name: the ops are shared by the assets (a job holds one
# definition per op name) and find their asset's work by the graph they run in.
_WORK: dict[str, AccountWork] = {}


@dg.op(ins={"after": dg.In(dg.Nothing)}, out=dg.DynamicOut(Account))
def accounts(pinterest: PinterestResource):
    """Every account of the accounts file, one output each, keyed by its name (`Account.step_key`)."""
    for account in pinterest.accounts():
        yield dg.DynamicOutput(account, mapping_key=account.step_key)


@dg.op
def extract_account(context: dg.OpExecutionContext, pinterest: PinterestResource, storage: StorageResource,
                    account: Account) -> AccountOutcome:
    """The asset's extraction of one account for the run's partition range. A daily quota that stops it is
    recorded for the next run to resume (its message says where the answers are and how to resume); a completed
    one removes the account's record."""
    work = _WORK[context.op_handle.parent.name]
    alone = len(pinterest.accounts()) == 1
    requested = partition_range(context)
    resume = work.resumption(pinterest, storage, requested)
    progress = ApiProgress(context, work.asset if alone else f"{work.asset}[{account.name}]", work.category)
    stats, started = CallStats(), dt.datetime.now(dt.timezone.utc)

    def outcome(value: Any, error: str | None = None, stopped_by_quota: bool = False) -> AccountOutcome:
        return AccountOutcome(account, value, error, stats, started, resume.planned_on(account.name), stopped_by_quota)

    try:
        with watching(progress, stats.calls_made), storage.publishing(context.log):
            value = work.work(context, pinterest, storage, account, stats, resume, progress)
    except DailyQuotaError as error:
        resume.stopped(account.name, started, error.api_message)
        noted = with_resume_note(error, resume.note(storage.raw(account).root))
        if alone:
            raise noted from None
        return outcome(None, failure_message(context, account, noted), stopped_by_quota=True)
    except Exception as error:
        if alone:
            raise
        return outcome(None, failure_message(context, account, error))
    resume.completed(account.name)
    return outcome(value)


@dg.op(out={"result": dg.Out(dg.Nothing), "check": dg.Out(dg.Nothing)})
def collect_accounts(context: dg.OpExecutionContext, pinterest: PinterestResource, storage: StorageResource,
                     outcomes: list[AccountOutcome]):
    """The asset's materialization (its metadata from every account's outcome) and its `every_account_succeeded`
    check. When a daily quota stopped an account, the accounts that completed are recorded as stopped too: the
    resume re-uses their answers instead of fetching them again."""
    work = _WORK[context.op_handle.parent.name]
    requested = partition_range(context)
    results: AccountResults = AccountResults({}, {}, CallStats())
    for outcome in outcomes:
        results.stats.merge(outcome.stats)
        if outcome.error is None:
            results.done[outcome.account] = outcome.value
        else:
            results.failed[outcome.account.name] = outcome.error
    if any(outcome.stopped_by_quota for outcome in outcomes):
        resume = work.resumption(pinterest, storage, requested)
        for outcome in outcomes:
            if outcome.error is None:
                resume.stopped(outcome.account.name, outcome.started, QUOTA_STOPPED_SIBLING, outcome.planned_on)
    yield dg.Output(None, "result", metadata=work.metadata(context, results, requested))
    yield results.check_result(work.asset)


def account_steps(work: AccountWork, *upstream) -> dict:
    """The body of a graph-backed extraction asset (`@dg.graph_asset`, its upstream assets as Nothing inputs
    passed here): one `extract_account` step per account, then `collect_accounts`; the outputs by the names the
    graph asset gives its value and its accounts check."""
    _WORK[work.asset] = work
    collected = collect_accounts(accounts([*upstream]).map(extract_account).collect())
    return {"result": collected.result, f"{work.asset}_{ACCOUNTS_CHECK}": collected.check}


def after(*assets: str) -> dict[str, dg.AssetIn]:
    """The `ins` of a graph-backed asset that runs after `assets` without loading them."""
    return {name: dg.AssetIn(dagster_type=dg.Nothing) for name in assets}
