"""Worker processes that normalize raw answers beside the pipeline's own: results in the order the tasks were given.

The pipeline's process is bound to one core by Python's GIL; parsing and normalizing independent raw answers in
other processes uses the others while it stages the results in their reading order. Workers are spawned (not
forked: Dagster and DuckDB run threads), which costs about a second of imports, so they are used only for ranges
whose answers are large. A worker that dies fails the step with a message saying so; an error a task raises reaches
the caller as the same exception, with its message and attributes.
"""

from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import ctypes
import multiprocessing
import os
import pickle
import signal
import sys
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from pipelines import heap

# Raw bytes (gzipped, as stored) from which workers repay their start: about 5 s of normalizing organic answers of
# the simulator in the pipeline's process (1.7 MB/s gzipped), against 1 s of spawning two workers.
WORKER_MIN_RAW_BYTES = 8 * 1024 * 1024
# Tasks given out ahead of the one whose result is awaited, per worker: enough to keep every worker busy, few
# enough that the results waiting for their turn stay a few answers' rows.
_AHEAD_PER_WORKER = 2
_PR_SET_PDEATHSIG = 1  # prctl option (linux/prctl.h): the signal a process gets when its parent ends
# The longest wait for one task's result; normalizing the largest answer takes well under a second.
TASK_TIMEOUT_SECONDS = 600.0


class WorkerProcessError(RuntimeError):
    """A worker process ended (killed, out of memory) or stopped answering; the message says which task."""


class _Failure:
    """An exception a task raised, carried back whole: rebuilt from its class, args and attributes, because many
    exceptions cannot be pickled the standard way (their __init__ takes other arguments than their args)."""

    def __init__(self, error: BaseException):
        self.error = error

    def __reduce__(self):
        return _failure, (type(self.error), self.error.args, {name: _sendable(value)
                                                             for name, value in vars(self.error).items()})


def _sendable(value: Any) -> Any:
    """An exception's attribute as it can cross to the pipeline's process: itself, or its text when pickle cannot
    take it (a metric value nested hundreds of lists deep: the message, already text, says the same)."""
    try:
        pickle.dumps(value)
    except Exception:  # RecursionError, PicklingError, TypeError: whatever pickle raises, the text goes instead
        return str(value)
    return value


def _failure(kind: type[BaseException], args: tuple, attributes: dict) -> _Failure:
    error = kind.__new__(kind)
    error.args = args
    error.__dict__.update(attributes)
    return _Failure(error)


def _start_worker(parent: int) -> None:
    """A worker returns freed answers to the system as the pipeline's process does (pipelines/heap.py), and is
    killed when the process that started it ends, however it ends (kill -9, the OOM killer): else it would wait for
    ever on its task queue, holding the pipeline's standard output and error open (`... | logger` would never end).
    Linux's PR_SET_PDEATHSIG; elsewhere a worker ends when it next finds its queue broken."""
    heap.return_large_blocks()
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent ended before the signal was asked for
        os.kill(os.getpid(), signal.SIGKILL)


def _run(function: Callable[..., Any], arguments: tuple) -> Any:
    try:
        return function(*arguments)
    except Exception as error:
        return _Failure(error)


def map_in_order(function: Callable[..., Any], tasks: Iterable[tuple], workers: int,
                 describe: Callable[[tuple], str] = repr) -> Iterator[Any]:
    """`function(*task)` of every task, computed in `workers` spawned processes, yielded in the tasks' order. The
    first task that raises ends the iteration with its exception; `function`, the tasks and the results must be
    picklable (`function` defined at a module's top level). `describe(task)` names a task in an error message."""
    pool = concurrent.futures.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                                  initializer=_start_worker, initargs=(os.getpid(),))
    pending: collections.deque[tuple[tuple, concurrent.futures.Future]] = collections.deque()
    try:
        for task in tasks:
            pending.append((task, pool.submit(_run, function, task)))
            if len(pending) > workers * _AHEAD_PER_WORKER:
                yield _result(*pending.popleft(), describe)
        while pending:
            yield _result(*pending.popleft(), describe)
    except BaseException:
        _stop(pool)
        raise
    pool.shutdown(wait=True)


def _result(task: tuple, future: concurrent.futures.Future, describe: Callable[[tuple], str]) -> Any:
    try:
        result = future.result(timeout=TASK_TIMEOUT_SECONDS)
    except BrokenProcessPool:
        raise WorkerProcessError(
            f"a normalization worker process ended unexpectedly (killed, or out of memory?) before {describe(task)} "
            "was normalized; nothing was written. Run again, or set PINTEREST_NORMALIZE_WORKERS=0 to normalize in "
            "the pipeline's own process") from None
    except concurrent.futures.TimeoutError:
        raise WorkerProcessError(
            f"a normalization worker process gave no result for {describe(task)} in {TASK_TIMEOUT_SECONDS:g} s; "
            "nothing was written. Run again, or set PINTEREST_NORMALIZE_WORKERS=0 to normalize in the pipeline's "
            "own process") from None
    if isinstance(result, _Failure):
        raise result.error
    return result


def _stop(pool: concurrent.futures.ProcessPoolExecutor) -> None:
    """Cancel what has not started and end the workers at once: a worker stuck in a task would otherwise hold the
    interpreter's exit, which waits for them."""
    processes = list((getattr(pool, "_processes", None) or {}).values())  # no public way to end them before 3.14
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        if process.is_alive():
            process.kill()
