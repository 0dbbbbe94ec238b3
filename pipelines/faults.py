"""Crash injection: `crash_point(name)` kills this process with SIGKILL where PINTEREST_ETL_CRASH_AT names it.

The crash-recovery tests (tests/test_crash_recovery.py) run `pinterest-etl run` with the variable set, so a
real process dies at a chosen point between two writes, and then check what the lake and the warehouse hold.
`PINTEREST_ETL_CRASH_AT=<point>` crashes at the point's first pass, `<point>@N` at its N-th. Unset (always,
outside those tests), a crash point is one environment lookup.
"""

from __future__ import annotations

import collections
import os
import signal

CRASH_AT = "PINTEREST_ETL_CRASH_AT"
# A lake Parquet file is complete under its temporary name (flushed to disk later, with the commit's other files
# before the first rename), not yet renamed into place.
LAKE_FILE_WRITTEN = "lake-file-written"
# Some of a normalization's lake files are renamed into place, the others not yet (the next one's checksum
# is already recorded): `@N` leaves N files in place.
LAKE_BETWEEN_RENAMES = "lake-between-renames"
# Inside the warehouse load's transaction: the range's rows deleted and the lake's inserted, COMMIT not yet.
WAREHOUSE_BEFORE_COMMIT = "warehouse-before-commit"
# A warehouse of a newer storage format converted: the copy complete and synced beside it, not yet renamed into place.
WAREHOUSE_CONVERTED_NOT_RENAMED = "warehouse-converted-not-renamed"
# An object store's upload (pipelines/object_mirror.py): a lake or raw file's bytes handed to the S3 client, the
# upload not completed (a small file is sent in one PUT when closed, a large one's last step completes it).
STORE_UPLOAD_UNFINISHED = "store-upload-unfinished"
# A push's data files all uploaded, their checksum files not yet.
STORE_BEFORE_CHECKSUMS = "store-before-checksums"

_passes: collections.Counter[str] = collections.Counter()


def crash_point(name: str) -> None:
    """Die here, as `kill -9` would, if PINTEREST_ETL_CRASH_AT asks for this pass."""
    wanted = os.environ.get(CRASH_AT)
    if not wanted:
        return
    point, _, nth = wanted.partition("@")
    if point != name:
        return
    _passes[name] += 1
    if _passes[name] == int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)
