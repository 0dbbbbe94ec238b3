"""Progress of a long step: the live line on a terminal (done of planned, time left at the current budget), one line
at the end otherwise, and the same counts in the step's log."""

from __future__ import annotations

import io

import pytest

from pipelines.progress import LOG_EVERY_SECONDS, StepProgress, duration_text, watching


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(("seconds", "text"), [(0, "0 s"), (39.2, "40 s"), (60, "1 min"), (61, "2 min"),
                                               (3600, "1 h 00 min"), (3900, "1 h 05 min")])
def test_time_left_reads_as_a_person_says_it(seconds, text):
    assert duration_text(seconds) == text


def test_on_a_terminal_the_line_is_rewritten_in_place_with_the_time_left_at_the_budget():
    terminal, clock = Terminal(), Clock()
    progress = StepProgress("organic_raw", "API calls", planned=400, per_minute=lambda: 100, stream=terminal, clock=clock)
    clock.now = 1
    progress.update(120)
    progress.update(130)  # within the redraw interval: not drawn
    clock.now = 2
    progress.update(140)
    progress.finish()
    assert terminal.getvalue() == (
        "\rorganic_raw: 120 of 400 API calls (30 %), about 3 min left at 100 calls/min\x1b[K"
        "\rorganic_raw: 140 of 400 API calls (35 %), about 3 min left at 100 calls/min\x1b[K"
        "\rorganic_raw: 140 of 400 API calls (35 %), done\x1b[K\n")


def test_when_the_output_is_not_a_terminal_a_step_prints_one_line_when_it_ends():
    output, clock = io.StringIO(), Clock()
    progress = StepProgress("organic_lake", "answers normalized", stream=output, clock=clock)
    for done in range(1, 5):
        clock.now += 1
        progress.update(done * 1000)
    progress.finish()
    assert output.getvalue() == "organic_lake: 4,000 answers normalized, done\n"


def test_the_steps_log_gets_the_counts_every_interval_and_at_the_end():
    logged, clock = [], Clock()
    progress = StepProgress("ads_raw", "API calls", planned=10, log=logged.append, stream=io.StringIO(), clock=clock)
    progress.update(3)
    clock.now = LOG_EVERY_SECONDS
    progress.update(4)
    progress.plan(10)  # a second account planned
    progress.update(12)
    progress.finish()
    assert logged == ["ads_raw: 4 of 10 API calls (40 %)", "ads_raw: 12 of 20 API calls (60 %), done"]


def test_a_watched_step_that_fails_says_how_far_it_got():
    output = io.StringIO()
    with pytest.raises(RuntimeError), watching(StepProgress("organic_raw", "API calls", planned=8, stream=output),
                                               lambda: 5, every=0.01):
        raise RuntimeError("stop")
    assert output.getvalue() == "organic_raw: 5 of 8 API calls (62 %), stopped\n"
