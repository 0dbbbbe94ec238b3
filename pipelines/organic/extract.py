"""Organic extraction: plan the calls for a date range and fetch them into the raw zone."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import logging
import threading
from collections.abc import Mapping, Sequence
from itertools import chain
from operator import itemgetter, methodcaller

from pipelines import api_enums
from pipelines.organic.pin_answers import UNSPLIT_KEY, pin_answer_problem, pin_problems
from pipelines.pinterest.client import PinterestClient
from pipelines.pinterest.endpoints import MAX_PIN_IDS
from pipelines.pinterest.errors import (
    ApiError,
    AuthError,
    ForbiddenError,
    InvalidRequestError,
    NotFoundError,
    PinterestError,
    shown_value,
)
from pipelines.pinterest.retries import is_spurious_window_refusal
from pipelines.planning import DateRange, chunks, plan_windows
from pipelines.raw_zone import RawZone

log = logging.getLogger(__name__)

SPLIT_FIELDS = tuple(s for s in api_enums.USER_ACCOUNT_SPLIT_FIELDS if s != "NO_SPLIT")
USER_ACCOUNT_METRICS = api_enums.USER_ACCOUNT_METRIC_TYPES


@dataclasses.dataclass(frozen=True)
class PinRef:
    pin_id: str
    is_video: bool

    @property
    def metric_types(self) -> tuple[str, ...]:
        """The metric set of the pin's type: the official description lists one for video pins and one for the
        others (standard), and a call asks a pin for its own type's set only."""
        return api_enums.PIN_VIDEO_METRIC_TYPES if self.is_video else api_enums.PIN_STANDARD_METRIC_TYPES


@dataclasses.dataclass(frozen=True)
class OrganicPlan:
    """Every analytics call of an organic extraction, before any is made."""

    windows: tuple[DateRange, ...]
    unreachable: DateRange | None
    splits: tuple[str, ...]
    pin_batches: tuple[tuple[PinRef, ...], ...]
    content_types: tuple[str, ...] = ("ALL",)  # user-account analytics are fetched once per content type

    @property
    def analytics_calls(self) -> int:
        """ceil(D/90) x (#content types x (1 + #splits) + ceil(S/100) + ceil(V/100)) with the bulk endpoint
        (S standard pins, V video pins: one type per bulk call)."""
        return len(self.windows) * (len(self.content_types) * (1 + len(self.splits)) + len(self.pin_batches))


def validate_splits(splits: Sequence[str]) -> tuple[str, ...]:
    unknown = [s for s in splits if s not in SPLIT_FIELDS]
    if unknown:
        raise ValueError(f"unknown split field(s) {', '.join(unknown)}; choose from {', '.join(SPLIT_FIELDS)}")
    return tuple(dict.fromkeys(splits))


def unique_pins(pins: Sequence[PinRef]) -> list[PinRef]:
    """One PinRef per pin id, in the order first listed. A pin listed twice with different types is taken as a
    video pin: a standard pin asked the video set answers without any video metric, which the extraction notices
    and asks it again with the standard set, while a video pin asked the standard set answers like a standard pin
    created before 2023-03-20 (no follows, no profile visits), which nothing tells apart."""
    video = {pin.pin_id for pin in pins if pin.is_video}
    return [PinRef(pin_id, pin_id in video) for pin_id in dict.fromkeys(pin.pin_id for pin in pins)]


def plan_pin_batches(pins: Sequence[PinRef]) -> tuple[tuple[PinRef, ...], ...]:
    """Bulk calls of at most 100 pins of one type each, each pin once: the standard pins' batches, then the video
    pins'. Each batch asks its type's metric set, so a pin is never asked for metrics its type does not have."""
    pins = unique_pins(pins)
    by_type = ([p for p in pins if not p.is_video], [p for p in pins if p.is_video])
    return tuple(tuple(batch) for same_type in by_type for batch in chunks(same_type, MAX_PIN_IDS))


def plan_organic(requested: DateRange, today: dt.date, pins: Sequence[PinRef], splits: Sequence[str],
                 content_types: Sequence[str] = ("ALL",)) -> OrganicPlan:
    window_plan = plan_windows(requested, today)
    batches = plan_pin_batches(pins)
    return OrganicPlan(window_plan.windows, window_plan.unreachable, validate_splits(splits), batches,
                       tuple(dict.fromkeys(content_types)))


@dataclasses.dataclass(frozen=True)
class PinNote:
    """One pin's answer for one window worth reporting: `what` says what (the refusal that left it without analytics,
    the days its answer left out, the other pin type's metrics it answered with)."""

    pin_id: str
    window: DateRange
    what: str


@dataclasses.dataclass(frozen=True)
class PinsOutcome:
    """What fetching some pins' analytics for one window gave: raw files written; pins a bulk answer left out or
    answered without a usable block (each then asked alone once); pins left without analytics (`skipped`); pins
    answered without some days of the window (`short`); pins answered with the other type's metrics, asked alone
    again with that type's set (`retyped`); pins answered with days outside the window (`outside_window`)."""

    files: int = 0
    missing_from_bulk: int = 0
    skipped: tuple[PinNote, ...] = ()
    short: tuple[PinNote, ...] = ()
    retyped: tuple[PinNote, ...] = ()
    outside_window: tuple[PinNote, ...] = ()

    def __add__(self, other: PinsOutcome) -> PinsOutcome:
        return PinsOutcome(*(getattr(self, f.name) + getattr(other, f.name) for f in dataclasses.fields(self)))


@dataclasses.dataclass
class ExtractSummary:
    """One account's organic extraction: raw files written, whether the bulk pin endpoint served this run, pins a
    bulk answer left out or answered unusably, pins left without analytics, pins answered without some days, pins
    answered with the other type's metrics, and pins answered with days outside the window (each per window, with
    what happened)."""

    files: int = 0
    bulk_available: bool = True
    # A bulk call the API answered in this run (a resumed run's replayed answer is none): the endpoint is available
    # to the app, so later refusals are about pins.
    bulk_proven: bool = False
    pins_missing_from_bulk: int = 0
    skipped_pins: list[PinNote] = dataclasses.field(default_factory=list)
    short_answers: list[PinNote] = dataclasses.field(default_factory=list)
    retyped_pins: list[PinNote] = dataclasses.field(default_factory=list)
    outside_window_answers: list[PinNote] = dataclasses.field(default_factory=list)

    def add(self, outcome: PinsOutcome) -> None:
        self.files += outcome.files
        self.pins_missing_from_bulk += outcome.missing_from_bulk
        self.skipped_pins.extend(outcome.skipped)
        self.short_answers.extend(outcome.short)
        self.retyped_pins.extend(outcome.retyped)
        self.outside_window_answers.extend(outcome.outside_window)

    def pins_without_analytics(self) -> dict[str, str]:
        """Each pin left without analytics for a window of the run, once, with the reason of its first refusal,
        by pin id."""
        return first_note_per_pin(self.skipped_pins)


def first_note_per_pin(notes: Sequence[PinNote]) -> dict[str, str]:
    """Each pin of `notes` once, with its first note ("<window>: <what>"), by pin id."""
    first: dict[str, str] = {}
    for note in notes:
        first.setdefault(note.pin_id, f"{note.window}: {note.what}")
    return dict(sorted(first.items()))


def extract_organic(client: PinterestClient, raw: RawZone, plan: OrganicPlan, user_id: str) -> ExtractSummary:
    """Fetch every planned call into the raw zone. Pins go by the bulk endpoint, one type per call, or one call
    per pin if the app lacks it (see `_extract_pin_analytics`); pins the API refuses are skipped and listed in
    the summary, the run goes on."""
    summary = ExtractSummary()
    pin_calls = _PinCalls(client, raw, summary)
    for window in plan.windows:
        dates = {"start_date": window.start, "end_date": window.end}
        for content_type in plan.content_types:
            for split in ("NO_SPLIT", *plan.splits):
                # content_type is always sent: the API's default (ALL) counts paid activity too.
                params = {**dates, "metric_types": list(USER_ACCOUNT_METRICS), "split_field": split,
                          "content_type": content_type}
                try:
                    response = client.fetch("user_account/analytics", params=params)
                except InvalidRequestError as error:
                    raise _content_type_refusal(error, content_type, plan.content_types, raw) or error from None
                raw.store_answer("user_account/analytics", response, params=params, window=window, context={"user_id": user_id})
                summary.files += 1
        _extract_pin_analytics(pin_calls, window, plan.pin_batches)
    return summary


class ContentTypeRefusedError(InvalidRequestError):
    """A 400 on user-account analytics refusing the content_type it was sent: the message names the value and
    PINTEREST_CONTENT_TYPES without it; the answers fetched before stay in the raw zone."""


def _content_type_refusal(error: InvalidRequestError, content_type: str, content_types: Sequence[str],
                          raw: RawZone) -> ContentTypeRefusedError | None:
    """The refusal as one about `content_type`, when it is: the API's message names content_type, or the same
    request with the first configured content type was answered (in this window, split by split) and only the
    content type differs. None for any other 400 (the last-90-days refusal, for one)."""
    if "content_type" not in error.api_message.lower() and content_type == content_types[0]:
        return None
    suggested = [t for t in content_types if t != content_type]
    if not {"ORGANIC", "ALL"} & set(suggested):  # the setting needs one of them (settings.content_types)
        suggested.insert(0, "ORGANIC" if content_type == "ALL" else "ALL")
    return ContentTypeRefusedError(
        error.status, error.code,
        f"{error.api_message} (content_type={content_type} refused: drop {content_type} from PINTEREST_CONTENT_TYPES, "
        f"e.g. PINTEREST_CONTENT_TYPES={','.join(suggested)}, and run again; the answers fetched before are kept in the "
        f"raw zone {raw.root})", error.endpoint, error.request_id)


# Refusals of the bulk endpoint the official description documents (400 code 1, 401 code 7, 404 code 50) plus
# 403, the API's answer to a caller that may not use an endpoint at all. 403 and 400 code 1 read like a refusal of
# the app or the request, 401 code 7 and 404 like one of a pin that became private or was deleted; but a server may
# answer either for one pin of a batch, so the extraction never concludes from the kind alone (see
# `_extract_pin_analytics`).
APP_REFUSAL, PIN_REFUSAL = "app", "pin"


def bulk_refusal(error: ApiError) -> str | None:
    """APP_REFUSAL or PIN_REFUSAL for a documented refusal of multi_pins/analytics, None for any other error: an
    error of another endpoint, and the last-90-days 400 code 1 the client retried without clearing (a refusal of
    the dates, not of the app or a pin: it fails the run with its own message)."""
    if error.endpoint != "multi_pins/analytics" or is_spurious_window_refusal(error.status, error.code,
                                                                               error.api_message):
        return None
    if isinstance(error, ForbiddenError) or (isinstance(error, InvalidRequestError) and error.code == 1):
        return APP_REFUSAL
    if isinstance(error, NotFoundError) or (isinstance(error, AuthError) and error.code == 7):
        return PIN_REFUSAL
    return None


class PinAnalyticsAccessLostError(PinterestError):
    """Pin analytics calls refused for every pin asked alone, a pin this run had answered included (or none
    answered yet): the token or the app lost access to the account's pins; asking each other pin would only be
    refused too. The answers fetched before are kept in the raw zone."""


# One-pin bulk calls refused for pins the API serves alone, before the bulk endpoint is taken to be unavailable to the
# app: one could be a pin that only the bulk endpoint refuses.
UNAVAILABLE_AFTER_REFUSED_PINS = 2
# Pins refused alone one after the other (no pin call answered in between) before a pin this run had answered is
# asked again: refused too (or none answered yet), access to the pins is lost and the extraction stops.
REFUSED_ALONE_BEFORE_ACCESS_CHECK = 3


class _PinCalls:
    """The pin analytics calls of one account's extraction, on the client's threads, and what they taught about
    the API for the rest of the run: whether the bulk endpoint serves this app (`summary.bulk_available`,
    `summary.bulk_proven`), the largest number of pins a bulk call may ask (`batch_limit`: lowered when a refused
    call's halves both answer, i.e. the API refused the size), the pins refused alone since the last pin call that
    answered, and a pin that answered (to tell pins refused one by one from a token that lost access)."""

    def __init__(self, client: PinterestClient, raw: RawZone, summary: ExtractSummary):
        self.client, self.raw, self.summary = client, raw, summary
        self.batch_limit = MAX_PIN_IDS
        self._lock = threading.Lock()
        self._refused_alone: list[str] = []
        self._witness: PinRef | None = None
        self._lost: PinAnalyticsAccessLostError | None = None

    def answered(self, pins: Sequence[PinRef]) -> None:
        """Pins the API answered now (never a resumed run's replayed answer: it says nothing of today's access)."""
        with self._lock:
            self._refused_alone.clear()
            self._witness = self._witness or pins[0]

    def lower_batch_limit(self, refused: int, answered: int, window: DateRange, error: ApiError) -> None:
        with self._lock:
            if answered >= self.batch_limit:
                return
            self.batch_limit = answered
        log.warning("multi_pins/analytics refused %d pins (%s) and answered each half of them: taking the API to refuse "
                    "more than %d pins a call (%s); the rest of this run asks at most %d pins a call", refused, error,
                    answered, window, answered)

    def refused_alone(self, pin: PinRef, window: DateRange, reason: str) -> None:
        """A pin refused alone. The REFUSED_ALONE_BEFORE_ACCESS_CHECK-th in a row has a pin this run had answered
        asked again: refused too, or none answered yet, the run stops (PinAnalyticsAccessLostError)."""
        with self._lock:
            self._refused_alone.append(pin.pin_id)
            if len(self._refused_alone) != REFUSED_ALONE_BEFORE_ACCESS_CHECK:
                return
            refused, witness = list(self._refused_alone), self._witness
        checked = _single_pin(self, window, witness, retype=False, access_check=True) if witness else None
        if checked is not None and not checked.skipped:
            with self._lock:
                self._refused_alone.clear()
                self.summary.files += checked.files  # its answer is in the raw zone like any other
            return
        checked = (f"pin {shown_value(witness.pin_id)}, answered earlier in this run, is refused now too" if witness
                   else "no pin analytics call has answered in this run")
        lost = PinAnalyticsAccessLostError(
            f"pins/analytics refused pins {', '.join(map(shown_value, refused))} one after the other ({window}; last: "
            f"{reason}) and {checked}: the token or the app has lost access to this account's pins; check it with "
            f"`pinterest-etl probe` (or `pinterest-etl auth status`), then re-run: the answers fetched before are kept "
            f"in the raw zone {self.raw.root}")
        with self._lock:
            self._lost = self._lost or lost
        raise lost

    def check_not_lost(self) -> None:
        """Raise the run's PinAnalyticsAccessLostError, once one thread found access lost: no other call is made."""
        if self._lost is not None:
            raise self._lost


def _extract_pin_analytics(calls: _PinCalls, window: DateRange, batches: Sequence[Sequence[PinRef]]) -> None:
    """Every pin batch of one window, by the bulk endpoint while the app has it, else one call per pin.

    Until a bulk call has answered in this run, batches go one at a time. A batch refused with a documented refusal
    (`bulk_refusal`) is diagnosed by `_diagnose_refused_batch`: its pins are asked alone, and a bulk call asks for
    each that answers alone. Two such one-pin calls refused, the app is taken to lack the endpoint: every other pin
    goes by one call per pin. One answered, the endpoint is proven and the refusal was about pins of the batch: the
    rest of the batch is bisected (`_bulk_bisected`). Once proven, the remaining batches run on the thread pool and
    a refused one is bisected the same way. Pins refused alone one after the other stop the run once a pin it had
    answered is refused too (`_PinCalls.refused_alone`). Only the API's answers of this run prove the endpoint or
    access: a resumed run's replayed answers do not."""
    summary = calls.summary
    pending = list(batches)
    while pending and summary.bulk_available and not summary.bulk_proven:
        batch = pending.pop(0)
        try:
            summary.add(_bulk_batch(calls, window, batch))
        except ApiError as error:
            if bulk_refusal(error) is None:
                raise
            summary.add(_diagnose_refused_batch(calls, window, batch, error))
    if summary.bulk_available:
        outcomes = calls.client.map(lambda batch: _bulk_bisected(calls, window, batch), pending)
    else:
        pins = [pin for batch in pending for pin in batch]
        outcomes = calls.client.map(lambda pin: _single_pin(calls, window, pin), pins)
    for outcome in outcomes:
        summary.add(outcome)


def _diagnose_refused_batch(calls: _PinCalls, window: DateRange, batch: Sequence[PinRef],
                            refusal: ApiError) -> PinsOutcome:
    """A batch refused before any bulk call answered in this run. Its pins are asked alone, in order; for each that
    answers, a bulk call asks for that pin only. One answered: the refusal was about pins of the batch (and the
    endpoint is proven, summary.bulk_proven, unless the answer was a resumed run's replayed one), and the batch's pins not asked yet are bisected (`_bulk_bisected`). Refused
    for UNAVAILABLE_AFTER_REFUSED_PINS pins the API serves alone: the endpoint is taken to be unavailable to this app
    (summary.bulk_available false) and the batch's other pins are asked alone. Pins refused alone are skipped and
    reported; if the batch runs out first, the next batch tries the bulk endpoint again."""
    outcome, refused_pins = PinsOutcome(), []
    for position, pin in enumerate(batch):
        alone = _single_pin(calls, window, pin)
        outcome += alone
        if alone.skipped:
            continue
        rest = batch[position + 1:]
        try:
            outcome += _bulk_batch(calls, window, [pin])
        except ApiError as error:
            if bulk_refusal(error) is None:
                raise
            refused_pins.append(pin.pin_id)
            if len(refused_pins) < UNAVAILABLE_AFTER_REFUSED_PINS:
                continue
            _take_bulk_unavailable(calls, f"a batch of {len(batch)} pins ({refusal})", refused_pins, error)
            return outcome + _pins_alone(calls, window, rest)
        log.warning("multi_pins/analytics refused a batch of %d pins (%s) and answered a call for pin %s alone: the "
                    "refusal is about pins of that batch; bisecting its %d pins not asked yet", len(batch), refusal,
                    shown_value(pin.pin_id), len(rest))
        return outcome + (_bulk_bisected(calls, window, rest) if rest else PinsOutcome())
    return outcome


def _take_bulk_unavailable(calls: _PinCalls, refused: str, pins: Sequence[str], error: ApiError) -> None:
    calls.summary.bulk_available = False
    log.warning("multi_pins/analytics refused %s, then a call for each of the pins %s alone (last: %s), which "
                "pins/analytics answers: taking the bulk endpoint to be unavailable to this app; one call per pin for "
                "the rest of this run", refused, ", ".join(map(shown_value, pins)), error)


@dataclasses.dataclass
class _Bisection:
    """One refused batch being bisected: whether a bulk call of it answered, and the pins it reached asked alone
    after their one-pin bulk call was refused that the API answered alone."""

    answered: bool = False
    served_alone: list[str] = dataclasses.field(default_factory=list)


def _bulk_bisected(calls: _PinCalls, window: DateRange, pins: Sequence[PinRef]) -> PinsOutcome:
    """Pins of one type by the bulk endpoint once it is proven, at most `batch_limit` a call. A documented refusal
    is about pins among them or about their number, so the pins are halved and each half asked, down to single pins
    asked alone (a pin refused alone is skipped and reported; one that answers alone is kept). Both halves answered:
    the API refused the number of pins, and later calls ask at most the larger half's. A bisection whose bulk calls
    were all refused and that reached UNAVAILABLE_AFTER_REFUSED_PINS pins the API answers alone takes the bulk
    endpoint to be unavailable to the app (it was revoked during the run): its other pins, and every later one, go
    by one call per pin."""
    if not calls.summary.bulk_available:
        return _pins_alone(calls, window, pins)
    if len(pins) > calls.batch_limit:
        return sum((_bulk_bisected(calls, window, part) for part in chunks(pins, calls.batch_limit)), PinsOutcome())
    try:
        return _bulk_batch(calls, window, pins)
    except ApiError as error:
        if bulk_refusal(error) is None:
            raise
        log.warning("multi_pins/analytics refused %d pins (%s); bisecting them", len(pins), error)
        return _refused_bisected(calls, window, pins, error, _Bisection())


def _refused_bisected(calls: _PinCalls, window: DateRange, pins: Sequence[PinRef], refusal: ApiError,
                      bisection: _Bisection) -> PinsOutcome:
    """Pins a bulk call asking for exactly them was refused for: each half asked, the refused halves bisected."""
    if not calls.summary.bulk_available:
        return _pins_alone(calls, window, pins)
    if len(pins) == 1:
        return _refused_in_bulk(calls, window, pins[0], refusal, bisection)
    outcome, refused = PinsOutcome(), []
    halves = (pins[:len(pins) // 2], pins[len(pins) // 2:])
    for half in halves:
        try:
            outcome += _bulk_batch(calls, window, half)
            bisection.answered = True
        except ApiError as error:
            if bulk_refusal(error) is None:
                raise
            refused.append((half, error))
    if not refused:
        calls.lower_batch_limit(len(pins), max(map(len, halves)), window, refusal)
    for half, error in refused:
        outcome += _refused_bisected(calls, window, half, error, bisection)
    return outcome


def _refused_in_bulk(calls: _PinCalls, window: DateRange, pin: PinRef, refusal: ApiError,
                     bisection: _Bisection) -> PinsOutcome:
    """A pin whose one-pin bulk call was refused, asked alone."""
    alone = _single_pin(calls, window, pin)
    if not alone.skipped and not bisection.answered:
        bisection.served_alone.append(pin.pin_id)
        if len(bisection.served_alone) == UNAVAILABLE_AFTER_REFUSED_PINS and calls.summary.bulk_available:
            _take_bulk_unavailable(calls, "every call of a batch it had served before in this run",
                                   bisection.served_alone, refusal)
    return alone


def _bulk_batch(calls: _PinCalls, window: DateRange, batch: Sequence[PinRef]) -> PinsOutcome:
    """One bulk call for pins of one type, asking that type's metric set (a documented refusal is raised). The
    answer is an object keyed by pin id, each pin's block checked (`check_pin_answer`): a pin left out, or whose
    block cannot be read or holds no day of the window, is asked alone once; one answered with the other type's
    metrics is asked alone with that type's set; one answered without some days is reported. Ids it has that were
    not requested are kept in the raw answer; normalization drops their rows and reports them."""
    calls.check_not_lost()
    params = {"start_date": window.start, "end_date": window.end, "pin_ids": [p.pin_id for p in batch],
              "metric_types": list(batch[0].metric_types)}
    response = calls.client.fetch("multi_pins/analytics", params=params)
    if not response.replayed:  # a stored answer of a stopped run proves neither the endpoint nor access today
        calls.answered(batch)
        calls.summary.bulk_proven = True
    calls.raw.store_answer("multi_pins/analytics", response, params=params, window=window)
    answered = response.data if isinstance(response.data, dict) else {}
    checks = check_bulk_answer(answered, batch, window)
    outcome, missing, unusable, retyped = PinsOutcome(files=1), [], [], []
    for pin in batch:
        if pin.pin_id not in checks:
            missing.append(pin)
            continue
        check = checks[pin.pin_id]
        if check.problem is not None:
            unusable.append(pin)
            log.warning("multi_pins/analytics for %s: pin %s %s; asking it alone once", window,
                        shown_value(pin.pin_id), check.problem)
        elif check.other_type:
            retyped.append(pin)
        outcome += check.notes(pin, window)
    if missing:
        log.warning("multi_pins/analytics for %s answered without %d of its %d pins (first: %s); asking each alone "
                    "once", window, len(missing), len(batch), ", ".join(shown_value(p.pin_id) for p in missing[:5]))
    outcome += PinsOutcome(missing_from_bulk=len(missing) + len(unusable))
    return (outcome + _pins_alone(calls, window, [*missing, *unusable])
            + _pins_alone(calls, window, [_other_type(pin) for pin in retyped], retype=False))


def _pins_alone(calls: _PinCalls, window: DateRange, pins: Sequence[PinRef], retype: bool = True) -> PinsOutcome:
    return sum((_single_pin(calls, window, pin, retype) for pin in pins), PinsOutcome())


def _single_pin(calls: _PinCalls, window: DateRange, pin: PinRef, retype: bool = True,
                access_check: bool = False) -> PinsOutcome:
    """One pin's analytics with its type's metric set. A pin the API refuses (403, 404, 401 code 7: private,
    deleted or not the account's) is skipped with a warning and reported (counted towards the refusals in a row
    that stop the run, `_PinCalls.refused_alone`, unless the call is that check's own: `access_check`, which always
    asks the API, never a resumed run's stored answer); any other error fails the run. An answer
    that cannot be read or holds no day of the window leaves the pin without analytics (reported); one with the
    other type's metrics is asked again with that type's set when `retype` (once: the second answer stays)."""
    calls.check_not_lost()
    params = {"start_date": window.start, "end_date": window.end, "metric_types": list(pin.metric_types)}
    try:
        response = calls.client.fetch("pins/analytics", path_params={"pin_id": pin.pin_id}, params=params,
                                      replay=not access_check)
    except (ForbiddenError, NotFoundError, AuthError) as error:
        if isinstance(error, AuthError) and error.code != 7:
            raise
        response, reason = None, f"HTTP {error.status}, Pinterest code {error.code}: {error.api_message}"
    if response is None:
        log.warning("pin %s: the API refused its analytics for %s (%s); skipped", shown_value(pin.pin_id), window, reason)
        if not access_check:
            calls.refused_alone(pin, window, reason)
        return PinsOutcome(skipped=(PinNote(pin.pin_id, window, reason),))
    if not response.replayed:
        calls.answered([pin])
    calls.raw.store_answer("pins/analytics", response, params=params, window=window, path_params={"pin_id": pin.pin_id})
    check = check_pin_answer(response.data, pin, window)
    if check.problem is not None:
        log.warning("pin %s: pins/analytics for %s %s; left without analytics", shown_value(pin.pin_id), window,
                    check.problem)
        return PinsOutcome(files=1, skipped=(PinNote(pin.pin_id, window, f"pins/analytics: {check.problem}"),))
    outcome = PinsOutcome(files=1) + check.notes(pin, window)
    if check.other_type and retype:
        return outcome + _single_pin(calls, window, _other_type(pin), retype=False)
    return outcome


def _other_type(pin: PinRef) -> PinRef:
    return PinRef(pin.pin_id, not pin.is_video)


_STANDARD_ONLY = frozenset(api_enums.PIN_STANDARD_METRIC_TYPES) - frozenset(api_enums.PIN_VIDEO_METRIC_TYPES)
_VIDEO_ONLY = frozenset(api_enums.PIN_VIDEO_METRIC_TYPES) - frozenset(api_enums.PIN_STANDARD_METRIC_TYPES)


@dataclasses.dataclass(frozen=True)
class PinAnswerCheck:
    """What one pin's answer for one window holds. `problem`: why it is no answer for the pin (its block or one of
    its days cannot be read, or it has no day of the window), None when it is one. `days`: the window's days it
    answered, of `requested`. `other_type`: its metrics are the other pin type's (it has metrics but none only its own
    type has; a pin asked the standard set also needs one only the video set has, as standard pins created before
    2023-03-20 have none of their own). `outside_window`: the days it answered outside the window."""

    problem: str | None
    days: int = 0
    requested: int = 0
    other_type: bool = False
    asked_video: bool = False
    outside_window: tuple[str, ...] = ()

    def notes(self, pin: PinRef, window: DateRange) -> PinsOutcome:
        """The answer's notes to report: days left out, the other type's metrics, days outside the window."""
        short = (PinNote(pin.pin_id, window, f"answered {self.days} of the {self.requested} days"),) \
            if self.problem is None and self.days < self.requested else ()
        kinds = ("video", "standard") if self.asked_video else ("standard", "video")
        retyped = (PinNote(pin.pin_id, window, f"asked as a {kinds[0]} pin, answered with {kinds[1]} pin metrics"),) \
            if self.other_type else ()
        outside = (PinNote(pin.pin_id, window, f"answered {len(self.outside_window)} day(s) outside the window (first: "
                                               f"{self.outside_window[0]}); normalization drops them"),) \
            if self.outside_window else ()
        return PinsOutcome(short=short, retyped=retyped, outside_window=outside)


def check_pin_answer(buckets: object, pin: PinRef, window: DateRange) -> PinAnswerCheck:
    """`PinAnswerCheck` of one pin's answer (its value in a bulk answer, or a single answer whole) for `window`."""
    problem = pin_answer_problem(buckets)
    return PinAnswerCheck(problem) if problem is not None else _check_readable_answer(buckets, pin, window)


def check_bulk_answer(answered: Mapping, pins: Sequence[PinRef], window: DateRange) -> dict[str, PinAnswerCheck]:
    """`check_pin_answer` of each of `pins` a bulk answer (an object keyed by pin id) holds, by pin id; the days of
    all its pins are checked at once (`pin_problems`)."""
    problems = pin_problems(answered)
    return {pin.pin_id: PinAnswerCheck(problems[pin.pin_id]) if pin.pin_id in problems
            else _check_readable_answer(answered[pin.pin_id], pin, window) for pin in pins if pin.pin_id in answered}


def _check_readable_answer(buckets: Mapping, pin: PinRef, window: DateRange) -> PinAnswerCheck:
    """`check_pin_answer` of an answer `pin_answer_problem` finds nothing wrong with. The API answers every day of
    the window, days before the pin existed included (BEFORE_PIN_CREATED), so a day left out is worth reporting. A
    pin asked the standard set that answers without follows or profile visits is not taken for a video pin: standard
    pins created before 2023-03-20 have neither."""
    daily = buckets[UNSPLIT_KEY]["daily_metrics"]
    wanted = _window_dates(window)
    answered = set(map(itemgetter("date"), daily))
    days = len(wanted & answered)
    if not days:
        return PinAnswerCheck(f"answered none of the {len(wanted)} days of {window}", requested=len(wanted))
    # A day's metrics are an object or null here (empty or null: no name to add).
    metrics = set(chain.from_iterable(filter(None, map(methodcaller("get", "metrics"), daily))))
    own_only, other_only = (_VIDEO_ONLY, _STANDARD_ONLY) if pin.is_video else (_STANDARD_ONLY, _VIDEO_ONLY)
    # Only the absence of the own type's metrics says the pin is of the other type: an API may answer more metrics
    # than asked (the other type's among them) for a pin of the type it was asked as.
    other_type = bool(metrics) and not metrics & own_only and (pin.is_video or bool(metrics & other_only))
    return PinAnswerCheck(None, days, len(wanted), other_type, pin.is_video, tuple(sorted(answered - wanted)))


@functools.lru_cache(maxsize=64)
def _window_dates(window: DateRange) -> frozenset[str]:
    """The window's dates as the API writes them (YYYY-MM-DD); cached: every pin of a window asks for them."""
    return frozenset(day.isoformat() for day in window.dates())
