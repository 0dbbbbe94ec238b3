"""The README's example queries run, and return rows, on a warehouse the pipeline built; those on the user accounts
count each account-day once (one content type, never ALL with ORGANIC and PAID added up)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import duckdb
import pytest

from tests.pipeline_support import query

README = Path(__file__).resolve().parents[1] / "README.md"
QUERIES = re.findall(r"```sql\n(.*?)```", README.read_text(), flags=re.S)
ACCOUNT_QUERIES = [q for q in QUERIES if "user_account" in q]
CONTENT_TYPES = ("ALL", "ORGANIC", "PAID")


def query_id(sql: str) -> str:
    return sql.splitlines()[0].lstrip("- ")[:60]


def test_the_readme_has_example_queries():
    assert len(QUERIES) >= 3 and ACCOUNT_QUERIES


@pytest.mark.parametrize("sql", QUERIES, ids=[query_id(q) for q in QUERIES])
def test_each_readme_query_returns_rows(demo_warehouse, sql):
    rows = query(demo_warehouse, sql)
    assert rows and all(any(v is not None for v in row) for row in rows)


@pytest.fixture(scope="module")
def one_content_type_homes(demo_warehouse, tmp_path_factory) -> dict[str, Path]:
    """Copies of the demo warehouse keeping the user-account rows of one content type only, by content type."""
    homes = {}
    for content_type in CONTENT_TYPES:
        home = tmp_path_factory.mktemp(f"only-{content_type.lower()}")
        shutil.copy(demo_warehouse / "warehouse.duckdb", home / "warehouse.duckdb")
        with duckdb.connect(str(home / "warehouse.duckdb")) as con:
            con.execute("DELETE FROM user_account_daily WHERE content_type <> ?", [content_type])
        homes[content_type] = home
    return homes


@pytest.mark.parametrize("sql", ACCOUNT_QUERIES, ids=[query_id(q) for q in ACCOUNT_QUERIES])
def test_each_readme_account_query_reads_one_content_type(demo_warehouse, one_content_type_homes, sql):
    # The demo's user owns ad accounts (PAID > 0), so a query adding content types up matches no single one.
    assert query(demo_warehouse, sql) in [query(home, sql) for home in one_content_type_homes.values()]
