"""Daily UTC partitions of every dated asset, from PINTEREST_START_DATE up to yesterday."""

from __future__ import annotations

import os

import dagster as dg

from pipelines import settings


def daily_partitions() -> dg.DailyPartitionsDefinition:
    # With PINTEREST_ETL_TODAY (simulations, replays) the last partition is the day before that date;
    # otherwise Dagster's clock adds a partition every UTC day.
    end = settings.today() if os.environ.get("PINTEREST_ETL_TODAY") else None
    return dg.DailyPartitionsDefinition(start_date=settings.start_date().isoformat(), end_date=end.isoformat() if end else None,
                                        timezone="UTC")


DAILY = daily_partitions()
