"""Reading and validating query parameters the way the API does; every violation is a 400 code 1."""

from __future__ import annotations

import datetime as dt
import re

from pipelines.sandbox.errors import LAST_90_DAYS_MESSAGE, invalid

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ID = re.compile(r"^\d+$")
Query = dict[str, list[str]]


def one(query: Query, name: str, default: str | None = None, *, required: bool = False) -> str | None:
    values = query.get(name)
    if not values or values[-1] == "":
        if required:
            raise invalid(f"Parameter '{name}' is required.")
        return default
    return values[-1]


def many(query: Query, name: str) -> list[str]:
    """A list parameter: comma-joined (`pin_ids=1,2,3`), and also every repeated key's value when the
    query kept them (see `read_repeated_keys`)."""
    return [item for value in query.get(name, []) for item in value.split(",") if item != ""]


# Lists Pinterest's own SDK sends as repeated keys (its generated client's 'multi' collection format, handed the
# list itself: `entity_statuses=ACTIVE&entity_statuses=PAUSED`): the real API reads them in full, so every reading
# does. Ids, columns and metric types the SDK sends comma-joined.
SDK_REPEATED_KEYS = frozenset({"entity_statuses", "creative_types"})


def read_repeated_keys(query: Query, reading: str) -> Query:
    """The query as a server reading repeated keys (`pin_ids=1&pin_ids=2`) that way sees it: "reject" refuses
    them with 400 code 1 (only comma-joined lists are known to work on the real API), "last" keeps one value
    per key, the last (a server that silently drops ids), "all" keeps every value. The parameters the SDK sends
    as repeated keys (SDK_REPEATED_KEYS) are read in full under every reading."""
    if reading == "all":
        return query
    if reading == "last":
        return {name: values if name in SDK_REPEATED_KEYS else values[-1:] for name, values in query.items()}
    for name, values in query.items():
        if len(values) > 1 and name not in SDK_REPEATED_KEYS:
            raise invalid(f"Parameter '{name}' was sent {len(values)} times; send a list as one comma-joined value "
                          f"({name}={','.join(values[:3])}{',...' if len(values) > 3 else ''}).")
    return query


def date_param(query: Query, name: str) -> dt.date:
    value = one(query, name, required=True)
    if not _DATE.match(value):
        raise invalid(f"Parameter '{name}' must be a date in YYYY-MM-DD format (was {value!r}).")
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise invalid(f"Parameter '{name}' is not a valid date (was {value!r}).") from None


def enum_param(query: Query, name: str, allowed: tuple | list, default: str | None = None, *, required: bool = False) -> str | None:
    value = one(query, name, default, required=required)
    if value is not None and value not in allowed:
        raise invalid(f"Parameter '{name}' must be one of {', '.join(map(str, allowed))} (was {value!r}).")
    return value


def enum_list(query: Query, name: str, allowed: tuple | list | frozenset, *, required: bool = False) -> list[str]:
    values = many(query, name)
    if required and not values:
        raise invalid(f"Parameter '{name}' is required.")
    for value in values:
        if value not in allowed:
            raise invalid(f"Parameter '{name}' has an invalid value {value!r}.")
    return values


def int_param(query: Query, name: str, default: int, low: int, high: int, *, allowed: tuple | None = None) -> int:
    value = one(query, name)
    if value is None:
        return default
    if not re.fullmatch(r"-?\d+", value):
        raise invalid(f"Parameter '{name}' was not numeric (was {value})")
    number = int(value)
    if allowed is not None and number not in allowed:
        raise invalid(f"Parameter '{name}' must be one of {', '.join(map(str, allowed))} (was {number}).")
    if not low <= number <= high:
        raise invalid(f"Parameter '{name}' must be between {low} and {high} (was {number}).")
    return number


def bool_param(query: Query, name: str, default: bool) -> bool:
    value = one(query, name)
    if value is None:
        return default
    if value.lower() not in ("true", "false"):
        raise invalid(f"Parameter '{name}' must be true or false (was {value!r}).")
    return value.lower() == "true"


def id_list(query: Query, name: str, max_items: int, *, required: bool = False) -> list[str]:
    ids = many(query, name)
    if required and not ids:
        raise invalid(f"Parameter '{name}' is required.")
    if len(ids) > max_items:
        raise invalid(f"Parameter '{name}' accepts at most {max_items} ids (got {len(ids)}).")
    for value in ids:
        if not _ID.match(value):
            raise invalid(f"Parameter '{name}' must contain numeric ids (got {value!r}).")
    return ids


def date_window(query: Query, today: dt.date, *, max_back_days: int = 90, max_span_days: int = 90,
                message: str | None = None) -> tuple[dt.date, dt.date]:
    """start_date/end_date with the API's rules: start not older than `max_back_days`, span not larger
    than `max_span_days`, start <= end, end not in the future."""
    def reject(detail: str):
        # The API answers with the endpoint's own message; the detail says which rule was broken.
        return invalid(f"{message.rstrip('.')}: {detail}" if message else detail)

    start = date_param(query, "start_date")
    end = date_param(query, "end_date")
    if start > end:
        raise reject("Parameter 'start_date' must not be after 'end_date'.")
    if start < today - dt.timedelta(days=max_back_days):
        raise invalid(LAST_90_DAYS_MESSAGE if max_back_days == 90 else f"You can only get data from the last {max_back_days} days.")
    if (end - start).days > max_span_days:
        raise reject(f"Parameter 'end_date' cannot be more than {max_span_days} days past 'start_date'.")
    if end > today:
        raise reject(f"Parameter 'end_date' cannot be in the future (today is {today.isoformat()} UTC).")
    return start, end
