"""A warehouse any DuckDB 1.1 or newer opens: written in that storage format, a warehouse in a newer format
converted on the next load with nothing lost (atomically: a crash leaves the old file), comments from the data
dictionary on every table, view and column, and a real DuckDB 1.x client reading every table and view."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pytest

from pipelines import data_dictionary, warehouse_format
from pipelines.cli import main
from pipelines.faults import CRASH_AT, WAREHOUSE_CONVERTED_NOT_RENAMED
from pipelines.sandbox import SandboxConfig, running_sandbox
from pipelines.sql_text import identifier, literal
from pipelines.warehouse import Warehouse
from pipelines.warehouse_comments import relation_comment
from tests.conftest import TODAY, UNLIMITED
from tests.pipeline_support import pipeline_env, run
from tests.process_support import SMALL_WORLD, range_args, temporaries

START, END = TODAY - dt.timedelta(days=6), TODAY - dt.timedelta(days=1)
OLD_DUCKDB = "1.1.3"  # the oldest DuckDB the warehouse promises to open (warehouse_format.OLDEST_READER)
NEWEST_FORMAT = "v2.0.0"  # the storage version an earlier pinterest-etl wrote (DuckDB's default)


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    """A data directory after a run of organic and ads data by the current code."""
    home = tmp_path_factory.mktemp("compat") / "home"
    with running_sandbox(SandboxConfig(today=TODAY, epoch=TODAY, rate_limits=dict(UNLIMITED), **SMALL_WORLD)) as server, \
            pytest.MonkeyPatch.context() as patch:
        pipeline_env(patch, home, server, TODAY)
        run(START, END, only=None)
    return home


def copy_in_format(source: Path, target: Path, storage_version: str) -> None:
    """`source`'s tables, views and comments in a new file at `target` written in `storage_version`."""
    with duckdb.connect() as con:
        con.execute(f"ATTACH {literal(str(source))} AS source (READ_ONLY)")
        con.execute(f"ATTACH {literal(str(target))} AS target (STORAGE_VERSION {literal(storage_version)})")
        con.execute("COPY FROM DATABASE source TO target")


def contents(path: Path) -> dict[str, object]:
    """Everything a reader sees: each table's and view's columns with types and comments, its comment, its rows."""
    with duckdb.connect(str(path), read_only=True) as con:
        relations = con.execute(
            "SELECT table_name, comment, 'TABLE' FROM duckdb_tables() WHERE schema_name = 'main' UNION ALL "
            "SELECT view_name, comment, 'VIEW' FROM duckdb_views() WHERE schema_name = 'main' AND NOT internal "
            "ORDER BY 1").fetchall()
        seen: dict[str, object] = {}
        for name, comment, kind in relations:
            columns = con.execute("SELECT column_name, data_type, comment FROM duckdb_columns() "
                                  "WHERE schema_name = 'main' AND table_name = ? ORDER BY column_index", [name]).fetchall()
            rows = con.execute(f"SELECT * FROM {identifier(name)} ORDER BY ALL").fetchall()
            seen[name] = (kind, comment, columns, rows)
    return seen


def test_a_new_warehouse_is_written_in_the_storage_format_duckdb_1_1_reads(home):
    assert warehouse_format.storage_number(home / "warehouse.duckdb") == warehouse_format.READABLE_STORAGE_NUMBER


def test_every_table_view_and_column_carries_its_comment_from_the_data_dictionary(home):
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        relations = dict(con.execute("SELECT table_name, comment FROM duckdb_tables() UNION ALL "
                                     "SELECT view_name, comment FROM duckdb_views() WHERE NOT internal").fetchall())
        columns = con.execute("SELECT table_name, column_name, comment FROM duckdb_columns() "
                              "WHERE NOT internal").fetchall()
    assert {"pin_daily", "ad_daily", "metric_daily", "user_account_organic_daily", "pins"} <= set(relations)
    assert relations == {name: relation_comment(name) or None for name in relations}
    assert relations["pins"].startswith("One row per pin")
    assert [(t, c, comment) for t, c, comment in columns if comment != (data_dictionary.describe_column(t, c) or None)] == []


def test_a_warehouse_in_a_newer_storage_format_is_converted_when_opened_for_a_load_with_nothing_lost(home, tmp_path):
    path = tmp_path / "warehouse.duckdb"
    copy_in_format(home / "warehouse.duckdb", path, NEWEST_FORMAT)
    assert warehouse_format.storage_number(path) > warehouse_format.READABLE_STORAGE_NUMBER
    before = contents(path)
    Warehouse(path).connect().close()
    assert warehouse_format.storage_number(path) == warehouse_format.READABLE_STORAGE_NUMBER
    assert contents(path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["warehouse.duckdb"]


@pytest.mark.slow
def test_the_next_load_converts_a_warehouse_an_earlier_version_wrote_and_comments_the_views_it_creates_again(
        home, tmp_path, sandbox, monkeypatch):
    copy = tmp_path / "home"
    shutil.copytree(home, copy)
    (copy / "warehouse.duckdb").unlink()
    copy_in_format(home / "warehouse.duckdb", copy / "warehouse.duckdb", NEWEST_FORMAT)
    pipeline_env(monkeypatch, copy, sandbox, TODAY)
    assert main(["load", *range_args(END, END, "--only", "organic")]) == 0
    assert warehouse_format.storage_number(copy / "warehouse.duckdb") == warehouse_format.READABLE_STORAGE_NUMBER
    assert contents(copy / "warehouse.duckdb") == contents(home / "warehouse.duckdb")


def test_opening_read_only_leaves_a_warehouse_in_a_newer_format_as_it_is(home, tmp_path):
    path = tmp_path / "warehouse.duckdb"
    copy_in_format(home / "warehouse.duckdb", path, NEWEST_FORMAT)
    number = warehouse_format.storage_number(path)
    Warehouse(path).connect(read_only=True).close()
    assert warehouse_format.storage_number(path) == number


@pytest.mark.slow
def test_a_crash_during_the_conversion_leaves_the_old_warehouse_whole_and_the_next_load_converts_it(home, tmp_path):
    path = tmp_path / "home" / "warehouse.duckdb"
    path.parent.mkdir()
    copy_in_format(home / "warehouse.duckdb", path, NEWEST_FORMAT)
    before, number = contents(path), warehouse_format.storage_number(path)
    opener = f"from pipelines.warehouse import Warehouse; Warehouse({str(path)!r}).connect()"
    crashed = subprocess.run([sys.executable, "-c", opener], env={**os.environ, CRASH_AT: WAREHOUSE_CONVERTED_NOT_RENAMED},
                             capture_output=True, text=True, timeout=120)
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    assert temporaries(path.parent) != []  # the complete copy, never renamed into place
    assert warehouse_format.storage_number(path) == number
    assert contents(path) == before
    Warehouse(path).connect().close()
    assert warehouse_format.storage_number(path) == warehouse_format.READABLE_STORAGE_NUMBER
    assert contents(path) == before
    assert temporaries(path.parent) == []


def old_duckdb() -> Path:
    """A folder holding duckdb==OLD_DUCKDB, installed once with pip into the user's cache; skips the test when
    it cannot be installed (no network to PyPI)."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "pinterest-etl"
    folder = cache / f"duckdb-{OLD_DUCKDB}"
    if (folder / "duckdb").is_dir():
        return folder
    cache.mkdir(parents=True, exist_ok=True)
    staging = cache / f".duckdb-{OLD_DUCKDB}.{os.getpid()}.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    installed = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                                "--no-deps", "--target", str(staging), f"duckdb=={OLD_DUCKDB}"],
                               capture_output=True, text=True, timeout=600)
    if installed.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        reason = (installed.stderr.strip().splitlines() or ["pip failed"])[-1]
        pytest.skip(f"duckdb=={OLD_DUCKDB} could not be installed with pip (no network to PyPI?): {reason}")
    try:
        staging.rename(folder)
    except OSError:  # another test session installed it meanwhile
        shutil.rmtree(staging, ignore_errors=True)
    return folder


# Run by DuckDB 1.x: every table and view of the warehouse copied to Parquet, and its comments.
OLD_READER = textwrap.dedent("""
    import json, sys, duckdb
    con = duckdb.connect(sys.argv[1], read_only=True)
    names = [r[0] for r in con.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'").fetchall()]
    for name in names:
        con.execute(f"COPY (SELECT * FROM \\"{name}\\") TO '{sys.argv[2]}/{name}.parquet'")
    comments = con.execute("SELECT table_name || '.' || column_name, comment FROM duckdb_columns() WHERE NOT internal").fetchall()
    print(json.dumps({"version": duckdb.__version__, "relations": sorted(names), "comments": dict(comments)}))
""")


@pytest.mark.slow
def test_a_duckdb_1_1_client_opens_the_warehouse_and_reads_every_table_and_view_as_written(home, tmp_path):
    library = old_duckdb()
    out = tmp_path / "read_by_old_duckdb"
    out.mkdir()
    reader = subprocess.run([sys.executable, "-c", OLD_READER, str(home / "warehouse.duckdb"), str(out)],
                            env={**os.environ, "PYTHONPATH": str(library)}, capture_output=True, text=True, timeout=300)
    assert reader.returncode == 0, reader.stderr  # a view using SQL DuckDB 1.1 lacks fails here, naming it
    seen = json.loads(reader.stdout)
    assert seen["version"] == OLD_DUCKDB
    written = contents(home / "warehouse.duckdb")
    assert seen["relations"] == sorted(written)
    with duckdb.connect() as con:
        for name, (_, _, columns, rows) in written.items():
            read = con.execute("SELECT * FROM read_parquet(?) ORDER BY ALL", [str(out / f"{name}.parquet")]).fetchall()
            assert read == rows, name
            assert {f"{name}.{column}": comment for column, _, comment in columns} == \
                {key: value for key, value in seen["comments"].items() if key.startswith(f"{name}.")}
