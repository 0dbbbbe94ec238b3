"""How a command reports an error it expected: one line on standard error, `pinterest-etl COMMAND: error: ...`;
with `--debug` (cli.main turns it on for the process), the traceback of the error being handled goes first."""

from __future__ import annotations

import os
import sys
import traceback

_debug = False


def show_tracebacks(on: bool) -> None:
    """Whether `fail` prints the traceback of the error being handled (the global `--debug`)."""
    global _debug
    _debug = on


def fail(command: str, message: object, code: int = 1) -> int:
    """Print the one-line error of `command` (after its traceback, with --debug) and return `code`."""
    if _debug and sys.exc_info()[1] is not None:
        traceback.print_exc()
    print(f"pinterest-etl {command}: error: {message}", file=sys.stderr)
    return code


# 128 + SIGPIPE: the status a Unix command ends with when its reader goes away.
READER_GONE = 141


def reader_gone() -> int:
    """Standard output's reader went away (`pinterest-etl sql ... | head`): as Unix commands do, stop quietly, with
    READER_GONE. Standard output now points at /dev/null, so that Python's last flush finds nowhere to complain."""
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, sys.stdout.fileno())
    os.close(null)
    return READER_GONE
