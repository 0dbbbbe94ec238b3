"""The errors whose message already says what happened and what to do (a locked warehouse, missing or refused
credentials, a rate-limit stop, a setting, a full disk): the command line prints them as one paragraph without a
traceback (`--debug` shows it). Any other error is unexpected and keeps its traceback, with how to report it."""

from __future__ import annotations

from typing import TYPE_CHECKING

import dagster as dg

from pipelines.atomic_files import DataWriteError
from pipelines.lake import CorruptLakeFileError
from pipelines.metric_values import AnswerValueError
from pipelines.normalize_workers import WorkerProcessError
from pipelines.object_store import StoreError
from pipelines.organic.extract import ContentTypeRefusedError, PinAnalyticsAccessLostError
from pipelines.pinterest.credentials import CredentialsError
from pipelines.pinterest.errors import (
    AuthError,
    CertificateError,
    ForbiddenError,
    RateLimitedError,
    ResponseTooLargeError,
    RetryBudgetExhausted,
    ServerError,
    TransportError,
    UnsafeUrlError,
)
from pipelines.raw_zone import RawZoneError
from pipelines.run_lock import RunLockTimeout
from pipelines.settings import SettingsError
from pipelines.warehouse import BlockingCheckError, LakeFileSchemaError, OutdatedWarehouseError, WarehouseLockedError

if TYPE_CHECKING:
    from dagster_shared.error import SerializableErrorInfo

KNOWN_ERRORS: tuple[type[BaseException], ...] = (
    # the warehouse, the lake and the raw zone
    WarehouseLockedError, BlockingCheckError, OutdatedWarehouseError, LakeFileSchemaError, CorruptLakeFileError,
    RawZoneError, DataWriteError, RunLockTimeout, WorkerProcessError, StoreError,
    # a malformed answer (metric value, data_status, repeated key): the message names the value and the raw file
    AnswerValueError,
    # credentials, settings and what the API answered (its status, code and message; never retried further)
    CredentialsError, SettingsError, UnsafeUrlError, CertificateError, AuthError, ForbiddenError, RateLimitedError,
    RetryBudgetExhausted, ServerError, TransportError, ResponseTooLargeError, PinAnalyticsAccessLostError,
    ContentTypeRefusedError,
    # what the assets raise with a message of their own (a blocking check failed, no report for a range)
    dg.Failure,
)

# What to do, for a known error whose message is the API's own and so cannot say it.
ADVICE = {
    "AuthError": "The API refused the access token (invalid, expired and not refreshable, or without a scope it "
                 "needs): `pinterest-etl auth status` shows "
                 "where the tokens come from and whether they work; `pinterest-etl auth login` gets new ones (or set "
                 "PINTEREST_ACCESS_TOKEN).",
}
# What Dagster raises in a step that SIGINT (Ctrl+C) or SIGTERM stopped: no error of the step's own.
INTERRUPTED = "DagsterExecutionInterruptedError"
INTERRUPTED_TEXT = "interrupted (Ctrl+C or SIGTERM); run the same command again to complete the range"
REPORT_HINT = ("This error is unexpected: please report it with the command you ran and the output above "
               "(`--debug` adds Dagster's own log of the failure).")


def _with_subclasses(kinds: tuple[type[BaseException], ...]) -> frozenset[str]:
    """The names of `kinds` and of every subclass of them (DailyQuotaError of RateLimitedError, say)."""
    names, pending = set(), list(kinds)
    while pending:
        kind = pending.pop()
        names.add(kind.__name__)
        pending.extend(kind.__subclasses__())
    return frozenset(names)


def is_known(class_name: str | None) -> bool:
    """Whether an error of this class (by name: a step's error reaches the command line serialized) is a known one."""
    return class_name in _with_subclasses(KNOWN_ERRORS)


def root_cause(error: SerializableErrorInfo) -> SerializableErrorInfo:
    """The error that made a step fail (Dagster wraps it in its own execution errors)."""
    while error.cause is not None:
        error = error.cause
    return error


def cause_text(error: SerializableErrorInfo | None) -> str:
    """`ClassName: message` of a step's root cause, without the module path; 'unknown' without an error; what to
    do when the step was interrupted."""
    if error is None:
        return "unknown"
    error = root_cause(error)
    if error.cls_name == INTERRUPTED:
        return INTERRUPTED_TEXT
    _, named, message = error.message.strip().partition(f"{error.cls_name}: ")
    return f"{error.cls_name}: {message}" if named else error.message.strip()


def step_failure_text(error: SerializableErrorInfo | None) -> str:
    """What the command line prints after `step X failed: <cause>`: for a known error what to do when its message
    cannot say it (ADVICE), else nothing; nothing for an interrupted step either; the traceback and how to report it
    for any other."""
    if error is None:
        return ""
    cause = root_cause(error).cls_name
    if cause == INTERRUPTED:
        return ""
    if is_known(cause):
        return f". {ADVICE[cause]}" if cause in ADVICE else ""
    return f"\n{error.to_string().rstrip()}\n{REPORT_HINT}"
