"""History tables: the versions valid on every snapshot date are that date's dimension, from real runs and from
snapshots written by the lake's own writer."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines import history
from pipelines.ads.dimensions import CAMPAIGNS
from pipelines.history import TRACKED_DIMENSIONS, UNTRACKED_COLUMNS, SnapshotFile, replace_history
from pipelines.lake import CorruptLakeFileError, Lake, identity, identity_of
from pipelines.organic.dimensions import PINS
from pipelines.quality import DIMENSION_KEYS
from tests.conftest import TODAY
from tests.pipeline_support import pipeline_env, run

D1, D2, D3, D4 = (dt.date(2026, 11, 1) + dt.timedelta(days=n) for n in range(4))
USER_A, USER_B = identity("user", 111), identity("user", 222)
ACCOUNT_A, ACCOUNT_B = identity("ad_account", 549764000001), identity("ad_account", 549764000002)


def _extracted(day: dt.date, minute: int = 0) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, 6, minute, tzinfo=dt.timezone.utc)


def _pins(day: dt.date, titles: dict[str, str | None], minute: int = 0) -> pa.Table:
    """A pins snapshot: one pin per entry (pin id -> title), extracted on `day`."""
    rows = [{"pin_id": pin, "board_id": "9", "title": title, "is_video": False, "extracted_at": _extracted(day, minute)}
            for pin, title in titles.items()]
    return pa.Table.from_pylist(rows, schema=PINS)


def _campaigns(day: dt.date, account: str, statuses: dict[str, str]) -> pa.Table:
    rows = [{"campaign_id": campaign, "ad_account_id": account.split("=")[1], "name": f"Campaign {campaign}",
             "status": status, "daily_spend_cap": 5_000_000, "extracted_at": _extracted(day)}
            for campaign, status in statuses.items()]
    return pa.Table.from_pylist(rows, schema=CAMPAIGNS)


def _history(lake: Lake, dimension: str) -> list[tuple]:
    """(key, the attribute the test changes, valid_from, valid_to, is_current) of every version, oldest first."""
    attribute = {"pins": "title", "campaigns": "status"}[dimension]
    with duckdb.connect() as con:
        replace_history(con, lake, [dimension])
        return con.execute(f"SELECT {DIMENSION_KEYS[dimension][0]}, {attribute}, valid_from, valid_to, is_current "
                           f"FROM {dimension}_history ORDER BY 1, valid_from").fetchall()


def test_an_unchanged_snapshot_adds_no_version(tmp_path):
    lake = Lake(tmp_path / "lake")
    for day in (D1, D2, D3):  # only the extraction time differs
        lake.snapshot_rows("pins", day, USER_A, _pins(day, {"1": "Soup", "2": None}))
    assert _history(lake, "pins") == [("1", "Soup", D1, None, True), ("2", None, D1, None, True)]


def test_a_change_ends_one_version_and_starts_the_next(tmp_path):
    lake = Lake(tmp_path / "lake")
    for day, status in ((D1, "ACTIVE"), (D2, "ACTIVE"), (D3, "PAUSED"), (D4, "PAUSED")):
        lake.snapshot_rows("campaigns", day, ACCOUNT_A, _campaigns(day, ACCOUNT_A, {"7": status, "8": "ACTIVE"}))
    assert _history(lake, "campaigns") == [("7", "ACTIVE", D1, D3, False), ("7", "PAUSED", D3, None, True),
                                           ("8", "ACTIVE", D1, None, True)]


def test_a_value_set_back_is_a_new_version(tmp_path):
    lake = Lake(tmp_path / "lake")
    for day, title in ((D1, "Soup"), (D2, "Stew"), (D3, "Soup")):
        lake.snapshot_rows("pins", day, USER_A, _pins(day, {"1": title}))
    assert _history(lake, "pins") == [("1", "Soup", D1, D2, False), ("1", "Stew", D2, D3, False),
                                      ("1", "Soup", D3, None, True)]


def test_an_entity_no_longer_listed_ends_its_version_and_none_follows(tmp_path):
    lake = Lake(tmp_path / "lake")
    lake.snapshot_rows("pins", D1, USER_A, _pins(D1, {"1": "Soup", "2": "Bread"}))
    lake.snapshot_rows("pins", D2, USER_A, _pins(D2, {"1": "Soup"}))
    lake.snapshot_rows("pins", D3, USER_A, _pins(D3, {"1": "Soup"}))
    assert _history(lake, "pins") == [("1", "Soup", D1, None, True), ("2", "Bread", D1, D2, False)]


def test_an_entity_listed_again_after_a_gap_starts_a_new_version(tmp_path):
    lake = Lake(tmp_path / "lake")
    for day, titles in ((D1, {"1": "Soup"}), (D2, {}), (D3, {"1": "Soup"})):
        lake.snapshot_rows("pins", day, USER_A, _pins(day, titles))
    assert _history(lake, "pins") == [("1", "Soup", D1, D2, False), ("1", "Soup", D3, None, True)]


def test_an_identity_without_a_snapshot_on_a_date_ends_none_of_its_versions(tmp_path):
    """Account B's run failed on D2 (no snapshot of its identity that day): its pins stay as they were."""
    lake = Lake(tmp_path / "lake")
    lake.snapshot_rows("pins", D1, USER_A, _pins(D1, {"1": "Soup"}))
    lake.snapshot_rows("pins", D1, USER_B, _pins(D1, {"5": "Cake"}))
    lake.snapshot_rows("pins", D2, USER_A, _pins(D2, {"1": "Stew"}))
    lake.snapshot_rows("pins", D3, USER_A, _pins(D3, {"1": "Stew"}))
    lake.snapshot_rows("pins", D3, USER_B, _pins(D3, {"5": "Cake"}))
    assert _history(lake, "pins") == [("1", "Soup", D1, D2, False), ("1", "Stew", D2, None, True),
                                      ("5", "Cake", D1, None, True)]


def test_an_identity_never_extracted_again_keeps_its_entities_current(tmp_path):
    lake = Lake(tmp_path / "lake")
    lake.snapshot_rows("campaigns", D1, ACCOUNT_B, _campaigns(D1, ACCOUNT_B, {"9": "ACTIVE"}))
    for day in (D1, D2, D3):
        lake.snapshot_rows("campaigns", day, ACCOUNT_A, _campaigns(day, ACCOUNT_A, {"7": "ACTIVE"}))
    assert _history(lake, "campaigns") == [("7", "ACTIVE", D1, None, True), ("9", "ACTIVE", D1, None, True)]


def test_an_entity_two_identities_list_is_kept_once_as_last_extracted(tmp_path):
    """A group board's pin listed by two users: each date shows the row of the newer extraction."""
    lake = Lake(tmp_path / "lake")
    lake.snapshot_rows("pins", D1, USER_A, _pins(D1, {"1": "Soup"}, minute=5))
    lake.snapshot_rows("pins", D1, USER_B, _pins(D1, {"1": "Soup (B's view)"}, minute=1))
    lake.snapshot_rows("pins", D2, USER_B, _pins(D2, {"1": "Soup (B's view)"}))  # A failed on D2: its D1 row is older
    assert _history(lake, "pins") == [("1", "Soup", D1, D2, False), ("1", "Soup (B's view)", D2, None, True)]


def test_the_stand_in_of_an_identity_is_its_newest_snapshot_up_to_each_date(tmp_path):
    files = [SnapshotFile(Path("a1"), USER_A, D1), SnapshotFile(Path("a3"), USER_A, D3),
             SnapshotFile(Path("b2"), USER_B, D2)]
    line = history.timeline(files)
    assert line.dates == [D1, D2, D3]
    stood_for = {(line.dates[d], line.paths[f]) for f, d in line.stand_ins}
    assert stood_for == {(D1, "a1"), (D2, "a1"), (D2, "b2"), (D3, "a3"), (D3, "b2")}


def _state_on(lake: Lake, dimension: str, day: dt.date) -> set[tuple]:
    """The oracle: the dimension as the warehouse's latest-state rule makes it from the snapshots up to `day` (the
    newest of every identity; an entity two identities list: the newer extraction), without untracked columns."""
    newest: dict[str, Path] = {}
    for path in sorted((lake.root / dimension).glob("snapshot_date=*/*.parquet")):
        if path.parent.name.removeprefix("snapshot_date=") <= day.isoformat():
            newest[identity_of(path)] = path
    rows = [row for path in newest.values() for row in pq.read_table(path).to_pylist()]
    key = DIMENSION_KEYS[dimension][0]
    latest: dict[str, dict] = {}
    for row in sorted(rows, key=lambda r: r["extracted_at"]):
        latest[row[key]] = row
    columns = [f.name for f in TRACKED_DIMENSIONS[dimension] if f.name not in UNTRACKED_COLUMNS]
    return {tuple(row[c] for c in columns) for row in latest.values()}


def _valid_on(con: duckdb.DuckDBPyConnection, dimension: str, day: dt.date) -> set[tuple]:
    columns = [f.name for f in TRACKED_DIMENSIONS[dimension] if f.name not in UNTRACKED_COLUMNS]
    return set(con.execute(f"SELECT {', '.join(columns)} FROM {dimension}_history WHERE valid_from <= ? "
                           "AND (valid_to IS NULL OR valid_to > ?)", [day, day]).fetchall())


def _random_snapshots(lake: Lake, days: list[dt.date], seed: int = 15):
    """Per date, random renames, deletions, new pins and failed runs of two identities; yields after each date."""
    chance = random.Random(seed)
    pins = {USER_A: {str(n): f"A{n}" for n in range(40)}, USER_B: {str(n): f"B{n}" for n in range(30, 60)}}
    for number, day in enumerate(days):
        for user, titles in pins.items():
            if number and chance.random() < 0.25:
                continue  # this account's run failed
            for pin in list(titles):
                draw = chance.random()
                if draw < 0.1:
                    titles[pin] = f"{titles[pin]}'"
                elif draw < 0.15:
                    del titles[pin]
            titles[f"{user}-{number}"] = "new"
            lake.snapshot_rows("pins", day, user, _pins(day, titles, minute=number % 2 + (user == USER_B)))
        yield day


def test_the_versions_valid_on_each_date_are_that_dates_snapshot_through_many_changes(tmp_path):
    """Twelve dates of random renames, deletions, new pins and failed runs of two identities."""
    lake = Lake(tmp_path / "lake")
    days = list(_random_snapshots(lake, [D1 + dt.timedelta(days=n) for n in range(12)]))
    with duckdb.connect() as con:
        versions = replace_history(con, lake, ["pins"])["pins_history"]
        for day in days:
            assert _valid_on(con, "pins", day) == _state_on(lake, "pins", day), day
        assert con.execute("SELECT count(*) FROM pins_history WHERE is_current").fetchall()[0][0] == \
            len(_state_on(lake, "pins", days[-1]))
    assert versions > 100  # changes happened


def _all_versions(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    return con.execute("SELECT * FROM pins_history ORDER BY ALL").fetchall()


def test_a_history_extended_load_after_load_is_the_one_built_from_all_snapshots(tmp_path):
    lake = Lake(tmp_path / "lake")
    with duckdb.connect() as step_by_step, duckdb.connect() as at_once:
        for day in _random_snapshots(lake, [D1 + dt.timedelta(days=n) for n in range(10)]):
            replace_history(step_by_step, lake, ["pins"])
            if day.day % 3 == 0:  # the same day's run again, with other values: the day's last snapshot wins
                lake.snapshot_rows("pins", day, USER_A, _pins(day, {"1": f"again {day}", "2": "A2"}, minute=30))
                replace_history(step_by_step, lake, ["pins"])
        replace_history(at_once, lake, ["pins"])
        assert _all_versions(step_by_step) == _all_versions(at_once)


def test_a_snapshot_dated_before_the_history_rebuilds_it_whole(tmp_path):
    lake = Lake(tmp_path / "lake")
    lake.snapshot_rows("pins", D2, USER_A, _pins(D2, {"1": "Stew"}))
    lake.snapshot_rows("pins", D3, USER_A, _pins(D3, {"1": "Stew"}))
    with duckdb.connect() as con:
        replace_history(con, lake, ["pins"])
        lake.snapshot_rows("pins", D1, USER_A, _pins(D1, {"1": "Soup"}))
        replace_history(con, lake, ["pins"])
        assert con.execute("SELECT title, valid_from, valid_to FROM pins_history ORDER BY 2").fetchall() == \
            [("Soup", D1, D2), ("Stew", D2, None)]


def test_a_history_table_of_an_earlier_version_is_built_anew(tmp_path):
    lake = Lake(tmp_path / "lake")
    for day, title in ((D1, "Soup"), (D2, "Stew")):
        lake.snapshot_rows("pins", day, USER_A, _pins(day, {"1": title}))
    with duckdb.connect() as con:
        replace_history(con, lake, ["pins"])
        con.execute("ALTER TABLE pins_history DROP COLUMN dominant_color")
        assert replace_history(con, lake, ["pins"]) == {"pins_history": 2}
        assert [r[0] for r in con.execute("DESCRIBE pins_history").fetchall()] == history.history_schema("pins").names


def test_a_load_reads_the_snapshots_of_the_newest_unchanged_date_and_after(tmp_path):
    """After a daily run: one file per identity of the last built date, and the new ones."""
    lake = Lake(tmp_path / "lake")
    for day in (D1, D2):
        lake.snapshot_rows("pins", day, USER_A, _pins(day, {"1": "Soup"}))
    lake.snapshot_rows("pins", D1, USER_B, _pins(D1, {"5": "Cake"}))
    with duckdb.connect() as con:
        replace_history(con, lake, ["pins"])
        built = history._built_from(con, lake, "pins")
    lake.snapshot_rows("pins", D3, USER_A, _pins(D3, {"1": "Soup"}))
    files = history.snapshot_files(lake, "pins")
    assert history.resume_date(files, built) == D2
    read = history.timeline(files, D2).paths
    assert sorted(Path(p).parent.name + "/" + Path(p).name.split(".", 1)[1] for p in read) == \
        [f"snapshot_date={D1}/{USER_B}.parquet", f"snapshot_date={D2}/{USER_A}.parquet",
         f"snapshot_date={D3}/{USER_A}.parquet"]
    lake.snapshot_rows("pins", D2, USER_A, _pins(D2, {"1": "Stew"}))  # D2 run again
    assert history.resume_date(history.snapshot_files(lake, "pins"), built) == D1


def test_without_snapshots_the_history_table_is_empty_with_its_columns(tmp_path):
    with duckdb.connect() as con:
        assert replace_history(con, Lake(tmp_path / "lake"), ["pins", "pin_lifetime"]) == {"pins_history": 0}
        columns = [r[0] for r in con.execute("DESCRIBE pins_history").fetchall()]
        history.create_history_tables(con)
        tables = {r[0] for r in con.execute("SHOW TABLES").fetchall()}
    assert columns == history.history_schema("pins").names
    assert columns[-3:] == ["valid_from", "valid_to", "is_current"] and "extracted_at" not in columns
    assert tables == {f"{d}_history" for d in TRACKED_DIMENSIONS} | {"history_snapshot_files"}


def test_a_changed_snapshot_file_is_named(tmp_path):
    lake = Lake(tmp_path / "lake")
    lake.snapshot_rows("pins", D1, USER_A, _pins(D1, {"1": "Soup"}))
    damaged = lake.snapshot_rows("pins", D2, USER_A, _pins(D2, {"1": "Stew"}))
    damaged.write_bytes(damaged.read_bytes()[:-9] + b"XXXXXXXXX")
    with duckdb.connect() as con, pytest.raises(CorruptLakeFileError) as failure:
        replace_history(con, lake, ["pins"])
    assert str(damaged) in str(failure.value) and "checksum" in str(failure.value)


@pytest.mark.slow
def test_real_runs_unchanged_world_and_a_refused_ad_account(make_sandbox, monkeypatch, tmp_path):
    """Two daily runs of the simulator (its entities do not change as its clock moves), the second with one of the
    two ad accounts refused (HTTP 403): one version per entity, all current, the refused account's included, and
    the current versions are the warehouse's latest-state tables."""
    later = TODAY + dt.timedelta(days=1)
    pipeline_env(monkeypatch, tmp_path, make_sandbox(pins=300, ad_accounts=2, epoch=TODAY), TODAY)
    assert run(TODAY - dt.timedelta(days=2), TODAY - dt.timedelta(days=1), only=None) == 0
    pipeline_env(monkeypatch, tmp_path, make_sandbox(pins=300, ad_accounts=2, forbidden_ad_accounts=1,
                                                     epoch=TODAY, today=later), later)
    assert run(later - dt.timedelta(days=1), later - dt.timedelta(days=1), only=None) == 0
    lake = Lake(tmp_path / "lake")
    assert len(list((lake.root / "campaigns" / f"snapshot_date={later}").glob("*.parquet"))) == 1  # one refused
    with duckdb.connect() as con:
        built = replace_history(con, lake)
        con.execute("ATTACH ? AS warehouse (READ_ONLY)", [str(tmp_path / "warehouse.duckdb")])
        for dimension in TRACKED_DIMENSIONS:
            versions = f"{dimension}_history"
            columns = ", ".join(c for c in history.history_schema(dimension).names[:-3])
            entities = con.execute(f"SELECT count(*) FROM warehouse.{dimension}").fetchall()[0][0]
            assert entities > 0 and built[versions] == entities, dimension
            assert con.execute(f"SELECT count(*) FROM {versions} WHERE is_current AND valid_from = ? "
                               "AND valid_to IS NULL", [TODAY]).fetchall()[0][0] == entities, dimension
            differing = con.execute(f"(SELECT {columns} FROM {versions} WHERE is_current EXCEPT "
                                    f"SELECT {columns} FROM warehouse.{dimension}) UNION ALL "
                                    f"(SELECT {columns} FROM warehouse.{dimension} EXCEPT "
                                    f"SELECT {columns} FROM {versions} WHERE is_current)").fetchall()
            assert differing == [], dimension
            for day in (TODAY, later):
                assert _valid_on(con, dimension, day) == _state_on(lake, dimension, day), (dimension, day)
        assert con.execute("SELECT count(DISTINCT ad_account_id) FROM campaigns_history WHERE is_current").fetchall() \
            == [(2,)]
