"""Organic extraction: plan the calls for a date range and fetch them into the raw zone."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Sequence

from pipelines import api_enums
from pipelines.pinterest.client import ApiResponse, PinterestClient
from pipelines.pinterest.endpoints import MAX_PIN_IDS
from pipelines.pinterest.errors import (
    ApiError,
    AuthError,
    ForbiddenError,
    InvalidRequestError,
    NotFoundError,
    shown_value,
)
from pipelines.planning import DateRange, chunks, plan_windows
from pipelines.raw_zone import RawZone

log = logging.getLogger(__name__)

SPLIT_FIELDS = tuple(s for s in api_enums.USER_ACCOUNT_SPLIT_FIELDS if s != "NO_SPLIT")
DEFAULT_SPLITS = ("APP_TYPE",)
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


def plan_pin_batches(pins: Sequence[PinRef]) -> tuple[tuple[PinRef, ...], ...]:
    """Bulk calls of at most 100 pins of one type each: the standard pins' batches, then the video pins'.
    Each batch asks its type's metric set, so a pin is never asked for metrics its type does not have."""
    by_type = ([p for p in pins if not p.is_video], [p for p in pins if p.is_video])
    return tuple(tuple(batch) for same_type in by_type for batch in chunks(same_type, MAX_PIN_IDS))


def plan_organic(requested: DateRange, today: dt.date, pins: Sequence[PinRef], splits: Sequence[str],
                 content_types: Sequence[str] = ("ALL",)) -> OrganicPlan:
    window_plan = plan_windows(requested, today)
    batches = plan_pin_batches(pins)
    return OrganicPlan(window_plan.windows, window_plan.unreachable, validate_splits(splits), batches,
                       tuple(dict.fromkeys(content_types)))


@dataclasses.dataclass(frozen=True)
class SkippedPin:
    """A pin left without analytics for one window: the API refused it when asked alone (HTTP 403, 404 or 401
    code 7), after a bulk answer had left it out or a bulk call with it had been refused. `reason` names the
    refusal (status, Pinterest code, the API's message)."""

    pin_id: str
    window: DateRange
    reason: str


@dataclasses.dataclass(frozen=True)
class PinsOutcome:
    """What fetching some pins' analytics for one window gave: raw files written, pins a bulk answer left out
    (each then asked alone once), pins left without analytics."""

    files: int = 0
    missing_from_bulk: int = 0
    skipped: tuple[SkippedPin, ...] = ()

    def __add__(self, other: PinsOutcome) -> PinsOutcome:
        return PinsOutcome(self.files + other.files, self.missing_from_bulk + other.missing_from_bulk,
                           self.skipped + other.skipped)


@dataclasses.dataclass
class ExtractSummary:
    """One account's organic extraction: raw files written, whether the bulk pin endpoint served this run,
    pins a bulk answer left out, and pins left without analytics (per window, with the reason)."""

    files: int = 0
    bulk_available: bool = True
    # A bulk call answered in this run: the endpoint is available to the app, so later refusals are about pins.
    bulk_proven: bool = False
    pins_missing_from_bulk: int = 0
    skipped_pins: list[SkippedPin] = dataclasses.field(default_factory=list)

    def add(self, outcome: PinsOutcome) -> None:
        self.files += outcome.files
        self.pins_missing_from_bulk += outcome.missing_from_bulk
        self.skipped_pins.extend(outcome.skipped)

    def pins_without_analytics(self) -> dict[str, str]:
        """Each pin left without analytics for a window of the run, once, with the reason of its first refusal,
        by pin id."""
        reasons: dict[str, str] = {}
        for skipped in self.skipped_pins:
            reasons.setdefault(skipped.pin_id, f"{skipped.window}: {skipped.reason}")
        return dict(sorted(reasons.items()))


def _store(raw: RawZone, endpoint: str, response: ApiResponse, params: dict, window: DateRange,
           path_params: dict | None = None, context: dict | None = None) -> None:
    raw.write(endpoint, response.content, params=params, path_params=path_params, window=window, context=context,
              fetched_at=dt.datetime.now(dt.timezone.utc), request_id=response.request_id)


def extract_organic(client: PinterestClient, raw: RawZone, plan: OrganicPlan, user_id: str) -> ExtractSummary:
    """Fetch every planned call into the raw zone. Pins go by the bulk endpoint, one type per call, or one call
    per pin if the app lacks it (see `_extract_pin_analytics`); pins the API refuses are skipped and listed in
    the summary, the run goes on."""
    summary = ExtractSummary()
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
                _store(raw, "user_account/analytics", response, params, window, context={"user_id": user_id})
                summary.files += 1
        _extract_pin_analytics(client, raw, window, plan.pin_batches, summary)
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
# 403, the API's answer to a caller that may not use an endpoint at all. 403 and 400 code 1 are about the app or the
# request, never one pin; 401 code 7 and 404 are also what a pin of the batch that became private or was deleted
# gets, so they are ambiguous until the batch's pins are asked alone.
APP_REFUSAL, PIN_REFUSAL = "app", "pin"


def bulk_refusal(error: ApiError) -> str | None:
    """APP_REFUSAL or PIN_REFUSAL for a documented refusal of multi_pins/analytics, None for any other error
    (an error of another endpoint included: a single call made for a pin a bulk answer left out)."""
    if error.endpoint != "multi_pins/analytics":
        return None
    if isinstance(error, ForbiddenError) or (isinstance(error, InvalidRequestError) and error.code == 1):
        return APP_REFUSAL
    if isinstance(error, NotFoundError) or (isinstance(error, AuthError) and error.code == 7):
        return PIN_REFUSAL
    return None


def _extract_pin_analytics(client: PinterestClient, raw: RawZone, window: DateRange,
                           batches: Sequence[Sequence[PinRef]], summary: ExtractSummary) -> None:
    """Every pin batch of one window, by the bulk endpoint while the app has it, else one call per pin.

    Whether the app has the bulk endpoint is decided by the run's first bulk calls, made one at a time:
    - a 403 or a 400 code 1 before any bulk call answered: the endpoint is not available to this app;
    - a 401 code 7 or a 404: the batch's pins are asked alone. If one of them is refused alone, that pin
      explains the refusal: it is skipped and reported, and the next batch tries the bulk endpoint again. If
      every pin answers alone, no pin explains it: the endpoint is not available to this app.
    Once a bulk call has answered, the endpoint is proven and the remaining batches run on the thread pool;
    a batch refused with any of those answers is then asked pin by pin (refused pins skipped and reported).
    Without the endpoint, the refused batch's pins were already asked alone, the rest follow one call per pin."""
    pending = list(batches)
    while pending and summary.bulk_available and not summary.bulk_proven:
        batch = pending.pop(0)
        try:
            summary.add(_bulk_batch(client, raw, window, batch))
            summary.bulk_proven = True
        except ApiError as error:
            refusal = bulk_refusal(error)
            if refusal is None:
                raise
            # On the thread pool: without the endpoint, these are the first of the run's per-pin calls.
            outcome = sum(client.map(lambda pin: _single_pin(client, raw, window, pin), batch), PinsOutcome())
            summary.add(outcome)
            if refusal == APP_REFUSAL or not outcome.skipped:
                summary.bulk_available = False
                log.warning("multi_pins/analytics is not available to this app (%s); falling back to one call per "
                            "pin for this run", error)
            else:
                log.warning("multi_pins/analytics refused a batch (%s): %d of its pins are refused alone too; "
                            "the bulk endpoint stays in use", error, len(outcome.skipped))
    if summary.bulk_available:
        outcomes = client.map(lambda batch: _bulk_batch_or_pins_alone(client, raw, window, batch), pending)
    else:
        pins = [pin for batch in pending for pin in batch]
        outcomes = client.map(lambda pin: _single_pin(client, raw, window, pin), pins)
    for outcome in outcomes:
        summary.add(outcome)


def _bulk_batch_or_pins_alone(client: PinterestClient, raw: RawZone, window: DateRange,
                              batch: Sequence[PinRef]) -> PinsOutcome:
    """One batch once the bulk endpoint is proven: a documented refusal is about a pin of the batch, so the
    batch is asked pin by pin."""
    try:
        return _bulk_batch(client, raw, window, batch)
    except ApiError as error:
        if bulk_refusal(error) is None:
            raise
        log.warning("multi_pins/analytics refused a batch (%s); asking its %d pins one by one", error, len(batch))
        return _pins_alone(client, raw, window, batch)


def _bulk_batch(client: PinterestClient, raw: RawZone, window: DateRange, batch: Sequence[PinRef]) -> PinsOutcome:
    """One bulk call for pins of one type, asking that type's metric set. The answer is an object keyed by pin
    id: a requested pin it leaves out is asked alone once. Ids it has that were not requested are kept in the
    raw answer; normalization drops their rows and reports them (they cannot be trusted to be this account's)."""
    params = {"start_date": window.start, "end_date": window.end, "pin_ids": [p.pin_id for p in batch],
              "metric_types": list(batch[0].metric_types)}
    response = client.fetch("multi_pins/analytics", params=params)
    _store(raw, "multi_pins/analytics", response, params, window)
    answered = response.data if isinstance(response.data, dict) else {}
    missing = [pin for pin in batch if pin.pin_id not in answered]
    if not missing:
        return PinsOutcome(files=1)
    log.warning("multi_pins/analytics for %s answered without %d of its %d pins (first: %s); asking each alone once",
                window, len(missing), len(batch), ", ".join(shown_value(p.pin_id) for p in missing[:5]))
    return PinsOutcome(files=1, missing_from_bulk=len(missing)) + _pins_alone(client, raw, window, missing)


def _pins_alone(client: PinterestClient, raw: RawZone, window: DateRange, pins: Sequence[PinRef]) -> PinsOutcome:
    return sum((_single_pin(client, raw, window, pin) for pin in pins), PinsOutcome())


def _single_pin(client: PinterestClient, raw: RawZone, window: DateRange, pin: PinRef) -> PinsOutcome:
    """One pin's analytics with its type's metric set. A pin the API refuses (403, 404, 401 code 7: private,
    deleted or not the account's) is skipped with a warning and reported; any other error fails the run."""
    params = {"start_date": window.start, "end_date": window.end, "metric_types": list(pin.metric_types)}
    try:
        response = client.fetch("pins/analytics", path_params={"pin_id": pin.pin_id}, params=params)
    except (ForbiddenError, NotFoundError, AuthError) as error:
        if isinstance(error, AuthError) and error.code != 7:
            raise
        reason = f"HTTP {error.status}, Pinterest code {error.code}: {error.api_message}"
        log.warning("pin %s: the API refused its analytics for %s (%s); skipped", shown_value(pin.pin_id), window, reason)
        return PinsOutcome(skipped=(SkippedPin(pin.pin_id, window, reason),))
    _store(raw, "pins/analytics", response, params, window, path_params={"pin_id": pin.pin_id})
    return PinsOutcome(files=1)
