"""Organic extraction: plan the calls for a date range and fetch them into the raw zone."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Sequence

from pipelines import api_enums
from pipelines.pinterest.client import ApiResponse, PinterestClient
from pipelines.pinterest.endpoints import MAX_PIN_IDS
from pipelines.pinterest.errors import AuthError, ForbiddenError, NotFoundError, shown_value
from pipelines.planning import DateRange, chunks, plan_windows
from pipelines.raw_zone import RawZone

log = logging.getLogger(__name__)

SPLIT_FIELDS = tuple(s for s in api_enums.USER_ACCOUNT_SPLIT_FIELDS if s != "NO_SPLIT")
DEFAULT_SPLITS = ("APP_TYPE",)
USER_ACCOUNT_METRICS = api_enums.USER_ACCOUNT_METRIC_TYPES
# The bulk endpoint gets the union of the standard and video metric sets: it answers each pin with the
# metrics of its type. The single-pin fallback asks each pin for its own type's set.
PIN_METRICS_ALL = tuple(dict.fromkeys(api_enums.PIN_STANDARD_METRIC_TYPES + api_enums.PIN_VIDEO_METRIC_TYPES))


@dataclasses.dataclass(frozen=True)
class PinRef:
    pin_id: str
    is_video: bool


@dataclasses.dataclass(frozen=True)
class OrganicPlan:
    """Every analytics call of an organic extraction, before any is made."""

    windows: tuple[DateRange, ...]
    unreachable: DateRange | None
    splits: tuple[str, ...]
    pin_batches: tuple[tuple[PinRef, ...], ...]

    @property
    def analytics_calls(self) -> int:
        """ceil(D/90) x (1 + #splits + ceil(P/100)) with the bulk endpoint."""
        return len(self.windows) * (1 + len(self.splits) + len(self.pin_batches))


def validate_splits(splits: Sequence[str]) -> tuple[str, ...]:
    unknown = [s for s in splits if s not in SPLIT_FIELDS]
    if unknown:
        raise ValueError(f"unknown split field(s) {', '.join(unknown)}; choose from {', '.join(SPLIT_FIELDS)}")
    return tuple(dict.fromkeys(splits))


def plan_organic(requested: DateRange, today: dt.date, pins: Sequence[PinRef], splits: Sequence[str]) -> OrganicPlan:
    window_plan = plan_windows(requested, today)
    batches = tuple(tuple(batch) for batch in chunks(list(pins), MAX_PIN_IDS))
    return OrganicPlan(window_plan.windows, window_plan.unreachable, validate_splits(splits), batches)


@dataclasses.dataclass
class ExtractSummary:
    files: int = 0
    bulk_available: bool = True
    pins_not_found: list[str] = dataclasses.field(default_factory=list)


def _store(raw: RawZone, endpoint: str, response: ApiResponse, params: dict, window: DateRange,
           path_params: dict | None = None, context: dict | None = None) -> None:
    raw.write(endpoint, response.content, params=params, path_params=path_params, window=window, context=context,
              fetched_at=dt.datetime.now(dt.timezone.utc), request_id=response.request_id)


def extract_organic(client: PinterestClient, raw: RawZone, plan: OrganicPlan, user_id: str) -> ExtractSummary:
    """Fetch every planned call into the raw zone; switch to single-pin calls if the app lacks the
    bulk endpoint (found out on the first bulk call of the run)."""
    summary = ExtractSummary()
    for window in plan.windows:
        dates = {"start_date": window.start, "end_date": window.end}
        for split in ("NO_SPLIT", *plan.splits):
            params = {**dates, "metric_types": list(USER_ACCOUNT_METRICS), "split_field": split}
            _store(raw, "user_account/analytics", client.fetch("user_account/analytics", params=params), params, window,
                   context={"user_id": user_id})
            summary.files += 1
        batches = list(plan.pin_batches)
        if not batches:
            continue
        if summary.bulk_available:
            try:
                summary.files += _bulk_batch(client, raw, window, batches[0], summary)
                batches = batches[1:]
            except ForbiddenError as error:
                summary.bulk_available = False
                log.warning("the app has no access to the bulk pin analytics endpoint (%s); "
                            "falling back to one call per pin for this run", error.api_message)
        if summary.bulk_available:
            summary.files += sum(client.map(lambda batch, w=window: _bulk_batch(client, raw, w, batch, summary), batches))
        else:
            pins = [pin for batch in batches for pin in batch]
            summary.files += sum(client.map(lambda pin, w=window: _single_pin(client, raw, w, pin, summary), pins))
    return summary


def _bulk_batch(client: PinterestClient, raw: RawZone, window: DateRange, batch: Sequence[PinRef],
                summary: ExtractSummary) -> int:
    params = {"start_date": window.start, "end_date": window.end, "pin_ids": [p.pin_id for p in batch],
              "metric_types": list(PIN_METRICS_ALL)}
    try:
        response = client.fetch("multi_pins/analytics", params=params)
    except (NotFoundError, AuthError) as error:
        if isinstance(error, AuthError) and error.code != 7:
            raise
        # One pin of the batch vanished or became private since the listing: ask pin by pin.
        log.warning("multi_pins/analytics refused a batch (%s); fetching its %d pins one by one", error.api_message, len(batch))
        return sum(_single_pin(client, raw, window, pin, summary) for pin in batch)
    _store(raw, "multi_pins/analytics", response, params, window)
    return 1


def _single_pin(client: PinterestClient, raw: RawZone, window: DateRange, pin: PinRef, summary: ExtractSummary) -> int:
    metrics = api_enums.PIN_VIDEO_METRIC_TYPES if pin.is_video else api_enums.PIN_STANDARD_METRIC_TYPES
    params = {"start_date": window.start, "end_date": window.end, "metric_types": list(metrics)}
    try:
        response = client.fetch("pins/analytics", path_params={"pin_id": pin.pin_id}, params=params)
    except NotFoundError:
        log.warning("pin %s no longer exists; it has no analytics for %s", shown_value(pin.pin_id), window)
        summary.pins_not_found.append(pin.pin_id)
        return 0
    _store(raw, "pins/analytics", response, params, window, path_params={"pin_id": pin.pin_id})
    return 1
