"""A local copy of an object store's prefix, kept in step with it: the pipeline reads and writes the copy as it
does a local lake or raw zone, `pull` brings the store's changes in before, `push` sends the copy's changes
out after.

The store is the truth. A **lake** copy is made equal to its store by `pull` (files the store no longer has, or
never got because a run stopped before its push, are removed: the lake is rebuilt from the raw zone by running
their dates again). A **raw zone** only grows: its answers are never rewritten, so `pull` never removes a local
answer and `push` sends every answer the store lacks, and never removes one from the store.

Objects are compared by what a listing tells (size and modification time), recorded per file at each transfer
in a manifest beside the copy (`<copy>.manifest.json`), so an unchanged store costs one listing and no download,
and an unchanged copy no upload. A file goes up in one PUT (one multipart upload above 10 MB: visible only once
whole), a lake file's checksum file after the file (pipelines/lake.py: `.<name>.sha256`). Pulls and pushes of
one copy are serialized between processes by a lock file beside it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pyarrow.fs as pafs

from pipelines.atomic_files import temporary_path
from pipelines.faults import STORE_BEFORE_CHECKSUMS, STORE_UPLOAD_UNFINISHED, crash_point
from pipelines.object_store import ObjectStore, StoreError

# Transfers at once: object stores answer each request in tens of milliseconds, so a copy of thousands of small
# files is bound by round trips, not bandwidth.
TRANSFER_THREADS = 8
_CHUNK = 8 * 2**20
# Hidden files of the copy that belong to the data (a lake file's checksum); every other hidden file (temporaries,
# lock files) stays local.
_MIRRORED_HIDDEN_SUFFIX = ".sha256"


def mirrored(relative: str) -> bool:
    """Whether a file of the copy (a path relative to it, `/`-separated) is part of the data the store holds."""
    name = relative.rsplit("/", 1)[-1]
    return not name.startswith(".") or (name.endswith(_MIRRORED_HIDDEN_SUFFIX) and not name.endswith(".tmp"))


def _is_checksum(relative: str) -> bool:
    return relative.rsplit("/", 1)[-1].startswith(".")


class Mirror:
    """`store`'s prefix copied in the local folder `copy`; `append_only` for a raw zone (see the module)."""

    def __init__(self, store: ObjectStore, copy: Path, *, append_only: bool):
        self.store, self.copy, self.append_only = store, Path(copy), append_only
        self._manifest_path = self.copy.with_name(f"{self.copy.name}.manifest.json")
        self._lock_path = self.copy.with_name(f"{self.copy.name}.lock")

    # -- what is where

    def listing(self, fs: pafs.FileSystem | None = None) -> dict[str, tuple[int, int]]:
        """Every object of the store's prefix that is data: relative path -> (size, modification time in ns)."""
        fs = fs or self.store.filesystem()
        base = self.store.base + "/"
        try:
            infos = fs.get_file_info(pafs.FileSelector(self.store.base, allow_not_found=True, recursive=True))
        except (OSError, ValueError) as error:
            raise self.store.error("listing", error) from None
        objects = {}
        for info in infos:
            if info.type == pafs.FileType.File and info.path.startswith(base):
                relative = info.path[len(base):]
                if mirrored(relative):
                    objects[relative] = (info.size, _ns(info))
        return objects

    def local_files(self) -> dict[str, tuple[int, int]]:
        """Every file of the copy that is data: relative path -> (size, modification time in ns)."""
        files = {}
        if not self.copy.is_dir():
            return files
        for folder, _, names in os.walk(self.copy):
            for name in names:
                path = Path(folder, name)
                relative = path.relative_to(self.copy).as_posix()
                if mirrored(relative):
                    with contextlib.suppress(FileNotFoundError):  # replaced or removed by a writer meanwhile
                        stat = path.stat()
                        files[relative] = (stat.st_size, stat.st_mtime_ns)
        return files

    # -- transfers

    def pull(self) -> int:
        """Bring the store's changes into the copy (see the module); the number of files downloaded."""
        with self._locked():
            fs = self.store.filesystem()
            remote = self.listing(fs)
            manifest = self._manifest()
            local = self.local_files()
            wanted = []
            for relative, seen in remote.items():
                record = manifest.get(relative)
                here = local.get(relative)
                if record and tuple(record[:2]) == seen and here is not None and tuple(record[2:]) == here:
                    continue
                if self.append_only and here is not None and here[0] == seen[0]:
                    manifest[relative] = [*seen, *here]  # an answer is never rewritten: the same one
                    continue
                wanted.append(relative)
            try:
                for relative, stat in self._transfer(self._download, fs, sorted(wanted, key=_is_checksum)):
                    manifest[relative] = [*remote[relative], *stat]
                if not self.append_only:
                    for relative in sorted(set(local) - set(remote), key=_is_checksum, reverse=True):
                        (self.copy / relative).unlink(missing_ok=True)
                        manifest.pop(relative, None)
                for relative in set(manifest) - set(remote) - set(self.local_files()):
                    manifest.pop(relative)
            finally:
                self._save(manifest)
            return len(wanted)

    def push(self) -> int:
        """Send the copy's changes to the store (see the module); the number of files uploaded."""
        with self._locked():
            fs = self.store.filesystem()
            manifest = self._manifest()
            local = self.local_files()
            changed = [relative for relative, here in local.items()
                       if relative not in manifest or tuple(manifest[relative][2:]) != here]
            if self.append_only and changed:
                remote = self.listing(fs)  # an answer the store has already (its push recorded nowhere) stays
                for relative in [r for r in changed if r in remote and remote[r][0] == local[r][0]]:
                    manifest[relative] = [*remote[relative], *local[relative]]
                    changed.remove(relative)
            try:
                # Every data file before any checksum file: a checksum is never ahead of its file.
                data = [relative for relative in changed if not _is_checksum(relative)]
                for files in (data, [relative for relative in changed if _is_checksum(relative)]):
                    for relative, stat in self._transfer(self._upload, fs, sorted(files)):
                        manifest[relative] = stat
                    if files is data and data and not self.append_only:
                        self._save(manifest)
                        crash_point(STORE_BEFORE_CHECKSUMS)
                if not self.append_only:
                    gone = [relative for relative in manifest if relative not in local]
                    for relative in sorted(gone, key=_is_checksum):  # a retired file before its checksum file
                        self._delete(fs, relative)
                        manifest.pop(relative)
            finally:
                self._save(manifest)
            return len(changed)

    def refetch(self, relatives: list[str]) -> None:
        """Download these files of the store again over their local copies (a copy found damaged)."""
        with self._locked():
            fs = self.store.filesystem()
            remote = self.listing(fs)
            manifest = self._manifest()
            try:
                for relative, stat in self._transfer(self._download, fs, sorted(r for r in relatives if r in remote)):
                    manifest[relative] = [*remote[relative], *stat]
            finally:
                self._save(manifest)

    def _transfer(self, one, fs: pafs.FileSystem, files: list[str]) -> Iterator[tuple[str, list[int]]]:
        """`one(fs, relative)` for each file on threads, yielding (file, its record) as each is done; the first
        error is raised once the others have finished (those are recorded)."""
        if not files:
            return
        first_error = None
        with ThreadPoolExecutor(min(TRANSFER_THREADS, len(files)), thread_name_prefix="store") as pool:
            futures = {pool.submit(one, fs, relative): relative for relative in files}
            for future, relative in futures.items():
                try:
                    yield relative, future.result()
                except (StoreError, OSError) as error:
                    first_error = first_error or error
        if first_error is not None:
            raise first_error

    def _download(self, fs: pafs.FileSystem, relative: str) -> list[int]:
        target = self.copy / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = temporary_path(target)
        try:
            with fs.open_input_stream(self.store.key(relative), compression=None) as source, open(tmp, "wb") as out:
                while chunk := source.read(_CHUNK):
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, target)
        except (OSError, ValueError) as error:
            tmp.unlink(missing_ok=True)
            if isinstance(error, OSError) and error.filename:  # the local disk's failure, not the store's
                raise
            raise self.store.error(f"reading {self.store.key(relative)}", error) from None
        stat = target.stat()
        return [stat.st_size, stat.st_mtime_ns]

    def _upload(self, fs: pafs.FileSystem, relative: str) -> list[int]:
        """One file up in one PUT; its record: the stored object's size and time, then the local file's."""
        path = self.copy / relative
        key = self.store.key(relative)
        try:
            with open(path, "rb") as source:
                stat = os.fstat(source.fileno())
                with fs.open_output_stream(key, compression=None) as out:
                    while chunk := source.read(_CHUNK):
                        out.write(chunk)
                    crash_point(STORE_UPLOAD_UNFINISHED)
            info = fs.get_file_info(key)
        except FileNotFoundError:
            raise
        except (OSError, ValueError) as error:
            raise self.store.error(f"writing {key}", error) from None
        if info.type != pafs.FileType.File or info.size != stat.st_size:
            raise StoreError(f"{self.store.describe()}: {key} was written ({stat.st_size} bytes) but the store lists "
                             f"{'nothing' if info.type == pafs.FileType.NotFound else f'{info.size} bytes'} for it: "
                             "is the endpoint an S3 API, and is nothing else writing that prefix?")
        return [info.size, _ns(info), stat.st_size, stat.st_mtime_ns]

    def _delete(self, fs: pafs.FileSystem, relative: str) -> None:
        key = self.store.key(relative)
        try:
            fs.delete_file(key)
        except FileNotFoundError:
            pass
        except (OSError, ValueError) as error:
            raise self.store.error(f"removing {key}", error) from None

    # -- the manifest and the lock

    def _manifest(self) -> dict[str, list[int]]:
        try:
            recorded = json.loads(self._manifest_path.read_text())
        except (FileNotFoundError, ValueError):
            return {}  # a lost or damaged manifest costs one full comparison, nothing else
        if recorded.get("store") != self.store.describe():
            return {}
        return {k: v for k, v in recorded.get("files", {}).items() if isinstance(v, list) and len(v) == 4}

    def _save(self, manifest: dict[str, list[int]]) -> None:
        self._manifest_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = temporary_path(self._manifest_path)
        tmp.write_text(json.dumps({"store": self.store.describe(), "files": manifest}))
        os.replace(tmp, self._manifest_path)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.copy.mkdir(parents=True, exist_ok=True)
        with open(self._lock_path, "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)


def _ns(info: pafs.FileInfo) -> int:
    return info.mtime_ns or 0
