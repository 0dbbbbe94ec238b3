"""A folder among a dimension's snapshots that the pipeline never writes (a copy, a backup) is refused by name:
neither the latest state nor the history may take it for a snapshot date."""

from __future__ import annotations

import datetime as dt
import shutil

import duckdb
import pyarrow as pa
import pytest

from pipelines import history
from pipelines.lake import USER, Lake, StraySnapshotFolderError, identity
from pipelines.organic.dimensions import BOARDS

DAY = dt.date(2026, 11, 20)


def _boards(lake: Lake) -> None:
    rows = pa.Table.from_pylist([{"board_id": "1", "name": "Recipes"}], schema=BOARDS)
    lake.snapshot_rows("boards", DAY, identity(USER, "7"), rows)


@pytest.mark.parametrize("folder", ["snapshot_date=garbage", "snapshot_date=2026-11-20.bak", "snapshot_date=2026-13-01"])
def test_a_stray_snapshot_folder_is_refused_naming_it(tmp_path, folder):
    lake = Lake(tmp_path / "lake")
    _boards(lake)
    stray = tmp_path / "lake" / "boards" / folder
    shutil.copytree(tmp_path / "lake" / "boards" / f"snapshot_date={DAY}", stray)
    for read in (lambda: lake.latest_snapshots("boards"), lambda: lake.latest_snapshot("boards", identity(USER, "7")),
                 lambda: history.replace_history(duckdb.connect(), lake, ["boards"])):
        with pytest.raises(StraySnapshotFolderError) as refused:
            read()
        assert str(stray) in str(refused.value) and "move it out of the lake" in str(refused.value)


def test_snapshot_folders_of_dates_are_read_oldest_first(tmp_path):
    lake = Lake(tmp_path / "lake")
    _boards(lake)
    later = DAY + dt.timedelta(days=3)
    lake.snapshot_rows("boards", later, identity(USER, "7"),
                       pa.Table.from_pylist([{"board_id": "1", "name": "Dinners"}], schema=BOARDS))
    assert lake.latest_snapshots("boards") == [lake.snapshot_path("boards", later, identity(USER, "7"))]
    assert [p.parent.name for p in lake.snapshots("boards")] == [f"snapshot_date={DAY}", f"snapshot_date={later}"]
