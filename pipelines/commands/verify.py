"""`pinterest-etl verify`: check every raw answer and every lake file for corruption, and list the bad ones."""

from __future__ import annotations

import argparse
import contextlib
import shutil
import sys
import tempfile
from pathlib import Path

from pipelines import settings
from pipelines.data_locations import DataLocations, data_locations
from pipelines.object_mirror import Mirror
from pipelines.object_store import ObjectStore, StoreError


def add_parser(commands) -> None:
    p = commands.add_parser(
        "verify", help="check every raw and lake file for corruption (exit code 1 when one is bad)",
        description="Read every raw answer of the raw zone (PINTEREST_RAW_URI, default PINTEREST_ETL_HOME/raw: "
                    "gzip's CRC-32 and length, the request line, the body as JSON) and every Parquet file of the lake "
                    "(PINTEREST_LAKE_URI, default PINTEREST_ETL_HOME/lake: the SHA-256 recorded when it was written, "
                    "the footer, every row group decoded and its rows counted) and list each file that fails, with "
                    "why. A lake or raw zone on an object store is downloaded whole into a temporary folder under "
                    "PINTEREST_ETL_HOME/tmp and checked there (a bad object is named by its s3:// URI); files of "
                    "the local copy not pushed yet are counted. Writes nothing else; no API calls. Exit code 1 when "
                    "a file is bad, 0 when all are intact.")
    p.set_defaults(handler=_verify)


UNCOPYABLE = ("not checked: its key cannot be a file (an empty, . or .. part, or an object named like a folder of "
              "others), so no run wrote it and runs leave it out of their copies; move it out of the prefix")


def find_corrupt_files(home: Path, locations: DataLocations | None = None) -> tuple[int, int, list[tuple[str, str]]]:
    """(raw files checked, lake files checked, [(bad file, what is wrong)]) for a data directory: its lake and raw
    zone (`locations`, default the environment's). A lake or raw zone on an object store is downloaded whole into a
    temporary folder and checked there (its local copy may hold files not pushed yet, and is not what the store
    holds); a bad object is named by its URI."""
    from pipelines.lake import Lake
    from pipelines.raw_zone import RawZone

    locations = locations or data_locations(home)
    with _as_stored(home, locations.raw, locations.raw_store, append_only=True) as (raw_root, named, ignored):
        raw_files = RawZone(raw_root).all_files()
        bad = [(named(path), problem) for path in raw_files if (problem := RawZone.check_file(path))]
        bad += [(uri, UNCOPYABLE) for uri in ignored]
    with _as_stored(home, locations.lake, locations.lake_store, append_only=False) as (lake_root, named, ignored):
        bad += [(uri, UNCOPYABLE) for uri in ignored]
        lake = Lake(lake_root)
        lake_files = lake.all_files()
        for path in lake_files:
            # A file gone since the listing was replaced or retired by a run (or a long-layout file converted): its
            # successor is checked by the next verify, and nothing is wrong with a file that is no longer there.
            if (problem := lake.check_file(path)) and path.exists():
                bad.append((named(path), problem))
    return len(raw_files), len(lake_files), bad


@contextlib.contextmanager
def _as_stored(home: Path, root: Path, store: ObjectStore | None, append_only: bool):
    """(the folder to check, how to name one of its files, the store's objects left out of the download):
    `root` itself, or a temporary download of `store`."""
    if store is None:
        yield root, str, []
        return
    scratch = Path(tempfile.mkdtemp(prefix="verify-", dir=_scratch(home)))
    try:
        copy = scratch / "copy"
        mirror = Mirror(store, copy, append_only=append_only)
        mirror.pull()
        yield copy, lambda path: f"{store.uri}/{path.relative_to(copy).as_posix()}", mirror.ignored
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _scratch(home: Path) -> Path:
    folder = home / "tmp"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _verify(args: argparse.Namespace) -> int:
    from pipelines.atomic_files import stray_temporaries
    from pipelines.lake import checksum_path

    settings.load_dotenv()
    home = settings.etl_home()
    locations = data_locations(home)
    if not home.is_dir() and not locations.mirrors():
        print(f"pinterest-etl verify: error: no data directory at {home} (PINTEREST_ETL_HOME)", file=sys.stderr)
        return 2
    try:
        locations.check_stores()
        raw_count, lake_count, bad = find_corrupt_files(home, locations)
        pending = {mirror.store.uri: len(mirror.pending()) for mirror in locations.mirrors()}
    except StoreError as error:
        print(f"pinterest-etl verify: error: {error}", file=sys.stderr)
        return 2
    print(f"Checked {raw_count} raw files in {locations.describe_raw()} and {lake_count} lake files in "
          f"{locations.describe_lake()}.")
    unchecked = sum(1 for path in locations.lake.rglob("*.parquet") if not checksum_path(path).exists())
    if unchecked:
        print(f"{unchecked} lake file(s) have no recorded checksum (written before checksums were kept, or new files "
              "of a run stopped before it uploaded their checksums): checked as Parquet only.")
    for uri, count in pending.items():
        if count:
            print(f"{count} file(s) of the local copy of {uri} are not in the store yet (written by a run stopped "
                  "before it pushed them): the next run's first step pushes them.")
    leftovers = [*stray_temporaries(locations.lake), *stray_temporaries(locations.raw)]
    if leftovers:
        print(f"{len(leftovers)} temporary file(s) of interrupted runs (never read; the next run removes them).")
    if not bad:
        print("Every file is intact.")
        return 0
    for path, problem in bad:
        print(f"BAD {path}: {problem}", file=sys.stderr)
    print(f"{len(bad)} bad file(s). A raw answer: move it aside and re-run its dates (the API serves the last 90 days). "
          "A lake file on an object store that its checksum does not match may also be one a run stopped "
          "between writing it and its checksum. A lake file: rebuild its dates from the raw zone with `pinterest-etl run --from-raw --only <source> "
          "--start <date> --end <date>` (no API calls).", file=sys.stderr)
    return 1
