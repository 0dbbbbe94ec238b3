"""The API's own ranking of an account's top pins (`GET /user_account/analytics/top_pins`), kept beside the ranking
the warehouse computes from the stored pin data (`top_pins`), so the two can be compared.

One call per sort metric per run and account, for one window: the 28 days ending at the run's last date (or
yesterday, whichever is earlier), never older than the days the API still serves. The API returns at most 50 pins
per ranking, sorted descending by the sort metric, with each metric's `data_status` for the window.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import pyarrow as pa

from pipelines.api_enums import DATA_STATUSES
from pipelines.metric_values import INTEGER, AnswerValueError, as_float64, as_json
from pipelines.pinterest.errors import shown_value
from pipelines.planning import SYNC_BACK_DAYS, DateRange
from pipelines.raw_zone import RawZone

if TYPE_CHECKING:
    from pipelines.pinterest.client import PinterestClient

ENDPOINT = "user_account/analytics/top_pins"
SORT_METRICS = ("IMPRESSION", "SAVE", "OUTBOUND_CLICK")  # the rankings the report and `top_pins` also show
METRICS = ("IMPRESSION", "SAVE", "PIN_CLICK", "OUTBOUND_CLICK", "ENGAGEMENT")
PINS_PER_RANKING = 50  # the API's maximum `num_of_pins`
WINDOW_DAYS = 28
FINAL_STATUS = "READY"
_BIGINT_LIMIT = 2.0 ** 63
# Epoch milliseconds of 1970-01-01 and 9999-12-31: a `latest_available_timestamp` outside is no date.
_TIMESTAMP_RANGE = (0, 253_402_300_799_999)

TOP_PINS_API = pa.schema([
    ("user_id", pa.string()), ("sort_by", pa.string()), ("rank", pa.int64()), ("pin_id", pa.string()),
    ("window_start", pa.date32()), ("window_end", pa.date32()),
    *((metric.lower(), pa.int64()) for metric in METRICS),
    ("data_status", pa.string()), ("is_final", pa.bool_()), ("latest_available_date", pa.date32()),
    ("extracted_at", pa.timestamp("us", tz="UTC")),
])


def top_pins_window(requested: DateRange, today: dt.date) -> DateRange | None:
    """The window the API ranks pins over for a run of `requested`: the 28 days ending at the run's last date (at
    most yesterday), not older than SYNC_BACK_DAYS back; None when the run's range has no day the API serves."""
    end = min(requested.end, today - dt.timedelta(days=1))
    oldest = today - dt.timedelta(days=SYNC_BACK_DAYS)
    start = max(end - dt.timedelta(days=WINDOW_DAYS - 1), oldest)
    return DateRange(start, end) if start <= end else None


def ranking_params(window: DateRange, sort_by: str) -> dict:
    """The query of one ranking: every metric the table stores, the most pins the API gives."""
    return {"start_date": window.start, "end_date": window.end, "sort_by": sort_by,
            "metric_types": list(METRICS), "num_of_pins": PINS_PER_RANKING}


def fetch_top_pins(client: PinterestClient, raw: RawZone, window: DateRange, user_id: str) -> pa.Table:
    """One call per sort metric: each answer stored in the raw zone, then its rows (TOP_PINS_API)."""
    rankings = []
    for sort_by in SORT_METRICS:
        params = ranking_params(window, sort_by)
        response = client.fetch(ENDPOINT, params=params)
        extracted_at = dt.datetime.now(dt.timezone.utc)
        path = raw.store_answer(ENDPOINT, response, params=params, window=window, context={"user_id": user_id},
                                fetched_at=extracted_at)
        try:
            rankings.append(ranking_rows(response.data, sort_by, window, user_id, extracted_at))
        except AnswerValueError as error:
            raise (error.in_raw_file(path) if path else error) from None
    return pa.concat_tables(rankings) if rankings else TOP_PINS_API.empty_table()


def ranking_rows(answer: object, sort_by: str, window: DateRange, user_id: str, extracted_at: dt.datetime) -> pa.Table:
    """One row per pin of one ranking answer, its place in the answer's order as `rank` (1 = top). Refused
    (AnswerValueError): an answer that is not the documented object, a pin without a string id or listed twice,
    more pins than asked for, a metric that is not a non-negative integer, a data_status outside the enum, or a
    ranking of another sort metric than asked."""
    if not isinstance(answer, Mapping) or not isinstance(answer.get("pins"), list):
        raise AnswerValueError(f"{ENDPOINT}: the answer is not an object with a `pins` list")
    if answer.get("sort_by", sort_by) != sort_by:
        raise AnswerValueError(f"{ENDPOINT}: asked for sort_by {sort_by}, the answer ranks by {as_json(answer['sort_by'])}")
    pins = answer["pins"]
    if len(pins) > PINS_PER_RANKING:
        raise AnswerValueError(f"{ENDPOINT}: {len(pins)} pins answered for num_of_pins={PINS_PER_RANKING}")
    pin_ids = [_pin_id(pin) for pin in pins]
    repeated = next((pin for i, pin in enumerate(pin_ids) if pin in pin_ids[:i]), None)
    if repeated is not None:
        raise AnswerValueError(f"{ENDPOINT}: pin {shown_value(repeated)} is listed twice in the {sort_by} ranking")
    columns = {"user_id": [user_id] * len(pins), "sort_by": [sort_by] * len(pins),
               "rank": list(range(1, len(pins) + 1)), "pin_id": pin_ids,
               "window_start": [window.start] * len(pins), "window_end": [window.end] * len(pins)}
    for metric in METRICS:
        columns[metric.lower()] = _counts(pins, pin_ids, metric)
    statuses = [_statuses(pin, pin_id) for pin, pin_id in zip(pins, pin_ids)]
    columns["data_status"] = [status.get(sort_by) for status in statuses]
    columns["is_final"] = [all(status.get(m) == FINAL_STATUS for m in METRICS) for status in statuses]
    columns["latest_available_date"] = [_latest_available_date(answer)] * len(pins)
    columns["extracted_at"] = [extracted_at] * len(pins)
    return pa.table(columns, schema=TOP_PINS_API)


def _pin_id(pin: object) -> str:
    pin_id = pin.get("pin_id") if isinstance(pin, Mapping) else None
    if not isinstance(pin_id, str) or not pin_id:
        raise AnswerValueError(f"{ENDPOINT}: a pin of the answer has no string pin_id (got {as_json(pin)[:200]})")
    return pin_id


def _counts(pins: Sequence[Mapping], pin_ids: list[str], metric: str) -> pa.Array:
    """A metric of every pin as int64, null where the answer lacks it."""
    values = []
    for pin, pin_id in zip(pins, pin_ids):
        metrics = pin.get("metrics", {})
        if not isinstance(metrics, Mapping):
            raise AnswerValueError(f"{ENDPOINT}: metrics of pin {shown_value(pin_id)} is {as_json(metrics)[:200]}, "
                                   "not an object")
        values.append(metrics.get(metric))
    array, bad = as_float64(values, INTEGER)
    if array is None or (bad := _first_outside_bigint(array)) is not None:
        raise AnswerValueError(f"{ENDPOINT}: metric {metric} of pin {shown_value(pin_ids[bad])} is "
                               f"{as_json(values[bad])}, not a non-negative integer within BIGINT")
    return array.cast(pa.int64())


def _first_outside_bigint(array: pa.Array) -> int | None:
    """The first value that is negative or too large for BIGINT (2^63 and beyond as a double), if any."""
    return next((i for i, value in enumerate(array.to_pylist())
                 if value is not None and not 0 <= value < _BIGINT_LIMIT), None)


def _statuses(pin: Mapping, pin_id: str) -> dict[str, str]:
    statuses = pin.get("data_status", {})
    if not isinstance(statuses, Mapping) or any(s not in DATA_STATUSES for s in statuses.values()):
        raise AnswerValueError(f"{ENDPOINT}: data_status of pin {shown_value(pin_id)} is {as_json(statuses)[:200]}, "
                               "not an object of the API's DataStatus values")
    return dict(statuses)


def _latest_available_date(answer: Mapping) -> dt.date | None:
    """The last UTC day the answer's numbers include (`date_availability.latest_available_timestamp`, epoch ms of
    that day's last millisecond), or None when the answer does not say."""
    availability = answer.get("date_availability")
    stamp = availability.get("latest_available_timestamp") if isinstance(availability, Mapping) else None
    if type(stamp) not in (int, float) or not _TIMESTAMP_RANGE[0] <= stamp <= _TIMESTAMP_RANGE[1]:
        return None
    return dt.datetime.fromtimestamp(stamp / 1000, dt.timezone.utc).date()

