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


def lake_file(home: Path, source: str, table: str = "metric_daily") -> Path:
    """The day's file of `source` in `table` (the small world has one account)."""
    [path] = Lake(home / "lake").files(table, [DAY], source)
    return path


def lake_rows(home: Path, source: str, table: str = "metric_daily") -> pa.Table:
    return pq.read_table(lake_file(home, source, table))


def rewrite_lake_file(home: Path, source: str, rows: pa.Table, table: str = "metric_daily") -> None:
    """Replace the day's file of `source` in `table` through the Lake API (its checksum is recorded with it)."""
    lake = Lake(home / "lake")
    lake.commit([lake.stage_rows(table, DAY, lake_file(home, source, table).name.removesuffix(".parquet"), rows)])


def rewrite_snapshot(home: Path, table: str, change) -> None:
    """Replace the newest snapshot of a dimension by `change(rows)`, through the Lake API (the small world has one
    identity per source)."""
    lake = Lake(home / "lake")
    [path] = lake.latest_snapshots(table)
    lake.snapshot_rows(table, dt.date.fromisoformat(path.parent.name.removeprefix("snapshot_date=")),
                       path.stem.removeprefix(f"{table}."), change(pq.read_table(path)))


def of_entity(rows: pa.Table, entity_type: str, entity_id: str) -> pa.ChunkedArray:
    return pc.and_(pc.equal(rows.column("entity_type"), entity_type), pc.equal(rows.column("entity_id"), entity_id))


def with_column(rows: pa.Table, name: str, where: pa.ChunkedArray, value) -> pa.Table:
    """`rows` with `value` in column `name` where `where` holds."""
    old = rows.column(name)
    return rows.set_column(rows.schema.get_field_index(name), name, pc.if_else(where, pa.scalar(value, old.type), old))


def with_ectr(rows: pa.Table) -> pa.Table:
    """`rows` and, for every ads row of CTR, one of ECTR (a column the default configuration does not request)."""
    ctr = rows.filter(pc.equal(rows.column("metric"), "CTR"))
    return pa.concat_tables([rows, with_column(ctr, "metric", pa.repeat(True, ctr.num_rows), "ECTR")])


def ads_view_columns(home: Path) -> list[tuple]:
    return query(home, "SELECT table_name, column_name FROM information_schema.columns "
                       "WHERE table_name LIKE '%_daily' ORDER BY ALL")


def with_value(rows: pa.Table, where: pa.ChunkedArray, value) -> pa.Table:
    """`rows` with `value` (a number, or a function of the old value) where `where` holds."""
    old = rows.column("value")
    new = value(old) if callable(value) else pa.scalar(float(value))
    return rows.set_column(rows.schema.get_field_index("value"), "value", pc.if_else(where, new, old))


def row_of(rows: pa.Table, entity_type: str, metric: str, split_field: str | None = None) -> tuple[pa.ChunkedArray, dict]:
    """A mask selecting the first row of that entity type, metric (and split field) of content type ALL, and that row."""
    candidates = pc.and_(pc.equal(rows.column("entity_type"), entity_type), pc.equal(rows.column("metric"), metric))
    candidates = pc.and_(candidates, pc.equal(rows.column("content_type"), "ALL"))
    if split_field:
        candidates = pc.and_(candidates, pc.equal(rows.column("split_field"), split_field))
    first = pc.index(candidates, True).as_py()
    mask = pa.array([i == first for i in range(rows.num_rows)])
    return mask, rows.slice(first, 1).to_pylist()[0]


def load(source: str, env: dict[str, str]):
    return run_cli(["load", *range_args(START, END, "--only", source)], env)


def assert_refused_and_nothing_published(result, home: Path, before: dict, check: str, *row_parts: str,
                                         source: str, command: str = "load", breaking: str = "1 row breaks it") -> None:
    """The command failed with one line naming the check, the offending row and the way out; the warehouse is
    exactly as it was."""
    assert result.returncode == 1
    step_line = next(line for line in result.stderr.splitlines()
                     if line.startswith(f"pinterest-etl {command}: step {source}_warehouse failed: "))
    assert f"blocking check failed: {check}: {breaking}" in step_line
    for part in row_parts:
        assert part in step_line
    assert (f"Nothing of the {source} data was loaded: the warehouse keeps its previous {source} rows and dimensions "
            "(this load was rolled back; another source's load in the same run is separate)") in step_line
    assert f"the new data is kept in the lake ({home / 'lake'})" in step_line
    assert f"`pinterest-etl load --start {START} --end {END} --only {source}`" in step_line
    assert warehouse_contents(home) == before


@pytest.mark.slow
def test_a_negative_count_from_the_api_is_not_published_by_a_run_and_loads_once_fixed(home):
    home, env = home
    before = warehouse_contents(home)
    raw = RawZone(home / "raw")
    newest = [r for r in raw.records("user_account/analytics", DateRange(DAY, DAY))
              if r.params["split_field"] == "NO_SPLIT" and r.params["content_type"] == "ALL"][-1]
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
    assert query(home, "SELECT impression FROM user_account_daily WHERE date = ? AND split_field = 'NO_SPLIT' "
                       "AND content_type = 'ALL'", [DAY]) == [(41,)]


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
    from pipelines.quality import ORGANIC_CHECKS

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
        "split_value": "ALL", "content_type": "ALL", "metric": "IMPRESSION", "value": -7}]
    assert {name for name, e in evaluations.items() if e.passed} == {c.name for c in ORGANIC_CHECKS} - {"no_negative_counts"}
    assert not result.get_asset_materialization_events()


def ad_spend_and_ad_group(home: Path) -> tuple[pa.ChunkedArray, dict, str]:
    """A mask selecting the day's first spend row of an ad, that row, and the ad's ad group."""
    rows = lake_rows(home, "ads")
    mask, ad = row_of(rows, "ad", "SPEND_IN_MICRO_DOLLAR")
    assert ad["value"] > 0
    return mask, ad, query(home, "SELECT ad_group_id FROM ads WHERE ad_id = ?", [ad["entity_id"]])[0][0]


def times_1000(value):
    return pc.multiply(value, 1000.0)


@pytest.mark.slow
def test_an_ad_spend_a_thousand_times_too_high_is_not_published_when_its_ad_group_has_no_row_that_day(home):
    home, env = home
    before = warehouse_contents(home)
    mask, ad, ad_group = ad_spend_and_ad_group(home)
    rows, status = lake_rows(home, "ads"), lake_rows(home, "ads", "daily_status")
    rewrite_lake_file(home, "ads", with_value(rows, mask, times_1000).filter(
        pc.invert(of_entity(rows, "ad_group", ad_group))))
    rewrite_lake_file(home, "ads", status.filter(pc.invert(of_entity(status, "ad_group", ad_group))), "daily_status")

    refused = load("ads", env)

    assert_refused_and_nothing_published(refused, home, before, "ads_add_up_to_ad_groups", f"date={DAY}",
                                         "entity_type=ad_group", f"entity_id={ad_group}", "value=None",
                                         f"ads_sum={int(ad['value'] * 1000)}", source="ads", breaking="")


@pytest.mark.slow
def test_an_ad_spend_a_thousand_times_too_high_is_not_published_when_its_ad_group_row_lacks_the_spend(home):
    home, env = home
    before = warehouse_contents(home)
    mask, ad, ad_group = ad_spend_and_ad_group(home)
    rows = lake_rows(home, "ads")
    group_spend = pc.and_(of_entity(rows, "ad_group", ad_group), pc.equal(rows.column("metric"), "SPEND_IN_MICRO_DOLLAR"))
    rewrite_lake_file(home, "ads", with_value(rows, mask, times_1000).filter(pc.invert(group_spend)))

    refused = load("ads", env)

    assert_refused_and_nothing_published(refused, home, before, "ads_add_up_to_ad_groups", f"entity_id={ad_group}",
                                         "metric=SPEND_IN_MICRO_DOLLAR", "value=None",
                                         f"ads_sum={int(ad['value'] * 1000)}", source="ads", breaking="")


@pytest.mark.slow
def test_an_ad_moved_to_an_ad_group_without_rows_is_not_published(home):
    home, env = home
    before = warehouse_contents(home)
    _, ad, ad_group = ad_spend_and_ad_group(home)
    rewrite_snapshot(home, "ad_groups", lambda groups: pa.concat_tables([groups, with_column(
        groups.filter(pc.equal(groups.column("ad_group_id"), ad_group)), "ad_group_id", pa.array([True]), "999")]))
    rewrite_snapshot(home, "ads", lambda ads: with_column(ads, "ad_group_id", pc.equal(ads.column("ad_id"), ad["entity_id"]),
                                                          "999"))

    refused = load("ads", env)

    assert_refused_and_nothing_published(refused, home, before, "ads_add_up_to_ad_groups", "entity_id=999",
                                         "value=None", source="ads", breaking="")


@pytest.mark.slow
def test_ads_rows_of_an_ad_the_dimensions_do_not_know_are_not_published(home):
    home, env = home
    before = warehouse_contents(home)
    _, ad, _ = ad_spend_and_ad_group(home)
    rewrite_snapshot(home, "ads", lambda ads: ads.filter(pc.not_equal(ads.column("ad_id"), ad["entity_id"])))

    refused = load("ads", env)

    assert_refused_and_nothing_published(refused, home, before, "ads_rows_have_known_entities", "entity_type=ad",
                                         f"entity_id={ad['entity_id']}", source="ads")


@pytest.mark.slow
def test_a_negative_pin_lifetime_total_is_not_published(home):
    home, env = home
    before = warehouse_contents(home)
    pin, metric = query(home, "SELECT pin_id, metric FROM pin_lifetime ORDER BY ALL LIMIT 1")[0]
    rewrite_snapshot(home, "pin_lifetime", lambda totals: with_column(totals, "value", pc.and_(
        pc.equal(totals.column("pin_id"), pin), pc.equal(totals.column("metric"), metric)), -5.0))

    refused = load("organic", env)

    assert_refused_and_nothing_published(refused, home, before, "pin_lifetime_finite_non_negative", f"pin_id={pin}",
                                         f"metric={metric}", "value=-5", source="organic")


@pytest.mark.slow
def test_a_new_ads_column_is_in_the_views_of_the_load_that_brings_it(home):
    home, env = home
    rewrite_lake_file(home, "ads", with_ectr(lake_rows(home, "ads")))

    assert load("ads", env).returncode == 0

    ctr_and_ectr = query(home, "SELECT ctr, ectr FROM ad_account_daily WHERE date = ?", [DAY])
    assert ctr_and_ectr and all(ctr == ectr for ctr, ectr in ctr_and_ectr)


@pytest.mark.slow
def test_a_refused_load_leaves_the_views_as_they_were(home):
    home, env = home
    before, views_before = warehouse_contents(home), ads_view_columns(home)
    rows = lake_rows(home, "ads")
    mask, _ = row_of(rows, "ad", "SPEND_IN_MICRO_DOLLAR")
    rewrite_lake_file(home, "ads", with_ectr(with_value(rows, mask, times_1000)))

    refused = load("ads", env)

    assert_refused_and_nothing_published(refused, home, before, "ads_add_up_to_ad_groups", source="ads")
    assert ads_view_columns(home) == views_before
    assert ("ad_account_daily", "ectr") not in views_before


@pytest.mark.slow
def test_a_refused_organic_load_keeps_the_organic_rows_while_the_ads_load_of_the_same_run_commits(home):
    home, env = home
    before = warehouse_contents(home)
    organic = lake_rows(home, "organic")
    mask, _ = row_of(organic, "pin", "IMPRESSION")
    rewrite_lake_file(home, "organic", with_value(organic, mask, -7))
    rewrite_lake_file(home, "ads", with_ectr(lake_rows(home, "ads")))

    refused = run_cli(["load", *range_args(START, END)], env)

    assert refused.returncode == 1
    [step_line] = [line for line in refused.stderr.splitlines() if line.startswith("pinterest-etl load: step ")]
    assert step_line.startswith("pinterest-etl load: step organic_warehouse failed: ")
    assert "blocking check failed: no_negative_counts: 1 row breaks it" in step_line
    assert ("Nothing of the organic data was loaded: the warehouse keeps its previous organic rows and dimensions "
            "(this load was rolled back; another source's load in the same run is separate)") in step_line
    after = warehouse_contents(home)
    assert all(after[table] == before[table] for table in ("user_accounts", "boards", "pins", "pin_lifetime"))
    assert [r for r in after["metric_daily"] if r[1] in ("user_account", "pin")] == \
        [r for r in before["metric_daily"] if r[1] in ("user_account", "pin")]
    assert query(home, "SELECT count(*) FROM metric_daily WHERE metric = 'ECTR'")[0][0] > 0
