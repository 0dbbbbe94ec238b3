"""Normalizing raw answers in worker processes: the same lake as in the pipeline's process, answers numbered in
reading order, an answer's error reaching the user as it does without workers, a dead worker failing the step with a
clear message, and the setting that chooses the number of workers."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import threading
import time
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from pipelines import catalog, normalize_workers, settings, transform
from pipelines.ads.normalize import ADS
from pipelines.lake import Lake
from pipelines.metric_values import MetricValueError
from pipelines.normalize_workers import WorkerProcessError, map_in_order
from pipelines.orchestration import run_range
from pipelines.organic.source import ORGANIC, organic_source
from pipelines.planning import DateRange
from pipelines.raw_zone import RawZone
from pipelines.sandbox import SandboxConfig, running_sandbox
from tests.conftest import TODAY, UNLIMITED
from tests.pipeline_support import pipeline_env, store_restated_answers
from tests.process_support import SMALL_WORLD, lake_files
from tests.worker_support import die, fail, shout

START, END = TODAY - dt.timedelta(days=6), TODAY - dt.timedelta(days=1)  # READY, ESTIMATE and PROCESSING days
WHOLE = DateRange(START, END)
USER = "4242"


def test_results_come_in_the_order_of_the_tasks():
    words = [(f"word{n}",) for n in range(12)]
    assert list(map_in_order(shout, words, 2)) == [f"WORD{n}" for n in range(12)]


def test_an_error_raised_in_a_worker_reaches_the_caller_with_its_class_message_and_attributes():
    """MetricValueError cannot be pickled the standard way (its __init__ takes six arguments, its args one)."""
    expected = MetricValueError("some/endpoint", "IMPRESSION", "pin", "p1", "2026-11-20", float("inf"))
    with pytest.raises(MetricValueError) as raised:
        list(map_in_order(fail, [("p1",)], 1))
    assert str(raised.value) == str(expected)
    assert vars(raised.value) == {**vars(expected), "value": raised.value.value}
    assert raised.value.value == float("inf")


def test_a_worker_that_dies_fails_with_a_message_naming_the_task_and_the_way_out():
    with pytest.raises(WorkerProcessError) as raised:
        list(map_in_order(die, [("doomed",)], 1, describe=lambda task: f"task {task[0]}"))
    assert str(raised.value) == (
        "a normalization worker process ended unexpectedly (killed, or out of memory?) before task doomed was "
        "normalized; nothing was written. Run again, or set PINTEREST_NORMALIZE_WORKERS=0 to normalize in the "
        "pipeline's own process")


@pytest.mark.parametrize("text, workers", [("0", 0), ("1", 1), ("3", 3), (" 2 ", 2)])
def test_the_setting_chooses_the_number_of_workers(text, workers):
    assert settings.normalize_workers({"PINTEREST_NORMALIZE_WORKERS": text}) == workers


def test_by_default_two_workers_normalize_on_a_machine_of_several_cpus():
    assert settings.normalize_workers({}) == (2 if len(os.sched_getaffinity(0)) > 1 else 0)


@pytest.mark.parametrize("text", ["two", "-1", "17", "1.5", "２"])
def test_a_worker_count_that_is_not_a_whole_number_up_to_16_is_refused_naming_the_setting(text):
    with pytest.raises(settings.SettingsError) as raised:
        settings.normalize_workers({"PINTEREST_NORMALIZE_WORKERS": text})
    assert str(raised.value) == ("PINTEREST_NORMALIZE_WORKERS must be a whole number from 0 (normalize in the "
                                 f"pipeline's process) to 16 (got {text.strip()!r})")


def store_account_answer(raw: RawZone, date: dt.date, impression_text: str, minutes: int) -> Path:
    """A user_account/analytics answer of one READY day whose IMPRESSION is `impression_text` (raw JSON)."""
    day = f'{{"date": "{date}", "data_status": "READY", "metrics": {{"IMPRESSION": {impression_text}, "SAVE": 1}}}}'
    body = f'{{"all": {{"daily_metrics": [{day}]}}}}'
    return raw.write("user_account/analytics", body.encode(), params={"split_field": "NO_SPLIT", "content_type": "ALL"},
                     window=WHOLE, context={"user_id": USER},
                     fetched_at=dt.datetime(2026, 11, 27, 8, minutes, tzinfo=dt.timezone.utc), request_id="test")


# A metric value JSON parses (json.loads goes to ~990 levels) but pickle cannot send back as the error's attribute.
NESTED = "[" * 600 + "]" * 600


@pytest.mark.parametrize("value, shown", [("1e999", "Infinity"), (NESTED, "[[[[")])
def test_a_hostile_value_fails_in_a_worker_exactly_as_in_the_pipelines_process(tmp_path, monkeypatch, value, shown):
    """The error names the raw file and shows the value as the user sees it without workers: the same class and
    message, also when an attribute of it cannot be pickled (its text crosses instead)."""
    monkeypatch.delenv("PINTEREST_CONTENT_TYPES", raising=False)
    raw = RawZone(tmp_path / "raw")
    store_account_answer(raw, START, "3", minutes=0)
    hostile = store_account_answer(raw, END, value, minutes=1)
    errors = []
    for workers in (0, 2):
        (tmp_path / f"staging{workers}").mkdir()
        with pytest.raises(Exception) as raised:
            transform.stage(tmp_path / f"staging{workers}", [raw], WHOLE, ORGANIC, workers)
        errors.append(raised.value)
    here, in_worker = errors
    assert isinstance(here, MetricValueError) and type(in_worker) is type(here), repr(in_worker)
    assert str(in_worker) == str(here)
    assert in_worker.raw_file == here.raw_file == hostile
    assert "metric IMPRESSION of user_account" in str(in_worker) and f"is {shown}" in str(in_worker)
    assert f"(raw file {hostile})" in str(in_worker)


def test_answers_keep_their_reading_order_numbers_in_workers(tmp_path, monkeypatch):
    """The newest answer per key is chosen by fetch time, then by the number: staged the same with workers."""
    monkeypatch.delenv("PINTEREST_CONTENT_TYPES", raising=False)
    raw = RawZone(tmp_path / "raw")
    for minutes in range(6):
        store_account_answer(raw, START + dt.timedelta(days=minutes % 3), str(minutes), minutes)
    staged = {}
    for workers in (0, 2):
        (tmp_path / f"staging{workers}").mkdir()
        staged[workers] = transform.stage(tmp_path / f"staging{workers}", [raw], WHOLE, ORGANIC, workers)
    here, in_workers = staged[0], staged[2]
    assert in_workers.answers.equals(here.answers)
    assert in_workers.identities.equals(here.identities)
    for date in here.rows.dates:
        assert in_workers.rows.read(date).equals(here.rows.read(date))
    assert here.rows.read(START).column("_source").to_pylist() == [0, 3]


def test_a_runs_organic_source_carries_its_content_types_to_the_workers_which_read_no_environment(tmp_path,
                                                                                                 monkeypatch):
    """organic_source (what the organic lake asset normalizes with: the content types of the run's settings) is
    prepared in the worker with them; the environment the worker inherits holds a refused value, never read."""
    monkeypatch.setenv("PINTEREST_CONTENT_TYPES", "PAID")
    raw = RawZone(tmp_path / "raw")
    for minutes in range(3):
        store_account_answer(raw, START + dt.timedelta(days=minutes), str(minutes), minutes)
    rows = {}
    for kept in ("ALL", "ORGANIC"):
        (tmp_path / kept).mkdir()
        staged = transform.stage(tmp_path / kept, [raw], WHOLE, organic_source((kept,)), workers=1)
        rows[kept] = sum(staged.rows.read(date).num_rows for date in staged.rows.dates)
    assert rows == {"ALL": 3, "ORGANIC": 0}


def test_small_raw_zones_are_normalized_without_workers(tmp_path, monkeypatch):
    monkeypatch.setenv("PINTEREST_NORMALIZE_WORKERS", "2")
    raw = RawZone(tmp_path / "raw")
    answer = store_account_answer(raw, START, "3", minutes=0)
    assert answer.stat().st_size < normalize_workers.WORKER_MIN_RAW_BYTES
    assert transform._worker_count([(raw, [answer])], ORGANIC) == 0


@pytest.fixture(scope="module")
def loaded(tmp_path_factory) -> Path:
    """A data directory of one run (organic and ads) of the range, then every analytics answer stored again a
    minute later (each key has two answers to choose from), campaigns answers restated without their first row
    (restated to no delivery) and user account answers restated with another IMPRESSION and without SAVE (a READY
    day keeps its older final SAVE)."""
    home = tmp_path_factory.mktemp("loaded") / "home"
    with running_sandbox(SandboxConfig(today=TODAY, rate_limits=dict(UNLIMITED), **SMALL_WORLD)) as server, \
            pytest.MonkeyPatch.context() as monkeypatch:
        pipeline_env(monkeypatch, home, server, TODAY)
        assert run_range(START, END) == 0
    store_restated_answers(home)
    return home


@pytest.mark.slow
@pytest.mark.parametrize("source", [ORGANIC, ADS], ids=["organic", "ads"])
def test_workers_write_the_same_lake_as_the_pipelines_process(loaded, tmp_path, monkeypatch, source):
    """Every lake file of the source, normalized in the pipeline's process and in two workers: same files, same
    rows in the same order, same summary."""
    monkeypatch.delenv("PINTEREST_CONTENT_TYPES", raising=False)
    lakes, summaries = {}, {}
    for workers in (0, 2):
        home = tmp_path / f"home{workers}"
        shutil.copytree(loaded, home)
        summaries[workers] = transform.normalize_range([RawZone(home / "raw")], Lake(home / "lake"), WHOLE, source,
                                                       TODAY, workers=workers)
        lakes[workers] = lake_files(home)
    here, in_workers = lakes[0], lakes[2]
    assert set(in_workers) == set(here)
    tables = tuple(f"{catalog.BY_ENTITY_TYPE[entity_type].name}/" for entity_type in source.entity_types)
    written = [name for name in here if name.startswith(tables)]
    assert written
    for name in here:
        assert pq.read_table(in_workers[name]).equals(pq.read_table(here[name])), name
    summary_here, summary_in_workers = summaries[0], summaries[2]
    assert str(summary_in_workers).replace(str(tmp_path / "home2"), "HOME") == \
        str(summary_here).replace(str(tmp_path / "home0"), "HOME")
    assert summary_here.final_values_kept or source is ADS
    assert summary_here.status_rows > 0


def test_a_dead_worker_and_a_malformed_answer_are_known_errors_printed_as_one_paragraph():
    """Their messages say what happened and what to do: no traceback, no 'unexpected, please report it'."""
    from pipelines import known_errors
    assert known_errors.is_known("WorkerProcessError")
    assert known_errors.is_known("MetricValueError") and known_errors.is_known("DuplicateKeyError")


CHILD = """
import time
from pipelines.normalize_workers import map_in_order
from tests.worker_support import shout
def tasks():
    yield ("a",)
    time.sleep(60)
    yield ("b",)
for _ in map_in_order(shout, tasks(), 2):
    pass
"""


def _children(pid: int) -> list[int]:
    import os
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    if int(stat.read().rsplit(")", 1)[1].split()[1]) == pid:
                        found.append(int(entry))
            except OSError:
                pass
    return found


@pytest.mark.slow  # about 3 s: a child process that spawns workers, then is killed
def test_workers_end_when_the_pipelines_process_is_killed():
    """kill -9 (or the OOM killer) of the pipeline's process while workers run: the workers end too, instead of
    waiting for ever on their task queue as orphans holding the pipeline's standard output and error open
    (`pinterest-etl run ... | logger` would never end)."""
    import os
    import signal
    import subprocess
    import sys
    import time
    child = subprocess.Popen([sys.executable, "-c", CHILD], cwd=Path(__file__).resolve().parents[1])
    workers: list[int] = []
    try:
        deadline = time.monotonic() + 20
        while not workers and time.monotonic() < deadline:
            time.sleep(0.1)
            workers = [pid for pid in _children(child.pid)
                       if b"spawn_main" in open(f"/proc/{pid}/cmdline", "rb").read()]
        assert workers, "no worker started"
        time.sleep(0.5)
        child.kill()
        child.wait()
        time.sleep(2)
        alive = [pid for pid in workers if os.path.exists(f"/proc/{pid}") and
                 open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] != "Z"]
        assert not alive, f"worker process(es) {alive} still running after the pipeline's process was killed"
    finally:
        for pid in workers:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)


@pytest.mark.slow
@pytest.mark.parametrize("source", [ORGANIC, ADS], ids=["organic", "ads"])
def test_staging_in_memory_or_in_files_and_one_or_two_date_threads_write_the_same_lake(loaded, tmp_path, monkeypatch,
                                                                                      source):
    """A range that fits the staging buffer is read back from memory, a larger one from per-date staging files
    (flushed every 40 rows here), and dates are chosen and typed on one thread or two: the same files, the same
    rows in the same order, the same summary."""
    monkeypatch.delenv("PINTEREST_CONTENT_TYPES", raising=False)
    lakes, summaries = {}, {}
    for name, flush_rows, threads in (("memory", transform._FLUSH_ROWS, 2), ("files", 40, 2), ("one-thread", 40, 1)):
        monkeypatch.setattr(transform, "_FLUSH_ROWS", flush_rows)
        monkeypatch.setattr(transform, "_DATE_THREADS", threads)
        home = tmp_path / name
        shutil.copytree(loaded, home)
        summaries[name] = str(transform.normalize_range([RawZone(home / "raw")], Lake(home / "lake"), WHOLE, source,
                                                        TODAY, workers=0)).replace(str(home), "HOME")
        lakes[name] = lake_files(home)
    assert summaries["memory"] == summaries["files"] == summaries["one-thread"]
    assert set(lakes["memory"]) == set(lakes["files"]) == set(lakes["one-thread"])
    for name, path in lakes["memory"].items():
        rows = pq.read_table(path)
        assert rows.equals(pq.read_table(lakes["files"][name])), name
        assert rows.equals(pq.read_table(lakes["one-thread"][name])), name


def test_a_busy_date_of_a_mostly_quiet_range_is_prepared_alone_and_the_quiet_ones_on_threads():
    """The lake step's size rule looked at the range's AVERAGE staged rows per date: a backfill of 97 quiet dates
    (10 rows) and 3 busy ones (100,000 rows: a campaign's launch, a world that grew) averaged about 3,000 rows, so
    the busy dates were prepared on the two threads at once, the case the rule exists to avoid (two more large
    dates in memory: +117 MB at L's ads). Each date is now decided by its own staged rows."""
    busy = {TODAY - dt.timedelta(days=n) for n in (50, 51, 52)}
    sizes = {TODAY - dt.timedelta(days=n): 10 for n in range(1, 101)} | dict.fromkeys(busy, 100_000)
    in_flight: set[dt.date] = set()
    beside_a_busy_date: list[list[dt.date]] = []
    on_a_thread: dict[dt.date, bool] = {}
    lock = threading.Lock()

    def prepare(connection, date):
        with lock:
            in_flight.add(date)
            if len(in_flight) > 1 and in_flight & busy:
                beside_a_busy_date.append(sorted(in_flight))
            on_a_thread[date] = threading.current_thread() is not threading.main_thread()
        time.sleep(0.002)  # long enough for the other thread to start a date
        with lock:
            in_flight.discard(date)
        return connection.execute("SELECT ?::DATE", [date]).fetchone()[0]

    with duckdb.connect() as con:
        assert list(transform.prepared_by_date(con, sorted(sizes), sizes.__getitem__, prepare)) == sorted(sizes)
    assert beside_a_busy_date == []
    assert {date for date, threaded in on_a_thread.items() if not threaded} == busy
