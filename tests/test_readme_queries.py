"""The README's example queries run, and return rows, on a warehouse the pipeline built."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.pipeline_support import query

README = Path(__file__).resolve().parents[1] / "README.md"
QUERIES = re.findall(r"```sql\n(.*?)```", README.read_text(), flags=re.S)


def test_the_readme_has_example_queries():
    assert len(QUERIES) >= 3


@pytest.mark.parametrize("sql", QUERIES, ids=[q.splitlines()[0].lstrip("- ")[:60] for q in QUERIES])
def test_each_readme_query_returns_rows(demo_warehouse, sql):
    rows = query(demo_warehouse, sql)
    assert rows and all(any(v is not None for v in row) for row in rows)
