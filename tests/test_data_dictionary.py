"""docs/data-dictionary.md is the dictionary of a warehouse the pipeline built, and describes every column of it."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines import api_enums
from pipelines.analyst_sql import open_read_only
from pipelines.cli import main
from pipelines.data_dictionary import (
    REGENERATE,
    describe_column,
    describe_metric,
    metric_rule,
    problems,
    render,
    warehouse_schema,
)
from pipelines.warehouse import ADS_ENTITY_TYPES, DIMENSIONS, FACT_TABLES, VIEWS

DICTIONARY_FILE = Path(__file__).resolve().parents[1] / "docs" / "data-dictionary.md"


@pytest.fixture(scope="module")
def schema(demo_warehouse):
    with open_read_only(demo_warehouse) as con:
        return warehouse_schema(con)


@pytest.mark.slow
def test_the_committed_dictionary_is_the_one_of_the_built_warehouse(demo_warehouse):
    with open_read_only(demo_warehouse) as con:
        rendered = render(con)
    assert rendered == DICTIONARY_FILE.read_text(), (
        f"docs/data-dictionary.md is out of date: build a warehouse with the default settings (make run) and run "
        f"`{REGENERATE}`")


def test_the_dictionary_covers_every_table_and_view_of_the_warehouse(schema):
    expected = {*FACT_TABLES, *DIMENSIONS, *VIEWS, *(f"{level}_daily" for level in ADS_ENTITY_TYPES)}
    assert set(schema) == expected
    assert problems(schema) == []


def test_every_column_of_the_warehouse_has_a_description(schema):
    columns = [(name, column) for name, (_, cols) in schema.items() for column, _ in cols]
    assert len(columns) > 100
    assert [f"{name}.{column}" for name, column in columns if not describe_column(name, column).strip()] == []


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
    ("SPEND_IN_DOLLAR", "money"), ("CHECKOUT_ROAS", "roas"), ("VIDEO_AVG_WATCH_TIME", "average"),
    ("TOTAL_IMPRESSION_FREQUENCY", "average"), ("TOTAL_IMPRESSION_USER", "people"),
    ("VIDEO_15SEC_UNIQUE_VIEWS_1", "people"), ("TOTAL_CONVERSIONS", "count"),
])
def test_a_metric_is_summed_or_not_by_the_rule_its_name_implies(metric, rule):
    assert metric_rule(metric) == rule


def test_every_api_metric_gets_a_description_naming_how_to_aggregate_it():
    metrics = {*api_enums.USER_ACCOUNT_METRIC_TYPES, *api_enums.PIN_STANDARD_METRIC_TYPES,
               *api_enums.PIN_VIDEO_METRIC_TYPES, *api_enums.ADS_ANALYTICS_COLUMNS, *api_enums.ASYNC_REPORT_COLUMNS}
    for metric in metrics:
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
