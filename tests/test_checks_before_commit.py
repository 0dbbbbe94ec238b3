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

from pipelines import catalog
from pipelines.lake import Lake
from pipelines.planning import DateRange
from pipelines.raw_zone import RawZone
from tests.conftest import TODAY
from tests.pipeline_support import pipeline_env, query
from tests.process_support import SMALL_WORLD, cli_env, range_args, run_cli, warehouse_contents
from tests.wide_lake_support import first_row, lake_file, lake_rows, rewrite_lake_file, with_cell

START, END = TODAY - dt.timedelta(days=3), TODAY - dt.timedelta(days=1)
DAY = TODAY - dt.timedelta(days=2)  # a READY-or-ESTIMATE day with metrics in both sources
ADS_TABLES = tuple(table.name for table in catalog.FACT_TABLES.values() if table.source == "ads")


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


def rewrite_snapshot(home: Path, table: str, change) -> None:
    """Replace the newest snapshot of a dimension by `change(rows)`, through the Lake API (the small world has one
    identity per source)."""
    lake = Lake(home / "lake")
    [path] = lake.latest_snapshots(table)
    lake.snapshot_rows(table, dt.date.fromisoformat(path.parent.name.removeprefix("snapshot_date=")),
                       path.stem.removeprefix(f"{table}."), change(pq.read_table(path)))


def row_of(rows: pa.Table, metric: str, split_field: str | None = None) -> tuple[pa.Array, dict]:
    """A mask selecting the day's first wide row with a value of the metric column `metric` (of content type ALL
    and of the split field, where the table has them), and that row."""
    candidates = pc.is_valid(rows.column(metric))
    if "content_type" in rows.column_names:
        candidates = pc.and_(candidates, pc.equal(rows.column("content_type"), "ALL"))
    if split_field:
        candidates = pc.and_(candidates, pc.equal(rows.column("split_field"), split_field))
    return first_row(rows, candidates)


def add_ectr(home: Path, change=lambda table, rows: rows) -> None:
    """Every ads file of the day (after `change(table, rows)`) with a column ECTR, one the default configuration
    does not request, holding each row's CTR."""
    for table in ADS_TABLES:
        rows = change(table, lake_rows(home, table, DAY))
        rewrite_lake_file(home, table, DAY, rows.append_column("ectr", rows.column("ctr")))


def ads_view_columns(home: Path) -> list[tuple]:
    return query(home, "SELECT table_name, column_name FROM information_schema.columns "
                       "WHERE table_name LIKE '%_daily' ORDER BY ALL")


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
    rows = lake_rows(home, "user_account_daily", DAY)
    mask, row = row_of(rows, "impression", "NO_SPLIT")
    assert row["impression"] == -40  # kept in the lake for inspection
    rewrite_lake_file(home, "user_account_daily", DAY, with_cell(rows, "impression", mask, 41))
    assert load("organic", env).returncode == 0
    assert query(home, "SELECT impression FROM user_account_daily WHERE date = ? AND split_field = 'NO_SPLIT' "
                       "AND content_type = 'ALL'", [DAY]) == [(41,)]


@pytest.mark.slow
def test_a_key_held_by_two_lake_files_is_not_published_and_loads_once_fixed(home):
    """A key twice comes from two files of a date holding it: an identity's file and a file of the legacy layout
    (named after the source only) that still has the key, as a crash between the renames of its trimming leaves."""
    home, env = home
    before = warehouse_contents(home)
    lake = Lake(home / "lake")
    rows = lake_rows(home, "pin_daily", DAY)
    mask, row = row_of(rows, "save")
    identity_file = lake_file(home, "pin_daily", DAY)
    lake.commit([lake.stage_rows("pin_daily", DAY, "organic", rows.filter(mask))])
    legacy = lake.path("pin_daily", DAY, "organic")

    refused = load("organic", env)

    assert_refused_and_nothing_published(refused, home, before, "unique_key", f"date={DAY}", "entity_type=pin",
                                         f"entity_id={row['pin_id']}", "rows_with_this_key=2", source="organic")
    assert lake.files("pin_daily", [DAY], "organic") == [legacy, identity_file]  # kept for inspection
    lake.commit([lake.stage_rows("pin_daily", DAY, identity_file.name.removesuffix(".parquet"),
                                 with_cell(rows, "save", mask, row["save"] + 1))], retired=[legacy])
    assert load("organic", env).returncode == 0
    assert query(home, "SELECT value FROM metric_daily WHERE date = ? AND entity_id = ? AND metric = 'SAVE'",
                 [DAY, row["pin_id"]]) == [(row["save"] + 1,)]


@pytest.mark.slow
def test_an_ads_spend_a_thousand_times_too_high_is_not_published_and_loads_once_fixed(home):
    home, env = home
    before = warehouse_contents(home)
    mask, ad, ad_group = ad_spend_and_ad_group(home)
    rows = lake_rows(home, "ad_daily", DAY)
    rewrite_lake_file(home, "ad_daily", DAY, times_1000(rows, mask, ad))

    refused = load("ads", env)

    assert_refused_and_nothing_published(refused, home, before, "ads_add_up_to_ad_groups", f"date={DAY}",
                                         "entity_type=ad_group", f"entity_id={ad_group}",
                                         "metric=SPEND_IN_MICRO_DOLLAR", f"ads_sum={ad['spend_in_micro_dollar'] * 1000}",
                                         source="ads")
    assert lake_rows(home, "ad_daily", DAY) == times_1000(rows, mask, ad)  # kept for inspection
    rewrite_lake_file(home, "ad_daily", DAY, rows)
    assert load("ads", env).returncode == 0
    assert query(home, "SELECT value FROM metric_daily WHERE date = ? AND entity_id = ? AND metric = ?",
                 [DAY, ad["ad_id"], "SPEND_IN_MICRO_DOLLAR"]) == [(ad["spend_in_micro_dollar"],)]


@pytest.mark.slow
def test_the_failed_blocking_check_is_recorded_with_its_sample_and_warnings_are_still_evaluated(home, loaded_home,
                                                                                                 monkeypatch):
    from assets.jobs import ALL_ASSETS
    from pipelines.definitions import defs
    from pipelines.quality import ORGANIC_CHECKS

    home, _ = home
    rows = lake_rows(home, "pin_daily", DAY)
    mask, row = row_of(rows, "impression")
    rewrite_lake_file(home, "pin_daily", DAY, with_cell(rows, "impression", mask, -7))
    pipeline_env(monkeypatch, home, loaded_home[1], TODAY)

    result = dg.materialize([a for a in ALL_ASSETS if dg.AssetKey("organic_warehouse") in a.keys],
                            resources=defs.resources, raise_on_error=False,
                            tags={"dagster/asset_partition_range_start": START.isoformat(),
                                  "dagster/asset_partition_range_end": END.isoformat()})

    assert not result.success
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    failed = evaluations["no_negative_counts"]
    assert (failed.passed, failed.metadata["violations"].value) == (False, 1)
    assert failed.metadata["sample"].value == [{
        "date": DAY.isoformat(), "entity_type": "pin", "entity_id": row["pin_id"], "split_field": "NO_SPLIT",
        "split_value": "ALL", "content_type": "ALL", "metric": "IMPRESSION", "value": -7}]
    assert {name for name, e in evaluations.items() if e.passed} == {c.name for c in ORGANIC_CHECKS} - {"no_negative_counts"}
    assert not result.get_asset_materialization_events()


def ad_spend_and_ad_group(home: Path) -> tuple[pa.Array, dict, str]:
    """A mask selecting the day's first ad_daily row with spend, that row, and the ad's ad group."""
    mask, ad = row_of(lake_rows(home, "ad_daily", DAY), "spend_in_micro_dollar")
    assert ad["spend_in_micro_dollar"] > 0
    return mask, ad, query(home, "SELECT ad_group_id FROM ads WHERE ad_id = ?", [ad["ad_id"]])[0][0]


def times_1000(rows: pa.Table, mask: pa.Array, ad: dict) -> pa.Table:
    """The ad_daily rows with the spend of the row `mask` selects (`ad`) a thousand times what it is."""
    return with_cell(rows, "spend_in_micro_dollar", mask, ad["spend_in_micro_dollar"] * 1000)


@pytest.mark.slow
def test_an_ad_spend_a_thousand_times_too_high_is_not_published_when_its_ad_group_has_no_row_that_day(home):
    home, env = home
    before = warehouse_contents(home)
    mask, ad, ad_group = ad_spend_and_ad_group(home)
    rewrite_lake_file(home, "ad_daily", DAY, times_1000(lake_rows(home, "ad_daily", DAY), mask, ad))
    groups = lake_rows(home, "ad_group_daily", DAY)
    rewrite_lake_file(home, "ad_group_daily", DAY, groups.filter(pc.not_equal(groups.column("ad_group_id"), ad_group)))

    refused = load("ads", env)

    assert_refused_and_nothing_published(refused, home, before, "ads_add_up_to_ad_groups", f"date={DAY}",
                                         "entity_type=ad_group", f"entity_id={ad_group}", "value=None",
                                         f"ads_sum={ad['spend_in_micro_dollar'] * 1000}", source="ads", breaking="")


@pytest.mark.slow
def test_an_ad_spend_a_thousand_times_too_high_is_not_published_when_its_ad_group_row_lacks_the_spend(home):
    home, env = home
    before = warehouse_contents(home)
    mask, ad, ad_group = ad_spend_and_ad_group(home)
    rewrite_lake_file(home, "ad_daily", DAY, times_1000(lake_rows(home, "ad_daily", DAY), mask, ad))
    groups = lake_rows(home, "ad_group_daily", DAY)
    rewrite_lake_file(home, "ad_group_daily", DAY, with_cell(groups, "spend_in_micro_dollar",
                                                        pc.equal(groups.column("ad_group_id"), ad_group), None))

    refused = load("ads", env)

    assert_refused_and_nothing_published(refused, home, before, "ads_add_up_to_ad_groups", f"entity_id={ad_group}",
                                         "metric=SPEND_IN_MICRO_DOLLAR", "value=None",
                                         f"ads_sum={ad['spend_in_micro_dollar'] * 1000}", source="ads", breaking="")


@pytest.mark.slow
def test_an_ad_moved_to_an_ad_group_without_rows_is_not_published(home):
    home, env = home
    before = warehouse_contents(home)
    _, ad, ad_group = ad_spend_and_ad_group(home)
    rewrite_snapshot(home, "ad_groups", lambda groups: pa.concat_tables([groups, with_cell(
        groups.filter(pc.equal(groups.column("ad_group_id"), ad_group)), "ad_group_id", pa.array([True]), "999")]))
    rewrite_snapshot(home, "ads", lambda ads: with_cell(ads, "ad_group_id", pc.equal(ads.column("ad_id"), ad["ad_id"]),
                                                        "999"))

    refused = load("ads", env)

    assert_refused_and_nothing_published(refused, home, before, "ads_add_up_to_ad_groups", "entity_id=999",
                                         "value=None", source="ads", breaking="")


@pytest.mark.slow
def test_ads_rows_of_an_ad_the_dimensions_do_not_know_are_not_published(home):
    home, env = home
    before = warehouse_contents(home)
    _, ad, _ = ad_spend_and_ad_group(home)
    rewrite_snapshot(home, "ads", lambda ads: ads.filter(pc.not_equal(ads.column("ad_id"), ad["ad_id"])))

    refused = load("ads", env)

    assert_refused_and_nothing_published(refused, home, before, "ads_rows_have_known_entities", "entity_type=ad",
                                         f"entity_id={ad['ad_id']}", source="ads")


@pytest.mark.slow
def test_a_negative_pin_lifetime_total_is_not_published(home):
    home, env = home
    before = warehouse_contents(home)
    pin, metric = query(home, "SELECT pin_id, metric FROM pin_lifetime ORDER BY ALL LIMIT 1")[0]
    rewrite_snapshot(home, "pin_lifetime", lambda totals: with_cell(totals, "value", pc.and_(
        pc.equal(totals.column("pin_id"), pin), pc.equal(totals.column("metric"), metric)), -5.0))

    refused = load("organic", env)

    assert_refused_and_nothing_published(refused, home, before, "pin_lifetime_finite_non_negative", f"pin_id={pin}",
                                         f"metric={metric}", "value=-5", source="organic")


@pytest.mark.slow
def test_a_new_ads_column_is_in_the_views_of_the_load_that_brings_it(home):
    home, env = home
    add_ectr(home)

    assert load("ads", env).returncode == 0

    ctr_and_ectr = query(home, "SELECT ctr, ectr FROM ad_account_daily WHERE date = ?", [DAY])
    assert ctr_and_ectr and all(ctr == ectr for ctr, ectr in ctr_and_ectr)


@pytest.mark.slow
def test_a_refused_load_leaves_the_views_as_they_were(home):
    home, env = home
    before, views_before = warehouse_contents(home), ads_view_columns(home)
    mask, ad, _ = ad_spend_and_ad_group(home)
    add_ectr(home, lambda table, rows: times_1000(rows, mask, ad) if table == "ad_daily" else rows)

    refused = load("ads", env)

    assert_refused_and_nothing_published(refused, home, before, "ads_add_up_to_ad_groups", source="ads")
    assert ads_view_columns(home) == views_before
    assert ("ad_account_daily", "ectr") not in views_before


@pytest.mark.slow
def test_a_refused_organic_load_keeps_the_organic_rows_while_the_ads_load_of_the_same_run_commits(home):
    home, env = home
    before = warehouse_contents(home)
    pins = lake_rows(home, "pin_daily", DAY)
    mask, _ = row_of(pins, "impression")
    rewrite_lake_file(home, "pin_daily", DAY, with_cell(pins, "impression", mask, -7))
    add_ectr(home)

    refused = run_cli(["load", *range_args(START, END)], env)

    assert refused.returncode == 1
    [step_line] = [line for line in refused.stderr.splitlines() if line.startswith("pinterest-etl load: step ")]
    assert step_line.startswith("pinterest-etl load: step organic_warehouse failed: ")
    assert "blocking check failed: no_negative_counts: 1 row breaks it" in step_line
    assert ("Nothing of the organic data was loaded: the warehouse keeps its previous organic rows and dimensions "
            "(this load was rolled back; another source's load in the same run is separate)") in step_line
    after = warehouse_contents(home)
    assert all(after[table] == before[table] for table in ("user_accounts", "boards", "pins", "pin_lifetime",
                                                           "user_account_daily", "pin_daily"))
    assert query(home, "SELECT count(*) FROM metric_daily WHERE metric = 'ECTR'")[0][0] > 0
