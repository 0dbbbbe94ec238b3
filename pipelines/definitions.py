"""The Dagster code location: the one `Definitions` object that `workspace.yaml` loads."""

import dagster as dg

from assets.ads import ads_dimensions, ads_lake, ads_raw, ads_warehouse
from assets.organic import organic_dimensions, organic_lake, organic_raw, organic_warehouse, top_pins_api
from assets.report import pinterest_report
from assets.resources import PinterestResource, StorageResource
from assets.schedules import daily_job, daily_schedule, freshness_checks, freshness_sensor
from pipelines import heap

# Runs launched from the Dagster UI import this module, not the CLI: their large freed answers go back to the
# system too (pipelines/heap.py).
heap.return_large_blocks()

ORGANIC_ASSETS = [organic_dimensions, organic_raw, top_pins_api, organic_lake, organic_warehouse]
ADS_ASSETS = [ads_dimensions, ads_raw, ads_lake, ads_warehouse]
REPORT_ASSETS = [pinterest_report]  # reads the warehouse only: runs with either source and with --from-raw
ALL_ASSETS = [*ORGANIC_ASSETS, *ADS_ASSETS, *REPORT_ASSETS]

defs = dg.Definitions(
    assets=ALL_ASSETS,
    jobs=[daily_job],
    schedules=[daily_schedule],
    asset_checks=freshness_checks,
    sensors=[freshness_sensor],
    resources={"pinterest": PinterestResource(), "storage": StorageResource()},
)
