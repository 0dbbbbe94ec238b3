"""Checks a request against its endpoint's documented limits before anything is sent."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from pipelines.pinterest.endpoints import Endpoint
from pipelines.pinterest.errors import RequestValidationError, shown_value


def _as_date(endpoint: Endpoint, name: str, value: Any) -> dt.date:
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise RequestValidationError(f"{endpoint.name}: {name} must be a date as YYYY-MM-DD (got {value!r})") from None


def validate_request(endpoint: Endpoint, params: Mapping[str, Any], today: dt.date) -> None:
    """Raise RequestValidationError naming the broken limit and the offending value; return if valid."""
    missing = [name for name in endpoint.required if params.get(name) in (None, "", [], ())]
    if missing:
        raise RequestValidationError(f"{endpoint.name}: missing required parameter(s) {', '.join(missing)}")
    window = endpoint.date_window
    if window is not None:
        start = _as_date(endpoint, "start_date", params["start_date"])
        end = _as_date(endpoint, "end_date", params["end_date"])
        oldest = today - dt.timedelta(days=window.max_back_days)
        if start > end:
            raise RequestValidationError(f"{endpoint.name}: start_date {start} is after end_date {end}")
        if start < oldest:
            raise RequestValidationError(
                f"{endpoint.name}: start_date {start} is more than {window.max_back_days} days back "
                f"(the API serves {oldest} .. {today} UTC)")
        if (end - start).days > window.max_span_days:
            raise RequestValidationError(
                f"{endpoint.name}: the window {start} .. {end} spans {(end - start).days} days; "
                f"the limit is {window.max_span_days} days after start_date")
        if end > today:
            raise RequestValidationError(f"{endpoint.name}: end_date {end} is in the future (today is {today} UTC)")
    for name, limit in endpoint.id_limits:
        ids = params.get(name)
        if ids is None:
            continue
        ids = [ids] if isinstance(ids, str) else list(ids)
        if len(ids) > limit:
            raise RequestValidationError(f"{endpoint.name}: {name} has {len(ids)} ids; the limit is {limit} per call")
        bad = [i for i in ids if not (str(i).isascii() and str(i).isdigit())]
        if bad:
            raise RequestValidationError(f"{endpoint.name}: {name} must be numeric id strings (got {shown_value(repr(bad[0]))})")
