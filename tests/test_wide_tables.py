"""The wide fact tables: an old warehouse is upgraded in place, new metrics add columns, types never round a value,
bad metric names are refused, PROCESSING days are rows without metrics, and column changes reach the user.

One organic and ads run of a small world (START..END: an ESTIMATE day, then a PROCESSING one) is made once; tests
that change data work on a copy. Lake files are rewritten through the Lake API (checksums match), so that only
the loader decides what happens.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import logging
import shutil
from pathlib import Path

import dagster as dg
import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from pipelines import catalog
from pipelines.ads.extract import DEFAULT_COLUMNS as DEFAULT_ADS_COLUMNS
from pipelines.catalog import MetricNameError
from pipelines.cli import main
from pipelines.lake import Lake
from pipelines.warehouse import Warehouse
from tests.client_support import server_stats
from tests.conftest import TODAY, UNLIMITED
from tests.fault_support import latest_run_metadata
from tests.pipeline_support import pipeline_env, query, run
from tests.process_support import SMALL_WORLD, warehouse_contents
from tests.test_checks_before_commit import DAY as START
from tests.test_checks_before_commit import lake_rows, rewrite_lake_file, row_of, with_column, with_value

END = TODAY - dt.timedelta(days=1)  # PROCESSING for organic: a wide row per key, without metrics
ADS_TABLES = ("ad_account_daily", "campaign_daily", "ad_group_daily", "ad_daily")
# Valid ads columns the defaults do not request: earned impressions (a count) and spend in dollars (money units).
NEW_ADS_COLUMNS = ("IMPRESSION_2", "SPEND_IN_DOLLAR")


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
    """A copy of the loaded data directory after a second run, of END only, asking for NEW_ADS_COLUMNS too: its
    home, its DAGSTER_HOME (the run is recorded there) and what the run printed."""
    original, server = loaded
    home = tmp_path_factory.mktemp("evolved") / "home"
    shutil.copytree(original, home)
    dagster_home = home.parent / "dagster"
    dagster_home.mkdir()
    printed = io.StringIO()
    with pytest.MonkeyPatch.context() as monkeypatch, contextlib.redirect_stdout(printed):
        pipeline_env(monkeypatch, home, server, TODAY, DAGSTER_HOME=str(dagster_home),
                     PINTEREST_ADS_COLUMNS=",".join((*DEFAULT_ADS_COLUMNS, *NEW_ADS_COLUMNS)))
        assert run(END, END, only=None) == 0
    return home, dagster_home, printed.getvalue()


def load_organic(home: Path, date: dt.date):
    return Warehouse(home / "warehouse.duckdb").load(Lake(home / "lake"), "organic", ("user_account", "pin"), [date])


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
    for table in ("metric_daily", "daily_status"):  # START is kept only by the warehouse from now on
        for path in Lake(home / "lake").files(table, [START], "organic") + Lake(home / "lake").files(table, [START], "ads"):
            path.unlink()
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


def test_an_organic_metric_the_catalog_does_not_know_becomes_a_column_the_load_names(home):
    rows = lake_rows(home, "organic")
    impressions = rows.filter(pc.and_(pc.equal(rows.column("entity_type"), "user_account"),
                                      pc.equal(rows.column("metric"), "IMPRESSION")))
    new = with_value(with_column(impressions, "metric", pa.repeat(True, impressions.num_rows), "NEW_METRIC"),
                     pa.repeat(True, impressions.num_rows), 3)
    rewrite_lake_file(home, "organic", pa.concat_tables([rows, new]))

    loaded = load_organic(home, START)

    assert (loaded.added_columns, loaded.widened_columns) == ({"user_account_daily": ["new_metric"]}, {})
    assert column_types(home, ("user_account_daily",))["user_account_daily"]["new_metric"] == "BIGINT"
    assert query(home, "SELECT date, count(*), count(new_metric), sum(new_metric) FROM user_account_daily "
                       "GROUP BY date ORDER BY date") == [(START, 12, new.num_rows, 3 * new.num_rows), (END, 12, 0, None)]
    assert query(home, "SELECT count(*) FROM metric_daily WHERE metric = 'NEW_METRIC'") == [(new.num_rows,)]


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
    rows = lake_rows(home, "organic")
    mask, row = row_of(rows, "pin", "IMPRESSION")
    rewrite_lake_file(home, "organic", with_value(rows, mask, value))

    loaded = load_organic(home, START)

    assert (loaded.added_columns, loaded.widened_columns) == ({}, {"pin_daily": ["impression"]})
    types = column_types(home, ("pin_daily", "user_account_daily"))
    assert (types["pin_daily"]["impression"], types["user_account_daily"]["impression"]) == ("DOUBLE", "BIGINT")
    after = query(home, "SELECT pin_id, impression FROM pin_daily WHERE date = ? ORDER BY pin_id", [START])
    assert after == [(pin, value if pin == row["entity_id"] else old) for pin, old in before]
    assert query(home, "SELECT value FROM metric_daily WHERE entity_id = ? AND metric = 'IMPRESSION' AND date = ?",
                 [row["entity_id"], START]) == [(value,)]


# Bad input

NOT_AN_API_NAME = "is not an API metric name (upper-case letters, digits and underscores): it cannot become a column " \
                  "of the wide tables"
A_PIN_DAILY_COLUMN = "is the name of a key or status column of pin_daily: it cannot become a metric column of it"


@pytest.mark.parametrize("metric, why", [("impression", NOT_AN_API_NAME), ("SAVE RATE", NOT_AN_API_NAME),
                                         ("DATA_STATUS", A_PIN_DAILY_COLUMN), ("PIN_ID", A_PIN_DAILY_COLUMN)])
def test_a_metric_name_that_cannot_be_a_column_fails_the_load_naming_it_and_keeps_the_previous_rows(home, metric, why):
    before = warehouse_contents(home)
    rows = lake_rows(home, "organic")
    mask, _ = row_of(rows, "pin", "SAVE")
    rewrite_lake_file(home, "organic", with_column(rows, "metric", mask, metric))

    with pytest.raises(MetricNameError) as refused:
        load_organic(home, START)

    assert str(refused.value) == f"the metric name {metric!r} {why}"
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
    added = {table: ["impression_2", "spend_in_dollar"] for table in ADS_TABLES}
    assert (metadata["ads_warehouse"]["columns_added"], metadata["ads_warehouse"]["columns_widened"]) == (added, {})
    assert (metadata["organic_warehouse"]["columns_added"], metadata["organic_warehouse"]["columns_widened"]) == ({}, {})
    named = ", ".join(f"{table}.{column}" for table in ADS_TABLES for column in ("impression_2", "spend_in_dollar"))
    assert f"  ads_warehouse: columns_added=[{named}]\n" in printed
    assert "columns_widened" not in printed
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        run_id = instance.get_runs(limit=1)[0].run_id
        warnings = [e.user_message for e in instance.all_logs(run_id) if e.level == logging.WARNING and "wide tables" in e.user_message]
    assert warnings == [f"ads: the load changed the warehouse's wide tables: new metric column(s) {named} (rows loaded "
                        "before read NULL in them)"]


def test_the_warehouse_assets_declare_the_columns_of_their_main_wide_table_as_a_new_warehouse_has_them(tmp_path):
    from pipelines.definitions import defs

    warehouse = Warehouse(tmp_path / "warehouse.duckdb")
    with warehouse.connect() as con:
        warehouse.ensure_schema(con)
    created = column_types(tmp_path, ("user_account_daily", "campaign_daily"))
    graph = defs.resolve_asset_graph()
    for asset, table, grain in (("organic_warehouse", "user_account_daily",
                                 "one row per user account per UTC day per split bucket per content type"),
                                ("ads_warehouse", "campaign_daily",
                                 "one row per campaign per UTC day per attribution setting")):
        metadata = graph.get(dg.AssetKey(asset)).metadata
        declared = {c.name: str(duckdb.type(c.type)) for c in metadata["dagster/column_schema"].columns}
        assert (declared, metadata["grain"]) == (created[table], grain), asset
    assert list(created["campaign_daily"])[:9] == ["date", "campaign_id", "ad_account_id", "currency", "attribution",
                                                   "data_status", "is_final", "extracted_at", "spend_in_micro_dollar"]
