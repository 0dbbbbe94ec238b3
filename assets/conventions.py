"""How every asset is declared: its owners, its backfill policy, the tags the jobs select it by, and the date range
of the partitions a run materializes. Settings-free, unlike assets/partitions.py (the partitions and freshness
deadlines, which are read from settings when the assets are imported)."""

from __future__ import annotations

import datetime as dt
import warnings

import dagster as dg

from pipelines.planning import DateRange

# BackfillPolicy is marked beta in Dagster 1.13; it is what makes a backfill one run.
warnings.filterwarnings("ignore", category=dg.BetaWarning)

OWNERS = ["team:marketing-analytics"]
# The pool of the warehouse loads: limited to 1 (the project's dagster.yaml limits every pool to 1), it admits one
# load at a time, whatever runs or steps run beside it.
WAREHOUSE_POOL = "warehouse"
# The pool of the lake steps (raw zone -> lake): each already keeps the machine's cores busy (threads and
# PINTEREST_NORMALIZE_WORKERS processes) and holds up to about 0.7 GB at 100,000 pins, so two side by side (steps in
# processes of their own: --account-workers above 1, or a run launched from the UI) only contend for the same cores
# and double the memory. Limited to 1 like every pool, while the extraction steps of other accounts still run beside
# it; for runs launched from the UI a larger machine can raise it: `dagster instance concurrency set normalize 2`.
NORMALIZE_POOL = "normalize"
# The op tag naming a step's pool, by which `pinterest-etl run --account-workers N` keeps the steps of each pool one
# at a time within its run (the multiprocess executor's tag_concurrency_limits: pipelines/orchestration.py): like
# every run of the command it claims no slot of DAGSTER_HOME's pools, which the UI's runs hold.
POOL_TAG = "pinterest-etl/pool"
SINGLE_RUN = dg.BackfillPolicy.single_run()

# The tags the jobs select assets by (assets/jobs.py): the source of its data, and the step of the pipeline it is.
SOURCE, STEP = "source", "step"
EXTRACT = "extract"  # calls the Pinterest API (answers into the raw zone, dimension snapshots into the lake)
NORMALIZE = "normalize"  # raw zone -> lake, no API call
LOAD = "load"  # lake -> warehouse, no API call
REPORT = "report"  # reads the warehouse only: runs with either source


def in_pool(pool: str) -> dict:
    """The `@dg.asset` arguments of an asset whose steps run one at a time in `pool`: the pool, and the op tag
    (POOL_TAG) that names it."""
    return {"pool": pool, "op_tags": {POOL_TAG: pool}}


def asset_tags(step: str, source: str | None = None) -> dict[str, str]:
    """The tags of an asset of `step` (EXTRACT, NORMALIZE, LOAD, REPORT) of `source` ("organic", "ads"; None for
    the report, which reads both)."""
    return {STEP: step, **({SOURCE: source} if source else {})}


def partition_range(context: dg.AssetExecutionContext) -> DateRange:
    """The UTC dates of the partitions the run materializes (one run for a whole range: SINGLE_RUN)."""
    window = context.partition_time_window
    return DateRange(window.start.date(), (window.end - dt.timedelta(days=1)).date())
