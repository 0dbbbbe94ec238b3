"""The jobs of the code location, each a selection of the assets by the tags they carry (assets/conventions.py):
which source (organic, ads, or both; the report runs with either) and where the run starts (the API, the raw zone,
the lake). `pinterest-etl run`/`load`, the daily schedule and the UI all run these."""

from __future__ import annotations

import functools
import operator

import dagster as dg

from assets import ads, organic, report
from assets.conventions import LOAD, NORMALIZE, REPORT, SOURCE, STEP

ALL_ASSETS = dg.load_assets_from_modules([organic, ads, report])


def _steps(*steps: str) -> dg.AssetSelection:
    """The assets of any of the steps."""
    return functools.reduce(operator.or_, (dg.AssetSelection.tag(STEP, step) for step in steps))


EVERY_ASSET = dg.AssetSelection.all()
# Per source (None: both): the job name's suffix, the words of its description, the assets.
SOURCES = {None: ("", "organic and ads", EVERY_ASSET),
           "organic": ("_organic", "organic", dg.AssetSelection.tag(SOURCE, "organic") | _steps(REPORT)),
           "ads": ("_ads", "ads", dg.AssetSelection.tag(SOURCE, "ads") | _steps(REPORT))}
# Per start: the job name's suffix, the words of its description, the steps it runs.
STARTS = {"": ("", "raw to warehouse", EVERY_ASSET),
          "from_raw": ("_from_raw", "from the raw zone to the warehouse (no API calls)", _steps(NORMALIZE, LOAD, REPORT)),
          "load": ("_load", "from the lake into the warehouse (no API calls)", _steps(LOAD, REPORT))}
WAREHOUSE_LOADS = [asset for asset in ALL_ASSETS if asset.keys & _steps(LOAD).resolve(ALL_ASSETS)]


def job_name(only: str | None = None, start: str = "") -> str:
    """`pinterest_daily` for every asset from the API; any other shape a backfill job named after it
    (`pinterest_organic`, `pinterest_ads_from_raw`, `pinterest_load`, ...)."""
    return "pinterest_daily" if (only, start) == (None, "") else f"pinterest{SOURCES[only][0]}{STARTS[start][0]}"


def selection(only: str | None = None, start: str = "") -> dg.AssetSelection:
    return SOURCES[only][2] & STARTS[start][2]


def run_shape(only: str | None = None, start: str = "") -> tuple[str, list]:
    """The job and the assets of a run of `pinterest-etl run`/`load`: `only` a source ("organic", "ads") or both
    (None), from the API (`start` ""), the raw zone ("from_raw") or the lake ("load"), so that runs started from the
    shell show in the Dagster UI under the job that says what they did."""
    keys = selection(only, start).resolve(ALL_ASSETS)
    return job_name(only, start), [asset for asset in ALL_ASSETS if asset.keys & keys]


daily_job = dg.define_asset_job(
    job_name(), selection=selection(),
    description="Every asset for a partition range, raw to warehouse, organic and ads.")
# The other shapes of `pinterest-etl run`/`load` (--only, --from-raw, load): each a job of its own, so that the UI
# lists them and shows the shell's runs under them. The UI's own backfills of any selection run as asset backfills.
backfill_jobs = [
    dg.define_asset_job(job_name(only, start), selection=selection(only, start),
                        description=f"The {SOURCES[only][1]} assets for a partition range, {STARTS[start][1]}: "
                                    "what `pinterest-etl run`/`load` runs with these options, as one run.")
    for only in SOURCES for start in STARTS if (only, start) != (None, "")]
