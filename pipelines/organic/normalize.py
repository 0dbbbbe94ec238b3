"""Pure functions from organic analytics answers to rows of the tidy tables (Arrow)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import pyarrow as pa
import pyarrow.compute as pc

from pipelines.pinterest.errors import ResponseShapeError
from pipelines.tables import DAILY_STATUS, METRIC_DAILY, PIN_LIFETIME, UTC_TIMESTAMP

NO_SPLIT = "NO_SPLIT"
UNSPLIT_VALUE = "ALL"
UNSPLIT_KEY = "all"  # the API's bucket key for NO_SPLIT


class _Rows:
    """Rows of metric_daily and daily_status, collected day by day and built column-wise.

    Per day it keeps one entry per daily_status column; per metric value only the metric's name, its
    value and the index of its day. The other metric_daily columns are the day's, taken by index when the
    tables are built (an answer of 100 pins x 90 days has ~80,000 values; per-value Python work dominated)."""

    def __init__(self, extracted_at: dt.datetime):
        self.extracted_at = extracted_at
        self.days: dict[str, list] = {name: [] for name in _DAY_COLUMNS}
        self.metric_day: list[int] = []
        self.metric_name: list[str] = []
        self.metric_value: list = []

    def add_block(self, endpoint: str, entity_type: str, entity_id: str, split_field: str, split_value: str,
                  block: Mapping) -> None:
        days = self.days
        for day in _field(block, "daily_metrics", endpoint):
            index = len(days["date"])
            days["date"].append(_field(day, "date", endpoint))
            days["data_status"].append(_field(day, "data_status", endpoint))
            days["entity_type"].append(entity_type)
            days["entity_id"].append(entity_id)
            days["split_field"].append(split_field)
            days["split_value"].append(split_value)
            metrics = day.get("metrics")
            if metrics:
                self.metric_name.extend(metrics.keys())
                self.metric_value.extend(metrics.values())
                self.metric_day.extend([index] * len(metrics))

    def tables(self, endpoint: str) -> tuple[pa.Table, pa.Table]:
        try:
            dates = pa.array(self.days["date"], type=pa.string()).cast(pa.date32())
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            raise ResponseShapeError(f"{endpoint}: a daily_metrics date is not YYYY-MM-DD") from None
        statuses = pa.array(self.days["data_status"], type=pa.string())
        day_columns = {
            "date": dates,
            **{name: pa.array(self.days[name], type=pa.string()) for name in ("entity_type", "entity_id", "split_field",
                                                                            "split_value")},
            "data_status": statuses,
            "is_final": pc.equal(statuses, "READY"),  # organic values are final only when READY
        }
        status = pa.table({**day_columns, "extracted_at": _repeat(self.extracted_at, len(dates))}, schema=DAILY_STATUS)
        try:
            values = pa.array(self.metric_value, type=pa.float64())
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            raise ResponseShapeError(f"{endpoint}: a metric value is not a number") from None
        index = pa.array(self.metric_day, type=pa.int64())
        columns = {name: day_columns[name].take(index) for name in ("date", "entity_type", "entity_id", "split_field",
                                                                   "split_value")}
        metric = pa.table({**columns, "metric": pa.array(self.metric_name, type=pa.string()), "value": values,
                           "data_status": statuses.take(index), "is_final": day_columns["is_final"].take(index),
                           "extracted_at": _repeat(self.extracted_at, len(values))}, schema=METRIC_DAILY)
        return metric.filter(pc.is_valid(metric.column("value"))), status


_DAY_COLUMNS = ("date", "entity_type", "entity_id", "split_field", "split_value", "data_status")


def _repeat(moment: dt.datetime, count: int) -> pa.Array:
    return pa.repeat(pa.scalar(moment, type=UTC_TIMESTAMP), count)


def _field(mapping: Mapping, name: str, endpoint: str):
    try:
        return mapping[name]
    except (KeyError, TypeError):
        raise ResponseShapeError(f"{endpoint}: the answer lacks the field {name!r}") from None


def normalize_user_account_analytics(body: Mapping, user_id: str, split_field: str,
                                     extracted_at: dt.datetime) -> tuple[pa.Table, pa.Table]:
    """user_account/analytics → (metric_daily rows, daily_status rows) for entity_type user_account.
    One bucket per split value; NO_SPLIT's single bucket `all` becomes split_value ALL."""
    rows = _Rows(extracted_at)
    if not isinstance(body, Mapping):
        raise ResponseShapeError("user_account/analytics: expected a JSON object keyed by split bucket")
    for bucket, block in body.items():
        split_value = UNSPLIT_VALUE if split_field == NO_SPLIT else bucket
        rows.add_block("user_account/analytics", "user_account", user_id, split_field, split_value, block)
    return rows.tables("user_account/analytics")


def normalize_pin_analytics(body: Mapping, extracted_at: dt.datetime, pin_id: str | None = None
                            ) -> tuple[pa.Table, pa.Table, pa.Table]:
    """Bulk `multi_pins/analytics` ({pin_id: {"all": ...}}) or, with `pin_id`, single `pins/analytics`
    ({"all": ...}) → (metric_daily rows, daily_status rows, pin_lifetime rows) for entity_type pin."""
    endpoint = "pins/analytics" if pin_id is not None else "multi_pins/analytics"
    if not isinstance(body, Mapping):
        raise ResponseShapeError(f"{endpoint}: expected a JSON object")
    per_pin = {pin_id: body} if pin_id is not None else body
    rows = _Rows(extracted_at)
    lifetime = {name: [] for name in PIN_LIFETIME.names}
    for pid, buckets in per_pin.items():
        block = _field(buckets, UNSPLIT_KEY, endpoint)
        rows.add_block(endpoint, "pin", str(pid), NO_SPLIT, UNSPLIT_VALUE, block)
        for metric, value in (block.get("lifetime_metrics") or {}).items():
            if value is None:
                continue
            for column, cell in zip(PIN_LIFETIME.names, (str(pid), metric, float(value), extracted_at)):
                lifetime[column].append(cell)
    metric, status = rows.tables(endpoint)
    return metric, status, pa.table(lifetime, schema=PIN_LIFETIME)
