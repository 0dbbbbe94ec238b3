"""The lake step's threads and caches under interruption and failure: Ctrl+C while a file is being written or a
date's thread is inside DuckDB leaves no temporary and stays a KeyboardInterrupt; with the disk full, the first file
in the one-by-one order is the one named; a file edited in place is never answered from the footer cache."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import signal
import sys
import threading
import time
from pathlib import Path

import pytest

from pipelines import transform
from pipelines.lake import Lake
from pipelines.orchestration import run_range
from pipelines.organic.source import ORGANIC
from pipelines.planning import DateRange
from pipelines.raw_zone import RawZone
from pipelines.sandbox import SandboxConfig, running_sandbox
from tests.conftest import TODAY, UNLIMITED
from tests.pipeline_support import pipeline_env, store_restated_answers

START, END = TODAY - dt.timedelta(days=6), TODAY - dt.timedelta(days=1)


@pytest.fixture(scope="module")
def organic_home(tmp_path_factory) -> Path:
    """A data directory after one organic run of six days (a world of 200 pins)."""
    home = tmp_path_factory.mktemp("organic") / "home"
    world = {"pins": 200, "boards": 2, "ad_accounts": 1, "campaigns": 1, "ad_groups": 1, "ads": 1}
    with running_sandbox(SandboxConfig(today=TODAY, rate_limits=dict(UNLIMITED), **world)) as server, \
            pytest.MonkeyPatch.context() as monkeypatch:
        pipeline_env(monkeypatch, home, server, TODAY)
        assert run_range(START, END, only="organic") == 0
    return home


def _interrupt_main_when_in(function_name: str, stop: threading.Event) -> threading.Thread:
    """A thread that watches the main thread's stack (nothing of the code under test is replaced) and sends it
    SIGINT, as Ctrl-C does, the first time it is inside `function_name`."""
    main = threading.main_thread().ident
    # Ctrl+C raises KeyboardInterrupt in the main thread, as in a fresh process: in one CI run of the slow suite the
    # watcher's SIGINT raised nothing, after other tests had run in the same process (not reproduced since; a
    # handler some earlier run left in place is the suspect).
    signal.signal(signal.SIGINT, signal.default_int_handler)

    def watch():
        while not stop.is_set():
            frame = sys._current_frames().get(main)
            while frame is not None:
                if frame.f_code.co_name == function_name:
                    signal.pthread_kill(main, signal.SIGINT)
                    return
                frame = frame.f_back
            time.sleep(0)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    return watcher


@pytest.mark.slow
def test_ctrl_c_while_the_lake_step_waits_for_a_file_being_written_leaves_no_temporary_in_the_live_process(
        organic_home, tmp_path):
    """Ctrl+C while the step waits for a file a writing thread is writing: the step waits for that write too
    before it cleans up, so no temporary is left in the (live) process's lake."""
    leaks, interrupted = [], 0
    for attempt in range(5):
        home = tmp_path / f"try{attempt}"
        shutil.copytree(organic_home, home)
        lake = Lake(home / "lake")
        stop = threading.Event()
        _interrupt_main_when_in("_collect_oldest", stop)
        try:
            transform.normalize_range([RawZone(home / "raw")], lake, DateRange(START, END), ORGANIC, TODAY, workers=0)
        except KeyboardInterrupt:
            interrupted += 1
        finally:
            stop.set()
        time.sleep(1)  # any write still running on a stager thread has ended by now
        leaks += list((home / "lake").rglob("*.tmp"))
        if leaks:
            break
    assert interrupted, "the watcher never caught the moment (no Ctrl-C sent)"
    assert leaks == [], f"temporaries left in a live process after Ctrl-C: {leaks}"


@pytest.fixture(scope="module")
def restated_home(tmp_path_factory) -> Path:
    """A data directory after one organic run of 30 days, then every user account answer stored again a minute
    later with another IMPRESSION and without SAVE: each date's keys compete between two final answers and the
    newest lacks SAVE, so choose_newest takes the DuckDB path (`_rescued`) on every date."""
    home = tmp_path_factory.mktemp("restated") / "home"
    first = TODAY - dt.timedelta(days=30)
    world = {"pins": 20, "boards": 2, "ad_accounts": 1, "campaigns": 1, "ad_groups": 1, "ads": 1}
    with running_sandbox(SandboxConfig(today=TODAY, rate_limits=dict(UNLIMITED), **world)) as server, \
            pytest.MonkeyPatch.context() as monkeypatch:
        pipeline_env(monkeypatch, home, server, TODAY)
        assert run_range(first, END, only="organic") == 0
    store_restated_answers(home, ("user_account/analytics",))
    return home


@pytest.mark.slow
def test_ctrl_c_while_a_date_thread_runs_duckdb_stays_a_keyboard_interrupt(restated_home, tmp_path):
    """Ctrl+C while the step waits for a date whose thread is inside DuckDB (`_rescued`, competing final answers):
    the thread is waited for before its cursor is closed, so the Ctrl+C stays a KeyboardInterrupt (closing a busy
    cursor raised `ResourceInUseException: connection is busy`)."""
    main = threading.main_thread().ident
    first = TODAY - dt.timedelta(days=30)

    def watch(stop: threading.Event):
        while not stop.is_set():
            frames = sys._current_frames()
            names, frame = set(), frames.get(main)
            while frame is not None:
                names.add(frame.f_code.co_name)
                frame = frame.f_back
            in_duckdb = any(frame.f_code.co_name == "_rescued" for ident, frame in frames.items() if ident != main)
            if "_lake_rows_by_date" in names and "result" in names and in_duckdb:
                signal.pthread_kill(main, signal.SIGINT)
                return
            time.sleep(0)

    raised = []
    for attempt in range(20):
        home = tmp_path / f"try{attempt}"
        shutil.copytree(restated_home, home)
        stop = threading.Event()
        threading.Thread(target=watch, args=(stop,), daemon=True).start()
        try:
            transform.normalize_range([RawZone(home / "raw")], Lake(home / "lake"), DateRange(first, END), ORGANIC,
                                      TODAY, workers=0)
        except BaseException as error:  # noqa: BLE001 - what Ctrl-C turned into is the point
            raised.append(error)
        finally:
            stop.set()
        shutil.rmtree(home)
        if raised and not isinstance(raised[-1], KeyboardInterrupt):
            break
    assert raised, "the watcher never caught the moment (no Ctrl-C sent)"
    assert all(isinstance(error, KeyboardInterrupt) for error in raised), \
        f"Ctrl-C surfaced as {type(raised[-1]).__module__}.{type(raised[-1]).__name__}: {raised[-1]}"


def _to_legacy_layout(lake_root: Path, dates: list[dt.date]) -> None:
    """The dates' organic identity files as the earlier layout wrote them (`organic.parquet`, no checksum), each
    with one more row no answer covers (so that the lake step rewrites it rather than removing it)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from pipelines import catalog

    for table in catalog.FACT_TABLES.values():
        for date in dates:
            folder = lake_root / table.name / f"date={date}"
            for path in sorted(folder.glob("organic.user=*.parquet")):
                rows = pq.read_table(path)
                if rows.num_rows:
                    extra = rows.slice(0, 1)
                    index = extra.column_names.index(table.id_column)
                    rows = pa.concat_tables([rows, extra.set_column(index, table.id_column, pa.array(
                        ["999"], extra.schema.field(index).type))])
                pq.write_table(rows, folder / "organic.parquet")
                path.unlink()
                (folder / f".{path.name}.sha256").unlink()


@pytest.mark.skipif(os.geteuid() != 0, reason="mounts a small tmpfs")
def test_a_full_disk_is_reported_on_the_first_file_the_step_writes_not_a_later_legacy_file(organic_home, tmp_path):
    """With the lake's disk full, the error names the first file in the one-by-one order (the first date's first
    identity file), not the date's legacy file, rewritten on the step's own thread while the identity file's error
    waited on its writing thread."""
    import subprocess

    home = tmp_path / "home"
    shutil.copytree(organic_home, home)
    _to_legacy_layout(home / "lake", [START])
    mount = tmp_path / "small"
    mount.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount)], capture_output=True, text=True)
    if mounted.returncode:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.strip()}")
    try:
        shutil.copytree(home / "lake", mount / "lake")
        with open(mount / "filler", "wb") as filler:  # the disk is full
            with pytest.raises(OSError):
                while True:
                    filler.write(b"\0" * 65536)
                    filler.flush()
        with pytest.raises(Exception) as raised:
            transform.normalize_range([RawZone(home / "raw")], Lake(mount / "lake"), DateRange(START, END), ORGANIC,
                                      TODAY, workers=0)
        assert "the disk is full" in str(raised.value)
        assert list((mount / "lake").rglob("*.tmp")) == []
        # 30fc941 (sequential): "could not write .../user_account_daily/date=<START>/organic.user=<id>.parquet: ..."
        assert "organic.user=" in str(raised.value), str(raised.value)
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_lake_file_edited_in_place_keeping_its_size_and_mtime_is_not_answered_from_the_footer_cache(
        organic_home, tmp_path, monkeypatch):
    """A legacy file (no checksum file: written before checksums were kept) whose `impression` column is renamed
    `IMPRESSION` in place, its size and modification time set back (`touch -r`, `rsync --inplace -t`): a second
    load in the same process reads its footer again and refuses it (LakeFileSchemaError), as a new process does."""
    import pyarrow.parquet as pq

    home = tmp_path / "home"
    shutil.copytree(organic_home, home)
    _to_legacy_layout(home / "lake", [START])
    monkeypatch.setenv("PINTEREST_ETL_HOME", str(home))
    monkeypatch.setenv("PINTEREST_ETL_TODAY", TODAY.isoformat())
    monkeypatch.setenv("PINTEREST_START_DATE", (TODAY - dt.timedelta(days=300)).isoformat())
    for key in ("DAGSTER_HOME", "PINTEREST_API_BASE_URL"):
        monkeypatch.delenv(key, raising=False)
    assert run_range(START, END, only="organic", from_lake=True) == 0  # reads every footer, this one too

    path = home / "lake" / "user_account_daily" / f"date={START}" / "organic.parquet"
    before = os.stat(path)
    rows = pq.read_table(path)
    pq.write_table(rows.rename_columns([{"impression": "IMPRESSION"}.get(n, n) for n in rows.column_names]), path)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = os.stat(path)
    assert (after.st_ino, after.st_size, after.st_mtime_ns) == (before.st_ino, before.st_size, before.st_mtime_ns)
    # A fresh process (30fc941 in this one too) refuses the file: "lake file ...: column 'IMPRESSION' (int64) is
    # not a metric column of user_account_daily ..."; this one answers from the cache and loads it.
    assert run_range(START, END, only="organic", from_lake=True) == 1
