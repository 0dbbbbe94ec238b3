"""`pinterest-etl sql` on a warehouse the pipeline built: aligned tables, CSV/Parquet of the whole result, named
queries, clear one-line errors, and no way to change anything."""

from __future__ import annotations

import csv
import hashlib
import io
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from pipelines.analyst_sql import named_queries, open_read_only
from pipelines.cli import main
from tests.pipeline_support import query

CLI = Path(sys.executable).parent / "pinterest-etl"
QUERIES_FILE = Path(__file__).resolve().parents[1] / "docs" / "queries.sql"


@pytest.fixture
def demo(demo_warehouse, monkeypatch) -> Path:
    monkeypatch.setenv("PINTEREST_ETL_HOME", str(demo_warehouse))
    return demo_warehouse


@pytest.fixture
def home(demo_warehouse, tmp_path, monkeypatch) -> Path:
    """A copy of the demo warehouse and lake, for tests that try to change them."""
    copy = tmp_path / "home"
    copy.mkdir()
    shutil.copy2(demo_warehouse / "warehouse.duckdb", copy / "warehouse.duckdb")
    shutil.copytree(demo_warehouse / "lake", copy / "lake")
    monkeypatch.setenv("PINTEREST_ETL_HOME", str(copy))
    return copy


def sql(*args: str) -> int:
    return main(["sql", *args])


def cli(*args: str, home: Path, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([str(CLI), "sql", *args], input=stdin, capture_output=True, text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "PINTEREST_ETL_HOME": str(home)})


def snapshot(directory: Path) -> dict[str, str]:
    return {str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(directory.rglob("*")) if p.is_file()}


def test_prints_an_aligned_table_with_numbers_right_aligned(demo, capsys):
    assert sql("SELECT * FROM (VALUES ('a', 5, 0.5), ('bbbbbbb', 12345, NULL)) t(name, n, rate)") == 0
    assert capsys.readouterr().out == (
        "name         n  rate\n"
        "-------  -----  ----\n"
        "a            5   0.5\n"
        "bbbbbbb  12345  NULL\n"
        "(2 rows)\n")


def test_ids_stay_left_aligned_strings_and_rows_beyond_max_rows_are_counted_as_not_shown(demo, capsys):
    pin_ids = [r[0] for r in query(demo, "SELECT pin_id FROM pins ORDER BY pin_id LIMIT 3")]
    assert sql("SELECT pin_id FROM pins ORDER BY pin_id", "--max-rows", "3") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[2:5] == pin_ids
    assert lines[5] == "(3 rows, more not shown)"


def test_csv_holds_every_row_not_only_the_printed_ones(demo, tmp_path, capsys):
    expected = query(demo, "SELECT pin_id, date, impression FROM pin_daily ORDER BY pin_id, date")
    target = tmp_path / "pins.csv"
    assert sql("SELECT pin_id, date, impression FROM pin_daily ORDER BY pin_id, date", "--csv", str(target)) == 0
    rows = list(csv.reader(target.open()))
    assert rows[0] == ["pin_id", "date", "impression"]
    assert len(rows) - 1 == len(expected) > 100
    first = expected[0]
    assert rows[1][:2] == [first[0], first[1].isoformat()]
    assert (rows[1][2] == "") if first[2] is None else (float(rows[1][2]) == first[2])
    assert capsys.readouterr().err == f"{len(expected)} rows written to {target}\n"


def test_parquet_holds_every_row_with_its_types(demo, tmp_path):
    expected = query(demo, "SELECT count(*), count(DISTINCT pin_id) FROM pin_daily")[0]
    target = tmp_path / "pin_daily.parquet"
    assert sql("FROM pin_daily", "--parquet", str(target), "--max-rows", "1") == 0
    table = pq.read_table(target)
    assert table.num_rows == expected[0]
    assert len(set(table.column("pin_id").to_pylist())) == expected[1]
    assert str(table.schema.field("pin_id").type) == "string"
    assert str(table.schema.field("date").type) == "date32[day]"


def test_the_query_can_come_from_standard_input_and_csv_go_to_standard_output(demo_warehouse):
    expected = query(demo_warehouse, "SELECT currency, count(*) FROM ad_accounts GROUP BY 1 ORDER BY 1")
    done = cli("-", "--csv", "-", home=demo_warehouse,
               stdin="SELECT currency, count(*) AS accounts FROM ad_accounts GROUP BY 1 ORDER BY 1;\n")
    assert done.returncode == 0, done.stderr
    assert list(csv.reader(io.StringIO(done.stdout))) == [["currency", "accounts"]] + [
        [c, str(n)] for c, n in expected]
    assert done.stderr == ""


@pytest.mark.parametrize("output", [("--csv", "-"), ("--max-rows", "100000")], ids=["csv", "table"])
def test_a_reader_that_goes_away_ends_the_command_quietly_as_unix_commands_do(demo_warehouse, output):
    """`pinterest-etl sql ... | head -1`: no error message, the exit status of a command its pipe's reader left."""
    reader, writer = os.pipe()
    command = subprocess.Popen([str(CLI), "sql", *output, "SELECT * FROM pin_daily, range(20)"], stdout=writer,
                               stderr=subprocess.PIPE, text=True, cwd=demo_warehouse,
                               env={**os.environ, "PINTEREST_ETL_HOME": str(demo_warehouse)})
    os.close(writer)
    with os.fdopen(reader, "rb") as pipe:
        assert pipe.readline()
    _, stderr = command.communicate(timeout=120)
    assert (command.returncode, stderr) == (141, "")


def test_a_named_query_runs_from_a_file(demo, capsys):
    sql_text = named_queries(QUERIES_FILE.read_text())["top_pins_by_saves_28d"]
    expected = query(demo, sql_text)
    assert sql("--file", str(QUERIES_FILE), "--name", "top_pins_by_saves_28d") == 0
    out = capsys.readouterr().out
    assert out.splitlines()[-1] == f"({len(expected)} rows)"
    assert expected[0][1] in out  # the top pin's title


def test_a_file_of_several_queries_needs_a_name_and_lists_them(demo, capsys):
    assert sql("--file", str(QUERIES_FILE)) == 1
    err = capsys.readouterr().err
    assert "pick one with --name" in err and "top_pins_by_saves_28d" in err
    assert sql("--file", str(QUERIES_FILE), "--name", "no_such_query") == 1
    assert "has no query named 'no_such_query'" in capsys.readouterr().err


def test_sql_can_read_the_lake(demo, capsys):
    pins = query(demo, "SELECT count(*) FROM pins")[0][0]
    assert sql(f"SELECT count(*) AS n FROM read_parquet('{demo}/lake/pins/*/*.parquet')") == 0
    assert capsys.readouterr().out.splitlines()[2].strip() == str(pins)


def test_sql_cannot_read_files_outside_the_lake(demo, tmp_path, capsys):
    secret = tmp_path / "secret.csv"
    secret.write_text("a\n1\n")
    assert sql(f"SELECT * FROM read_csv('{secret}')") == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Permission Error" in err and f"{demo}/lake/" in err


WRITES = [
    ("INSERT INTO pins SELECT * FROM pins", "INSERT is not allowed"),
    ("DELETE FROM pin_daily", "DELETE is not allowed"),
    ("UPDATE pins SET title = 'x'", "UPDATE is not allowed"),
    ("CREATE TABLE t AS SELECT 1", "CREATE is not allowed"),
    ("CREATE TEMP TABLE t AS SELECT 1", "CREATE is not allowed"),
    ("DROP VIEW metric_daily", "DROP is not allowed"),
    ("ALTER TABLE pins ADD COLUMN x INTEGER", "ALTER is not allowed"),
    ("COPY pins TO '{tmp}/out.csv'", "COPY is not allowed"),
    ("COPY (SELECT 1) TO '{home}/lake/out.csv'", "COPY is not allowed"),
    ("EXPORT DATABASE '{tmp}/export'", "EXPORT is not allowed"),
    ("ATTACH '{tmp}/other.duckdb' AS other", "ATTACH is not allowed"),
    ("INSTALL httpfs", "LOAD is not allowed"),
    ("SET enable_external_access = true", "SET is not allowed"),
    ("CHECKPOINT", "CALL is not allowed"),
    ("EXPLAIN ANALYZE COPY (SELECT 1) TO '{home}/lake/out.csv'", "EXPLAIN is not allowed"),
    ("SELECT 1; DROP TABLE pins", "give exactly one SQL statement (got 2)"),
]


@pytest.mark.parametrize("statement, message", WRITES, ids=[w[0][:40] for w in WRITES])
def test_a_write_statement_fails_with_a_clear_message_and_changes_nothing(home, tmp_path, capsys, statement, message):
    before = snapshot(tmp_path)
    assert sql(statement.format(tmp=tmp_path, home=home)) == 1
    err = capsys.readouterr().err
    assert err.startswith("pinterest-etl sql: error: ") and err.count("\n") == 1
    assert message in err
    assert snapshot(tmp_path) == before


SESSION_WRITES = ["INSERT INTO pins SELECT * FROM pins", "CREATE TEMP TABLE t AS SELECT 1 FROM pins",
                  "COPY pins TO '{tmp}/out.csv'", "EXPORT DATABASE '{tmp}/export'", "ATTACH '{tmp}/other.duckdb'",
                  "INSTALL httpfs", "SET enable_external_access = true", "SET allowed_directories = ['/']"]


@pytest.mark.parametrize("statement", SESSION_WRITES)
def test_the_session_itself_refuses_writes_without_the_statement_check(home, tmp_path, statement):
    """Defence in depth: below the statement allow-list, the read-only, sandboxed session refuses these too
    (CREATE TEMP only succeeds in memory, never in the file; COPY into the lake is what only the allow-list stops)."""
    before = snapshot(tmp_path)
    with open_read_only(home) as con:
        if statement.startswith("CREATE TEMP"):
            con.execute(statement)
        else:
            with pytest.raises(duckdb.Error):
                con.execute(statement.format(tmp=tmp_path))
    assert snapshot(tmp_path) == before


def test_without_a_warehouse_it_says_to_run_the_pipeline_first(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PINTEREST_ETL_HOME", str(tmp_path))
    assert sql("SELECT 1") == 1
    err = capsys.readouterr().err
    assert err == (f"pinterest-etl sql: error: no warehouse at {tmp_path.resolve()}/warehouse.duckdb yet; run "
                   "`pinterest-etl run` first (or set PINTEREST_ETL_HOME to the directory that holds "
                   "warehouse.duckdb)\n")
    assert list(tmp_path.iterdir()) == []


def test_an_sql_error_is_one_line(demo, capsys):
    assert sql("SELECT * FROM no_such_table") == 1
    err = capsys.readouterr().err
    assert err.startswith("pinterest-etl sql: error: Catalog Error: Table with name no_such_table does not exist")
    assert err.count("\n") == 1


def test_a_warehouse_open_for_writing_elsewhere_is_reported(home):
    with duckdb.connect(str(home / "warehouse.duckdb")):
        done = cli("SELECT 1", home=home)
    assert done.returncode == 1
    assert "is open for writing in another process" in done.stderr and done.stderr.count("\n") == 1


def test_a_result_that_cannot_be_written_leaves_no_file(demo, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    assert sql("SELECT [1, 2] AS ids", "--csv", str(out / "r.csv"), "--parquet", str(out / "r.parquet")) == 1
    assert "cannot be written as CSV" in capsys.readouterr().err
    assert list(out.iterdir()) == []
    assert sql("SELECT 1", "--csv", str(tmp_path / "missing" / "r.csv")) == 1
    assert "the directory" in capsys.readouterr().err and not (tmp_path / "missing").exists()


def test_csv_onto_the_warehouse_is_refused_and_leaves_it_untouched(home, monkeypatch, capsys):
    monkeypatch.chdir(home.parent)
    before = snapshot(home)
    assert sql("SELECT 1 AS n", "--csv", "home/warehouse.duckdb", "--force") == 2
    assert capsys.readouterr().err == (f"pinterest-etl sql: error: refusing to write home/warehouse.duckdb: it is the "
                                       f"warehouse ({home.resolve() / 'warehouse.duckdb'}); give another file name\n")
    assert snapshot(home) == before


def test_parquet_through_a_symlink_to_the_warehouse_is_refused(home, tmp_path, capsys):
    link = tmp_path / "result.parquet"
    link.symlink_to(home / "warehouse.duckdb")
    before = snapshot(home)
    assert sql("SELECT 1 AS n", "--parquet", str(link), "--force") == 2
    assert "it is the warehouse" in capsys.readouterr().err
    assert snapshot(home) == before and link.is_symlink()


@pytest.mark.parametrize("zone, name", [("lake", "lake"), ("raw", "raw zone")])
def test_output_into_the_lake_or_raw_zone_is_refused_even_with_force(home, zone, name, capsys):
    (home / zone).mkdir(exist_ok=True)
    before = snapshot(home)
    target = home / zone / "pin_daily" / "export.csv"
    assert sql("SELECT 1 AS n", "--csv", str(target), "--force") == 2
    assert f"it is inside the {name} ({home / zone})" in capsys.readouterr().err
    assert snapshot(home) == before


def test_an_existing_file_is_not_replaced_without_force(demo, tmp_path, capsys):
    target = tmp_path / "result.csv"
    target.write_text("keep me\n")
    assert sql("SELECT 1 AS n", "--csv", str(target)) == 2
    assert capsys.readouterr().err == (f"pinterest-etl sql: error: refusing to replace the existing file {target}; "
                                       "give --force to replace it, or another file name\n")
    assert target.read_text() == "keep me\n"


def test_force_replaces_an_existing_file(demo, tmp_path):
    target = tmp_path / "result.csv"
    target.write_text("old\n")
    assert sql("SELECT 1 AS n", "--csv", str(target), "--force") == 0
    assert target.read_text() == '"n"\n1\n'


def test_an_unreadable_accounts_file_does_not_stop_writing_a_result(demo, tmp_path, monkeypatch):
    """The accounts file only names token files to protect; a query needs none of it."""
    monkeypatch.setenv("PINTEREST_ACCOUNTS_FILE", str(tmp_path / "missing.toml"))
    target = tmp_path / "result.csv"
    assert sql("SELECT 1 AS n", "--csv", str(target)) == 0
    assert target.read_text() == '"n"\n1\n'


def test_help_documents_force():
    done = subprocess.run([str(CLI), "sql", "--help"], capture_output=True, text=True, timeout=60)
    assert "--force" in done.stdout
    assert "never write onto the warehouse or into the lake or raw zone" in " ".join(done.stdout.split())


def sql_process(*args: str, home: Path, **env: str) -> subprocess.CompletedProcess:
    """`python -m pipelines.cli sql ARGS` with data in `home` and the extra environment `env`."""
    return subprocess.run([sys.executable, "-m", "pipelines.cli", "sql", *args], capture_output=True, text=True,
                          timeout=120, cwd=home.parent, env={"PATH": "/usr/bin:/bin", "PINTEREST_ETL_HOME": str(home),
                                                             "DAGSTER_HOME": str(home.parent / "dagster"), **env})


# Links are made in a temporary directory: a test never writes to /dev (as root, a replaced /dev/stdout or
# /dev/null breaks the machine).
@pytest.mark.parametrize("force", [[], ["--force"]], ids=["", "force"])
@pytest.mark.parametrize("target", ["/proc/self/fd/1", "nowhere.csv", "kept.csv"],
                         ids=["link to standard output", "dangling link", "link to a file"])
@pytest.mark.slow
def test_output_onto_a_symlink_is_refused_with_or_without_force(tmp_path, target, force):
    (tmp_path / "kept.csv").write_text("keep me\n")
    link = tmp_path / "out.csv"
    link.symlink_to(target)
    done = sql_process("SELECT 42", "--csv", str(link), *force, home=tmp_path / "home")
    assert done.returncode == 2, done.stderr
    assert done.stderr == (f"pinterest-etl sql: error: refusing to write {link}: it is a symbolic link, which is never "
                           "replaced, even with --force; give a plain file name (or - for standard output)\n")
    assert link.is_symlink() and os.readlink(link) == target
    assert (tmp_path / "kept.csv").read_text() == "keep me\n" and not (tmp_path / "nowhere.csv").exists()


@pytest.mark.parametrize("kind", ["fifo", "directory"])
def test_output_onto_a_fifo_or_a_directory_is_refused_even_with_force(tmp_path, kind):
    target = tmp_path / "out.csv"
    os.mkfifo(target) if kind == "fifo" else target.mkdir()
    done = sql_process("SELECT 42", "--parquet", str(target), "--force", home=tmp_path / "home")
    assert done.returncode == 2 and "which is never replaced, even with --force" in done.stderr, done.stderr
    assert (stat.S_ISFIFO if kind == "fifo" else stat.S_ISDIR)(os.lstat(target).st_mode)


@pytest.mark.slow
def test_force_never_writes_in_the_data_directory_dagster_home_or_onto_the_secrets(tmp_path):
    home, dagster = tmp_path / "home", tmp_path / "dagster"
    token, accounts = tmp_path / "secrets" / "token.json", tmp_path / "secrets" / "accounts.toml"
    for path, text in {home / ".run.lock": "", home / "start_date": "2026-09-01\n", home / "sandbox_epoch": "x\n",
                       home / "credentials" / "brand-a.json": "{}", home / "tmp" / "staging": "",
                       dagster / "dagster.yaml": "", dagster / "history" / "runs.db": "", token: "{}",
                       accounts: '[[account]]\nname = "brand-a"\n'}.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    inode = (home / ".run.lock").stat().st_ino
    for target in [home / ".run.lock", home / "start_date", home / "credentials" / "brand-a.json", home / "new.csv",
                   home / "accounts.toml", home / "tmp" / "staging", dagster / "dagster.yaml",
                   dagster / "history" / "runs.db", token, accounts]:
        done = sql_process("SELECT 42", "--csv", str(target), "--force", home=home,
                           PINTEREST_TOKEN_FILE=str(token), PINTEREST_ACCOUNTS_FILE=str(accounts), DAGSTER_HOME=str(dagster))
        assert done.returncode == 2 and "refusing to write" in done.stderr, (target, done.stderr)
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before
    assert (home / ".run.lock").stat().st_ino == inode


def lake_file(home: Path) -> Path:
    path = home / "lake" / "pin_daily" / "date=2026-11-01" / "organic.user=1.parquet"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"lake bytes")
    return path


def test_force_never_writes_into_the_lake_through_a_symlinked_folder(tmp_path):
    home = tmp_path / "home"
    target = lake_file(home)
    (tmp_path / "linked").symlink_to(home / "lake" / "pin_daily")
    for name in (target.relative_to(home / "lake" / "pin_daily"), "new.parquet"):
        done = sql_process("SELECT 42", "--parquet", str(tmp_path / "linked" / name), "--force", home=home)
        assert done.returncode == 2 and "it is inside the lake" in done.stderr, done.stderr
    assert target.read_bytes() == b"lake bytes" and sorted(target.parent.iterdir()) == [target]


def test_force_never_writes_into_the_lake_through_a_bind_mount(tmp_path):
    """A bind mount shows the lake under another name that no symlink resolution reveals: folders are compared by
    device and inode."""
    home = tmp_path / "home"
    target = lake_file(home)
    mounted = tmp_path / "mounted"
    mounted.mkdir()
    if subprocess.run(["mount", "--bind", str(home / "lake"), str(mounted)], capture_output=True).returncode != 0:
        pytest.skip("bind mounts are not permitted here (they need root)")
    try:
        for name in (target.relative_to(home / "lake"), "new.parquet"):
            done = sql_process("SELECT 42", "--parquet", str(mounted / name), "--force", home=home)
            assert done.returncode == 2 and "it is inside the lake" in done.stderr, done.stderr
    finally:
        subprocess.run(["umount", str(mounted)], check=True)
    assert target.read_bytes() == b"lake bytes" and sorted(target.parent.iterdir()) == [target]


def test_force_never_writes_onto_a_dotenv_file(tmp_path):
    """A .env file may hold PINTEREST_ACCESS_TOKEN: the one in the working directory, or any other."""
    home = tmp_path / "home"
    home.mkdir()
    (tmp_path / "project").mkdir()
    for env_file in (tmp_path / ".env", tmp_path / "project" / ".env"):
        env_file.write_text("PINTEREST_ACCESS_TOKEN=keep\n")
    for given in (".env", "./.env", str(tmp_path / "project" / ".env")):
        done = sql_process("SELECT 42", "--csv", given, "--force", home=home)
        assert done.returncode == 2 and "it is a .env file" in done.stderr, (given, done.stderr)
    assert {p.read_text() for p in (tmp_path / ".env", tmp_path / "project" / ".env")} == {"PINTEREST_ACCESS_TOKEN=keep\n"}
