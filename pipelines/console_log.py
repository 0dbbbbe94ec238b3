"""Dagster's log of a command-line run on standard error, in Dagster's console format. Without --debug it leaves
out the step and run failure events: each carries the failure's whole traceback (about a hundred lines for a
locked warehouse), and the command line prints every failure itself after the run, as one paragraph when the
error is a known one (pipelines/known_errors.py)."""

from __future__ import annotations

import logging
import sys

import dagster as dg

FORMAT = "%(asctime)s - %(name)s - %(levelname)s - %(message)s"
DATE_FORMAT = "%Y-%m-%d %H:%M:%S %z"
_FAILURE_EVENTS = frozenset({dg.DagsterEventType.STEP_FAILURE, dg.DagsterEventType.RUN_FAILURE})
# The engine's own note that a step after a failed one is not run: an error line about no new error.
_SKIPPED_AFTER_FAILURE = "Dependencies for step "


class _StderrHandler(logging.Handler):
    """Writes to the standard error of the moment (a test's capture, a redirected stream), not the one at start."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
        except Exception:  # as the logging module does: a log line never fails the run
            self.handleError(record)


def is_failure_record(record: logging.LogRecord) -> bool:
    """Whether a Dagster log record is one the command line reports itself: a step or run failure."""
    metadata = getattr(record, "dagster_meta", None) or {}
    event = metadata.get("dagster_event")
    if event is not None and event.event_type in _FAILURE_EVENTS:
        return True
    return str(metadata.get("orig_message", "")).startswith(_SKIPPED_AFTER_FAILURE)


@dg.logger(
    config_schema={
        "log_level": dg.Field(str, is_required=False, default_value="INFO"),
        "debug": dg.Field(bool, is_required=False, default_value=False,
                          description="show the failure events with their tracebacks too"),
    },
    description="Dagster's console log for `pinterest-etl run` and `load`; failures are printed by the command.",
)
def command_line_console(init_context) -> logging.Logger:
    config = init_context.logger_config
    logger = logging.Logger("dagster", level=config["log_level"].upper())
    handler = _StderrHandler()
    handler.setFormatter(logging.Formatter(FORMAT, DATE_FORMAT))
    logger.addHandler(handler)
    if not config["debug"]:
        logger.addFilter(lambda record: not is_failure_record(record))
    return logger
