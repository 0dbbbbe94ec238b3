"""The raw zone: every API answer, gzipped with its request, append-only and never rewritten.

Layout: `raw/<endpoint>/window=<start>_<end>/<fetched_at>-<id>.json.gz` (or `window=none` for answers
not tied to dates). A file holds one line of request metadata (endpoint, path parameters, query
parameters, window, fetched_at, request id; never a credential), then the response body byte for byte.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import gzip
import json
import os
import uuid
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pipelines.atomic_files import temporary_path, write_error
from pipelines.pinterest.json_values import loads
from pipelines.planning import DateRange


class RawZoneError(Exception):
    """A raw file is unreadable; the message names it."""


@dataclasses.dataclass(frozen=True)
class RawRecord:
    path: Path
    endpoint: str
    path_params: dict
    params: dict
    window: DateRange | None
    context: dict
    fetched_at: dt.datetime
    request_id: str | None
    body: bytes

    def json(self) -> Any:
        try:
            return loads(self.body)
        except ValueError:
            raise RawZoneError(f"{self.path}: the stored response is not JSON") from None


# gzip's CRC-32 and length check catch a flipped bit or a truncation anywhere in a stored answer.
_UNREADABLE = (OSError, EOFError, ValueError, KeyError, TypeError, zlib.error)


def _parse(path: Path) -> RawRecord:
    with gzip.open(path, "rb") as f:
        content = f.read()
    header_line, _, body = content.partition(b"\n")
    header = json.loads(header_line)
    window = DateRange(dt.date.fromisoformat(header["window"][0]), dt.date.fromisoformat(header["window"][1])) \
        if header.get("window") else None
    return RawRecord(path, header["endpoint"], header.get("path_params") or {}, header.get("params") or {},
                     window, header.get("context") or {}, dt.datetime.fromisoformat(header["fetched_at"]),
                     header.get("request_id"), body)


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {' '.join(str(error).split())}"[:300]


def _slug(endpoint: str) -> str:
    return endpoint.replace("/", "__")


def _jsonable(params: dict) -> dict:
    return {k: (v.isoformat() if isinstance(v, dt.date) else list(v) if isinstance(v, (list, tuple)) else v)
            for k, v in params.items()}


# The raw zone is kept forever. On bulk pin answers of the simulator, level 6 (zlib's default) wrote files 9-23% smaller
# than level 5 for 0.8-1.2 ms more CPU per answer (about 1 s over a 1,000-answer backfill); 9 took 2-4 times 6's time
# for 4-18% less; 1 and 3 saved 0.5-3 ms per answer for files 13-59% larger than 5's. Files of any level read the same.
COMPRESSLEVEL = 6


class RawZone:
    def __init__(self, root: Path):
        self.root = Path(root)

    def store_answer(self, endpoint: str, response, *, params: dict | None = None, path_params: dict | None = None,
                     window: DateRange | None = None, context: dict | None = None,
                     fetched_at: dt.datetime | None = None) -> Path | None:
        """`write` an API answer (the client's ApiResponse: its content and request id), fetched now unless
        `fetched_at` says when, except one a resumed run replayed from this zone (already stored there): the path
        written, or None."""
        if response.replayed:
            return None
        return self.write(endpoint, response.content, params=params, path_params=path_params, window=window,
                          context=context, fetched_at=fetched_at or dt.datetime.now(dt.timezone.utc),
                          request_id=response.request_id)

    def write(self, endpoint: str, body: bytes, *, params: dict | None = None, path_params: dict | None = None,
              window: DateRange | None = None, context: dict | None = None, fetched_at: dt.datetime,
              request_id: str | None) -> Path:
        """Store one answer; a new file every time (nothing is ever overwritten). `context` holds what the
        answer itself does not say but normalizing needs (for example the user id of account analytics)."""
        folder = self.root / _slug(endpoint) / (f"window={window.start}_{window.end}" if window else "window=none")
        name = f"{fetched_at:%Y%m%dT%H%M%S%fZ}-{uuid.uuid4().hex[:12]}.json.gz"
        header = {"endpoint": endpoint, "path_params": path_params or {}, "params": _jsonable(params or {}),
                  "window": [str(window.start), str(window.end)] if window else None, "context": context or {},
                  "fetched_at": fetched_at.isoformat(), "request_id": request_id}
        target = folder / name
        tmp = temporary_path(target)
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with gzip.open(tmp, "wb", compresslevel=COMPRESSLEVEL) as out:
                out.write(json.dumps(header, separators=(",", ":")).encode() + b"\n")
                out.write(body)
            os.replace(tmp, target)
        except OSError as error:
            if tmp.parent.is_dir():
                tmp.unlink(missing_ok=True)
            raise write_error(target, error, "Every answer stored before it is whole; the steps that need "
                                             "it did not run.") or error from None
        return target

    @staticmethod
    def read(path: Path) -> RawRecord:
        try:
            return _parse(path)
        except _UNREADABLE as error:
            raise RawZoneError(f"raw file {path} is corrupt or unreadable ({_describe(error)}); move it aside and "
                               "re-run its dates to fetch them again (the API serves the last 90 days; older answers "
                               "exist only in backups)") from None

    @staticmethod
    def check_file(path: Path) -> str | None:
        """What is wrong with a stored answer, or None: gzip integrity, its request line and its body as JSON."""
        try:
            loads(_parse(path).body)
        except _UNREADABLE as error:
            return _describe(error)
        return None

    def all_files(self) -> list[Path]:
        """Every stored answer (of every endpoint, window and account folder)."""
        return sorted(self.root.rglob("*.json.gz")) if self.root.exists() else []

    def undated_records(self, endpoint: str) -> Iterator[RawRecord]:
        """Every stored answer of `endpoint` not tied to dates (`window=none`), oldest fetch first."""
        folder = self.root / _slug(endpoint) / "window=none"
        for path in sorted(folder.glob("*.json.gz"), key=lambda p: p.name):
            yield self.read(path)

    def records(self, endpoint: str, overlapping: DateRange) -> Iterator[RawRecord]:
        """Every stored answer of `endpoint` whose window overlaps the range, oldest fetch first."""
        for path in self.paths(endpoint, overlapping):
            yield self.read(path)

    def paths(self, endpoint: str, overlapping: DateRange) -> list[Path]:
        """The files of `records(endpoint, overlapping)`, in its order, unread."""
        folder = self.root / _slug(endpoint)
        if not folder.exists():
            return []
        return sorted(_files_overlapping(folder, overlapping), key=lambda p: p.name)

    def records_fetched_since(self, since: dt.datetime, overlapping: DateRange) -> Iterator[RawRecord]:
        """Every stored answer of any endpoint fetched at `since` or later whose window overlaps the range (answers
        not tied to dates left out), oldest fetch first. Files are chosen by name (it starts with the fetch time),
        so only those are read."""
        if not self.root.exists():
            return
        first_name = f"{since.astimezone(dt.timezone.utc):%Y%m%dT%H%M%S%fZ}"
        selected = []
        for endpoint_dir in self.root.iterdir():
            if not endpoint_dir.is_dir() or endpoint_dir.name.startswith("account="):
                continue
            selected.extend(p for p in _files_overlapping(endpoint_dir, overlapping) if p.name >= first_name)
        for path in sorted(selected, key=lambda p: p.name):
            yield self.read(path)


def _files_overlapping(endpoint_dir: Path, overlapping: DateRange) -> Iterator[Path]:
    """The answer files of one endpoint's folder whose window (`window=<start>_<end>`) overlaps the range; folders
    not named for a window (`window=none`) are left out."""
    for window_dir in endpoint_dir.iterdir():
        dates = window_dates(window_dir.name)
        if dates and dates[0] <= dates[1] and dates[0] <= overlapping.end and dates[1] >= overlapping.start:
            yield from window_dir.glob("*.json.gz")


def window_dates(folder: str) -> tuple[dt.date, dt.date] | None:
    """The first and last date an answer folder is named for (`window=<start>_<end>`), or None for a folder not
    named for dates (`window=none`, any other name)."""
    start, _, end = folder.removeprefix("window=").partition("_")
    try:
        return dt.date.fromisoformat(start), dt.date.fromisoformat(end)
    except ValueError:
        return None
