"""The README's example queries run, and return rows, on a warehouse the pipeline built."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest

from tests.conftest import TODAY
from tests.pipeline_support import pipeline_env, query, run

README = Path(__file__).resolve().parents[1] / "README.md"
QUERIES = re.findall(r"```sql\n(.*?)```", README.read_text(), flags=re.S)


@pytest.fixture(scope="module")
def demo_home(tmp_path_factory):
    from pipelines.sandbox import SandboxConfig, running_sandbox
    from tests.conftest import UNLIMITED

    home = tmp_path_factory.mktemp("demo")
    with pytest.MonkeyPatch.context() as monkeypatch, \
            running_sandbox(SandboxConfig(today=TODAY, rate_limits=dict(UNLIMITED))) as server:
        pipeline_env(monkeypatch, home, server, TODAY)
        assert run(TODAY - dt.timedelta(days=35), TODAY - dt.timedelta(days=1), only=None) == 0
    return home


def test_the_readme_has_example_queries():
    assert len(QUERIES) >= 3


@pytest.mark.parametrize("sql", QUERIES, ids=[q.splitlines()[0].lstrip("- ")[:60] for q in QUERIES])
def test_each_readme_query_returns_rows(demo_home, sql):
    rows = query(demo_home, sql)
    assert rows and all(any(v is not None for v in row) for row in rows)
