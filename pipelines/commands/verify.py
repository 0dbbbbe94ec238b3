"""`pinterest-etl verify`: check every raw answer and every lake file for corruption, and list the bad ones."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pipelines import settings


def add_parser(commands) -> None:
    p = commands.add_parser(
        "verify", help="check every raw and lake file for corruption (exit code 1 when one is bad)",
        description="Read every raw answer under PINTEREST_ETL_HOME/raw (gzip's CRC-32 and length, the request line, "
                    "the body as JSON) and every Parquet file under lake/ (the SHA-256 recorded when it was written, "
                    "the footer, every row group decoded and its rows counted) and list each file that fails, with "
                    "why. Reads only; no API calls. Exit code 1 when a file is bad, 0 when all are intact.")
    p.set_defaults(handler=_verify)


def find_corrupt_files(home: Path) -> tuple[int, int, list[tuple[Path, str]]]:
    """(raw files checked, lake files checked, [(bad file, what is wrong)]) for a data directory."""
    from pipelines.lake import Lake
    from pipelines.raw_zone import RawZone

    bad = []
    raw_files = RawZone(home / "raw").all_files()
    for path in raw_files:
        if problem := RawZone.check_file(path):
            bad.append((path, problem))
    lake = Lake(home / "lake")
    lake_files = lake.all_files()
    for path in lake_files:
        # A file gone since the listing was replaced or retired by a run (or a long-layout file converted): its
        # successor is checked by the next verify, and nothing is wrong with a file that is no longer there.
        if (problem := lake.check_file(path)) and path.exists():
            bad.append((path, problem))
    return len(raw_files), len(lake_files), bad


def _verify(args: argparse.Namespace) -> int:
    from pipelines.atomic_files import stray_temporaries
    from pipelines.lake import checksum_path

    settings.load_dotenv()
    home = settings.etl_home()
    if not home.is_dir():
        print(f"pinterest-etl verify: error: no data directory at {home} (PINTEREST_ETL_HOME)", file=sys.stderr)
        return 2
    raw_count, lake_count, bad = find_corrupt_files(home)
    print(f"Checked {raw_count} raw files and {lake_count} lake files under {home}.")
    unchecked = sum(1 for path in (home / "lake").rglob("*.parquet") if not checksum_path(path).exists())
    if unchecked:
        print(f"{unchecked} lake file(s) have no recorded checksum (written before checksums were kept): "
              "checked as Parquet only.")
    leftovers = [*stray_temporaries(home / "lake"), *stray_temporaries(home / "raw")]
    if leftovers:
        print(f"{len(leftovers)} temporary file(s) of interrupted runs (never read; the next run removes them).")
    if not bad:
        print("Every file is intact.")
        return 0
    for path, problem in bad:
        print(f"BAD {path}: {problem}", file=sys.stderr)
    print(f"{len(bad)} bad file(s). A raw answer: move it aside and re-run its dates (the API serves the last 90 days). "
          "A lake file: rebuild its dates from the raw zone with `pinterest-etl run --from-raw --only <source> "
          "--start <date> --end <date>` (no API calls).", file=sys.stderr)
    return 1
