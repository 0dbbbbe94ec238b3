"""The Dagster code location: the one `Definitions` object that `workspace.yaml` loads."""

import dagster as dg

from assets.jobs import ALL_ASSETS, backfill_jobs, daily_job
from assets.resources import PinterestResource, StorageResource
from assets.schedules import daily_schedule, freshness_checks, freshness_sensor
from pipelines import heap

# Runs launched from the Dagster UI import this module, not the CLI: their large freed answers go back to the
# system too (pipelines/heap.py).
heap.return_large_blocks()

defs = dg.Definitions(
    assets=ALL_ASSETS,
    jobs=[daily_job, *backfill_jobs],
    schedules=[daily_schedule],
    asset_checks=freshness_checks,
    sensors=[freshness_sensor],
    resources={"pinterest": PinterestResource(), "storage": StorageResource()},
)
