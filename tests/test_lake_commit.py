"""A commit of many staged lake files (a run's dates x tables x identities, flushed to disk together before the
renames) puts each in place whole, with its checksum, and leaves no temporary."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.atomic_files import DataWriteError
from pipelines.lake import Lake

FIRST = dt.date(2026, 11, 1)
DATES, IDENTITIES = 20, 3


def rows(day: int, user: int) -> pa.Table:
    return pa.table({"pin_id": [f"{day}{user}{n}" for n in range(5)], "impression": [day * 100 + user] * 5})


def test_a_commit_of_many_files_puts_each_in_place_whole_with_its_checksum(tmp_path):
    lake = Lake(tmp_path / "lake")
    staged = [lake.stage_rows("pin_daily", FIRST + dt.timedelta(days=day), f"organic.user={user}", rows(day, user))
              for day in range(DATES) for user in range(IDENTITIES)]
    lake.commit(staged)
    for day in range(DATES):
        for user in range(IDENTITIES):
            path = lake.path("pin_daily", FIRST + dt.timedelta(days=day), f"organic.user={user}")
            assert pq.read_table(path).equals(rows(day, user))
            assert Lake.check_file(path) is None
    assert list((tmp_path / "lake").rglob("*.tmp")) == []
    assert len(lake.all_files()) == DATES * IDENTITIES


def test_a_discarded_stage_leaves_the_files_in_place(tmp_path):
    lake = Lake(tmp_path / "lake")
    lake.commit([lake.stage_rows("pin_daily", FIRST, "organic.user=1", rows(0, 1))])
    Lake.discard([lake.stage_rows("pin_daily", FIRST, "organic.user=1", rows(5, 1))])
    path = lake.path("pin_daily", FIRST, "organic.user=1")
    assert pq.read_table(path).equals(rows(0, 1)) and Lake.check_file(path) is None
    assert sorted(p.name for p in path.parent.iterdir()) == [f".{path.name}.sha256", path.name]


def test_a_row_stager_writes_on_threads_and_gives_the_files_in_the_order_asked(tmp_path):
    lake = Lake(tmp_path / "lake")
    stager = lake.row_stager()
    asked = [(FIRST + dt.timedelta(days=day), f"organic.user={user}") for day in range(DATES) for user in range(IDENTITIES)]
    for day, (date, stem) in enumerate(asked):
        stager.stage_rows("pin_daily", date, stem, rows(day // IDENTITIES, day % IDENTITIES))
    staged = stager.files()
    assert [file.target for file in staged] == [lake.path("pin_daily", date, stem) for date, stem in asked]
    lake.commit(staged)
    for number, (date, stem) in enumerate(asked):
        assert pq.read_table(lake.path("pin_daily", date, stem)).equals(rows(number // IDENTITIES, number % IDENTITIES))
    assert list((tmp_path / "lake").rglob("*.tmp")) == []


def test_a_failed_write_of_a_row_stager_is_raised_and_abandoning_it_leaves_no_temporary(tmp_path):
    lake = Lake(tmp_path / "lake")
    lake.commit([lake.stage_rows("pin_daily", FIRST, "organic.user=1", rows(0, 1))])
    (tmp_path / "lake" / "pin_daily" / f"date={FIRST + dt.timedelta(days=7)}").write_text("in the way\n")
    stager = lake.row_stager()
    with pytest.raises(DataWriteError, match="a part of the path is a file, not a directory"):  # raised by a later
        for day in range(DATES):                                                                # stage_rows or files()
            stager.stage_rows("pin_daily", FIRST + dt.timedelta(days=day), "organic.user=1", rows(day + 1, 1))
        stager.files()
    written, first_error = stager.abandon()
    assert isinstance(first_error, DataWriteError) and "date=2026-11-08" in str(first_error)
    Lake.discard(written)
    assert list((tmp_path / "lake").rglob("*.tmp")) == []
    path = lake.path("pin_daily", FIRST, "organic.user=1")
    assert pq.read_table(path).equals(rows(0, 1))
    assert len(lake.all_files()) == 1


def test_small_files_are_written_with_snappy_and_larger_ones_with_zstd(tmp_path):
    """ZSTD's fixed cost per column chunk (about 1.7 ms a file) buys little below 100 rows (pipelines/lake.py
    `_ZSTD_FROM_ROWS`); the files read the same either way."""
    lake = Lake(tmp_path / "lake")
    sizes = {"organic.user=1": 99, "organic.user=2": 100, "organic.user=3": 5000}
    lake.commit([lake.stage_rows("pin_daily", FIRST, stem, pa.table({"pin_id": [str(n) for n in range(count)]}))
                 for stem, count in sizes.items()])
    codecs = {stem: pq.ParquetFile(lake.path("pin_daily", FIRST, stem)).metadata.row_group(0).column(0).compression
              for stem in sizes}
    assert codecs == {"organic.user=1": "SNAPPY", "organic.user=2": "ZSTD", "organic.user=3": "ZSTD"}
    assert [pq.read_table(lake.path("pin_daily", FIRST, stem)).num_rows for stem in sizes] == list(sizes.values())
