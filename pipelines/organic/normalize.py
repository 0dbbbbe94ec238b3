"""Pure functions from organic analytics answers to wide rows of the tidy tables (Arrow)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from itertools import repeat
from operator import itemgetter

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.api_enums import DATA_STATUSES
from pipelines.metric_values import INTEGER, DataStatusError, MetricValueError, as_float64, fields_as_float64
from pipelines.organic.pin_answers import UNSPLIT_KEY
from pipelines.pinterest.errors import ResponseShapeError, shown_value
from pipelines.tables import DAILY_STATUS, PIN_LIFETIME, UNFILTERED_CONTENT, UTC_TIMESTAMP

NO_SPLIT = "NO_SPLIT"
UNSPLIT_VALUE = "ALL"


class _Rows:
    """Wide rows (one per entity, day and split bucket: daily_status's columns, then one float64 column per metric
    the answer has, named as the API names it), collected block by block and built column-wise.

    Per block (one entity and split bucket) it keeps the block's key once and the number of its days; the days
    themselves are the answer's own objects. The metric columns are then built by one Arrow conversion of the days'
    `metrics` objects (column by column, with C-level `dict.get`, only to name a value that is not a finite JSON
    number), so no Python runs per metric value: an answer of 100 pins x 90 days has ~80,000 values."""

    def __init__(self, extracted_at: dt.datetime):
        self.extracted_at = extracted_at
        self.block_keys: dict[str, list[str]] = {name: [] for name in _BLOCK_COLUMNS}
        self.block_days: list[int] = []
        self.days: list[dict] = []
        self.dates: list = []

    def add_block(self, endpoint: str, entity_type: str, entity_id: str, split_field: str, split_value: str,
                  content_type: str, block: Mapping) -> None:
        daily = _field(block, "daily_metrics", endpoint)
        if not isinstance(daily, list) or not set(map(type, daily)) <= {dict}:
            raise ResponseShapeError(f"{endpoint}: 'daily_metrics' is not a list of objects")
        self.days.extend(daily)
        for name, value in zip(_BLOCK_COLUMNS, (entity_type, entity_id, split_field, split_value, content_type)):
            self.block_keys[name].append(value)
        self.block_days.append(len(daily))

    def table(self, endpoint: str) -> pa.Table:
        """The wide rows, ordered by date (stable: the answer's order within a date), so that staging can cut each
        answer into per-date slices without sorting it again."""
        self.dates = self._day_field("date", endpoint)
        statuses = self._day_field("data_status", endpoint)
        try:
            dates = pa.array(self.dates, type=pa.string()).cast(pa.date32())
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            raise ResponseShapeError(f"{endpoint}: a daily_metrics date is not YYYY-MM-DD") from None
        if dates.null_count:
            raise ResponseShapeError(f"{endpoint}: a daily_metrics date is null")
        try:
            status = pa.array(statuses, type=pa.string())
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            raise ResponseShapeError(f"{endpoint}: a data_status is not a string") from None
        known = pc.is_in(status, value_set=_DATA_STATUSES)
        if pc.all(known).as_py() is False:  # None for an answer without days
            day = pc.index(known, False).as_py()
            raise DataStatusError(endpoint, statuses[day], *self._entity_of(day), self.dates[day])
        metrics = self._metrics(endpoint)
        block = pa.array(np.repeat(np.arange(len(self.block_days), dtype=np.int64), self.block_days))
        rows = pa.table({
            "date": dates,
            **{name: pa.array(self.block_keys[name], type=pa.string()).take(block) for name in _BLOCK_COLUMNS},
            "data_status": status,
            "is_final": pc.is_in(status, value_set=_FINAL_DATA_STATUSES),
            "extracted_at": _repeat(self.extracted_at, len(dates)),
        }, schema=DAILY_STATUS)
        for name, values in metrics.items():
            rows = rows.append_column(pa.field(name, pa.float64()), values)
        day_order = np.argsort(dates.cast(pa.int32()).to_numpy(zero_copy_only=False), kind="stable")
        return rows.take(pa.array(day_order))

    def _day_field(self, name: str, endpoint: str) -> list:
        try:
            return list(map(itemgetter(name), self.days))
        except KeyError:
            raise ResponseShapeError(f"{endpoint}: the answer lacks the field {name!r}") from None

    def _metrics(self, endpoint: str) -> dict[str, pa.Array]:
        """One float64 column per metric name a day has a value of (null where a day has none: absent, not zero), in
        name order. An invalid value fails naming, of each column's first invalid value (one that is not a JSON
        number before one that is not finite), the earliest in answer order."""
        metrics = list(map(dict.get, self.days, repeat("metrics"), repeat(_NO_METRICS)))
        if not all(metrics):  # "metrics": null (or empty)
            metrics = [m or _NO_METRICS for m in metrics]
        if not set(map(type, metrics)) <= {dict}:
            bad = next(day for day, m in zip(self.days, metrics) if not isinstance(m, dict))
            raise ResponseShapeError(f"{endpoint}: 'metrics' of {shown_value(bad.get('date'))} is not an object")
        names = sorted(set().union(*metrics))
        columns = fields_as_float64(metrics, names)
        if columns is not None:
            return {name: column for name, column in columns.items() if column.null_count < len(column)}
        columns, invalid = {}, []
        for name in names:
            values = list(map(dict.get, metrics, repeat(name)))
            column, position = as_float64(values)
            if position is not None:
                invalid.append((position, list(metrics[position]).index(name), name, values[position]))
            elif column.null_count < len(column):
                columns[name] = column
        if invalid:
            day, _, name, value = min(invalid)
            raise MetricValueError(endpoint, name, *self._entity_of(day), self.dates[day], value)
        return columns

    def _entity_of(self, day: int) -> tuple[str, str]:
        """The entity type and the entity (with its split bucket, if split, and its content type, if filtered) of the
        day at `day` (in answer order)."""
        block = int(np.searchsorted(np.cumsum(self.block_days), day, side="right"))
        keys = {name: values[block] for name, values in self.block_keys.items()}
        entity = f"{keys['entity_id']}" + (
            f" ({keys['split_field']} {keys['split_value']})" if keys["split_field"] != NO_SPLIT else "") + (
            f" (content_type {shown_value(keys['content_type'])})" if keys["content_type"] != UNFILTERED_CONTENT else "")
        return keys["entity_type"], entity


_BLOCK_COLUMNS = ("entity_type", "entity_id", "split_field", "split_value", "content_type")
_NO_METRICS: dict = {}
_DATA_STATUSES = pa.array(DATA_STATUSES, pa.string())  # the official DataStatus enum: anything else is refused
# The statuses of a day whose numbers can no longer change. The official description gives the enum no meanings
# ("Metrics availability"), so the rule reads the names: READY is settled, and every BEFORE_* status says the day
# precedes a date in the past (the pin or account created or claimed, a metric or filter started, the retention
# cut-off), which no later answer can move. Not final: PROCESSING and ESTIMATE (numbers still coming), and the
# statuses whose cause can still go away: IN_BAD_TAG_DATE (conversion-tag data flagged for the day; Pinterest may
# correct it) and the *_SMALLER_THAN_THRESHOLD ones (suppressed for too few purchasers or audience: late
# conversions can lift the count past the threshold). Calling one of those final by mistake would stop its
# re-pulls and let an old value win over a corrected one; calling it not final costs only re-pulls in the window.
FINAL_DATA_STATUSES = ("READY", *(status for status in DATA_STATUSES if status.startswith("BEFORE_")))
_FINAL_DATA_STATUSES = pa.array(FINAL_DATA_STATUSES, pa.string())


def _repeat(moment: dt.datetime, count: int) -> pa.Array:
    return pa.repeat(pa.scalar(moment, type=UTC_TIMESTAMP), count)


def _field(mapping: Mapping, name: str, endpoint: str):
    try:
        return mapping[name]
    except (KeyError, TypeError):
        raise ResponseShapeError(f"{endpoint}: the answer lacks the field {name!r}") from None


def normalize_user_account_analytics(body: Mapping, user_id: str, split_field: str, extracted_at: dt.datetime,
                                     content_type: str = UNFILTERED_CONTENT) -> pa.Table:
    """user_account/analytics → wide rows (`_Rows`) for entity_type user_account.
    One bucket per split value; NO_SPLIT's single bucket `all` becomes split_value ALL. `content_type`: the one its
    request sent (ALL, the API's default, when it sent none)."""
    rows = _Rows(extracted_at)
    if not isinstance(body, Mapping):
        raise ResponseShapeError("user_account/analytics: expected a JSON object keyed by split bucket")
    for bucket, block in body.items():
        split_value = UNSPLIT_VALUE if split_field == NO_SPLIT else bucket
        rows.add_block("user_account/analytics", "user_account", user_id, split_field, split_value, content_type, block)
    return rows.table("user_account/analytics")


def normalize_pin_analytics(body: Mapping, extracted_at: dt.datetime, pin_id: str | None = None
                            ) -> tuple[pa.Table, pa.Table]:
    """Bulk `multi_pins/analytics` ({pin_id: {"all": ...}}) or, with `pin_id`, single `pins/analytics`
    ({"all": ...}) → (wide rows (`_Rows`), pin_lifetime rows) for entity_type pin."""
    endpoint = "pins/analytics" if pin_id is not None else "multi_pins/analytics"
    if not isinstance(body, Mapping):
        raise ResponseShapeError(f"{endpoint}: expected a JSON object")
    per_pin = {pin_id: body} if pin_id is not None else body
    rows = _Rows(extracted_at)
    lifetime_pins, lifetime_metrics, lifetime_values = [], [], []
    for pid, buckets in per_pin.items():
        block = _field(buckets, UNSPLIT_KEY, endpoint)
        rows.add_block(endpoint, "pin", str(pid), NO_SPLIT, UNSPLIT_VALUE, UNFILTERED_CONTENT, block)
        totals = block.get("lifetime_metrics") or _NO_METRICS
        if not isinstance(totals, Mapping):
            raise ResponseShapeError(f"{endpoint}: 'lifetime_metrics' of pin {shown_value(pid)} is not an object")
        lifetime_pins.extend(repeat(str(pid), len(totals)))
        lifetime_metrics.extend(totals)
        lifetime_values.extend(totals.values())
    return rows.table(endpoint), _lifetime_table(endpoint, lifetime_pins, lifetime_metrics, lifetime_values, extracted_at)


def _lifetime_table(endpoint: str, pins: list[str], metrics: list[str], values: list, extracted_at: dt.datetime
                    ) -> pa.Table:
    """pin_lifetime rows; the official description types lifetime totals as integers (absent ones have no row)."""
    totals, invalid = as_float64(values, INTEGER)
    if invalid is not None:
        raise MetricValueError(endpoint, metrics[invalid], "pin", pins[invalid], f"lifetime (fetched {extracted_at:%Y-%m-%d})",
                               values[invalid], INTEGER)
    table = pa.table({"pin_id": pa.array(pins, pa.string()), "metric": pa.array(metrics, pa.string()), "value": totals,
                      "extracted_at": _repeat(extracted_at, len(pins))}, schema=PIN_LIFETIME)
    return table.filter(pc.is_valid(totals)) if totals.null_count else table
