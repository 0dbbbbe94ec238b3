"""The daily schedule: yesterday plus the trailing re-pull window, as one run."""

import datetime as dt
import os

import dagster as dg

from assets.organic import organic_dimensions, organic_lake, organic_raw, organic_warehouse
from assets.partitions import DAILY

# Organic days stay PROCESSING/ESTIMATE for a few days; re-pulling them costs no extra call per window.
DEFAULT_ORGANIC_REPULL_DAYS = 5
DEFAULT_CRON = "0 6 * * *"

organic_job = dg.define_asset_job(
    "organic_daily", selection=[organic_dimensions, organic_raw, organic_lake, organic_warehouse], partitions_def=DAILY,
    description="Organic dimensions and analytics for a partition range, raw to warehouse.")


def repull_days() -> int:
    text = os.environ.get("PINTEREST_ORGANIC_REPULL_DAYS", str(DEFAULT_ORGANIC_REPULL_DAYS))
    if not text.isdigit() or not 1 <= int(text) <= 90:
        raise ValueError(f"PINTEREST_ORGANIC_REPULL_DAYS must be a whole number of days from 1 to 90 (got {text!r})")
    return int(text)


@dg.schedule(job=organic_job, cron_schedule=os.environ.get("PINTEREST_SCHEDULE_CRON", DEFAULT_CRON),
             execution_timezone="UTC", default_status=dg.DefaultScheduleStatus.STOPPED)
def organic_daily_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    """Every day (06:00 UTC by default): the last PINTEREST_ORGANIC_REPULL_DAYS complete days, as one run,
    so recent PROCESSING/ESTIMATE values are replaced until they are READY."""
    end = context.scheduled_execution_time.astimezone(dt.timezone.utc).date() - dt.timedelta(days=1)
    start = max(end - dt.timedelta(days=repull_days() - 1), dt.date.fromisoformat(DAILY.start.strftime("%Y-%m-%d")))
    return dg.RunRequest(run_key=f"organic-{end}", tags={
        "dagster/asset_partition_range_start": start.isoformat(), "dagster/asset_partition_range_end": end.isoformat()})
