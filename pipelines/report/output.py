"""Where the report may be written, and writing it whole or not at all.

A report replaces an earlier report (every run rewrites PINTEREST_ETL_HOME/report.html) but nothing else the user did
not name with --force, and never the pipeline's data or secrets, a directory, a symlink or a device.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Callable, Mapping
from pathlib import Path

from pipelines.atomic_files import temporary_path, write_failure_cause
from pipelines.protected_paths import OutputRefusedError, mode_without_following, refuse_protected, resolved_output

# Every page render_report writes starts so (the title names the range): what tells an earlier report from any
# other file.
_REPORT_START = b"<!DOCTYPE html>"
_REPORT_TITLE = b"<title>Pinterest report "
_HEAD_BYTES = 1024
_NOT_A_FOLDER = "a part of the path is a file, not a directory"  # mkdir of a folder that is a file


class ReportWriteError(OSError):
    """The report file could not be written; the message names the path and the cause. Nothing was left behind."""


def check_report_output(given: Path, home: Path, force: bool, env: Mapping[str, str] = os.environ) -> None:
    """Refuse, before anything is read, an output that would destroy data: anything the pipeline owns (the warehouse,
    the lake, the raw zone, the data directory's other files and folders, DAGSTER_HOME, token and accounts files,
    a `.env`; an `.html` file directly in PINTEREST_ETL_HOME is fine), a directory, a symlink or anything but a
    regular file (even with `force`), and an existing file that is not a report this command wrote, unless `force`."""
    refuse_protected(str(given), resolved_output(given), home, env, reports_in_home=True)
    mode = mode_without_following(given)
    if mode is None:
        return
    if not stat.S_ISREG(mode):
        what = "a symbolic link" if stat.S_ISLNK(mode) else "a directory" if stat.S_ISDIR(mode) else \
            "not a regular file (a device, pipe or socket)"
        hint = f"give a file name, for example {given / 'report.html'}" if stat.S_ISDIR(mode) else \
            "give a plain file name"
        raise OutputRefusedError(f"refusing to write {given}: it is {what}, which is never replaced, even with "
                                 f"--force; {hint}")
    if not force and not is_report(given):
        raise OutputRefusedError(f"refusing to replace {given}: it exists and is not a report of pinterest-etl; give "
                                 "--force to replace it, or another file name")


def is_report(path: Path) -> bool:
    """Whether the file at `path` starts like a page of `pinterest-etl report`."""
    try:
        with open(path, "rb") as file:
            head = file.read(_HEAD_BYTES)
    except OSError:
        return False
    return head.startswith(_REPORT_START) and _REPORT_TITLE in head


def write_whole(path: Path, html: str, check: Callable[[], None] | None = None) -> None:
    """Write `html` to `path` under a temporary name beside it and, once `check` (if given) passes, rename it over
    `path`: readers see the old file or the new one. Any failure, `check`'s refusal too, removes the temporary;
    a write failure raises ReportWriteError naming `path`."""
    temporary = temporary_path(path)
    created = [folder for folder in path.parents if not folder.exists()]  # the folders it makes, deepest first
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary.write_text(html, encoding="utf-8")
        if check is not None:
            check()
        os.replace(temporary, path)
    except BaseException as error:
        with contextlib.suppress(OSError):
            temporary.unlink(missing_ok=True)
        for folder in created:  # nothing left behind: the folders this write made go too (if still empty)
            with contextlib.suppress(OSError):
                folder.rmdir()
        if not isinstance(error, OSError):
            raise
        cause = write_failure_cause(error) or (_NOT_A_FOLDER if isinstance(error, FileExistsError) else
                                               error.strerror or str(error))
        raise ReportWriteError(f"could not write the report to {path}: {cause}; nothing was written") from None
