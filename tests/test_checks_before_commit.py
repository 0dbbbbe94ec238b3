"""Blocking checks run inside the load's transaction, before COMMIT: wrong numbers never reach the warehouse.

A correct range is loaded first; then the lake (or the raw zone) is made to hold wrong data, written through
the project's own APIs so that checksums match and only the checks can stop it: a negative count, a duplicate
key, an ad whose spend is 1000 times what its ad group adds up to. Every load runs as a child
`pinterest-etl` process.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from pipelines.lake import Lake
from pipelines.planning import DateRange
from pipelines.raw_zone import RawZone
from tests.conftest import TODAY
from tests.pipeline_support import pipeline_env, query
from tests.process_support import SMALL_WORLD, cli_env, range_args, run_cli, warehouse_contents

START, END = TODAY - dt.timedelta(days=3), TODAY - dt.timedelta(days=1)
DAY = TODAY - dt.timedelta(days=2)  # a READY-or-ESTIMATE day with metrics in both sources


@pytest.fixture(scope="module")
def loaded_home(tmp_path_factory):
    """A data directory holding one organic and ads run of the range, and the simulator it came from."""
    from pipelines.sandbox import SandboxConfig, running_sandbox
    from tests.conftest import UNLIMITED

    with running_sandbox(SandboxConfig(today=TODAY, rate_limits=dict(UNLIMITED), **SMALL_WORLD)) as server:
        home = tmp_path_factory.mktemp("checked") / "home"
        loaded = run_cli(["run", *range_args(START, END)], cli_env(home, server, TODAY))
        assert loaded.returncode == 0, loaded.stderr
        yield home, server


@pytest.fixture
def home(loaded_home, tmp_path) -> tuple[Path, dict[str, str]]:
    """A copy of the loaded data directory and the environment of a child `pinterest-etl` on it."""
    original, server = loaded_home
    copy = tmp_path / "home"
    shutil.copytree(original, copy)
    return copy, cli_env(copy, server, TODAY)


def lake_file(home: Path, source: str) -> Path:
    """The day's metric_daily file of `source` (the small world has one account)."""
    [path] = Lake(home / "lake").files("metric_daily", [DAY], source)
    return path


def lake_rows(home: Path, source: str) -> pa.Table:
    return pq.read_table(lake_file(home, source))


def rewrite_lake_file(home: Path, source: str, rows: pa.Table) -> None:
    """Replace the day's metric_daily file of `source` through the Lake API (its checksum is recorded with it)."""
    lake = Lake(home / "lake")
    lake.commit([lake.stage_rows("metric_daily", DAY, lake_file(home, source).name.removesuffix(".parquet"), rows)])


def with_value(rows: pa.Table, where: pa.ChunkedArray, value) -> pa.Table:
    """`rows` with `value` (a number, or a function of the old value) where `where` holds."""
    old = rows.column("value")
    new = value(old) if callable(value) else pa.scalar(float(value))
    return rows.set_column(rows.schema.get_field_index("value"), "value", pc.if_else(where, new, old))


def row_of(rows: pa.Table, entity_type: str, metric: str, split_field: str | None = None) -> tuple[pa.ChunkedArray, dict]:
    """A mask selecting the first row of that entity type, metric (and split field), and that row."""
    candidates = pc.and_(pc.equal(rows.column("entity_type"), entity_type), pc.equal(rows.column("metric"), metric))
    if split_field:
        candidates = pc.and_(candidates, pc.equal(rows.column("split_field"), split_field))
    first = pc.index(candidates, True).as_py()
    mask = pa.array([i == first for i in range(rows.num_rows)])
    return mask, rows.slice(first, 1).to_pylist()[0]


def load(source: str, env: dict[str, str]):
    return run_cli(["load", *range_args(START, END, "--only", source)], env)


def assert_refused_and_nothing_published(result, home: Path, before: dict, check: str, *row_parts: str,
                                         source: str, command: str = "load") -> None:
    """The command failed with one line naming the check, the offending row and the way out; the warehouse is
    exactly as it was."""
    assert result.returncode == 1
    step_line = next(line for line in result.stderr.splitlines()
                     if line.startswith(f"pinterest-etl {command}: step {source}_warehouse failed: "))
    assert f"blocking check failed: {check}: 1 row breaks it" in step_line
    for part in row_parts:
        assert part in step_line
    assert "the warehouse keeps its previous data (the load was rolled back)" in step_line
    assert f"the new data is kept in the lake ({home / 'lake'})" in step_line
    assert f"`pinterest-etl load --start {START} --end {END} --only {source}`" in step_line
    assert warehouse_contents(home) == before


@pytest.mark.slow
def test_a_negative_count_from_the_api_is_not_published_by_a_run_and_loads_once_fixed(home):
    home, env = home
    before = warehouse_contents(home)
    raw = RawZone(home / "raw")
    newest = [r for r in raw.records("user_account/analytics", DateRange(DAY, DAY))
              if r.params["split_field"] == "NO_SPLIT"][-1]
    answer = newest.json()
    day = next(d for d in answer["all"]["daily_metrics"] if d["date"] == DAY.isoformat())
    day["metrics"]["IMPRESSION"] = -40
    raw.write(newest.endpoint, json.dumps(answer).encode(), params=newest.params, path_params=newest.path_params,
              window=newest.window, context=newest.context, fetched_at=newest.fetched_at + dt.timedelta(seconds=1),
              request_id="wrong-answer")
    user_id = newest.context["user_id"]

    refused = run_cli(["run", "--from-raw", *range_args(START, END, "--only", "organic")], env)

    assert_refused_and_nothing_published(refused, home, before, "no_negative_counts", f"date={DAY}",
                                         f"entity_id={user_id}", "metric=IMPRESSION", "value=-40", source="organic",
                                         command="run")
    rows = lake_rows(home, "organic")
    mask, row = row_of(rows, "user_account", "IMPRESSION", "NO_SPLIT")
    assert row["value"] == -40  # kept in the lake for inspection
    rewrite_lake_file(home, "organic", with_value(rows, mask, 41))
    assert load("organic", env).returncode == 0
    assert query(home, "SELECT impression FROM user_account_daily WHERE date = ? AND split_field = 'NO_SPLIT'",
                 [DAY]) == [(41,)]


@pytest.mark.slow
def test_a_duplicate_key_in_the_lake_is_not_published_and_loads_once_fixed(home):
    home, env = home
    before = warehouse_contents(home)
    rows = lake_rows(home, "organic")
    mask, row = row_of(rows, "pin", "SAVE")
    duplicated = pa.concat_tables([rows, rows.filter(mask)])
    rewrite_lake_file(home, "organic", duplicated)

    refused = load("organic", env)

    assert_refused_and_nothing_published(refused, home, before, "unique_key", f"date={DAY}", "entity_type=pin",
                                         f"entity_id={row['entity_id']}", "metric=SAVE", "rows_with_this_key=2",
                                         source="organic")
    assert lake_rows(home, "organic").num_rows == rows.num_rows + 1
    rewrite_lake_file(home, "organic", with_value(rows, mask, row["value"] + 1))
    assert load("organic", env).returncode == 0
    assert query(home, "SELECT value FROM metric_daily WHERE date = ? AND entity_id = ? AND metric = 'SAVE'",
                 [DAY, row["entity_id"]]) == [(row["value"] + 1,)]


@pytest.mark.slow
def test_an_ads_spend_a_thousand_times_too_high_is_not_published_and_loads_once_fixed(home):
    home, env = home
    before = warehouse_contents(home)
    rows = lake_rows(home, "ads")
    mask, ad = row_of(rows, "ad", "SPEND_IN_MICRO_DOLLAR")
    assert ad["value"] > 0
    rewrite_lake_file(home, "ads", with_value(rows, mask, lambda value: pc.multiply(value, 1000.0)))
    ad_group = query(home, "SELECT ad_group_id FROM ads WHERE ad_id = ?", [ad["entity_id"]])[0][0]

    refused = load("ads", env)

    assert_refused_and_nothing_published(refused, home, before, "ads_add_up_to_ad_groups", f"date={DAY}",
                                         "entity_type=ad_group", f"entity_id={ad_group}",
                                         "metric=SPEND_IN_MICRO_DOLLAR", f"ads_sum={int(ad['value'] * 1000)}",
                                         source="ads")
    assert lake_rows(home, "ads").column("value").to_pylist() == with_value(
        rows, mask, lambda value: pc.multiply(value, 1000.0)).column("value").to_pylist()  # kept for inspection
    rewrite_lake_file(home, "ads", rows)
    assert load("ads", env).returncode == 0
    assert query(home, "SELECT value FROM metric_daily WHERE date = ? AND entity_id = ? AND metric = ?",
                 [DAY, ad["entity_id"], "SPEND_IN_MICRO_DOLLAR"]) == [(ad["value"],)]


@pytest.mark.slow
def test_the_failed_blocking_check_is_recorded_with_its_sample_and_warnings_are_still_evaluated(home, loaded_home,
                                                                                                 monkeypatch):
    from pipelines.definitions import ORGANIC_ASSETS, defs

    home, _ = home
    rows = lake_rows(home, "organic")
    mask, row = row_of(rows, "pin", "IMPRESSION")
    rewrite_lake_file(home, "organic", with_value(rows, mask, -7))
    pipeline_env(monkeypatch, home, loaded_home[1], TODAY)

    result = dg.materialize([a for a in ORGANIC_ASSETS if dg.AssetKey("organic_warehouse") in a.keys],
                            resources=defs.resources, raise_on_error=False,
                            tags={"dagster/asset_partition_range_start": START.isoformat(),
                                  "dagster/asset_partition_range_end": END.isoformat()})

    assert not result.success
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    failed = evaluations["no_negative_counts"]
    assert (failed.passed, failed.metadata["violations"].value) == (False, 1)
    assert failed.metadata["sample"].value == [{
        "date": DAY.isoformat(), "entity_type": "pin", "entity_id": row["entity_id"], "split_field": "NO_SPLIT",
        "split_value": "ALL", "metric": "IMPRESSION", "value": -7}]
    assert {name for name, e in evaluations.items() if e.passed} == {
        "unique_key", "rates_within_0_1", "pin_totals_within_account_totals", "no_stale_preliminary_rows"}
    assert not result.get_asset_materialization_events()
