"""A data directory whose path holds a quote, spaces and non-ASCII letters works like any other: no SQL is
built by pasting a path into it."""

from __future__ import annotations

import datetime as dt

import pytest

from pipelines import catalog
from pipelines.sandbox import SandboxConfig, running_sandbox
from pipelines.sql_text import literal
from tests.conftest import TODAY, UNLIMITED
from tests.process_support import SMALL_WORLD, cli_env, range_args, run_cli, warehouse_contents

START, END = TODAY - dt.timedelta(days=3), TODAY - dt.timedelta(days=1)
ODD_FOLDER = "o'brien é data"


@pytest.mark.slow
def test_a_data_directory_with_a_quote_spaces_and_accents_runs_loads_verifies_reports_and_queries(tmp_path):
    odd, plain = tmp_path / ODD_FOLDER / "home", tmp_path / "plain" / "home"
    with running_sandbox(SandboxConfig(today=TODAY, rate_limits=dict(UNLIMITED), **SMALL_WORLD)) as server:
        env = cli_env(odd, server, TODAY)
        ran = run_cli(["run", *range_args(START, END)], env)
        assert ran.returncode == 0, ran.stderr
        assert run_cli(["run", *range_args(START, END)], cli_env(plain, server, TODAY)).returncode == 0
        loaded = run_cli(["load", *range_args(START, END)], env)
        assert loaded.returncode == 0, loaded.stderr
    verified = run_cli(["verify"], env)
    assert verified.returncode == 0, verified.stderr
    reported = run_cli(["report", "--output", str(odd / "report 'copy'.html")], env)
    assert reported.returncode == 0, reported.stderr
    assert (odd / "report 'copy'.html").read_text().startswith("<!DOCTYPE html>")
    agree = " AND ".join(f"(SELECT count(*) FROM {table}) = (SELECT count(*) FROM read_parquet("
                         f"{literal(str(odd / 'lake' / table / '*' / '*.parquet'))}))" for table in catalog.FACT_TABLES)
    queried = run_cli(["sql", f"SELECT {agree} AS lake_and_warehouse_agree"], env)
    assert queried.returncode == 0, queried.stderr
    assert queried.stdout.splitlines()[2].strip() == "True"
    assert warehouse_contents(odd, ignore=("extracted_at",)) == warehouse_contents(plain, ignore=("extracted_at",))
