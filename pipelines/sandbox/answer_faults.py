"""Faults in the shape of successful answers: an unexpected extra field, a missing field."""

from __future__ import annotations

from typing import Any

EXTRA_FIELD = "sandbox_unexpected_field"
EXTRA_VALUE = {"added_by": "--extra-fields", "values": [1, 2.5, None, "text"]}
# Objects whose keys are data (split buckets, pin ids, metric names, image sizes), not field names: a key
# added there would be a new bucket, pin or metric rather than an extra field.
_KEYED_BY_DATA = frozenset({"metrics", "summary_metrics", "lifetime_metrics", "90d", "images"})
# Answers that are such objects at the top: analytics keyed by split bucket, bulk pin analytics by pin id
# and then by bucket.
_TOP_LEVELS_KEYED_BY_DATA = {"user_account/analytics": 1, "pins/analytics": 1, "multi_pins/analytics": 2,
                             "user_account/analytics/top_pins": 0}


def reshape_answer(body: Any, operation_id: str, *, extra_fields: bool, drop_field: str | None) -> Any:
    """The answer with EXTRA_FIELD added to (and/or `drop_field` removed from) every object in it."""
    return _object_or_map(body, _TOP_LEVELS_KEYED_BY_DATA.get(operation_id, 0), extra_fields, drop_field)


def _object_or_map(value: Any, map_levels: int, extra: bool, drop: str | None) -> Any:
    if isinstance(value, list):
        return [_object_or_map(item, 0, extra, drop) for item in value]
    if not isinstance(value, dict):
        return value
    if map_levels > 0:
        return {key: _object_or_map(item, map_levels - 1, extra, drop) for key, item in value.items()}
    reshaped = {key: _object_or_map(item, 1 if key in _KEYED_BY_DATA else 0, extra, drop)
                for key, item in value.items() if key != drop}
    if extra:
        reshaped[EXTRA_FIELD] = dict(EXTRA_VALUE)
    return reshaped
