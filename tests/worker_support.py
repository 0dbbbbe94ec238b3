"""Tasks for worker processes under test: defined at a module's top level, in a module that imports little, so
that a spawned worker imports them quickly."""

from __future__ import annotations

import os
import signal

from pipelines.metric_values import MetricValueError


def shout(word: str) -> str:
    return word.upper()


def fail(word: str) -> str:
    raise MetricValueError("some/endpoint", "IMPRESSION", "pin", word, "2026-11-20", float("inf"))


def die(word: str) -> str:
    os.kill(os.getpid(), signal.SIGKILL)
    return word
