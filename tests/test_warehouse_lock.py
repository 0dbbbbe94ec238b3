"""The warehouse locked by another process (an analyst's read-write DuckDB session): the load waits with
bounded retries naming the holder, and when the lock outlasts the wait it fails saying the data is safe in the
lake and which command loads it later, without API calls."""

from __future__ import annotations

import collections
import contextlib
import datetime as dt
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from pipelines import catalog
from pipelines.cli import main
from pipelines.warehouse import Warehouse, WarehouseLockedError
from tests.client_support import server_stats
from tests.conftest import TODAY
from tests.pipeline_support import pipeline_env
from tests.process_support import (
    SMALL_WORLD,
    cli_env,
    lake_files,
    range_args,
    read_until,
    run_cli,
    start_cli,
)

START, END = TODAY - dt.timedelta(days=4), TODAY - dt.timedelta(days=1)
ORGANIC_TABLES = tuple(table.name for table in catalog.FACT_TABLES.values() if table.source == "organic")
ADS_TABLES = tuple(table.name for table in catalog.FACT_TABLES.values() if table.source == "ads")
# An analyst's session in another process: open read-write, hold it until told (a line on stdin) to close.
ANALYST = "import duckdb, sys; con = duckdb.connect(sys.argv[1]); print('open', flush=True); sys.stdin.readline()"
# A load's connection in another process (a run launched from the UI, which takes no run lock): opened read-write
# through Warehouse, held until told (a line on stdin) to close.
LOADING = ("import sys; from pathlib import Path; from pipelines.warehouse import Warehouse; "
           "con = Warehouse(Path(sys.argv[1])).connect(); print('open', flush=True); sys.stdin.readline()")


@contextlib.contextmanager
def analyst_session(path: Path) -> Iterator[subprocess.Popen]:
    path.parent.mkdir(parents=True, exist_ok=True)
    session = subprocess.Popen([sys.executable, "-c", ANALYST, str(path)], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True)
    try:
        assert session.stdout.readline() == "open\n"
        yield session
    finally:
        close(session)


def close(session: subprocess.Popen) -> None:
    if session.poll() is None:
        session.stdin.close()
        session.wait(timeout=60)


def test_opening_a_locked_warehouse_gives_up_after_the_wait_naming_the_holder(tmp_path, monkeypatch):
    monkeypatch.setenv("PINTEREST_WAREHOUSE_LOCK_WAIT_SECONDS", "0.5")
    warehouse = Warehouse(tmp_path / "warehouse.duckdb")
    with analyst_session(warehouse.path) as session, pytest.raises(WarehouseLockedError) as failure:
        warehouse.connect(read_only=True)
    message = str(failure.value)
    assert f"still locked by process {session.pid} (" in message
    assert "duckdb.connect(sys.argv[1])" in message  # the holder's command line, from /proc
    assert "PINTEREST_WAREHOUSE_LOCK_WAIT_SECONDS" in message


@pytest.mark.parametrize("variable", ["PINTEREST_WAREHOUSE_LOCK_WAIT_SECONDS", "PINTEREST_RUN_LOCK_WAIT_SECONDS"])
@pytest.mark.parametrize("command", ["run", "load"])
def test_a_wait_that_is_not_a_number_of_seconds_is_refused_before_anything_runs(sandbox, monkeypatch, tmp_path, capsys,
                                                                                 variable, command):
    pipeline_env(monkeypatch, tmp_path / "home", sandbox, TODAY, **{variable: "a minute"})
    assert main([command, *range_args(START, END)]) == 2
    assert f"pinterest-etl {command}: error: {variable} must be a number of seconds between 0 and 86400 " \
           "(got 'a minute')" in capsys.readouterr().err
    assert not (tmp_path / "home").exists()


@pytest.mark.slow
def test_a_lock_released_while_the_load_waits_lets_the_run_finish(make_sandbox, tmp_path):
    server = make_sandbox(**SMALL_WORLD)
    home = tmp_path / "home"
    with analyst_session(home / "warehouse.duckdb") as session:
        run = start_cli(["run", *range_args(START, END, "--only", "organic")],
                        cli_env(home, server, TODAY, PINTEREST_WAREHOUSE_LOCK_WAIT_SECONDS="600"),
                        stderr=subprocess.STDOUT)
        waiting = read_until(run.stdout, f"is locked by process {session.pid} (")
        assert "retrying in" in waiting
        close(session)
        rest, _ = run.communicate(timeout=300)
    assert run.returncode == 0, waiting + rest
    assert_warehouse_equals_lake(home)


@pytest.mark.slow
def test_a_lock_kept_fails_the_run_with_the_data_in_the_lake_and_the_command_that_loads_it(make_sandbox, tmp_path):
    server = make_sandbox(**SMALL_WORLD)
    home = tmp_path / "home"
    env = cli_env(home, server, TODAY, PINTEREST_WAREHOUSE_LOCK_WAIT_SECONDS="1")
    with analyst_session(home / "warehouse.duckdb") as session:
        blocked = run_cli(["run", *range_args(START, END, "--only", "organic")], env)
    assert blocked.returncode == 1
    assert f"pinterest-etl run: step organic_warehouse failed: WarehouseLockedError: the warehouse {home / 'warehouse.duckdb'} is still locked " \
           f"by process {session.pid} (" in blocked.stderr
    assert f"the new data is safe in the lake ({home / 'lake'})" in blocked.stderr
    dates = {f"date={START + dt.timedelta(days=n)}" for n in range((END - START).days + 1)}
    for table in ORGANIC_TABLES:
        assert {name.split("/")[1] for name in lake_files(home) if name.startswith(f"{table}/")} == dates, table
    command = re.search(r"load it without API calls: `pinterest-etl (load [^`]+)`", blocked.stderr).group(1)
    assert command == f"load --start {START} --end {END} --only organic"
    calls_before = server_stats(server)["requests"]
    loaded = run_cli(command.split(), env)
    assert loaded.returncode == 0, loaded.stderr
    assert server_stats(server)["requests"] == calls_before  # loading from the lake calls no API
    assert_warehouse_equals_lake(home)


def test_a_warehouse_a_load_opened_is_locked_for_other_processes(tmp_path):
    """Opening the warehouse read-write read its header to see whether it needed converting, and closing that file
    dropped DuckDB's lock (a POSIX record lock, which a process loses on closing any descriptor of the file): another
    process could open it read-write beside the load, and a load beside it then lost its rows."""
    path = tmp_path / "warehouse.duckdb"
    with contextlib.closing(Warehouse(path).connect()):
        other = subprocess.run([sys.executable, "-c", "import duckdb, sys; duckdb.connect(sys.argv[1])", str(path)],
                               capture_output=True, text=True)
    assert other.returncode == 1
    assert "Could not set lock on file" in other.stderr


@pytest.mark.slow
def test_a_load_beside_another_on_a_new_warehouse_waits_for_it_and_loses_no_rows(make_sandbox, tmp_path):
    """A load beside another load's open warehouse (a run launched from the UI beside `pinterest-etl load`, which
    share no run lock; on a new data directory both create the file) opened it too: both reported success and one
    source's tables ended up empty. The second waits for the first's lock, then loads every row of the lake."""
    server = make_sandbox(**SMALL_WORLD)
    home = tmp_path / "home"
    env = cli_env(home, server, TODAY, PINTEREST_WAREHOUSE_LOCK_WAIT_SECONDS="1")
    built = run_cli(["run", *range_args(START, END, "--only", "ads")], env)
    assert built.returncode == 0, built.stderr
    (home / "warehouse.duckdb").unlink()
    holder = subprocess.Popen([sys.executable, "-c", LOADING, str(home / "warehouse.duckdb")], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "open\n"
        blocked = run_cli(["load", *range_args(START, END, "--only", "ads")], env)
    finally:
        close(holder)
    assert blocked.returncode == 1
    assert f"is still locked by process {holder.pid} (" in blocked.stderr
    loaded = run_cli(["load", *range_args(START, END, "--only", "ads")], env)
    assert loaded.returncode == 0, loaded.stderr
    in_lake = {table: sum(pq.read_metadata(path).num_rows for name, path in lake_files(home).items()
                          if name.startswith(f"{table}/")) for table in ADS_TABLES}
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        assert {table: con.execute(f"SELECT count(*) FROM {table}").fetchone()[0] for table in ADS_TABLES} == in_lake
    assert all(in_lake.values())


def assert_warehouse_equals_lake(home: Path) -> None:
    """Each organic wide table holds exactly the rows of its lake files (a column a file lacks: NULL)."""
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        for table in ORGANIC_TABLES:
            in_warehouse = con.execute(f"SELECT * FROM {table}")
            columns = [column for column, *_ in in_warehouse.description]
            in_warehouse = collections.Counter(in_warehouse.fetchall())
            in_lake = collections.Counter()
            for name, path in lake_files(home).items():
                if name.startswith(f"{table}/"):
                    rows = pq.read_table(path)
                    assert set(rows.column_names) <= set(columns), name
                    in_lake.update(tuple(row.get(c) for c in columns) for row in rows.to_pylist())
            assert in_lake and in_warehouse == in_lake, table


def report_while_held(monkeypatch, tmp_path, capsys, *arguments: str) -> tuple[int, str]:
    """`pinterest-etl report` (exit 1) while another process, its command line ending with `arguments` and the
    warehouse's path, holds the warehouse: that process's id and what the command printed."""
    monkeypatch.setenv("PINTEREST_ETL_HOME", str(tmp_path))
    monkeypatch.setenv("PINTEREST_WAREHOUSE_LOCK_WAIT_SECONDS", "1")
    warehouse = Warehouse(tmp_path / "warehouse.duckdb")
    with warehouse.connect() as con:
        warehouse.ensure_schema(con)
    # The program comes on stdin (`python -`): the message shows the holder's command line cut at 200 characters,
    # so the arguments must come right after the interpreter's path, whatever folder the suite runs from.
    holder = subprocess.Popen([sys.executable, "-", *arguments, str(warehouse.path)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    holder.stdin.write("import duckdb,sys,time\nc=duckdb.connect(sys.argv[-1])\nprint('ok',flush=True)\ntime.sleep(20)\n")
    holder.stdin.close()
    try:
        assert holder.stdout.readline().strip() == "ok"
        assert main(["report"]) == 1
    finally:
        holder.kill()
        holder.wait()
    printed = capsys.readouterr()
    return holder.pid, printed.out + printed.err


def test_a_secret_on_the_lock_holders_command_line_is_never_printed(monkeypatch, tmp_path, capsys):
    """The locked-warehouse message names the process holding it with its command line, which may carry a token
    or the app secret: they are masked (a token by its shape, the app secret because the environment holds it)."""
    monkeypatch.setenv("PINTEREST_APP_SECRET", "appsecret-9f8e7d")
    pid, printed = report_while_held(monkeypatch, tmp_path, capsys, "pina_SECRETholder42", "appsecret-9f8e7d")
    assert f"process {pid}" in printed
    assert "SECRETholder42" not in printed and "appsecret-9f8e7d" not in printed


def test_the_password_of_a_url_on_the_lock_holders_command_line_is_never_printed(monkeypatch, tmp_path, capsys):
    """A process holding the warehouse that was started with a proxy URL on its command line (a sync tool, `duckdb`
    run through a wrapper with --proxy=http://user:password@host) had that password shown in the locked-warehouse
    message: only tokens, the app secret and *TOKEN*/*SECRET*/*PASSWORD* variables were masked. The password of
    every URL there is masked; the user and the host stay, to tell the process."""
    pid, printed = report_while_held(monkeypatch, tmp_path, capsys,
                                     "--proxy=http://agent:Pr0xyS3cret9@proxy.example.com:3128", "socks5://x:p@ss:w0rd@10.0.0.1")
    assert "--proxy=http://agent:****@proxy.example.com:3128 socks5://x:****@" in printed
    assert "Pr0xyS3cret9" not in printed and "w0rd" not in printed
