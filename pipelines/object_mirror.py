"""A local copy of an object store's prefix, kept in step with it: the pipeline reads and writes the copy as it
does a local lake or raw zone, `pull` brings the store's changes in before, `push` sends the copy's changes
out after.

The store is the truth: `pull` downloads every object the copy lacks or whose version in the store changed since
the copy last saw it (the store's version wins over the copy's), and removes from a **lake** copy the files the
store no longer has. Files written here and not pushed yet (by another step's process of the run, or by a run
stopped before its push) are kept for the next push, which any step makes. Nothing is ever removed from a store,
and nothing from a **raw zone** copy: its answers are never rewritten, so an answer the store lacks is sent.

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
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pyarrow.fs as pafs

from pipelines import object_store as limits
from pipelines.atomic_files import temporary_path, write_error
from pipelines.faults import STORE_BEFORE_CHECKSUMS, STORE_UPLOAD_UNFINISHED, crash_point
from pipelines.object_store import ObjectStore, StoreError

# Transfers at once: object stores answer each request in tens of milliseconds, so a copy of thousands of small
# files is bound by round trips, not bandwidth.
TRANSFER_THREADS = 8
_CHUNK = 8 * 2**20
# Hidden files of the copy that belong to the data (a lake file's checksum); every other hidden file (temporaries,
# lock files) stays local.
_MIRRORED_HIDDEN_SUFFIX = ".sha256"
# The longest name part a copy takes: a file name is at most 255 bytes, and a download's temporary name adds ~30 to
# it (`.<name>.<pid>-<hex>.tmp`, pipelines/atomic_files.py). The pipeline's own names are under 100.
MAX_NAME_BYTES = 200


def mirrored(relative: str) -> bool:
    """Whether a file of the copy (a path relative to it, `/`-separated) is part of the data the store holds."""
    name = relative.rsplit("/", 1)[-1]
    return not name.startswith(".") or (name.endswith(_MIRRORED_HIDDEN_SUFFIX) and not name.endswith(".tmp"))


def _is_checksum(relative: str) -> bool:
    return relative.rsplit("/", 1)[-1].startswith(".")


class Mirror:
    """`store`'s prefix copied in the local folder `copy`; `append_only` for a raw zone (see the module)."""

    def __init__(self, store: ObjectStore, copy: Path, *, append_only: bool,
                 check: Callable[[Path], str | None] | None = None):
        """`check(path)`: what is wrong with a file of the copy, or None (its checksum, its gzip): a file that fails
        it is never pushed, and a pull replaces it with the store's version."""
        self.store, self.copy, self.append_only, self.check = store, Path(copy), append_only, check
        self._manifest_path = self.copy.with_name(f"{self.copy.name}.manifest.json")
        self._lock_path = self.copy.with_name(f"{self.copy.name}.lock")
        self.ignored: list[str] = []  # the last listing's objects that are not copied (their URIs)

    # -- what is where

    def listing(self, fs: pafs.FileSystem | None = None) -> dict[str, tuple[int, int]]:
        """Every object of the store's prefix that is data: relative path -> (size, modification time in ns).
        Objects the copy cannot hold as files are left out and named in `ignored` (see `_copyable`)."""
        fs = fs or self.store.filesystem()
        base = self.store.base + "/"

        def list_all() -> list[pafs.FileInfo]:
            selector = pafs.FileSelector(self.store.base, allow_not_found=True, recursive=True)
            try:
                return limits.retried(lambda: fs.get_file_info(selector))
            except (OSError, ValueError) as error:
                raise self.store.error("listing", error) from None

        infos = self.store.within(limits.LIST_SECONDS, "listing", list_all)
        objects = {}
        for info in infos:
            if info.type == pafs.FileType.File and info.path.startswith(base):
                relative = info.path[len(base):]
                if mirrored(relative):
                    objects[relative] = (info.size, _ns(info))
        copyable = _copyable(objects)
        self.ignored = sorted(f"{self.store.uri}/{relative}" for relative in objects.keys() - copyable.keys())
        return copyable

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

    def pull(self, selected: Callable[[str], bool] | None = None) -> int:
        """Bring the store's changes into the copy (see the module); the number of files downloaded. A file this
        copy wrote and has not pushed yet (another step's process of the same run, or a run stopped before its
        push) is kept for the next push, unless the store holds another version of it: the store's wins.
        `selected(relative path)`: download only the files it accepts (a raw zone's answers of a date range)."""
        with self._locked():
            fs = self.store.filesystem()
            remote = self.listing(fs)
            manifest = self._manifest()
            local = self.local_files()
            wanted = []
            for relative, seen in remote.items():
                if selected and not selected(relative):
                    continue
                record, here = manifest.get(relative), local.get(relative)
                if record and tuple(record[:2]) == seen and here is not None and (
                        tuple(record[2:]) == here or not self._problem(relative)):
                    continue  # the store's version is the one last seen here: the copy's is it, or newer
                if self.append_only and here is not None and here[0] == seen[0]:
                    manifest[relative] = [*seen, *here]  # an answer is never rewritten: the same one
                    continue
                wanted.append(relative)
            try:
                for relative in [r for r in manifest if r not in remote]:
                    # Removed from the store (by hand, or by another machine): removed here too unless changed
                    # here since (then the next push sends it again), before the downloads, which may put a folder
                    # where it was. Never a raw answer: the next push sends it.
                    here = local.get(relative)
                    if not self.append_only and here is not None and tuple(manifest[relative][2:]) == here:
                        (self.copy / relative).unlink(missing_ok=True)
                        _remove_empty_folders((self.copy / relative).parent, self.copy)
                    manifest.pop(relative)
                download = lambda fs, relative: self._download(fs, relative, remote[relative][0])  # noqa: E731
                downloaded = 0
                for relative, stat in self._transfer(download, fs, sorted(wanted, key=_is_checksum)):
                    if stat is None:
                        self.ignored.append(f"{self.store.uri}/{relative}")
                        remote.pop(relative)
                        continue
                    manifest[relative] = [*remote[relative], *stat]
                    downloaded += 1
            except BaseException:
                self._save_quietly(manifest)
                raise
            self._save(manifest)
            return downloaded

    def push(self) -> int:
        """Send the copy's new and changed files to the store (see the module); the number of files uploaded.
        Nothing is removed from the store: the pipeline removes no file of a lake it writes (only those of
        earlier layouts, which a store's lake never holds: `refuse_earlier_layouts`)."""
        with self._locked():
            fs = self.store.filesystem()
            manifest = self._manifest()
            local = self.local_files()
            changed = [relative for relative, here in local.items()
                       if relative not in manifest or tuple(manifest[relative][2:]) != here]
            if self.append_only and changed:
                # An answer the store has already (its push recorded nowhere) stays. One the store lost (removed by
                # hand, a lifecycle rule) left the manifest at the last pull that listed the store: it is sent.
                remote = self.listing(fs)
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
            except BaseException:
                self._save_quietly(manifest)
                raise
            self._save(manifest)
            return len(changed)

    def pending(self) -> list[str]:
        """The copy's files that a push would send (written here since the last push) and the store lacks or
        holds with another size (the store is listed: a lost manifest does not make every file pending)."""
        with self._locked():
            manifest, local = self._manifest(), self.local_files()
            changed = [relative for relative, here in local.items()
                       if relative not in manifest or tuple(manifest[relative][2:]) != here]
            remote = self.listing() if changed else {}
            return sorted(relative for relative in changed
                          if relative not in remote or remote[relative][0] != local[relative][0])

    def _transfer(self, one, fs: pafs.FileSystem, files: list[str]) -> Iterator[tuple[str, list[int]]]:
        """`one(fs, relative)` for each file on threads, yielding (file, its record) as each is done; the first
        error is raised once the others have finished (those are recorded)."""
        if not files:
            return
        first_error = None
        with ThreadPoolExecutor(min(TRANSFER_THREADS, len(files)), thread_name_prefix="store") as pool:
            futures = {pool.submit(one, fs, relative): relative for relative in files}
            for future, relative in futures.items():
                if future.cancelled():
                    continue
                try:
                    yield relative, future.result()
                except Exception as error:  # noqa: BLE001 - raised once the transfers under way have ended
                    if first_error is None:
                        # The transfers not started yet are not tried: against a store that fails or trickles
                        # each would only fail the same way, one deadline after another.
                        for other in futures:
                            other.cancel()
                    first_error = first_error or error
        if first_error is not None:
            raise first_error

    def _download(self, fs: pafs.FileSystem, relative: str, size: int) -> list[int] | None:
        """One object into the copy; its record (the local file's size and time), or None when the store no
        longer has it or cannot serve it at its listed key (an object named `x/` with content is listed as `x`),
        or the copy holds a file where the key needs a folder or the reverse (a file of the copy not pushed yet,
        and the store's object of another type at its place)."""
        target = self.copy / relative
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.is_dir():
                raise IsADirectoryError(target)
        except (FileExistsError, NotADirectoryError, IsADirectoryError):
            return None  # a file of the copy where the key needs a folder, or the reverse: it keeps its own
        tmp = temporary_path(target)

        def fetch() -> None:
            with fs.open_input_stream(self.store.key(relative), compression=None) as source, \
                    _local(open, tmp, "wb") as out:
                while chunk := source.read(_CHUNK):
                    _local(out.write, chunk)
                _local(out.flush)
                _local(os.fsync, out.fileno())

        try:
            # A transfer given up is left to its thread, writing into its own temporary file; the target is
            # replaced only here, after the whole object arrived.
            self.store.within(_deadline(size), f"reading {self.store.key(relative)}", lambda: limits.retried(fetch))
            _local(os.replace, tmp, target)
        except (OSError, ValueError, StoreError, _LocalFailure) as error:
            tmp.unlink(missing_ok=True)
            if isinstance(error, StoreError):
                raise
            if isinstance(error, _LocalFailure):  # this machine's disk, not the store
                cause = error.__cause__ or error
                raise write_error(target, cause, f"The copy of {self.store.uri} is incomplete; the next run "
                                                 "downloads what is missing.") or cause from None
            if isinstance(error, FileNotFoundError):
                return None  # listed, then gone: removed meanwhile, or a key pyarrow lists but cannot read
            raise self.store.error(f"reading {self.store.key(relative)}", error) from None
        stat = target.stat()
        return [stat.st_size, stat.st_mtime_ns]

    def _problem(self, relative: str) -> str | None:
        return self.check(self.copy / relative) if self.check else None

    def _upload(self, fs: pafs.FileSystem, relative: str) -> list[int]:
        """One file up in one PUT; its record: the stored object's size and time, then the local file's."""
        path = self.copy / relative
        key = self.store.key(relative)
        if problem := self._problem(relative):
            raise StoreError(f"{path} was not pushed to {self.store.describe()}: {problem}. It is this machine's copy "
                             f"of the store: remove the folder {self.copy} (the next run downloads the store's "
                             "files again) and run its dates again")

        def send() -> tuple[os.stat_result, pafs.FileInfo]:
            with open(path, "rb") as source:
                stat = os.fstat(source.fileno())
                with fs.open_output_stream(key, compression=None) as out:
                    while chunk := source.read(_CHUNK):
                        out.write(chunk)
                    crash_point(STORE_UPLOAD_UNFINISHED)
            return stat, fs.get_file_info(key)

        try:
            stat, info = self.store.within(_deadline(path.stat().st_size), f"writing {key}", send)
        except FileNotFoundError:
            raise
        except (OSError, ValueError) as error:
            raise self.store.error(f"writing {key}", error) from None
        if info.type != pafs.FileType.File or info.size != stat.st_size:
            raise StoreError(f"{self.store.describe()}: {key} was written ({stat.st_size} bytes) but the store lists "
                             f"{'nothing' if info.type == pafs.FileType.NotFound else f'{info.size} bytes'} for it: "
                             "is the endpoint an S3 API, and is nothing else writing that prefix?")
        return [info.size, _ns(info), stat.st_size, stat.st_mtime_ns]

    # -- the manifest and the lock

    def _manifest(self) -> dict[str, list[int]]:
        try:
            recorded = json.loads(self._manifest_path.read_text())
        except (FileNotFoundError, ValueError, RecursionError):
            return {}  # a lost or damaged manifest costs one full comparison, nothing else
        if not isinstance(recorded, dict) or recorded.get("store") != self.store.describe() \
                or not isinstance(recorded.get("files"), dict):
            return {}
        return {k: v for k, v in recorded["files"].items()
                if isinstance(k, str) and isinstance(v, list) and len(v) == 4 and all(isinstance(n, int) for n in v)}

    def _save(self, manifest: dict[str, list[int]]) -> None:
        self._manifest_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = temporary_path(self._manifest_path)
        try:
            tmp.write_text(json.dumps({"store": self.store.describe(), "files": manifest}))
            os.replace(tmp, self._manifest_path)
        except OSError:
            tmp.unlink(missing_ok=True)
            raise

    def _save_quietly(self, manifest: dict[str, list[int]]) -> None:
        """`_save` while another error is on its way: that error is the one told (a full disk fails both)."""
        with contextlib.suppress(OSError):
            self._save(manifest)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.copy.mkdir(parents=True, exist_ok=True)
        note = self.copy.with_name(f"{self.copy.name}.json")
        if not note.exists():
            note.write_text(json.dumps({"uri": self.store.uri, "endpoint": self.store.endpoint or "AWS",
                                        "setting": self.store.setting,
                                        "what": "the local copy of this store that runs keep in step with it; safe "
                                                "to remove (the next run downloads it again)"}) + "\n")
        with open(self._lock_path, "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)


def _ns(info: pafs.FileInfo) -> int:
    return info.mtime_ns or 0


def _remove_empty_folders(folder: Path, root: Path) -> None:
    """`folder` and its parents up to `root` (not included) while they are empty."""
    while folder != root and root in folder.parents:
        try:
            folder.rmdir()
        except OSError:
            return
        folder = folder.parent


class _LocalFailure(Exception):
    """A failure of this machine's disk during a download (its cause is the OSError), not of the store."""


def _local(call, *args):
    try:
        return call(*args)
    except OSError as error:
        raise _LocalFailure() from error


def _deadline(size: int) -> float:
    return limits.TRANSFER_SECONDS + size / limits.MIN_BYTES_PER_SECOND


def _copyable(objects: dict[str, tuple[int, int]]) -> dict[str, tuple[int, int]]:
    """The objects a copy can hold as files at their key: none the pipeline writes is left out, but a store
    written by hand or another tool may hold keys no file path can be (an empty, `.` or `..` part, from `a//b`,
    `a/./b` or a leading `/`; a part longer than a file name may be) and an object named like a folder of other
    objects (`pin_daily` beside `pin_daily/date=.../x.parquet`), which would write outside the copy or fail
    every pull."""
    folders = {relative.rsplit("/", i)[0] for relative in objects for i in range(1, relative.count("/") + 1)}
    return {relative: seen for relative, seen in objects.items()
            if relative not in folders and all(part not in ("", ".", "..") and len(part.encode()) <= MAX_NAME_BYTES
                                               and "\0" not in part for part in relative.split("/"))}
