"""docs/data-dictionary.md is the dictionary of a warehouse the pipeline built, and describes every column of it."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines import api_enums, history
from pipelines.analyst_sql import open_read_only
from pipelines.catalog import FACT_TABLES, derived_views, metric_column, metric_type
from pipelines.cli import main
from pipelines.data_dictionary import (
    REGENERATE,
    RELATIONS,
    describe_column,
    describe_metric,
    metric_rule,
    problems,
    render,
    warehouse_schema,
)
from pipelines.reporting_views import REPORTING_VIEWS
from pipelines.warehouse import DIMENSIONS

DICTIONARY_FILE = Path(__file__).resolve().parents[1] / "docs" / "data-dictionary.md"


@pytest.fixture(scope="module")
def schema(demo_warehouse):
    with open_read_only(demo_warehouse) as con:
        return warehouse_schema(con)


@pytest.fixture(scope="module")
def sections(demo_warehouse) -> dict[str, str]:
    """The rendered dictionary of the demo warehouse, by section title (`## name`)."""
    with open_read_only(demo_warehouse) as con:
        rendered = render(con)
    return {part.split("\n", 1)[0]: part for part in rendered.split("\n## ")[1:]}


API_METRICS = {*api_enums.USER_ACCOUNT_METRIC_TYPES, *api_enums.PIN_STANDARD_METRIC_TYPES,
               *api_enums.PIN_VIDEO_METRIC_TYPES, *api_enums.ADS_ANALYTICS_COLUMNS, *api_enums.ASYNC_REPORT_COLUMNS}


@pytest.mark.slow
def test_the_committed_dictionary_is_the_one_of_the_built_warehouse(demo_warehouse):
    with open_read_only(demo_warehouse) as con:
        rendered = render(con)
    assert rendered == DICTIONARY_FILE.read_text(), (
        f"docs/data-dictionary.md is out of date: build a warehouse with the default settings (make run) and run "
        f"`{REGENERATE}`")


def test_the_dictionary_covers_every_table_and_view_of_the_warehouse(schema):
    assert set(schema) == {*FACT_TABLES, *DIMENSIONS, *derived_views(), history.BUILT_FROM,
                           *map(history.history_table, history.TRACKED_DIMENSIONS)}
    assert problems(schema) == []


def test_every_column_of_the_warehouse_has_a_description(schema):
    columns = [(name, column) for name, (_, cols) in schema.items() for column, _ in cols]
    assert len(columns) == 472  # the 30 relations of a warehouse built with the default settings
    assert [f"{name}.{column}" for name, column in columns if not describe_column(name, column).strip()] == []


def test_a_wide_table_of_the_built_warehouse_has_its_base_columns_then_its_default_metrics(schema):
    for table in FACT_TABLES.values():
        expected = [name for name, _ in table.base_columns()] + [metric_column(m) for m in table.default_metrics]
        assert [column for column, _ in schema[table.name][1]] == expected, table.name


def test_every_wide_table_is_documented_as_a_table_with_the_catalogs_grain_and_key(sections):
    for table in FACT_TABLES.values():
        assert (RELATIONS[table.name].grain, RELATIONS[table.name].key) == (table.grain, table.key)
        key = ", ".join(f"`{k}`" for k in table.key)
        assert f"\nTable. **Grain:** {table.grain}. **Key:** {key}.\n" in sections[table.name], table.name


def test_the_derived_relations_are_documented_as_views_over_the_wide_tables(sections):
    for name in derived_views():
        assert f"\nView. **Grain:** {RELATIONS[name].grain}." in sections[name], name
        if name in REPORTING_VIEWS:
            assert any(f"`{table}`" in RELATIONS[name].about for table in (*FACT_TABLES, "pin_performance")), name
        else:
            assert "`user_account_daily`" in RELATIONS[name].about, name
    assert "\n| [`metric_daily`](#metric_daily) | view |" in sections["Tables and views"]
    assert "\n| [`pin_daily`](#pin_daily) | table |" in sections["Tables and views"]


@pytest.mark.parametrize("table, column, sql_type", [
    ("user_account_daily", "impression", "BIGINT"), ("user_account_daily", "save_rate", "DOUBLE"),
    ("pin_daily", "impression", "BIGINT"), ("pin_daily", "save_rate", "DOUBLE"),
    ("ad_daily", "spend_in_micro_dollar", "BIGINT"), ("ad_daily", "ctr", "DOUBLE"),
    ("metric_daily", "value", "DOUBLE"),
])
def test_a_column_is_documented_with_its_sql_type_in_the_warehouse(sections, table, column, sql_type):
    assert f"\n| `{column}` | {sql_type} | " in sections[table]


@pytest.mark.parametrize("rule, sql_type", [
    ("cost", "DOUBLE"), ("rate", "DOUBLE"), ("roas", "DOUBLE"), ("average", "DOUBLE"), ("people", "BIGINT"),
    ("micro", "BIGINT"),
])
def test_the_metric_rules_agree_with_the_catalogs_column_types(rule, sql_type):
    metrics = sorted(m for m in API_METRICS if metric_rule(m) == rule)
    assert metrics
    assert [m for m in metrics if metric_type(m) != sql_type] == []


def test_a_reporting_view_is_documented_with_its_declared_columns_and_their_types(sections):
    for name, view in REPORTING_VIEWS.items():
        assert RELATIONS[name].columns == {column.name: column.meaning for column in view.columns}, name
    assert "\n| `spend` | DECIMAL(18,6) | Amount spent, in units of `currency`" in sections["campaign_performance"]
    assert "\n| `impressions` | BIGINT | " in sections["pin_performance"]


def test_video_watch_time_is_documented_in_milliseconds_and_averaged_per_start():
    assert "in milliseconds" in describe_metric("VIDEO_V50_WATCH_TIME")
    average = describe_metric("VIDEO_AVG_WATCH_TIME")
    assert "in milliseconds" in average and "sum(video_v50_watch_time) / sum(video_start)" in average


def test_a_column_or_table_the_dictionary_does_not_know_is_reported():
    schema = {"pins": ("TABLE", [("pin_id", "VARCHAR"), ("new_column", "VARCHAR")]),
              "new_view": ("VIEW", [("date", "DATE")])}
    found = problems(schema)
    assert "pins.new_column: no description" in found
    assert "new_view: the warehouse has this table or view, the dictionary does not describe it" in found
    assert "pins.title: described, but the warehouse has no such column" in found
    assert "metric_daily: described, but the warehouse has no such table or view" in found


@pytest.mark.parametrize("metric, rule", [
    ("IMPRESSION", "count"), ("SAVE", "count"), ("SAVE_RATE", "rate"), ("ENGAGEMENT_RATE", "rate"), ("CTR", "rate"),
    ("OUTBOUND_CTR_1", "rate"), ("CTR_2", "rate"), ("SPEND_IN_MICRO_DOLLAR", "micro"),
    ("TOTAL_CHECKOUT_VALUE_IN_MICRO_DOLLAR", "micro"), ("CPC_IN_MICRO_DOLLAR", "cost"),
    ("CPM_IN_MICRO_DOLLAR", "cost"), ("ECPC_IN_DOLLAR", "cost"), ("COST_PER_OUTBOUND_CLICK_IN_DOLLAR", "cost"),
    ("CPV_IN_MICRO_DOLLAR", "cost"), ("CPCV_P95_IN_MICRO_DOLLAR", "cost"), ("SPEND_IN_DOLLAR", "money"),
    ("CHECKOUT_ROAS", "roas"), ("VIDEO_AVG_WATCH_TIME", "average"),
    ("TOTAL_IMPRESSION_FREQUENCY", "average"), ("TOTAL_IMPRESSION_USER", "people"),
    ("VIDEO_15SEC_UNIQUE_VIEWS_1", "people"), ("TOTAL_CONVERSIONS", "count"),
])
def test_a_metric_is_summed_or_not_by_the_rule_its_name_implies(metric, rule):
    assert metric_rule(metric) == rule


def test_every_api_metric_gets_a_description_naming_how_to_aggregate_it():
    for metric in API_METRICS:
        text = describe_metric(metric)
        assert any(word in text for word in ("sum", "Sum", "additive")), f"{metric}: {text}"


def test_the_dictionary_command_writes_the_committed_file(demo_warehouse, tmp_path, monkeypatch):
    monkeypatch.setenv("PINTEREST_ETL_HOME", str(demo_warehouse))
    output = tmp_path / "data-dictionary.md"
    assert main(["dictionary", "--output", str(output)]) == 0
    assert output.read_text() == DICTIONARY_FILE.read_text()


def test_the_dictionary_command_without_a_warehouse_fails_with_a_hint(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PINTEREST_ETL_HOME", str(tmp_path))
    assert main(["dictionary"]) == 1
    assert "no warehouse at" in capsys.readouterr().err
