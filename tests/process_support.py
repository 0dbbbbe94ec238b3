"""`pinterest-etl` as a child process against a test simulator, and snapshots of what a data directory holds.

The fault tests need real processes: one killed with SIGKILL, one holding a lock, two running at once.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

from pipelines import history
from tests.conftest import PARTITIONS_FIRST

# A small world, so that a child-process run takes a few seconds.
SMALL_WORLD = {"pins": 20, "boards": 2, "ad_accounts": 1, "campaigns": 2, "ad_groups": 1, "ads": 1}
CLI = [sys.executable, "-m", "pipelines.cli"]


def cli_env(home: Path, server, today: dt.date, **extra: str) -> dict[str, str]:
    """The environment of a child `pinterest-etl`: data in `home`, the simulator `server`, clock at `today`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PINTEREST_", "DAGSTER_"))}
    env.update(PINTEREST_ETL_HOME=str(home), PINTEREST_API_BASE_URL=server.base_url,
               PINTEREST_ACCESS_TOKEN="pina_SANDBOX", PINTEREST_REFRESH_TOKEN="pinr_SANDBOX",
               PINTEREST_ETL_TODAY=today.isoformat(), PINTEREST_START_DATE=PARTITIONS_FIRST.isoformat(),
               PINTEREST_RATE_BUDGETS=",".join(f"{c}=1000000" for c in (
                   "org_analytics", "org_read", "org_write", "ads_analytics", "ads_read")),
               PYTHONWARNINGS="ignore")
    env.update(extra)
    return env


def range_args(start: dt.date, end: dt.date, *more: str) -> list[str]:
    return ["--start", start.isoformat(), "--end", end.isoformat(), *more]


def start_cli(args: list[str], env: dict[str, str], **popen) -> subprocess.Popen:
    """Start `pinterest-etl <args>`; stdout and stderr are pipes of text unless told otherwise."""
    popen.setdefault("stdout", subprocess.PIPE)
    popen.setdefault("stderr", subprocess.PIPE)
    workdir = Path(env["PINTEREST_ETL_HOME"]).parent  # beside the data, so no `.env` of the repository is read
    workdir.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen([*CLI, *args], env=env, cwd=workdir, text=True, **popen)


def run_cli(args: list[str], env: dict[str, str], timeout: float = 300, **popen) -> subprocess.CompletedProcess:
    process = start_cli(args, env, **popen)
    stdout, stderr = process.communicate(timeout=timeout)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def read_until(stream, text: str) -> str:
    """Lines of a child's output up to and including the first one containing `text` ('' at its end)."""
    seen = []
    for line in stream:
        seen.append(line)
        if text in line:
            return "".join(seen)
    raise AssertionError(f"the output ended without {text!r}:\n{''.join(seen)}")


def parquet_rows(path: Path, ignore: tuple[str, ...] = ("extracted_at",)) -> list[tuple]:
    """A Parquet file's rows, sorted, without the columns in `ignore` (the time a run fetched them)."""
    table = pq.read_table(path)
    table = table.drop_columns([c for c in ignore if c in table.column_names])
    return sorted(zip(*(table.column(c).to_pylist() for c in table.column_names)), key=repr)


def lake_files(home: Path) -> dict[str, Path]:
    """What readers see of the lake: every `*.parquet` by its path under lake/."""
    root = home / "lake"
    return {str(p.relative_to(root)): p for p in sorted(root.rglob("*.parquet"))}


def warehouse_contents(home: Path, ignore: tuple[str, ...] = ()) -> dict[str, list[tuple]]:
    """Every table of the warehouse but the history's bookkeeping (which files it was built from, with their
    modification times), rows sorted, without the columns in `ignore`."""
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        tables = [r[0] for r in con.execute("SELECT table_name FROM duckdb_tables() WHERE table_name <> ? ORDER BY 1",
                                            [history.BUILT_FROM]).fetchall()]
        contents = {}
        for table in tables:
            columns = [r[0] for r in con.execute("SELECT column_name FROM duckdb_columns() WHERE table_name = ? "
                                                 "ORDER BY column_index", [table]).fetchall()]
            kept = ", ".join(c for c in columns if c not in ignore)
            contents[table] = con.execute(f"SELECT {kept} FROM {table} ORDER BY ALL").fetchall()
    return contents


def temporaries(home: Path) -> list[Path]:
    """Temporary files anywhere under `home` (DuckDB's spill folder `warehouse.duckdb.tmp/` is not one)."""
    return sorted(p for p in home.rglob("*.tmp") if p.is_file())
