"""A data directory that cannot be written, a full disk, and two runs at once.

Tests run as root, where permissions do not stop writes: "not writable" is a PINTEREST_ETL_HOME (or a lake
folder) under a regular file, and "disk full" is a child process with a file-size limit (RLIMIT_FSIZE,
SIGXFSZ ignored), whose writes past the limit fail as they would on a full disk.
"""

from __future__ import annotations

import collections
import datetime as dt
import json
import re
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipelines import catalog
from pipelines.orchestration import run_range
from tests.conftest import TODAY
from tests.pipeline_support import pipeline_env, query
from tests.process_support import (
    SMALL_WORLD,
    cli_env,
    lake_files,
    range_args,
    read_until,
    run_cli,
    start_cli,
    temporaries,
    warehouse_contents,
)

START, END = TODAY - dt.timedelta(days=6), TODAY - dt.timedelta(days=1)
ORGANIC = range_args(START, END, "--only", "organic")


def file_size_limit(limit: int):
    """A child's preexec: writes beyond `limit` bytes fail with EFBIG, as on a full disk."""
    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


def every_file(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def loaded_home(tmp_path_factory):
    """A data directory holding one organic run of the range, and the simulator it came from."""
    from pipelines.sandbox import SandboxConfig, running_sandbox
    from tests.conftest import UNLIMITED

    with running_sandbox(SandboxConfig(today=TODAY, rate_limits=dict(UNLIMITED), **SMALL_WORLD)) as server:
        home = tmp_path_factory.mktemp("loaded") / "home"
        loaded = run_cli(["run", *ORGANIC], cli_env(home, server, TODAY))
        assert loaded.returncode == 0, loaded.stderr
        yield home, server


def copy_of(loaded_home, tmp_path: Path) -> tuple[Path, object]:
    home, server = loaded_home
    copy = tmp_path / "home"
    shutil.copytree(home, copy)
    return copy, server


def test_a_data_directory_under_a_file_is_refused_before_anything_is_written(sandbox, monkeypatch, tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory\n")
    home = blocker / "home"
    pipeline_env(monkeypatch, home, sandbox, TODAY)
    for from_lake, command in ((False, "run"), (True, "load")):
        assert run_range(START, END, from_lake=from_lake, only="organic") == 1
        printed = capsys.readouterr().err
        assert f"pinterest-etl {command}: error: could not write {home}/.run.lock: a part of the path is a file, " \
               "not a directory" in printed
        assert f"Point PINTEREST_ETL_HOME (now {home}) at a writable directory; nothing was written." in printed
    assert every_file(tmp_path) == {"a-file": b"not a directory\n"}


def test_a_lake_folder_that_cannot_be_written_fails_naming_the_file_and_leaves_no_part_of_it(make_sandbox, monkeypatch,
                                                                                              tmp_path, capsys):
    pipeline_env(monkeypatch, tmp_path, make_sandbox(**SMALL_WORLD), TODAY)
    (tmp_path / "lake").mkdir()
    (tmp_path / "lake" / "pin_daily").write_text("in the way\n")
    assert run_range(START, END, only="organic") == 1
    printed = capsys.readouterr().err
    assert re.search(rf"step organic_lake failed: DataWriteError: could not write {tmp_path}/lake/pin_daily/"
                     rf"date={START}/organic\.user=[0-9]+\.parquet: a part of the path is a file, not a directory", printed)
    assert "Nothing was replaced: the lake keeps its previous files." in printed
    assert temporaries(tmp_path) == []
    # The first date's user_account_daily file was complete but is discarded with the rest of the run's files.
    assert [name for name in lake_files(tmp_path) if "/date=" in name] == []
    assert not (tmp_path / "warehouse.duckdb").exists()


# A child process replaces one lake file under a file-size limit smaller than the new version.
REPLACE_LAKE_FILE = """
import datetime as dt, sys
import duckdb
from pipelines.lake import Lake
lake = Lake(sys.argv[1])
with duckdb.connect() as con:
    staged = [lake.stage(con, "pin_daily", dt.date(2026, 11, 1), "organic",
                         "SELECT range AS n, md5(range::VARCHAR) AS text FROM range(10000)")]
    lake.commit(staged)
"""


def test_a_full_disk_while_writing_a_lake_file_keeps_the_old_one_and_names_the_path(tmp_path):
    import duckdb

    from pipelines.lake import Lake

    lake = Lake(tmp_path / "lake")
    with duckdb.connect() as con:
        lake.commit([lake.stage(con, "pin_daily", dt.date(2026, 11, 1), "organic", "SELECT 1 AS n")])
    before = every_file(tmp_path)
    child = subprocess.run([sys.executable, "-c", REPLACE_LAKE_FILE, str(lake.root)], capture_output=True, text=True,
                           preexec_fn=file_size_limit(16384), timeout=120)
    target = lake.path("pin_daily", dt.date(2026, 11, 1), "organic")
    assert child.returncode == 1
    assert f"DataWriteError: could not write {target}: the disk is full, or the file-size limit of this process " \
           "is reached" in child.stderr
    assert "Nothing was replaced: the lake keeps its previous files." in child.stderr
    assert every_file(tmp_path) == before  # the old file and its checksum, and no temporary


@pytest.mark.slow
def test_a_full_disk_while_loading_the_warehouse_keeps_its_old_data(loaded_home, tmp_path):
    home, server = copy_of(loaded_home, tmp_path)
    before = warehouse_contents(home)
    env = cli_env(home, server, TODAY)
    full = run_cli(["load", *ORGANIC], env, preexec_fn=file_size_limit(1024))
    assert full.returncode == 1
    assert f"step organic_warehouse failed: DataWriteError: could not write {home}/warehouse.duckdb: the disk is full" \
           in full.stderr
    assert "It keeps its previous data (the load's transaction was rolled back)" in full.stderr
    assert f"`pinterest-etl load --start {START} --end {END} --only organic`" in full.stderr
    assert warehouse_contents(home) == before
    assert run_cli(["load", *ORGANIC], env).returncode == 0  # once there is room
    assert warehouse_contents(home) == before


# A child process stores an API answer larger than its file-size limit in the raw zone.
STORE_RAW_ANSWER = """
import datetime as dt, os, sys
from pipelines.raw_zone import RawZone
RawZone(sys.argv[1]).write("pins/list", os.urandom(100_000), fetched_at=dt.datetime(2026, 11, 28), request_id=None)
"""


def test_a_full_disk_while_storing_a_raw_answer_leaves_no_part_of_it_and_names_the_path(tmp_path):
    child = subprocess.run([sys.executable, "-c", STORE_RAW_ANSWER, str(tmp_path / "raw")], capture_output=True,
                           text=True, preexec_fn=file_size_limit(16384), timeout=120)
    assert child.returncode == 1
    assert f"DataWriteError: could not write {tmp_path}/raw/pins__list/window=none/20261128T000000000000Z-" in child.stderr
    assert "the disk is full, or the file-size limit of this process is reached" in child.stderr
    assert every_file(tmp_path) == {}


def hold_the_run_lock(home: Path, run: subprocess.Popen) -> None:
    """Wait until `run` holds the data directory's run lock, then freeze it there (SIGSTOP)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if json.loads((home / ".run.lock").read_text())["pid"] == run.pid:
                run.send_signal(signal.SIGSTOP)
                return
        except (FileNotFoundError, ValueError):
            pass
        assert run.poll() is None, run.communicate()
        time.sleep(0.02)
    raise AssertionError("the first run never took the run lock")


def assert_each_row_once(home: Path) -> None:
    """Every key of the organic wide tables held by one row."""
    for table in (t for t in catalog.FACT_TABLES.values() if t.source == "organic"):
        [(rows, keys)] = query(home, f"SELECT count(*), count(DISTINCT ({', '.join(table.key)})) FROM {table.name}")
        assert rows == keys > 0, table.name


@pytest.mark.slow
def test_two_overlapping_runs_at_once_are_serialized_and_load_every_row_once(make_sandbox, tmp_path):
    server = make_sandbox(**SMALL_WORLD)
    home, alone = tmp_path / "home", tmp_path / "alone" / "home"
    env = cli_env(home, server, TODAY)
    first = start_cli(["run", *ORGANIC], env)
    hold_the_run_lock(home, first)
    second = start_cli(["run", *range_args(START + dt.timedelta(days=3), END, "--only", "organic")], env,
                       stderr=subprocess.STDOUT)
    waited = read_until(second.stdout, f"another pipeline run holds {home}/.run.lock: process {first.pid} "
                                       f"(pinterest-etl run {START}..{END}, started ")
    assert "waiting for it to finish (up to 600 s, PINTEREST_RUN_LOCK_WAIT_SECONDS)" in waited
    assert "Running" not in waited  # the second run has not started before the first lets go
    first.send_signal(signal.SIGCONT)
    first_out, first_err = first.communicate(timeout=300)
    second_out, _ = second.communicate(timeout=300)
    assert first.returncode == 0, first_err
    assert second.returncode == 0, second_out
    assert_each_row_once(home)
    assert run_cli(["run", *ORGANIC], cli_env(alone, server, TODAY)).returncode == 0
    assert collections.Counter(warehouse_contents(home, ignore=("extracted_at",))) == \
        collections.Counter(warehouse_contents(alone, ignore=("extracted_at",)))


@pytest.mark.slow
def test_a_second_run_that_may_not_wait_is_refused_naming_the_first(make_sandbox, tmp_path):
    server = make_sandbox(**SMALL_WORLD)
    home = tmp_path / "home"
    first = start_cli(["run", *ORGANIC], cli_env(home, server, TODAY))
    hold_the_run_lock(home, first)
    try:
        refused = run_cli(["run", *ORGANIC], cli_env(home, server, TODAY, PINTEREST_RUN_LOCK_WAIT_SECONDS="0"))
    finally:
        first.send_signal(signal.SIGCONT)
    assert refused.returncode == 1
    assert f"pinterest-etl run: error: another pipeline run holds {home}/.run.lock: process {first.pid} " \
           f"(pinterest-etl run {START}..{END}, started " in refused.stderr
    assert "gave up after waiting 0 s (PINTEREST_RUN_LOCK_WAIT_SECONDS). Run again once it has finished." in refused.stderr
    assert "Running" not in refused.stdout
    _, first_err = first.communicate(timeout=300)
    assert first.returncode == 0, first_err
    assert_each_row_once(home)


def lock_holder(path: Path) -> subprocess.Popen:
    """A process holding an exclusive flock on the file `path` names now, until its standard input closes."""
    holder = subprocess.Popen([sys.executable, "-c", "import fcntl, sys\n"
                               f"f = open({str(path)!r}, 'a+'); fcntl.flock(f, fcntl.LOCK_EX); print('locked', flush=True)\n"
                               "sys.stdin.read()"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline() == "locked\n"
    return holder


@pytest.mark.slow
def test_a_run_lock_file_replaced_while_a_run_waits_does_not_let_it_in(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    lock = home / ".run.lock"
    first = lock_holder(lock)
    waiting = start_cli(["load", *ORGANIC], cli_env(home, type("Server", (), {"base_url": "http://127.0.0.1:9/v5"}),
                                                    TODAY, PINTEREST_RUN_LOCK_WAIT_SECONDS="8"))
    try:
        read_until(waiting.stderr, "waiting for it to finish")
        replacement = tmp_path / "replacement"
        replacement.write_text("")
        replacement.replace(lock)  # what `sql --csv .run.lock --force` did: the name now points at a new file
        second = lock_holder(lock)
        first.communicate("")  # the first run ends: the lock the waiting run waits on is free, but no one's
        _, stderr = waiting.communicate(timeout=60)
        second.communicate("")
    finally:
        for process in (first, waiting):
            if process.poll() is None:
                process.kill()
    assert waiting.returncode == 1, stderr
    assert "gave up after waiting 8 s (PINTEREST_RUN_LOCK_WAIT_SECONDS)" in stderr
