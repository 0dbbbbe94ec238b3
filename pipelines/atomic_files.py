"""Files that are whole or absent: temporary names beside the target, clear errors for failed writes, and the
sweep of temporaries that crashed writers left behind.

A temporary is named `.<target name>.<writer pid>-<random>.tmp`: hidden from readers (they glob `*.parquet`
and `*.json.gz`), and marked with the process that writes it, so a later run removes only those whose writer
is gone (a live writer, for example a run launched from the Dagster UI, keeps its own).
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

_TEMPORARY = re.compile(r"^\..+\.(\d+)-[0-9a-f]{8}\.tmp$")


class DataWriteError(OSError):
    """Writing under PINTEREST_ETL_HOME failed; the message names the path and the cause (disk full, not writable)."""


def temporary_path(target: Path) -> Path:
    return target.parent / f".{target.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp"


# (errno, the words DuckDB uses for it, what it means for the user)
_CAUSES = (
    (errno.ENOSPC, "no space left on device", "the disk is full"),
    (errno.EDQUOT, "disk quota exceeded", "the disk quota is used up"),
    (errno.EFBIG, "file too large", "the disk is full, or the file-size limit of this process is reached"),
    (errno.EROFS, "read-only file system", "the file system is read-only"),
    (errno.EACCES, "permission denied", "the directory is not writable (permission denied)"),
    (errno.EPERM, "operation not permitted", "the directory is not writable (operation not permitted)"),
    (errno.ENOTDIR, "not a directory", "a part of the path is a file, not a directory"),
)


def write_failure_cause(error: BaseException) -> str | None:
    """What a failed write means for the user, if it is a storage failure (disk full, not writable); else None."""
    number = getattr(error, "errno", None)
    text = str(error).lower()
    for code, words, meaning in _CAUSES:
        if number == code or words in text:
            return meaning
    return None


def write_error(path: Path, error: BaseException, consequence: str) -> DataWriteError | None:
    """A DataWriteError naming the path, the cause and what it left (`consequence`), or None when `error` is
    not a storage failure (then the caller re-raises it as it is)."""
    cause = write_failure_cause(error)
    if cause is None:
        return None
    return DataWriteError(f"could not write {path}: {cause} ({' '.join(str(error).split())}). {consequence}")


def stray_temporaries(root: Path) -> Iterator[Path]:
    """Temporaries under `root` whose writing process no longer exists (a crash or kill left them)."""
    if not root.exists():
        return
    for path in root.rglob(".*.tmp"):
        match = _TEMPORARY.match(path.name)
        if match and not _process_exists(int(match.group(1))):
            yield path


def remove_stray_temporaries(root: Path) -> list[Path]:
    removed = []
    for path in stray_temporaries(root):
        path.unlink(missing_ok=True)
        removed.append(path)
    return removed


def staging_prefix() -> str:
    """The name prefix of a normalization's staging folder under PINTEREST_ETL_HOME/tmp: it carries the writer's
    PID, so a folder a killed run left behind can be told from one a live run is using."""
    return f"normalize-{os.getpid()}-"


def remove_stray_staging(tmp_root: Path) -> list[Path]:
    """Remove the staging folders under `tmp_root` whose normalizing process no longer exists."""
    removed = []
    if not tmp_root.exists():
        return removed
    for path in tmp_root.glob("normalize-*-*"):
        pid = path.name.split("-")[1]
        if path.is_dir() and pid.isdigit() and not _process_exists(int(pid)):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def _process_exists(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True
