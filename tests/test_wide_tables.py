"""The wide fact tables, in the warehouse and in the lake: an old warehouse or lake is upgraded in place, new metrics
add columns, types never round a value, bad metric names and bad lake columns are refused, PROCESSING days are rows
without metrics, and column changes reach the user.

One organic and ads run of a small world (START..END: an ESTIMATE day, then a PROCESSING one) is made once; tests
that change data work on a copy. Lake files are rewritten through the Lake API (checksums match), so that only
the loader decides what happens.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import dagster as dg
import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from pipelines import catalog
from pipelines.ads.extract import DEFAULT_COLUMNS as DEFAULT_ADS_COLUMNS
from pipelines.ads.levels import NAMES as ADS_ENTITY_TYPES
from pipelines.analyst_sql import open_read_only
from pipelines.catalog import MetricNameError
from pipelines.cli import main
from pipelines.data_dictionary import render
from pipelines.faults import CRASH_AT, LAKE_BETWEEN_RENAMES, LAKE_FILE_WRITTEN
from pipelines.lake import Lake
from pipelines.metric_values import AnswerValueError
from pipelines.organic.source import ORGANIC
from pipelines.planning import DateRange
from pipelines.quality import ORGANIC_CHECKS
from pipelines.raw_zone import RawZone
from pipelines.tables import DAILY_STATUS
from pipelines.transform import normalize_range
from pipelines.warehouse import BlockingCheckError, LakeFileSchemaError, Warehouse
from tests.client_support import server_stats
from tests.conftest import TODAY, UNLIMITED
from tests.fault_support import latest_run_metadata
from tests.pipeline_support import pipeline_env, query, run
from tests.process_support import SMALL_WORLD, cli_env, lake_files, range_args, run_cli, warehouse_contents
from tests.wide_lake_support import fact_files, first_row, lake_file, lake_rows, rewrite_lake_file, to_long_lake, with_cell

START = TODAY - dt.timedelta(days=2)  # ESTIMATE for organic: metrics in both sources
END = TODAY - dt.timedelta(days=1)  # PROCESSING for organic: a wide row per key, without metrics
ADS_TABLES = ("ad_account_daily", "campaign_daily", "ad_group_daily", "ad_daily")
# Valid ads columns the defaults do not request: earned impressions (a count) and spend in dollars (money units).
NEW_ADS_COLUMNS = ("IMPRESSION_2", "SPEND_IN_DOLLAR")
# A valid ads column the small world never has a value of (no click checkouts): the API leaves zeros out.
ABSENT_ADS_COLUMN = "TOTAL_CLICK_CHECKOUT"


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    """A data directory holding one organic and ads run of START..END, and the simulator it came from."""
    from pipelines.sandbox import SandboxConfig, running_sandbox

    with running_sandbox(SandboxConfig(today=TODAY, rate_limits=dict(UNLIMITED), **SMALL_WORLD)) as server:
        home = tmp_path_factory.mktemp("wide") / "home"
        with pytest.MonkeyPatch.context() as monkeypatch:
            pipeline_env(monkeypatch, home, server, TODAY)
            assert run(START, END, only=None) == 0
        yield home, server


@pytest.fixture
def home(loaded, tmp_path, monkeypatch) -> Path:
    """A copy of the loaded data directory, the pipeline pointed at it."""
    original, server = loaded
    copy = tmp_path / "home"
    shutil.copytree(original, copy)
    pipeline_env(monkeypatch, copy, server, TODAY)
    return copy


@pytest.fixture(scope="module")
def evolved(loaded, tmp_path_factory):
    """A copy of the loaded data directory after a second run, of END only, asking for NEW_ADS_COLUMNS and
    ABSENT_ADS_COLUMN too: its home, its DAGSTER_HOME (the run is recorded there) and what the run printed."""
    original, server = loaded
    home = tmp_path_factory.mktemp("evolved") / "home"
    shutil.copytree(original, home)
    dagster_home = home.parent / "dagster"
    dagster_home.mkdir()
    printed = io.StringIO()
    with pytest.MonkeyPatch.context() as monkeypatch, contextlib.redirect_stdout(printed):
        pipeline_env(monkeypatch, home, server, TODAY, DAGSTER_HOME=str(dagster_home),
                     PINTEREST_ADS_COLUMNS=",".join((*DEFAULT_ADS_COLUMNS, *NEW_ADS_COLUMNS, ABSENT_ADS_COLUMN)))
        assert run(END, END, only=None) == 0
    return home, dagster_home, printed.getvalue()


def load(home: Path, source: str, date: dt.date):
    entity_types = ("user_account", "pin") if source == "organic" else ADS_ENTITY_TYPES
    return Warehouse(home / "warehouse.duckdb").load(Lake(home / "lake"), source, entity_types, [date])


def load_organic(home: Path, date: dt.date):
    return load(home, "organic", date)


def column_types(home: Path, tables: tuple[str, ...]) -> dict[str, dict[str, str]]:
    rows = query(home, "SELECT table_name, column_name, data_type FROM duckdb_columns() "
                       "WHERE table_name IN (SELECT unnest(?::VARCHAR[])) ORDER BY table_name, column_index", [list(tables)])
    types: dict[str, dict[str, str]] = {}
    for table, column, kind in rows:
        types.setdefault(table, {})[column] = kind
    return types


def metric_types(home: Path, table: str) -> dict[str, str]:
    """A wide table's metric columns (all but the catalog's base columns) and their types, in table order."""
    base = {name for name, _ in catalog.FACT_TABLES[table].base_columns()}
    return {column: kind for column, kind in column_types(home, (table,))[table].items() if column not in base}


def rebuild(source: str, date: dt.date) -> str:
    """The way out a refused lake file's message gives."""
    return (f"move it aside and rebuild it from the raw zone (no API calls): `pinterest-etl run --from-raw --only "
            f"{source} --start {date} --end {date}`")


# Upgrade in place

def to_long_layout(home: Path) -> None:
    """The warehouse as the versions before the wide tables kept it: metric_daily and daily_status as tables (the
    rows the long views show now), and the wide relations as views pivoting them."""
    with duckdb.connect(str(home / "warehouse.duckdb")) as con:
        for name in ("metric_daily", "daily_status"):
            con.execute(f"CREATE TABLE long_{name} AS SELECT * FROM {name}")
        for name in ("metric_daily", "daily_status", "user_account_organic_daily"):
            con.execute(f"DROP VIEW {name}")
        for table in catalog.FACT_TABLES.values():
            con.execute(f"DROP TABLE {table.name}")
        for name in ("metric_daily", "daily_status"):
            con.execute(f"ALTER TABLE long_{name} RENAME TO {name}")
        for table in catalog.FACT_TABLES.values():
            con.execute(old_wide_view(table))
        con.execute(catalog.derived_views()["user_account_organic_daily"])


def old_wide_view(table: catalog.FactTable) -> str:
    """A wide view of the long layout: daily_status's rows, one column per default metric from metric_daily."""
    splits = "".join(f"s.{expression} AS {column}, " for column, expression in table.splits)
    pivot = ", ".join(f"max(m.value) FILTER (WHERE m.metric = '{metric}') AS {catalog.metric_column(metric)}"
                      for metric in table.default_metrics)
    return f"""
        CREATE VIEW {table.name} AS
        SELECT s.date, s.entity_id AS {table.id_column}, {splits}s.data_status, s.is_final, {pivot}, s.extracted_at
        FROM daily_status s LEFT JOIN metric_daily m
          USING (date, entity_type, entity_id, split_field, split_value, content_type)
        WHERE s.entity_type = '{table.entity_type}'
        GROUP BY ALL"""


def relation_kinds(home: Path) -> dict[str, str]:
    return dict(query(home, "SELECT table_name, table_type FROM information_schema.tables WHERE table_schema = 'main'"))


def test_a_warehouse_of_the_long_layout_is_converted_in_place_by_the_first_load_without_api_calls(loaded, home, capsys):
    to_long_layout(home)
    old_metrics = query(home, "SELECT * FROM metric_daily ORDER BY ALL")
    old_statuses = query(home, "SELECT * FROM daily_status ORDER BY ALL")
    assert relation_kinds(home)["metric_daily"] == "BASE TABLE" and relation_kinds(home)["pin_daily"] == "VIEW"
    assert {d for d, *_ in old_metrics} == {START, END}
    for table in catalog.FACT_TABLES.values():  # START is kept only by the warehouse from now on
        lake_file(home, table.name, START).unlink()
    capsys.readouterr()

    assert main(["sql", "SELECT count(*) FROM metric_daily"]) == 1
    assert capsys.readouterr().err == (
        f"pinterest-etl sql: error: the warehouse {(home / 'warehouse.duckdb').resolve()} was written by an earlier "
        "version of pinterest-etl (its facts are in the long layout (metric_daily and daily_status as tables, the wide "
        "tables as views)); update it without API calls (its data is kept), then try again: "
        f"pinterest-etl load --start {END} --end {END}\n")
    calls = server_stats(loaded[1])["requests"]
    assert run(END, END, only="organic", from_lake=True) == 0

    assert server_stats(loaded[1])["requests"] == calls
    kinds = relation_kinds(home)
    assert {name: kinds[name] for name in (*catalog.FACT_TABLES, "metric_daily", "daily_status",
                                           "user_account_organic_daily")} == {
        **{name: "BASE TABLE" for name in catalog.FACT_TABLES},
        "metric_daily": "VIEW", "daily_status": "VIEW", "user_account_organic_daily": "VIEW"}
    assert query(home, "SELECT * FROM metric_daily ORDER BY ALL") == old_metrics
    assert query(home, "SELECT * FROM daily_status ORDER BY ALL") == old_statuses
    capsys.readouterr()
    assert main(["sql", "SELECT count(*) AS n FROM metric_daily"]) == 0
    assert capsys.readouterr().out == f"  n\n---\n{len(old_metrics)}\n(1 rows)\n"


# Lakes of the long layout

@pytest.fixture
def long_lake(home) -> tuple[dict[tuple[dt.date, str], str], dict[str, list[tuple]]]:
    """The copy's lake in the layout of the versions before the wide lake: per date and source, a metric_daily and a
    daily_status file, named after the identity (START organic, END ads) or in the legacy way, after an account
    (START ads: `ads.parquet`, END organic: `organic.main.parquet`), the ads ones written before content_type
    existed; no wide file. Returns their stems and what the warehouse's long views held."""
    organic, ads = (lake_file(home, table, START).name.removesuffix(".parquet") for table in ("pin_daily", "ad_daily"))
    stems = {(START, "organic"): organic, (START, "ads"): "ads", (END, "organic"): "organic.main", (END, "ads"): ads}
    before = long_views(home)
    to_long_lake(home, stems, without_content_type=frozenset({(START, "ads"), (END, "ads")}))
    assert fact_files(home) == long_files(stems)
    return stems, before


def long_views(home: Path) -> dict[str, list[tuple]]:
    return {name: query(home, f"SELECT * FROM {name} ORDER BY ALL") for name in ("metric_daily", "daily_status")}


def long_files(stems: dict[tuple[dt.date, str], str]) -> list[str]:
    return sorted(f"{folder}/date={date}/{stem}.parquet" for (date, _), stem in stems.items()
                  for folder in ("metric_daily", "daily_status"))


def wide_files(stems: dict[tuple[dt.date, str], str]) -> list[str]:
    """The wide files a lake of these long files' stems has once converted: one per table of the source, same name."""
    return sorted(f"{table.name}/date={date}/{stem}.parquet" for (date, source), stem in stems.items()
                  for table in catalog.FACT_TABLES.values() if table.source == source)


def without_warehouse(home: Path) -> None:
    """Nothing loaded: whatever the warehouse holds after the next load comes from the lake."""
    for path in home.glob("warehouse.duckdb*"):
        path.unlink()


def test_a_lake_of_the_long_layout_is_converted_by_the_next_load_into_wide_files_holding_the_same_numbers(
        loaded, home, long_lake):
    stems, before = long_lake
    without_warehouse(home)
    calls = server_stats(loaded[1])["requests"]

    assert run(START, END, only=None, from_lake=True) == 0

    assert server_stats(loaded[1])["requests"] == calls
    assert fact_files(home) == wide_files(stems)
    assert not (home / "lake" / "metric_daily").exists() and not (home / "lake" / "daily_status").exists()
    assert long_views(home) == before


def test_two_processes_converting_one_long_layout_lake_at_once_both_succeed_with_the_same_numbers(home, long_lake):
    """The two lake steps of one multiprocess run (and a load beside them) each convert first: one converts while
    the other waits for its lock, then finds nothing left."""
    stems, before = long_lake
    code = ("import sys; from pathlib import Path; from pipelines.lake import Lake; "
            "print(Lake(Path(sys.argv[1])).convert_long_layout())")
    children = [subprocess.Popen([sys.executable, "-c", code, str(home / "lake")], stdout=subprocess.PIPE, text=True,
                                 env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
                for _ in range(2)]
    converted = sorted(int(child.communicate(timeout=60)[0]) for child in children)

    assert [child.returncode for child in children] == [0, 0]
    assert converted == [0, len(long_files(stems))]
    assert fact_files(home) == wide_files(stems)
    without_warehouse(home)
    assert run(START, END, only=None, from_lake=True) == 0
    assert long_views(home) == before


def test_a_load_of_dates_the_lake_has_no_files_of_keeps_the_warehouses_rows(home):
    """A date without any lake file (never normalized, or a lake lost) keeps what the warehouse holds of it: that
    may be all there is (the refusal of a warehouse of the long layout suggests loading its newest date)."""
    before = long_views(home)
    shutil.rmtree(home / "lake")

    assert run(START, END, only=None, from_lake=True) == 0

    assert long_views(home) == before


def test_verify_does_not_report_a_lake_file_gone_since_it_was_listed(home, monkeypatch):
    """A run replacing or retiring a file (or converting a long-layout lake) while verify runs leaves it a listed
    file that is no longer there: nothing is wrong with it."""
    from pipelines.commands.verify import find_corrupt_files

    listed = Lake.all_files(Lake(home / "lake"))
    gone = listed[0].with_name("organic.user=1.parquet")
    monkeypatch.setattr(Lake, "all_files", lambda self: [*listed, gone])

    assert find_corrupt_files(home)[2] == []


@pytest.mark.slow
def test_a_run_from_the_raw_zone_converts_every_date_of_a_long_layout_lake_not_only_its_range(loaded, home, long_lake):
    stems, before = long_lake
    calls = server_stats(loaded[1])["requests"]

    assert run(END, END, only=None, from_raw=True) == 0

    # START converted; END normalized again, into the identity's file, which holds every key of the legacy file
    # END's organic data was in: that one is retired.
    assert fact_files(home) == wide_files({**stems, (END, "organic"): stems[START, "organic"]})
    without_warehouse(home)
    assert run(START, END, only=None, from_lake=True) == 0
    assert server_stats(loaded[1])["requests"] == calls
    assert long_views(home) == before


@pytest.mark.slow
@pytest.mark.parametrize("point, done, renamed", [
    # START's ads files are converted first (4 wide files, 3 crash points between renames), then START's organic.
    (f"{LAKE_BETWEEN_RENAMES}@1", (), ("ad_account_daily/date={START}/ads.parquet",)),
    (f"{LAKE_BETWEEN_RENAMES}@4", ((START, "ads"),), ("user_account_daily/date={START}/{organic}.parquet",)),
    (f"{LAKE_FILE_WRITTEN}@6", ((START, "ads"),), ()),
], ids=["inside_the_first_date", "inside_the_second_date", "a_wide_file_written_not_renamed"])
def test_a_crash_while_converting_a_long_layout_lake_loses_and_doubles_nothing(loaded, home, long_lake, point, done,
                                                                               renamed):
    stems, before = long_lake
    without_warehouse(home)
    env = cli_env(home, loaded[1], TODAY)
    calls = server_stats(loaded[1])["requests"]

    crashed = run_cli(["load", *range_args(START, END)], {**env, CRASH_AT: point})

    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    left = {key: stem for key, stem in stems.items() if key not in done}
    assert fact_files(home) == sorted([*long_files(left), *wide_files({key: stems[key] for key in done}),
                                       *(name.format(START=START, organic=stems[START, "organic"]) for name in renamed)])
    finished = run_cli(["load", *range_args(START, END)], env)
    assert finished.returncode == 0, finished.stderr
    assert server_stats(loaded[1])["requests"] == calls
    assert fact_files(home) == wide_files(stems)
    assert long_views(home) == before


def test_a_daily_status_file_left_by_a_crash_after_its_date_was_converted_is_removed_not_converted_again(home,
                                                                                                     long_lake):
    """Converting a date puts its wide files in place, then removes its metric_daily file, then its daily_status
    file: a crash between the two leaves the daily_status file alone, beside wide files that hold its values."""
    stems, before = long_lake
    lake = Lake(home / "lake")
    [status_file] = lake.files("daily_status", [START], "organic")
    status = pq.read_table(status_file)
    lake.convert_long_layout()
    lake.commit([lake.stage_rows("daily_status", START, stems[START, "organic"], status)])
    without_warehouse(home)

    assert run(START, END, only=None, from_lake=True) == 0

    assert fact_files(home) == wide_files(stems)
    assert long_views(home) == before


def test_a_long_layout_file_with_a_metric_name_that_cannot_be_a_column_is_refused_naming_both_and_kept(home,
                                                                                                     long_lake):
    stems, _ = long_lake
    lake = Lake(home / "lake")
    [metric_file] = lake.files("metric_daily", [START], "organic")
    rows = pq.read_table(metric_file)
    mask, _ = first_row(rows, pc.and_(pc.equal(rows.column("entity_type"), "pin"), pc.equal(rows.column("metric"), "SAVE")))
    lake.commit([lake.stage_rows("metric_daily", START, stems[START, "organic"], with_cell(rows, "metric", mask, "SAVE RATE"))])
    before = warehouse_contents(home)

    def date_files() -> dict[str, bytes]:  # the long files of that date and source, and any wide file of them
        return {name: path.read_bytes() for name, path in lake_files(home).items()
                if f"/date={START}/{stems[START, 'organic']}." in name}

    files = date_files()
    assert sorted(files) == long_files({(START, "organic"): stems[START, "organic"]})

    with pytest.raises(MetricNameError) as refused:
        load_organic(home, START)

    assert str(refused.value) == (
        f"lake file {metric_file}: the metric name 'SAVE RATE' {NOT_AN_API_NAME}; move it aside, then rebuild its "
        f"date from the raw zone (no API calls): `pinterest-etl run --from-raw --only organic --start {START} --end {START}`")
    assert date_files() == files
    assert warehouse_contents(home) == before


# Schema evolution

def test_new_ads_columns_are_added_to_the_four_ads_tables_typed_and_rows_loaded_before_read_null(evolved):
    home, _, _ = evolved
    assert {table: {c: types[c] for c in ("impression_2", "spend_in_dollar")}
            for table, types in column_types(home, ADS_TABLES).items()} == \
        {table: {"impression_2": "BIGINT", "spend_in_dollar": "DOUBLE"} for table in ADS_TABLES}
    for table in ADS_TABLES:
        by_date = query(home, f"SELECT date, count(*), count(impression_2), count(spend_in_dollar), "
                              f"count(*) FILTER (WHERE spend_in_dollar * 1e6 = spend_in_micro_dollar) "
                              f"FROM {table} GROUP BY date ORDER BY date")
        assert by_date == [(START, 1, 0, 0, 0), (END, 1, 1, 1, 1)], table


def test_a_configured_ads_column_the_api_sent_no_value_of_is_zero_in_the_four_ads_tables_and_null_before(evolved):
    """The ads API leaves out a requested metric that is zero: 0 from the day it is configured; NULL (unknown) on
    the days before, when it was not requested."""
    home, _, _ = evolved
    raw = RawZone(home / "raw")
    answers = [r for endpoint in ("ad_account/analytics", "campaigns/analytics", "ad_groups/analytics", "ads/analytics")
               for r in raw.records(endpoint, DateRange(END, END)) if ABSENT_ADS_COLUMN in r.params["columns"]]
    assert {r.endpoint for r in answers} == {"ad_account/analytics", "campaigns/analytics", "ad_groups/analytics",
                                            "ads/analytics"}
    assert all(rows and not any(ABSENT_ADS_COLUMN in row for row in rows) for rows in (r.json() for r in answers))

    column = catalog.metric_column(ABSENT_ADS_COLUMN)
    assert {table: types[column] for table, types in column_types(home, ADS_TABLES).items()} == \
        {table: "BIGINT" for table in ADS_TABLES}
    for table in ADS_TABLES:
        assert query(home, f"SELECT date, count(*), count({column}), sum({column}) FROM {table} GROUP BY date "
                           "ORDER BY date") == [(START, 1, 0, None), (END, 1, 1, 0)], table
        assert column in lake_rows(home, table, END).column_names, table


def test_an_organic_metric_the_catalog_does_not_know_becomes_a_column_the_load_names(home):
    rows = lake_rows(home, "user_account_daily", START)
    counted = pc.is_valid(rows.column("impression"))
    valued = pc.sum(counted).as_py()
    rewrite_lake_file(home, "user_account_daily", START, rows.append_column(
        "new_metric", pc.if_else(counted, pa.scalar(3, pa.int64()), pa.scalar(None, pa.int64()))))

    loaded = load_organic(home, START)

    assert (loaded.added_columns, loaded.widened_columns) == ({"user_account_daily": ["new_metric"]}, {})
    assert column_types(home, ("user_account_daily",))["user_account_daily"]["new_metric"] == "BIGINT"
    assert query(home, "SELECT date, count(*), count(new_metric), sum(new_metric) FROM user_account_daily "
                       "GROUP BY date ORDER BY date") == [(START, 12, valued, 3 * valued), (END, 12, 0, None)]
    assert query(home, "SELECT count(*) FROM metric_daily WHERE metric = 'NEW_METRIC'") == [(valued,)]


# Typing

def test_counts_are_bigint_and_rates_double_in_a_loaded_warehouse(loaded):
    home, _ = loaded
    types = column_types(home, ("user_account_daily", "pin_daily", "campaign_daily", "ad_daily"))
    assert {(table, column): types[table][column] for table, column in (
        ("user_account_daily", "impression"), ("user_account_daily", "save_rate"), ("pin_daily", "impression"),
        ("pin_daily", "save_rate"), ("campaign_daily", "spend_in_micro_dollar"), ("campaign_daily", "ctr"),
        ("ad_daily", "paid_impression"), ("ad_daily", "cpc_in_micro_dollar"))} == {
        ("user_account_daily", "impression"): "BIGINT", ("user_account_daily", "save_rate"): "DOUBLE",
        ("pin_daily", "impression"): "BIGINT", ("pin_daily", "save_rate"): "DOUBLE",
        ("campaign_daily", "spend_in_micro_dollar"): "BIGINT", ("campaign_daily", "ctr"): "DOUBLE",
        ("ad_daily", "paid_impression"): "BIGINT", ("ad_daily", "cpc_in_micro_dollar"): "DOUBLE"}
    for table in catalog.FACT_TABLES:  # every metric column has the catalog's type: no load widened one
        found = metric_types(home, table)
        assert found == {column: catalog.metric_type(column.upper()) for column in found}, table


@pytest.mark.parametrize("value", [12.5, 2.0 ** 63, -1e19], ids=["fraction", "2^63", "below_bigint"])
def test_a_value_a_bigint_column_cannot_hold_widens_it_to_double_without_rounding_anything(home, value):
    before = query(home, "SELECT pin_id, impression FROM pin_daily WHERE date = ? ORDER BY pin_id", [START])
    rows = lake_rows(home, "pin_daily", START)
    mask, row = first_row(rows, pc.is_valid(rows.column("impression")))
    rewrite_lake_file(home, "pin_daily", START, with_cell(rows, "impression", mask, value, pa.float64()))

    loaded = load_organic(home, START)

    assert (loaded.added_columns, loaded.widened_columns) == ({}, {"pin_daily": ["impression"]})
    types = column_types(home, ("pin_daily", "user_account_daily"))
    assert (types["pin_daily"]["impression"], types["user_account_daily"]["impression"]) == ("DOUBLE", "BIGINT")
    after = query(home, "SELECT pin_id, impression FROM pin_daily WHERE date = ? ORDER BY pin_id", [START])
    assert after == [(pin, value if pin == row["pin_id"] else old) for pin, old in before]
    assert query(home, "SELECT value FROM metric_daily WHERE entity_id = ? AND metric = 'IMPRESSION' AND date = ?",
                 [row["pin_id"], START]) == [(value,)]


def test_a_count_a_lake_file_holds_as_whole_doubles_leaves_its_bigint_column_as_it_is(home):
    before = query(home, "SELECT pin_id, impression FROM pin_daily WHERE date = ? ORDER BY pin_id", [START])
    rows = lake_rows(home, "pin_daily", START)
    rewrite_lake_file(home, "pin_daily", START, rows.set_column(
        rows.schema.get_field_index("impression"), "impression", rows.column("impression").cast(pa.float64())))

    loaded = load_organic(home, START)

    assert (loaded.added_columns, loaded.widened_columns) == ({}, {})
    assert column_types(home, ("pin_daily",))["pin_daily"]["impression"] == "BIGINT"
    assert query(home, "SELECT pin_id, impression FROM pin_daily WHERE date = ? ORDER BY pin_id", [START]) == before


# Bad input

NOT_AN_API_NAME = "is not an API metric name (upper-case letters, digits and underscores): it cannot become a column " \
                  "of the wide tables"
A_PIN_DAILY_COLUMN = "is the name of a key, parent or status column of the wide tables or of metric_daily: it cannot become a metric column of pin_daily"
NOT_A_PIN_DAILY_METRIC = "is not a metric column of pin_daily (lower-case API metric names holding numbers)"


@pytest.mark.parametrize("metric, why", [("impression", NOT_AN_API_NAME), ("SAVE RATE", NOT_AN_API_NAME),
                                         ("DATA_STATUS", A_PIN_DAILY_COLUMN), ("PIN_ID", A_PIN_DAILY_COLUMN)])
def test_a_metric_name_from_the_api_that_cannot_be_a_column_fails_normalization_naming_it_and_its_raw_file(
        home, metric, why):
    before = {name: path.read_bytes() for name, path in lake_files(home).items()}
    raw = RawZone(home / "raw")
    answer = list(raw.records("multi_pins/analytics", DateRange(START, START)))[-1]
    body = answer.json()
    day = next(d for d in body[next(iter(body))]["all"]["daily_metrics"] if d["date"] == START.isoformat())
    day["metrics"][metric] = day["metrics"].pop("SAVE")
    stored = raw.write(answer.endpoint, json.dumps(body).encode(), params=answer.params, path_params=answer.path_params,
                       window=answer.window, context=answer.context,
                       fetched_at=answer.fetched_at + dt.timedelta(seconds=1), request_id="bad-metric-name")

    with pytest.raises(AnswerValueError) as refused:
        normalize_range([raw], Lake(home / "lake"), DateRange(START, START), ORGANIC, TODAY)

    assert str(refused.value) == (
        f"multi_pins/analytics: the metric name {metric!r} {why} (raw file {stored}): the answer is malformed; move the "
        "raw file aside and re-run its dates to fetch them again, or report it if the API keeps sending it")
    assert {name: path.read_bytes() for name, path in lake_files(home).items()} == before


def test_a_metric_name_from_the_api_echoing_a_token_is_shown_masked_and_cut(home):
    raw = RawZone(home / "raw")
    answer = list(raw.records("multi_pins/analytics", DateRange(START, START)))[-1]
    body = answer.json()
    day = next(d for d in body[next(iter(body))]["all"]["daily_metrics"] if d["date"] == START.isoformat())
    day["metrics"]["echo Bearer pina_SANDBOX " + "Z" * 5000] = day["metrics"].pop("SAVE")
    raw.write(answer.endpoint, json.dumps(body).encode(), params=answer.params, path_params=answer.path_params,
              window=answer.window, context=answer.context, fetched_at=answer.fetched_at + dt.timedelta(seconds=1),
              request_id="token-as-metric-name")

    with pytest.raises(AnswerValueError) as refused:
        normalize_range([raw], Lake(home / "lake"), DateRange(START, START), ORGANIC, TODAY)

    assert str(refused.value).startswith(
        f"multi_pins/analytics: the metric name 'echo Bearer **** {'Z' * 63}… (5025 chars)' {NOT_AN_API_NAME} (raw file ")
    assert "pina_" not in str(refused.value) and "Z" * 64 not in str(refused.value)


@pytest.mark.parametrize("column, problem", [
    ("SAVE", f"column 'SAVE' (int64) {NOT_A_PIN_DAILY_METRIC}"),
    ("save rate", f"column 'save rate' (int64) {NOT_A_PIN_DAILY_METRIC}"),
    ("data_status", "has the column data_status twice"),
    ("pin_id", "has the column pin_id twice"),
    ("user_id", f"column 'user_id' (int64) {NOT_A_PIN_DAILY_METRIC}"),
    ("value", f"column 'value' (int64) {NOT_A_PIN_DAILY_METRIC}"),
], ids=["upper_case", "with_a_space", "a_status_column", "a_key_column", "another_tables_key", "a_long_view_column"])
def test_a_lake_column_that_cannot_be_a_metric_column_fails_the_load_naming_file_and_column_and_keeps_the_previous_rows(
        home, column, problem):
    before = warehouse_contents(home)
    rows = lake_rows(home, "pin_daily", START)
    path = rewrite_lake_file(home, "pin_daily", START,
                             rows.rename_columns([column if name == "save" else name for name in rows.column_names]))

    with pytest.raises(LakeFileSchemaError) as refused:
        load_organic(home, START)

    separator = " " if problem.startswith("has ") else ": "
    assert str(refused.value) == f"lake file {path}{separator}{problem}; {rebuild('organic', START)}"
    assert warehouse_contents(home) == before


@pytest.mark.parametrize("change", ["other_date", "null_date", "null_pin_id"])
def test_a_lake_row_dated_other_than_its_folder_or_without_its_key_is_refused_naming_the_file(home, change):
    """A load replaces the rows of its dates: a row of another date (or none) would escape the replacement and the
    checks of its date, and pile up with every load; a row without its key could never be replaced."""
    before = warehouse_contents(home)
    rows = lake_rows(home, "pin_daily", START)
    stray = rows.slice(0, 1)
    if change == "null_pin_id":
        stray = with_cell(stray, "pin_id", pa.array([True]), None)
    else:
        stray = with_cell(stray, "date", pa.array([True]), None if change == "null_date" else END)
    path = rewrite_lake_file(home, "pin_daily", START, pa.concat_tables([rows, stray.cast(rows.schema)]))

    with pytest.raises(LakeFileSchemaError) as refused:
        load_organic(home, START)

    dated = {"other_date": END, "null_date": None, "null_pin_id": START}[change]
    assert str(refused.value) == (f"lake file {path} holds a row dated {dated} or without its key (date, pin_id): a file "
                                  f"of date=D holds only rows of D with every key column set; {rebuild('organic', START)}")
    assert warehouse_contents(home) == before


def test_a_data_directory_under_a_folder_named_like_a_date_partition_loads(home, tmp_path):
    """A row's date is checked against its own folder (the last `date=` of its path), not a folder above it."""
    odd = tmp_path / "date=2001-01-01" / "home"
    shutil.copytree(home, odd)
    assert load_organic(odd, START).rows["pin_daily"] > 0


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")], ids=["nan", "inf", "minus_inf"])
@pytest.mark.parametrize("column", ["save_rate", "impression"], ids=["a_double_column", "a_bigint_column"])
def test_a_value_that_is_not_a_finite_number_in_a_lake_file_is_not_published(home, column, value):
    """Normalization refuses NaN and infinities from the API; a lake file edited by hand can still hold them (a
    count's column then widens): the blocking no_negative_counts check refuses them by name, nothing is kept."""
    before = warehouse_contents(home)
    rows = lake_rows(home, "pin_daily", START)
    where, row = first_row(rows, pc.is_valid(rows.column(column)))
    rewrite_lake_file(home, "pin_daily", START, with_cell(rows, column, where, value, pa.float64()))

    with pytest.raises(BlockingCheckError) as refused:
        Warehouse(home / "warehouse.duckdb").load(Lake(home / "lake"), "organic", ("user_account", "pin"), [START],
                                                  checks=ORGANIC_CHECKS)

    failed = {o.check.name: o for o in refused.value.outcomes if o.check.blocking and not o.passed}
    # A rate that is not a finite number is outside [0, 1] too (NaN compares above every number).
    assert set(failed) == ({"no_negative_counts", "rates_within_0_1"} if column.endswith("_rate") else {"no_negative_counts"})
    assert failed["no_negative_counts"].violations == 1
    assert failed["no_negative_counts"].sample[0]["entity_id"] == row["pin_id"]
    assert failed["no_negative_counts"].sample[0]["metric"] == column.upper()
    assert warehouse_contents(home) == before


def test_the_dictionary_describes_a_metric_column_a_load_added(loaded, tmp_path):
    """A metric first seen adds a column; the data dictionary describes it from its name instead of refusing the
    warehouse."""
    home, _ = loaded
    copy = tmp_path / "home"
    shutil.copytree(home, copy)
    with duckdb.connect(str(copy / "warehouse.duckdb")) as con:
        con.execute("ALTER TABLE ad_daily ADD COLUMN total_new_thing BIGINT")
    with open_read_only(copy) as con:
        rendered = render(con)
    assert "| `total_new_thing` | BIGINT |" in rendered


@pytest.mark.parametrize("table, column, kind, problem", [
    ("pin_daily", "pin_id", None, "has no column pin_id, which pin_daily needs"),
    ("pin_daily", "data_status", None, "has no column data_status, which pin_daily needs"),
    ("user_account_daily", "content_type", None, "has no column content_type, which user_account_daily needs"),
    ("campaign_daily", "attribution", None, "has no column attribution, which campaign_daily needs"),
    ("pin_daily", "pin_id", pa.int64(), ": column pin_id is int64, pin_daily needs string"),
    ("pin_daily", "date", pa.string(), ": column date is string, pin_daily needs date32[day]"),
    ("pin_daily", "is_final", pa.string(), ": column is_final is string, pin_daily needs bool"),
    ("campaign_daily", "extracted_at", pa.timestamp("us"),
     ": column extracted_at is timestamp[us], campaign_daily needs timestamp[us, tz=UTC]"),
], ids=["no_pin_id", "no_data_status", "no_content_type", "no_attribution", "numeric_pin_id", "text_date",
        "text_is_final", "naive_extracted_at"])
def test_a_lake_file_whose_key_or_status_column_is_missing_or_mistyped_is_refused_naming_file_and_column(
        home, table, column, kind, problem):
    source = catalog.FACT_TABLES[table].source
    before = warehouse_contents(home)
    rows = lake_rows(home, table, START)
    changed = rows.drop_columns([column]) if kind is None else rows.set_column(
        rows.schema.get_field_index(column), column, rows.column(column).cast(kind))
    path = rewrite_lake_file(home, table, START, changed)

    with pytest.raises(LakeFileSchemaError) as refused:
        load(home, source, START)

    missing = ": it is not a file this version wrote" if kind is None else ""
    assert str(refused.value) == f"lake file {path}{' ' if kind is None else ''}{problem}{missing}; {rebuild(source, START)}"
    assert warehouse_contents(home) == before


# PROCESSING days

def test_a_processing_day_is_a_wide_row_with_null_metrics_and_its_status(loaded):
    home, _ = loaded
    for table, rows in (("user_account_daily", 12), ("pin_daily", 20)):  # 3 content types x (total + 3 app types)
        metrics = list(metric_types(home, table))
        found = query(home, f"SELECT data_status, is_final, {', '.join(metrics)} FROM {table} WHERE date = ?", [END])
        assert found == [("PROCESSING", False, *[None] * len(metrics))] * rows, table
    assert query(home, "SELECT count(*) FROM metric_daily WHERE date = ? AND entity_type IN ('user_account', 'pin')",
                 [END]) == [(0,)]
    assert query(home, "SELECT entity_type, count(*) FROM daily_status WHERE date = ? AND data_status = 'PROCESSING' "
                       "GROUP BY ALL ORDER BY ALL", [END]) == [("pin", 20), ("user_account", 12)]


# What reaches the user

def test_the_loads_report_the_columns_they_changed_in_metadata_log_and_run_summary(evolved):
    home, dagster_home, printed = evolved
    metadata = latest_run_metadata(dagster_home)
    new_columns = ["impression_2", "spend_in_dollar", "total_click_checkout"]
    added = {table: new_columns for table in ADS_TABLES}
    assert (metadata["ads_warehouse"]["columns_added"], metadata["ads_warehouse"]["columns_widened"]) == (added, {})
    assert (metadata["organic_warehouse"]["columns_added"], metadata["organic_warehouse"]["columns_widened"]) == ({}, {})
    named = ", ".join(f"{table}.{column}" for table in ADS_TABLES for column in new_columns)
    assert f"  ads_warehouse: columns_added=[{named}]\n" in printed
    assert "columns_widened" not in printed
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        run_id = instance.get_runs(limit=1)[0].run_id
        warnings = [e.user_message for e in instance.all_logs(run_id) if e.level == logging.WARNING and "wide tables" in e.user_message]
    assert warnings == [f"ads: the load changed the warehouse's wide tables: new metric column(s) {named} (rows loaded "
                        "before read NULL in them)"]


def test_the_lake_and_warehouse_assets_declare_every_wide_table_they_write_as_a_new_warehouse_has_it(tmp_path):
    """Each lake and warehouse asset declares the columns of every wide table it writes (`schema_<table>`; the
    first as Dagster's column schema) and each table's grain; lake files lack the parents' ids and currency."""
    from pipelines.definitions import defs

    warehouse = Warehouse(tmp_path / "warehouse.duckdb")
    with warehouse.connect() as con:
        warehouse.ensure_schema(con)
    created = column_types(tmp_path, tuple(catalog.FACT_TABLES))
    graph = defs.resolve_asset_graph()
    written = {"organic": ("user_account_daily", "pin_daily"),
               "ads": ("campaign_daily", "ad_account_daily", "ad_group_daily", "ad_daily")}
    for source, tables in written.items():
        for asset, lake in ((f"{source}_warehouse", False), (f"{source}_lake", True)):
            metadata = graph.get(dg.AssetKey(asset)).metadata
            assert metadata["dagster/column_schema"] == metadata[f"schema_{tables[0]}"].schema, asset
            assert metadata["grain"] == "; ".join(f"{t}: {catalog.FACT_TABLES[t].grain}" for t in tables), asset
            for table in tables:
                declared = {c.name: str(duckdb.type(c.type)) for c in metadata[f"schema_{table}"].schema.columns}
                added_at_load = {*catalog.FACT_TABLES[table].parents, "currency"} if lake else set()
                assert declared == {n: t for n, t in created[table].items() if n not in added_at_load}, (asset, table)
    assert list(created["campaign_daily"])[:9] == ["date", "campaign_id", "ad_account_id", "currency", "attribution",
                                                   "data_status", "is_final", "extracted_at", "spend_in_micro_dollar"]


def test_the_daily_tick_reads_is_final_of_a_long_layout_lake_not_converted_yet(tmp_path):
    """The schedule asks the lake for the oldest ads day not final before any run has converted an earlier
    version's lake: its daily_status files still answer, so the re-pull window reaches back to that day."""
    lake = Lake(tmp_path)
    day = dt.date(2026, 11, 1)
    path = tmp_path / "daily_status" / f"date={day}" / "ads.ad_account=5.parquet"
    path.parent.mkdir(parents=True)
    row = {"date": day, "entity_type": "campaign", "entity_id": "7", "split_field": "ATTRIBUTION", "split_value": "X",
           "content_type": "ALL", "data_status": None, "is_final": False,
           "extracted_at": dt.datetime(2026, 11, 2, tzinfo=dt.timezone.utc)}
    pq.write_table(pa.Table.from_pylist([row], DAILY_STATUS), path)
    assert lake.oldest_not_final("ads", day - dt.timedelta(days=3), day + dt.timedelta(days=3)) == day
    assert lake.oldest_not_final("organic", day - dt.timedelta(days=3), day + dt.timedelta(days=3)) is None
