"""Corrupt raw or lake files found later (a flipped byte, a truncation): detected, reported with the path and
what to do, never skipped silently: by normalization, by the warehouse load and by `pinterest-etl verify`."""

from __future__ import annotations

import datetime as dt
import gzip
import shutil
from pathlib import Path

import pytest

from pipelines.cli import main
from pipelines.lake import Lake, checksum_path
from pipelines.orchestration import run_range
from pipelines.raw_zone import RawZone
from pipelines.sandbox import SandboxConfig, running_sandbox
from tests.conftest import TODAY, UNLIMITED
from tests.pipeline_support import pipeline_env
from tests.process_support import SMALL_WORLD, lake_files, warehouse_contents

START, END = TODAY - dt.timedelta(days=5), TODAY - dt.timedelta(days=1)
DAY = START + dt.timedelta(days=2)


@pytest.fixture(scope="module")
def loaded(tmp_path_factory) -> Path:
    """A data directory holding one organic run of the range."""
    home = tmp_path_factory.mktemp("loaded") / "home"
    with running_sandbox(SandboxConfig(today=TODAY, rate_limits=dict(UNLIMITED), **SMALL_WORLD)) as server, \
            pytest.MonkeyPatch.context() as monkeypatch:
        pipeline_env(monkeypatch, home, server, TODAY)
        assert run_range(START, END, only="organic") == 0
    return home


@pytest.fixture
def home(loaded, tmp_path, monkeypatch, sandbox) -> Path:
    """A copy of the loaded data directory as PINTEREST_ETL_HOME (what the tests run makes no API call)."""
    copy = tmp_path / "home"
    shutil.copytree(loaded, copy)
    pipeline_env(monkeypatch, copy, sandbox, TODAY)
    return copy


def flip_a_byte(path: Path, position: int | None = None) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2 if position is None else position] ^= 0xFF
    path.write_bytes(bytes(data))


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def a_raw_answer(home: Path, endpoint: str = "multi_pins__analytics") -> Path:
    return sorted((home / "raw" / endpoint).rglob("*.json.gz"))[0]


def a_lake_file(home: Path, table: str = "pin_daily", day: dt.date = DAY) -> Path:
    [path] = (home / "lake" / table / f"date={day}").glob("organic.user=*.parquet")  # the one user's file
    return path


@pytest.mark.parametrize("damage", [flip_a_byte, truncate], ids=["flipped-byte", "truncated"])
def test_a_damaged_raw_answer_stops_renormalizing_naming_the_file(home, capsys, damage):
    damaged = a_raw_answer(home)
    damage(damaged)
    lake_before, warehouse_before = {n: p.read_bytes() for n, p in lake_files(home).items()}, warehouse_contents(home)
    assert run_range(START, END, from_raw=True, only="organic") == 1
    printed = capsys.readouterr().err
    assert f"step organic_lake failed: RawZoneError: raw file {damaged} is corrupt or unreadable (" in printed
    assert "move it aside and re-run its dates to fetch them again" in printed
    assert {n: p.read_bytes() for n, p in lake_files(home).items()} == lake_before
    assert warehouse_contents(home) == warehouse_before


def test_verify_lists_every_damaged_raw_and_lake_file_and_exits_1(home, capsys):
    assert main(["verify"]) == 0
    intact = capsys.readouterr()
    raw_count, lake_count = len(RawZone(home / "raw").all_files()), len(lake_files(home))
    checked = f"Checked {raw_count} raw files in {home / 'raw'} and {lake_count} lake files in {home / 'lake'}."
    assert f"{checked}\nEvery file is intact.\n" == intact.out
    damaged = {a_raw_answer(home, "multi_pins__analytics"): flip_a_byte, a_raw_answer(home, "user_account__analytics"): truncate,
               a_lake_file(home, "pin_daily"): flip_a_byte, a_lake_file(home, "user_account_daily"): truncate}
    for path, damage in damaged.items():
        damage(path)
    assert main(["verify"]) == 1
    printed = capsys.readouterr()
    assert checked in printed.out
    reported = {line.split(": ", 1)[0].removeprefix("BAD "): line.split(": ", 1)[1]
                for line in printed.err.splitlines() if line.startswith("BAD ")}
    assert set(reported) == {str(p) for p in damaged}
    assert reported[str(a_lake_file(home, "pin_daily"))].startswith("its content does not match the checksum")
    assert "4 bad file(s)." in printed.err


def test_loading_a_damaged_lake_file_fails_naming_it_and_its_rebuild_repairs_it(home, capsys):
    damaged = a_lake_file(home)
    flip_a_byte(damaged)
    before = warehouse_contents(home)
    assert run_range(START, END, from_lake=True, only="organic") == 1
    printed = capsys.readouterr().err
    assert f"step organic_warehouse failed: CorruptLakeFileError: lake file {damaged} is corrupt: its content does " \
           "not match the checksum recorded when it was written" in printed
    rebuild = f"pinterest-etl run --from-raw --only organic --start {DAY} --end {DAY}"
    assert f"rebuild it from the raw zone (no API calls): `{rebuild}`" in printed
    assert warehouse_contents(home) == before
    assert main(rebuild.split()[1:]) == 0
    assert Lake.check_file(damaged) is None
    assert warehouse_contents(home) == before  # the same answers again: the same rows


def test_a_lake_file_written_before_checksums_is_still_checked_as_parquet(home, capsys):
    damaged = a_lake_file(home)
    checksum_path(damaged).unlink()
    truncate(damaged)
    assert Lake.check_file(damaged).startswith("not a readable Parquet file (")
    assert run_range(START, END, from_lake=True, only="organic") == 1
    assert f"CorruptLakeFileError: lake file {damaged} is corrupt: not a readable Parquet file (" in capsys.readouterr().err


def spread(size: int, head: int = 64, samples: int = 200) -> list[int]:
    """Every one of the first `head` byte positions (headers), then `samples` positions evenly spread."""
    return sorted({*range(min(head, size)), *range(0, size, max(1, size // samples)), size - 1})


def test_no_single_byte_flip_in_a_lake_file_goes_unnoticed(home):
    path = a_lake_file(home)
    for position in spread(path.stat().st_size):
        original = path.read_bytes()
        flip_a_byte(path, position)
        assert Lake.check_file(path) is not None, position
        path.write_bytes(original)


def test_no_single_byte_flip_in_a_raw_answer_changes_what_is_read_unnoticed(home):
    """gzip's CRC-32 covers the content: a flip is reported, or falls in header fields that are not content
    (the modification time, the OS byte, the original file name)."""
    path = a_raw_answer(home)
    original = path.read_bytes()
    content = gzip.decompress(original)
    unnoticed = []
    for position in spread(len(original)):
        flip_a_byte(path, position)
        if RawZone.check_file(path) is None:
            assert gzip.decompress(path.read_bytes()) == content, position
            unnoticed.append(position)
        path.write_bytes(original)
    header_end = original.index(b"\0", 10) + 1 if original[3] & 0x08 else 10  # FLG.FNAME: a zero-terminated name
    assert set(unnoticed) <= set(range(4, header_end))  # MTIME, XFL, OS and FNAME
