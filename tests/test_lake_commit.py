"""A commit of many staged lake files (a run's dates x tables x identities, flushed to disk together before the
renames) puts each in place whole, with its checksum, and leaves no temporary."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pyarrow.parquet as pq

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
