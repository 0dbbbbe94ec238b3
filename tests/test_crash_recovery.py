"""Crash mid-load: a real `pinterest-etl run` killed with SIGKILL at injected points (pipelines/faults.py).

Every test starts from a data directory loaded at TODAY and re-runs the same range at TODAY + 3 days (new
answers: days that were PROCESSING or ESTIMATE have changed), crashing at one point. Afterwards every lake
file readers can see is whole and is either its old version or its new one; the warehouse holds exactly its
old data; and the next run repairs everything: lake and warehouse then equal those of a run that never crashed.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import shutil
import signal
from pathlib import Path

import pytest

from pipelines.commands.verify import find_corrupt_files
from pipelines.faults import CRASH_AT, LAKE_BETWEEN_RENAMES, LAKE_FILE_WRITTEN, WAREHOUSE_BEFORE_COMMIT
from pipelines.sandbox import SandboxConfig, running_sandbox
from tests.conftest import TODAY, UNLIMITED
from tests.process_support import (
    SMALL_WORLD,
    cli_env,
    lake_files,
    parquet_rows,
    range_args,
    run_cli,
    temporaries,
    warehouse_contents,
)

pytestmark = pytest.mark.slow

LATER = TODAY + dt.timedelta(days=3)
START, END = TODAY - dt.timedelta(days=8), TODAY - dt.timedelta(days=1)
RUN = ["run", *range_args(START, END, "--only", "organic")]


@dataclasses.dataclass(frozen=True)
class Homes:
    old: Path  # loaded at TODAY
    new: Path  # the same, then re-run at LATER without a crash
    later_server: object


@pytest.fixture(scope="module")
def homes(tmp_path_factory) -> Homes:
    world = {"epoch": TODAY, "rate_limits": dict(UNLIMITED), **SMALL_WORLD}
    with running_sandbox(SandboxConfig(today=TODAY, **world)) as first_server, \
            running_sandbox(SandboxConfig(today=LATER, **world)) as later_server:
        old = tmp_path_factory.mktemp("old") / "home"
        first = run_cli(RUN, cli_env(old, first_server, TODAY))
        assert first.returncode == 0, first.stderr
        new = tmp_path_factory.mktemp("new") / "home"
        shutil.copytree(old, new)
        rerun = run_cli(RUN, cli_env(new, later_server, LATER))
        assert rerun.returncode == 0, rerun.stderr
        changed = [name for name, path in lake_files(old).items() if parquet_rows(path) != parquet_rows(new / "lake" / name)]
        assert changed, "the later run must change some dates, or old and new could not be told apart"
        yield Homes(old, new, later_server)


def crash(homes: Homes, tmp_path: Path, point: str) -> Path:
    """A copy of the old data directory after a later run killed at `point`."""
    home = tmp_path / "home"
    shutil.copytree(homes.old, home)
    crashed = run_cli(RUN, cli_env(home, homes.later_server, LATER, **{CRASH_AT: point}))
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    return home


def new_date_files(home: Path, homes: Homes) -> list[str]:
    """Check that every lake file is whole and either its old or its new version; return the date files
    (`<table>/date=D/organic.user=<id>.parquet`) that are new."""
    visible, old, new = lake_files(home), lake_files(homes.old), lake_files(homes.new)
    assert set(old) <= set(visible) <= set(old) | set(new)
    assert find_corrupt_files(home)[2] == []  # every file decodes and matches its recorded checksum
    replaced = []
    for name, path in visible.items():
        if name in old and path.read_bytes() == old[name].read_bytes():
            continue
        assert parquet_rows(path) == parquet_rows(new[name]), f"{name} is neither its old nor its new version"
        replaced.append(name)
    return sorted(name for name in replaced if "/date=" in name)


def assert_repaired(home: Path, homes: Homes) -> str:
    """The next run succeeds and leaves the lake and the warehouse as a run without a crash did (up to the
    time the answers were fetched), with no temporary file left; returns its output."""
    repair = run_cli(RUN, cli_env(home, homes.later_server, LATER))
    assert repair.returncode == 0, repair.stderr
    assert temporaries(home) == []
    assert {name: parquet_rows(path) for name, path in lake_files(home).items()} == \
        {name: parquet_rows(path) for name, path in lake_files(homes.new).items()}
    assert warehouse_contents(home, ignore=("extracted_at",)) == warehouse_contents(homes.new, ignore=("extracted_at",))
    return repair.stdout


def test_a_crash_after_a_parquet_file_is_written_but_not_renamed_changes_nothing_readers_see(homes, tmp_path):
    home = crash(homes, tmp_path, LAKE_FILE_WRITTEN)
    assert new_date_files(home, homes) == []
    # The first file asked for was written; the lake's writing threads may have written a few more meanwhile.
    leftovers = temporaries(home)
    assert home / "lake" / "user_account_daily" / f"date={START}" in {leftover.parent for leftover in leftovers}
    assert all(leftover.name.startswith(".") for leftover in leftovers)
    assert warehouse_contents(home) == warehouse_contents(homes.old)
    staging = list((home / "tmp").glob("normalize-*"))  # the killed run's staging folder
    assert len(staging) == 1
    # The next run removes them all (the lake temporaries and the staging folder) and repairs everything.
    assert f"Removed {len(leftovers) + 1} temporary file(s) an interrupted run left" in assert_repaired(home, homes)
    assert not staging[0].exists()


def test_a_crash_between_renames_leaves_each_date_file_old_or_new_and_the_warehouse_old(homes, tmp_path):
    home = crash(homes, tmp_path, f"{LAKE_BETWEEN_RENAMES}@5")
    # Staged files are renamed date by date (user_account_daily, then pin_daily): five are in place, the
    # sixth's checksum is recorded but the file is still the old one, and that old file still verifies.
    user_file = next(Path(name).name for name in lake_files(homes.new) if "organic.user=" in name)
    assert new_date_files(home, homes) == sorted([
        f"user_account_daily/date={START}/{user_file}", f"pin_daily/date={START}/{user_file}",
        f"user_account_daily/date={START + dt.timedelta(days=1)}/{user_file}",
        f"pin_daily/date={START + dt.timedelta(days=1)}/{user_file}",
        f"user_account_daily/date={START + dt.timedelta(days=2)}/{user_file}"])
    assert warehouse_contents(home) == warehouse_contents(homes.old)  # the load never started: it lags the lake
    assert_repaired(home, homes)


def test_a_crash_inside_the_warehouse_transaction_leaves_the_old_warehouse(homes, tmp_path):
    home = crash(homes, tmp_path, WAREHOUSE_BEFORE_COMMIT)
    all_new = sorted(name for name in lake_files(homes.new) if "/date=" in name)
    assert new_date_files(home, homes) == all_new  # the lake was complete before the load began
    # DuckDB's recovery drops the uncommitted DELETE and INSERT: exactly the old rows, nothing of the new.
    assert warehouse_contents(home) == warehouse_contents(homes.old)
    assert_repaired(home, homes)


def test_staging_folders_of_dead_runs_are_removed_and_live_ones_kept(tmp_path):
    import os
    import subprocess
    import sys

    from pipelines.atomic_files import remove_stray_staging, staging_prefix

    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = tmp_path / f"normalize-{finished.stdout.strip()}-abc123"
    live = tmp_path / f"{staging_prefix()}def456"
    other = tmp_path / "not-a-staging-folder"
    for folder in (dead, live, other):
        (folder / "2026-11-01").mkdir(parents=True)
        (folder / "2026-11-01" / "rows.arrow").write_bytes(b"x")
    assert live.name.startswith(f"normalize-{os.getpid()}-")
    assert remove_stray_staging(tmp_path) == [dead]
    assert not dead.exists() and live.exists() and other.exists()
