"""The daily schedule (yesterday plus the trailing re-pull windows, as one run) and the freshness checks
that say when it did not happen.

Why a schedule and not declarative automation (`AutomationCondition`): Pinterest's recent numbers change
after the fact, so every day must re-pull a window of past partitions that are already materialized.
Declarative automation materializes partitions that are missing or whose parents changed; it has no
notion of "re-pull the last 30 days although nothing upstream changed", and it would launch per-partition
requests instead of one range. A cron schedule emitting one partition-range run request is the idiom
Dagster documents for "run this range at this time", and with `BackfillPolicy.single_run()` the range is
one run making as few API calls as one day.
"""

import datetime as dt
import warnings

import dagster as dg

from assets.jobs import WAREHOUSE_LOADS, daily_job
from assets.partitions import DAILY, freshness_deadline_cron
from pipelines import catalog, settings
from pipelines.accounts import load_accounts
from pipelines.data_locations import data_locations
from pipelines.lake import Lake
from pipelines.object_store import StoreError
from pipelines.planning import SYNC_BACK_DAYS


def repull_days() -> int:
    """Days one daily run covers: the longer of the two sources' re-pull windows (a window of up to 90 days
    costs the same calls as one day, so pulling the longer one for everything is free)."""
    return max(settings.repull_days("organic"), settings.repull_days("ads"))


def daily_range(scheduled: dt.datetime, lake: Lake | None = None, accounts: list[str] | None = None) -> tuple[dt.date, dt.date]:
    """The partitions a tick covers: the last `repull_days()` complete UTC days, not before the first partition,
    and, when the lake holds an older ads date that is not final yet (its books not closed when it left the
    re-pull window) of an ad account the next run extracts (`accounts`' latest extractions), back to it, within the
    sync endpoints' reach: an ads date is re-pulled until it is final. The older dates cost no extra call (one
    window of up to 89 days either way); an ad account no longer extracted holds nothing back."""
    end = scheduled.astimezone(dt.timezone.utc).date() - dt.timedelta(days=1)
    first = DAILY.start.date()
    start = max(end - dt.timedelta(days=repull_days() - 1), first)
    if lake is not None:
        reach = max(end + dt.timedelta(days=1) - dt.timedelta(days=SYNC_BACK_DAYS), first)
        identities = lake.extracted_identities(accounts or [], "ads") if accounts is not None else None
        pending = lake.oldest_not_final("ads", reach, start - dt.timedelta(days=1), identities)
        if pending is not None:
            start = pending
    return start, end


@dg.schedule(job=daily_job, cron_schedule=settings.schedule_cron(),
             execution_timezone="UTC", default_status=dg.DefaultScheduleStatus.STOPPED)
def daily_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    """Every day (06:00 UTC by default, PINTEREST_SCHEDULE_CRON): the last max(PINTEREST_ORGANIC_REPULL_DAYS,
    PINTEREST_ADS_REPULL_DAYS) complete days (33 by default), and back to the oldest ads date not final yet,
    as one run, so recent values are replaced until they are final."""
    accounts = [account.name for account in load_accounts()]
    locations = data_locations(settings.etl_home())
    if locations.lake_store:
        # The runs may write the store from other machines (a run launcher's pods): the tick reads the lake's
        # current ads dates within the sync endpoints' reach (only those files), not what this machine's copy last
        # saw.
        day = context.scheduled_execution_time.astimezone(dt.timezone.utc).date()
        try:
            locations.pull_lake_tables({t.name for t in catalog.FACT_TABLES.values() if t.source == "ads"},
                                       day - dt.timedelta(days=SYNC_BACK_DAYS))
        except (StoreError, OSError) as error:
            context.log.warning(f"The lake's store could not be pulled ({error}); this tick's range reads the local "
                                "copy as it is, and the run will stop at the same check if the store stays unusable")
    start, end = daily_range(context.scheduled_execution_time, Lake(locations.lake), accounts)
    return dg.RunRequest(run_key=f"daily-{end}", tags={
        "dagster/asset_partition_range_start": start.isoformat(), "dagster/asset_partition_range_end": end.isoformat()})


# Freshness is watched two ways. The warehouse assets carry a `FreshnessPolicy` (assets/organic.py, ads.py:
# materialized in the 24 hours before the deadline), the idiom Dagster 1.13 recommends: the UI shows its
# state without a sensor. It cannot tell which partition arrived, and a backfill of old dates would satisfy
# it; so these partition-aware checks (yesterday's partition in the warehouse by
# PINTEREST_FRESHNESS_DEADLINE_HOUR UTC), evaluated by a sensor every 10 minutes once it is turned on, say
# exactly which day is missing. Dagster marks these two factories "superseded" but supports them.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", dg.SupersessionWarning)
    freshness_checks = dg.build_time_partition_freshness_checks(
        assets=WAREHOUSE_LOADS, deadline_cron=freshness_deadline_cron(),
        timezone="UTC", severity=dg.AssetCheckSeverity.WARN)
    freshness_sensor = dg.build_sensor_for_freshness_checks(freshness_checks=freshness_checks,
                                                            name="pinterest_freshness_checks",
                                                            default_status=dg.DefaultSensorStatus.STOPPED)
