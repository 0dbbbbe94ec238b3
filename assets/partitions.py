"""Daily UTC partitions of every dated asset, from PINTEREST_START_DATE up to yesterday."""

from __future__ import annotations

import datetime as dt
import os

import dagster as dg

from pipelines import settings


def daily_partitions() -> dg.DailyPartitionsDefinition:
    # With PINTEREST_ETL_TODAY (simulations, replays) the last partition is the day before that date;
    # otherwise Dagster's clock adds a partition every UTC day.
    end = settings.today() if os.environ.get("PINTEREST_ETL_TODAY") else None
    return dg.DailyPartitionsDefinition(start_date=settings.start_date().isoformat(), end_date=end.isoformat() if end else None,
                                        timezone="UTC")


def freshness_deadline_cron() -> str:
    """Yesterday's partition is due by PINTEREST_FRESHNESS_DEADLINE_HOUR (UTC, default 9) every day."""
    return f"0 {settings.freshness_deadline_hour()} * * *"


def warehouse_freshness_policy() -> dg.FreshnessPolicy:
    """A warehouse asset is fresh when it was materialized in the 24 hours before the day's deadline."""
    return dg.FreshnessPolicy.cron(deadline_cron=freshness_deadline_cron(), lower_bound_delta=dt.timedelta(hours=24),
                                   timezone="UTC")


DAILY = daily_partitions()
