"""The organic source of the normalization machinery: user-account and pin analytics answers."""

from __future__ import annotations

from pipelines.organic.normalize import normalize_pin_analytics, normalize_user_account_analytics, split_unrequested_pins
from pipelines.planning import DateRange
from pipelines.raw_zone import RawRecord, RawZone
from pipelines.transform import Normalized, Source


def _normalize(record: RawRecord) -> Normalized:
    body = record.json()
    if record.endpoint == "user_account/analytics":
        metric, status = normalize_user_account_analytics(
            body, record.context["user_id"], record.params.get("split_field", "NO_SPLIT"), record.fetched_at)
        return Normalized(metric, status)
    unrequested = {}
    if record.endpoint == "multi_pins/analytics":
        body, unrequested = split_unrequested_pins(body, record.params.get("pin_ids"))
    return Normalized(*normalize_pin_analytics(body, record.fetched_at, record.path_params.get("pin_id")),
                      unrequested=unrequested)


def _prepare(raw: RawZone, requested: DateRange):
    return _normalize


ORGANIC = Source(name="organic", entity_types=("user_account", "pin"),
                 endpoints=("user_account/analytics", "multi_pins/analytics", "pins/analytics"), prepare=_prepare)
