"""One pipeline run at a time per data directory: an exclusive lock on `PINTEREST_ETL_HOME/.run.lock`.

`pinterest-etl run` and `pinterest-etl load` hold it for their whole run, so two runs of overlapping ranges
never write the same lake files or load the warehouse at the same time: the second waits for the first,
saying which process it waits for, for up to PINTEREST_RUN_LOCK_WAIT_SECONDS, then gives up naming it. The
lock is the kernel's (`flock`): it goes away with its process, so a crashed or killed run never blocks the
next one. The file itself only tells waiting runs who holds it. A lock is held on a file, not on its name, so a
run that got its lock on a file the name no longer points at (it was replaced or removed meanwhile) starts over
on the file there now; nothing of the project writes the file otherwise (`sql --csv` refuses it, --force or not).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from pipelines import settings
from pipelines.atomic_files import write_error

LOCK_FILE = ".run.lock"
_LONGEST_PAUSE_SECONDS = 5.0


class RunLockTimeout(Exception):
    """Another run held the data directory for longer than this one may wait; the message names it."""


@contextlib.contextmanager
def run_lock(home: Path, description: str, wait: float, on_wait: Callable[[str], None]) -> Iterator[None]:
    """Hold the data directory's run lock for the block; `on_wait` is told once when another run holds it.
    Raises RunLockTimeout after `wait` seconds, DataWriteError when the directory cannot be written."""
    path = home / LOCK_FILE
    with _locked_file(home, path, wait, on_wait) as handle:
        try:
            try:
                handle.seek(0)
                handle.truncate()
                handle.write(json.dumps({"pid": os.getpid(), "run": description,
                                         "started_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}))
                handle.flush()
            except OSError as error:
                raise write_error(path, error, "Nothing else was written.") or error from None
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def _locked_file(home: Path, path: Path, wait: float, on_wait: Callable[[str], None]) -> Iterator[IO[str]]:
    """The lock file, open and locked. A lock is held on a file, not on a name: when the name came to point at
    another file (replaced or removed) while this process waited, the lock it got is no one's, so it starts
    over on the file the name points at now."""
    deadline = time.monotonic() + wait
    told = [False]

    def tell_once(message: Callable[[], str]) -> None:
        if not told[0]:
            on_wait(message())
            told[0] = True

    while True:
        try:
            home.mkdir(parents=True, exist_ok=True)
            handle = open(path, "a+")
        except OSError as error:
            raise write_error(path, error, f"Point PINTEREST_ETL_HOME (now {home}) at a writable directory; "
                                           "nothing was written.") or error from None
        with handle:
            _acquire(handle, path, wait, deadline, tell_once)
            if _names_this_file(path, handle):
                yield handle
                return
            fcntl.flock(handle, fcntl.LOCK_UN)


def _names_this_file(path: Path, handle: IO[str]) -> bool:
    try:
        named = os.stat(path)
    except FileNotFoundError:
        return False
    held = os.fstat(handle.fileno())
    return (named.st_dev, named.st_ino) == (held.st_dev, held.st_ino)


def _acquire(handle: IO[str], path: Path, wait: float, deadline: float,
             on_wait: Callable[[Callable[[], str]], None]) -> None:
    pause = 0.2
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            pass
        left = deadline - time.monotonic()
        if left <= 0:
            raise RunLockTimeout(f"another pipeline run holds {path}: {_holder(path)}; gave up after waiting "
                                 f"{wait:g} s ({settings.RUN_LOCK_WAIT_VARIABLE}). Run again once it has finished.")
        on_wait(lambda: f"another pipeline run holds {path}: {_holder(path)}; waiting for it to finish "
                        f"(up to {wait:g} s, {settings.RUN_LOCK_WAIT_VARIABLE})")
        time.sleep(min(pause, left))
        pause = min(pause * 2, _LONGEST_PAUSE_SECONDS)


def _holder(path: Path) -> str:
    """Who holds the lock, as its holder wrote it into the file."""
    try:
        holder = json.loads(path.read_text())
        return f"process {holder['pid']} ({holder['run']}, started {holder['started_at']})"
    except (OSError, ValueError, KeyError, TypeError):
        return "a process that has not said which (it is starting)"
