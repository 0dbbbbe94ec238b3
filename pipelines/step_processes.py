"""The processes a parallel run's steps run in (Dagster's multiprocess executor) end with the command.

A step's process is a child of the fork server (`pinterest-etl run`) or of the command itself (in-process callers,
which spawn each step). Killing the command alone (`kill -9 <pid>`, the OOM killer) would leave them running: the
fork server outlives the command as long as any process it forked lives (each holds its `alive` pipe open), so no
signal on a parent's death reaches them, and they would go on calling the API and writing the raw zone and resume
records after the run lock, held by the command's process only, is gone and the next run has taken it.
"""

from __future__ import annotations

import functools
import multiprocessing
import os
import signal
import threading
from multiprocessing.process import BaseProcess


@functools.cache
def end_with_the_command() -> None:
    """In a process multiprocessing started (a step's), a daemon thread that SIGKILLs it as soon as the process
    that started it has ended, however it ended, or at once when it ended already. Once per process; nothing in
    a process multiprocessing did not start (the command's own)."""
    command = multiprocessing.parent_process()
    if command is not None:
        threading.Thread(target=_kill_this_process_when_gone, args=(command,), name="end-with-the-command",
                         daemon=True).start()


def _kill_this_process_when_gone(command: BaseProcess) -> None:
    command.join()  # waits on the sentinel multiprocessing gives a child: ready once the starting process is gone
    os.kill(os.getpid(), signal.SIGKILL)
