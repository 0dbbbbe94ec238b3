"""Live progress of a long step (API calls done of planned, answers normalized, rows loaded): on a terminal one line
rewritten in place with the expected time left; otherwise one line when the step ends; and the same counts in the
step's Dagster log, every LOG_EVERY_SECONDS and at the end (a step with a log ends with the log's line only: the
command line prints the step's log on standard error too).

A step owns one StepProgress; whatever does the work reports the count so far (`update`), or a `watching` thread
reads it from a counter the work keeps anyway (the client's CallStats), so the hot path gains nothing."""

from __future__ import annotations

import contextlib
import math
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import TextIO

REDRAW_EVERY_SECONDS = 0.5
LOG_EVERY_SECONDS = 30.0


def duration_text(seconds: float) -> str:
    """A time left as a person says it: `40 s`, `3 min`, `1 h 05 min`."""
    seconds = max(0, math.ceil(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes = math.ceil(seconds / 60)
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


class StepProgress:
    """The progress of one step in one unit (`API calls`, `answers normalized`, `rows loaded`). `planned` may grow
    as the step plans more (one account after another); `per_minute`, when given, is the current rate budget the
    work is paced by, and the time left is the work left at that budget."""

    def __init__(self, step: str, unit: str, *, planned: int | None = None, per_minute: Callable[[], float] | None = None,
                 log: Callable[[str], None] | None = None, stream: TextIO | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.step, self.unit, self.planned, self.per_minute = step, unit, planned, per_minute
        self.done = 0
        self._log, self._stream, self._clock = log, stream, clock
        self._lock = threading.Lock()
        self._drawn_at = self._logged_at = clock()
        self._drawn = False

    @property
    def _live(self) -> bool:
        stream = self._stream or sys.stderr
        return bool(getattr(stream, "isatty", lambda: False)())

    def plan(self, more: int) -> None:
        """`more` units of work planned (an account's calls, say)."""
        with self._lock:
            self.planned = (self.planned or 0) + more

    def update(self, done: int) -> None:
        """The count so far; redraws the terminal line and logs when they are due."""
        with self._lock:
            self.done = done
            now = self._clock()
            if self._log and now - self._logged_at >= LOG_EVERY_SECONDS:
                self._log_line(self.line())
                self._logged_at = now
            if self._live and now - self._drawn_at >= REDRAW_EVERY_SECONDS:
                self._write(f"\r{self.line()}\x1b[K")
                self._drawn_at, self._drawn = now, True

    def finish(self, *, stopped: bool = False) -> None:
        """The step's last line (`done`, or `stopped` by an error): in place of the live one on a terminal, the only
        one otherwise. With a log, the log's line is that line (the command line prints the step's log on the same
        standard error: written twice it would show twice)."""
        with self._lock:
            line = self.line(ended="stopped" if stopped else "done")
            if self._log:
                self._log_line(line)
            else:
                self._write(f"\r{line}\x1b[K\n" if self._drawn else f"{line}\n")

    def _log_line(self, line: str) -> None:
        """A line into the step's log; the live line is erased first, so the log's line starts on a clean line."""
        if self._drawn:
            self._write("\r\x1b[K")
            self._drawn = False
        self._log(line)

    def line(self, *, ended: str | None = None) -> str:
        """`organic_raw: 120 of 400 API calls (30 %), about 3 min left at 100 calls/min`."""
        text = f"{self.step}: {self.done:,}"
        if self.planned:
            text += f" of {self.planned:,} {self.unit} ({min(100, 100 * self.done // self.planned)} %)"
        else:
            text += f" {self.unit}"
        if ended:
            return f"{text}, {ended}"
        left = self.time_left()
        if left is not None:
            text += f", about {duration_text(left)} left at {self.per_minute():g} {self.unit.split()[-1]}/min"
        return text

    def time_left(self) -> float | None:
        """Seconds the work left takes at the current budget; None without a plan or a budget."""
        if not self.planned or self.per_minute is None or self.per_minute() <= 0:
            return None
        return max(0, self.planned - self.done) / self.per_minute() * 60

    def _write(self, text: str) -> None:
        stream = self._stream or sys.stderr
        stream.write(text)
        stream.flush()


@contextlib.contextmanager
def watching(progress: StepProgress, count: Callable[[], int], every: float = REDRAW_EVERY_SECONDS) -> Iterator[StepProgress]:
    """Reads `count()` into `progress` every `every` seconds while the block runs, then finishes it (also when the
    block fails: the line then says how far it got, and `stopped`)."""
    stop = threading.Event()

    def poll() -> None:
        while not stop.wait(every):
            progress.update(count())

    thread = threading.Thread(target=poll, name=f"progress-{progress.step}", daemon=True)
    thread.start()
    stopped = True
    try:
        yield progress
        stopped = False
    finally:
        stop.set()
        thread.join()
        progress.update(count())
        progress.finish(stopped=stopped)
