"""The daily schedule: yesterday plus the trailing re-pull windows, as one run."""

import datetime as dt
import os

import dagster as dg

from assets.ads import ads_dimensions, ads_lake, ads_raw, ads_warehouse
from assets.organic import organic_dimensions, organic_lake, organic_raw, organic_warehouse
from assets.partitions import DAILY

# Recent numbers change: organic days stay PROCESSING/ESTIMATE for a few days, ads conversions for the whole
# attribution window. A window of up to 90 days costs the same calls as one day, so one run re-pulls the
# longer of the two windows for everything.
DEFAULT_REPULL_DAYS = {"PINTEREST_ORGANIC_REPULL_DAYS": 5, "PINTEREST_ADS_REPULL_DAYS": 30}
DEFAULT_CRON = "0 6 * * *"

daily_job = dg.define_asset_job(
    "pinterest_daily",
    selection=[organic_dimensions, organic_raw, organic_lake, organic_warehouse,
               ads_dimensions, ads_raw, ads_lake, ads_warehouse],
    partitions_def=DAILY,
    description="Every asset for a partition range, raw to warehouse, organic and ads.")


def repull_days() -> int:
    days = []
    for name, default in DEFAULT_REPULL_DAYS.items():
        text = os.environ.get(name, str(default))
        if not text.isdigit() or not 1 <= int(text) <= 90:
            raise ValueError(f"{name} must be a whole number of days from 1 to 90 (got {text!r})")
        days.append(int(text))
    return max(days)


@dg.schedule(job=daily_job, cron_schedule=os.environ.get("PINTEREST_SCHEDULE_CRON", DEFAULT_CRON),
             execution_timezone="UTC", default_status=dg.DefaultScheduleStatus.STOPPED)
def daily_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    """Every day (06:00 UTC by default): the last max(PINTEREST_ORGANIC_REPULL_DAYS, PINTEREST_ADS_REPULL_DAYS)
    complete days (30 by default), as one run, so recent values are replaced until they are final."""
    end = context.scheduled_execution_time.astimezone(dt.timezone.utc).date() - dt.timedelta(days=1)
    start = max(end - dt.timedelta(days=repull_days() - 1), DAILY.start.date())
    return dg.RunRequest(run_key=f"daily-{end}", tags={
        "dagster/asset_partition_range_start": start.isoformat(), "dagster/asset_partition_range_end": end.isoformat()})
