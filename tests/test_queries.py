"""docs/queries.sql: every worked query runs, read-only, on a warehouse the pipeline built, and returns rows."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pipelines.analyst_sql import check_read_only, named_queries, open_read_only

QUERIES_FILE = Path(__file__).resolve().parents[1] / "docs" / "queries.sql"
QUERIES = named_queries(QUERIES_FILE.read_text())


@pytest.fixture(scope="module")
def warehouse(demo_warehouse):
    with open_read_only(demo_warehouse) as con:
        yield con


def test_the_file_has_at_least_ten_named_queries():
    assert len(QUERIES) >= 10


@pytest.mark.parametrize("name", QUERIES)
def test_each_query_says_what_it_answers(name):
    first_line = QUERIES[name].splitlines()[0]
    assert first_line.startswith("-- ") and len(first_line) > 20, f"{name}: starts with {first_line!r}"


@pytest.mark.parametrize("name", QUERIES)
def test_each_query_uses_dates_relative_to_the_data(name):
    assert not re.search(r"\d{4}-\d{2}-\d{2}", QUERIES[name]), f"{name} has a fixed date"


@pytest.mark.parametrize("name", QUERIES)
def test_each_query_returns_rows_with_values(warehouse, name):
    check_read_only(warehouse, QUERIES[name])
    rows = warehouse.execute(QUERIES[name]).fetchall()
    assert rows, f"{name} returned no row"
    assert all(any(v is not None for v in row) for row in rows), f"{name} returned a row of NULLs only"
