"""`pinterest-etl verify`: check every raw answer and every lake file for corruption, and list the bad ones."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pipelines import settings
from pipelines.data_locations import DataLocations, data_locations
from pipelines.object_store import ObjectStore, StoreError


def add_parser(commands) -> None:
    p = commands.add_parser(
        "verify", help="check every raw and lake file for corruption (exit code 1 when one is bad)",
        description="Read every raw answer of the raw zone (PINTEREST_RAW_URI, default PINTEREST_ETL_HOME/raw: "
                    "gzip's CRC-32 and length, the request line, the body as JSON) and every Parquet file of the lake "
                    "(PINTEREST_LAKE_URI, default PINTEREST_ETL_HOME/lake: the SHA-256 recorded when it was written, "
                    "the footer, every row group decoded and its rows counted) and list each file that fails, with "
                    "why. A lake or raw zone on an object store is first brought into its local copy whole (every "
                    "object the copy lacks or holds another version of is downloaded), and a copy found damaged is "
                    "downloaded again before it is called bad. Writes nothing but those copies; no API calls. Exit "
                    "code 1 when a file is bad, 0 when all are intact.")
    p.set_defaults(handler=_verify)


def find_corrupt_files(home: Path, locations: DataLocations | None = None) -> tuple[int, int, list[tuple[str, str]]]:
    """(raw files checked, lake files checked, [(bad file, what is wrong)]) for a data directory: its lake and raw
    zone, or `locations`' (their stores' local copies, which the caller pulled: a bad copy is downloaded again and
    checked once more, and one still bad is named by its object's URI)."""
    locations = locations or data_locations(home)
    raw_files, bad_raw = _bad_files(locations.raw, locations.raw_store, _raw_files, _raw_problem, locations)
    lake_files, bad_lake = _bad_files(locations.lake, locations.lake_store, _lake_files, _lake_problem, locations)
    return len(raw_files), len(lake_files), [*bad_raw, *bad_lake]


def _raw_files(root: Path) -> list[Path]:
    from pipelines.raw_zone import RawZone

    return RawZone(root).all_files()


def _raw_problem(root: Path, path: Path) -> str | None:
    from pipelines.raw_zone import RawZone

    return RawZone.check_file(path)


def _lake_files(root: Path) -> list[Path]:
    from pipelines.lake import Lake

    return Lake(root).all_files()


def _lake_problem(root: Path, path: Path) -> str | None:
    from pipelines.lake import Lake

    # A file gone since the listing was replaced or retired by a run (or a long-layout file converted): its
    # successor is checked by the next verify, and nothing is wrong with a file that is no longer there.
    problem = Lake(root).check_file(path)
    return problem if problem and path.exists() else None


def _bad_files(root: Path, store: ObjectStore | None, files, problem_of, locations: DataLocations
               ) -> tuple[list[Path], list[tuple[str, str]]]:
    checked = files(root)
    bad = {path: problem for path in checked if (problem := problem_of(root, path))}
    if store and bad:
        mirror = next(m for m in locations.mirrors() if m.store is store)
        mirror.refetch([path.relative_to(root).as_posix() for path in bad])
        bad = {path: problem for path in bad if (problem := problem_of(root, path))}
    named = (lambda path: store.key(path.relative_to(root).as_posix()).replace(store.base, store.uri, 1)) if store \
        else str
    return checked, [(named(path), problem) for path, problem in bad.items()]


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
        pulled = locations.pull_all()
    except StoreError as error:
        print(f"pinterest-etl verify: error: {error}", file=sys.stderr)
        return 2
    if pulled:
        print(f"Downloaded {pulled} file(s) of {', '.join(m.store.uri for m in locations.mirrors())} into the local "
              "copies.")
    raw_count, lake_count, bad = find_corrupt_files(home, locations)
    print(f"Checked {raw_count} raw files in {locations.describe_raw()} and {lake_count} lake files in "
          f"{locations.describe_lake()}.")
    unchecked = sum(1 for path in locations.lake.rglob("*.parquet") if not checksum_path(path).exists())
    if unchecked:
        print(f"{unchecked} lake file(s) have no recorded checksum (written before checksums were kept, or new files "
              "of a run stopped before it uploaded their checksums): checked as Parquet only.")
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
