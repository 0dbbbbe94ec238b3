"""Pure functions from organic analytics answers to rows of the tidy tables (Arrow)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import pyarrow as pa

from pipelines.pinterest.errors import ResponseShapeError
from pipelines.tables import DAILY_STATUS, METRIC_DAILY, PIN_LIFETIME

NO_SPLIT = "NO_SPLIT"
UNSPLIT_VALUE = "ALL"
UNSPLIT_KEY = "all"  # the API's bucket key for NO_SPLIT


def is_final_organic(data_status: str) -> bool:
    """Organic values are final only when the API says READY."""
    return data_status == "READY"


class _Rows:
    """Column lists for metric_daily and daily_status, filled day by day, turned into Arrow at the end."""

    def __init__(self, extracted_at: dt.datetime):
        self.extracted_at = extracted_at
        self.metric = {name: [] for name in METRIC_DAILY.names}
        self.status = {name: [] for name in DAILY_STATUS.names}

    def add_block(self, endpoint: str, entity_type: str, entity_id: str, split_field: str, split_value: str,
                  block: Mapping) -> None:
        daily = _field(block, "daily_metrics", endpoint)
        for day in daily:
            date = dt.date.fromisoformat(_field(day, "date", endpoint))
            status = _field(day, "data_status", endpoint)
            final = is_final_organic(status)
            for column, value in zip(DAILY_STATUS.names, (date, entity_type, entity_id, split_field, split_value,
                                                          status, final, self.extracted_at)):
                self.status[column].append(value)
            metrics = day.get("metrics") or {}
            for metric, value in metrics.items():
                if value is None:
                    continue
                for column, cell in zip(METRIC_DAILY.names, (date, entity_type, entity_id, split_field, split_value,
                                                             metric, float(value), status, final, self.extracted_at)):
                    self.metric[column].append(cell)

    def tables(self) -> tuple[pa.Table, pa.Table]:
        return (pa.table(self.metric, schema=METRIC_DAILY), pa.table(self.status, schema=DAILY_STATUS))


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
    return rows.tables()


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
    metric, status = rows.tables()
    return metric, status, pa.table(lifetime, schema=PIN_LIFETIME)
