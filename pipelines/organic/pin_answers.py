"""Whether pin analytics answers can be read: one pin's block, a bulk answer's pins, the pins it was not asked for.

An answer of 100 pins x 90 days has 9,000 days; checking them one by one in Python took as long as parsing the
answer. So every check first looks at all days at once with C-level `map`/`set` passes that can only say "all
readable", and only when they cannot does the day-by-day check run, to name the pin, the day and the problem.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Collection, Iterable, Mapping
from itertools import chain, repeat

from pipelines.pinterest.errors import shown_value

UNSPLIT_KEY = "all"  # the API's bucket key for NO_SPLIT


def pin_answer_problem(buckets: object) -> str | None:
    """What keeps one pin's answer (`{"all": {"daily_metrics": [{...}, ...]}}`, the value of its id in a bulk
    answer or a single answer whole) from being read by `normalize_pin_analytics`, None when nothing does. Checked
    by the extraction (such a pin is asked alone) and by normalization (such a pin's block is skipped and reported),
    so that one malformed block neither passes for an answer nor blocks every later normalization of its dates."""
    daily = _daily_list(buckets)
    if daily is not None and _all_days_readable(daily):
        return None
    return _pin_problem(buckets)


def pin_problems(answer: Mapping) -> dict[str, str]:
    """{pin id: `pin_answer_problem`} of the pins of a bulk answer (an object keyed by pin id) that cannot be read,
    in the answer's order; {} when every pin can."""
    dailies = list(map(_daily_list, answer.values()))
    if None not in dailies and _all_days_readable(chain.from_iterable(dailies)):
        return {}
    problems = {str(pid): _pin_problem(buckets) for pid, buckets in answer.items()}
    return {pid: problem for pid, problem in problems.items() if problem is not None}


def split_unreadable_pins(body: object, pin_id: str | None) -> tuple[dict, dict[str, str]]:
    """A pin analytics answer as {pin id: answer} (`pin_id`: the single answer's pin; else a bulk answer keyed by
    pin id) without the pins whose answer cannot be read (`pin_answer_problem`), and what was wrong, as
    {"pin <id>" or "the answer": problem}."""
    if pin_id is not None:
        problem = pin_answer_problem(body)
        return ({pin_id: body}, {}) if problem is None else ({}, {f"pin {shown_value(pin_id)}": problem})
    if not isinstance(body, Mapping):
        return {}, {"the answer": f"{_json_kind(body)}, not an object keyed by pin id"}
    problems = pin_problems(body)
    return ({pid: buckets for pid, buckets in body.items() if str(pid) not in problems},
            {f"pin {shown_value(pid)}": problem for pid, problem in problems.items()})


def split_unrequested_pins(body: object, requested: Collection[str] | None) -> tuple[object, dict[str, int]]:
    """A bulk pin analytics answer without the pins its request did not ask for, and those pins with the number
    of days each carried (their rows are dropped: nobody asked for them, so nothing says they are this account's)."""
    if requested is None or not isinstance(body, Mapping):
        return body, {}
    wanted = set(map(str, requested))
    unrequested = [pid for pid in body if str(pid) not in wanted]
    if not unrequested:
        return body, {}
    return ({pid: buckets for pid, buckets in body.items() if str(pid) in wanted},
            {str(pid): _days(body[pid]) for pid in unrequested})


def _daily_list(buckets: object) -> list | None:
    """The pin's daily_metrics list when its answer is a plain JSON object holding one in an "all" object, else None
    (then only `_pin_problem` says what is wrong, if anything)."""
    block = buckets.get(UNSPLIT_KEY) if type(buckets) is dict else None
    daily = block.get("daily_metrics") if type(block) is dict else None
    return daily if type(daily) is list else None


def _all_days_readable(days: Iterable) -> bool:
    """True only if `_day_problem` finds nothing in any of the days (False: it may or may not). Exact types, not
    isinstance: a parsed answer has only dict, list, str, int, float, bool and None."""
    days = list(days)
    if not set(map(type, days)) <= {dict}:
        return False
    if not set(map(type, map(dict.get, days, repeat("metrics")))) <= {dict, type(None)}:
        return False
    try:  # the few distinct dates and statuses, not every day's, are checked (a list or an object is unhashable)
        dates, statuses = (set(map(dict.get, days, repeat(name))) for name in ("date", "data_status"))
    except TypeError:
        return False
    return set(map(type, statuses)) <= {str} and set(map(type, dates)) <= {str} and all(map(_is_iso_date_text, dates))


def _pin_problem(buckets: object) -> str | None:
    """`pin_answer_problem`, day by day."""
    if not isinstance(buckets, Mapping):
        return f"its answer is {_json_kind(buckets)}, not an object"
    block = buckets.get(UNSPLIT_KEY)
    if not isinstance(block, Mapping):
        return f"its answer has no {UNSPLIT_KEY!r} object (keys: {shown_value(sorted(map(str, buckets))[:5])})"
    daily = block.get("daily_metrics")
    if not isinstance(daily, list) or not all(isinstance(day, Mapping) for day in daily):
        return f"its {UNSPLIT_KEY!r} object has no 'daily_metrics' list of objects"
    return next(filter(None, map(_day_problem, daily)), None)


def _day_problem(day: Mapping) -> str | None:
    """What keeps one day of daily_metrics from being read: its date (a YYYY-MM-DD string), its data_status (a
    string; the enum is checked with the rest of the answer) or its metrics (an object, or null for none)."""
    date = day.get("date")
    if not _is_iso_date(date):
        return f"has a day dated {shown_value(date)}, not YYYY-MM-DD"
    if not isinstance(day.get("data_status"), str):
        return f"has no data_status string for {date}"
    if not isinstance(day.get("metrics"), (Mapping, type(None))):
        return f"has 'metrics' of {date} that are {_json_kind(day['metrics'])}, not an object"
    return None


def _is_iso_date(value: object) -> bool:
    return isinstance(value, str) and _is_iso_date_text(value)


@functools.lru_cache(maxsize=4096)
def _is_iso_date_text(value: str) -> bool:
    # Cached: an answer repeats the same few dates for every pin.
    try:
        return dt.date.fromisoformat(value).isoformat() == value
    except ValueError:
        return False


def _json_kind(value: object) -> str:
    return {list: "a list", str: "a string", type(None): "null", bool: "a boolean"}.get(type(value), "a number")


def _days(buckets: object) -> int:
    block = buckets.get(UNSPLIT_KEY) if isinstance(buckets, Mapping) else None
    daily = block.get("daily_metrics") if isinstance(block, Mapping) else None
    return len(daily) if isinstance(daily, list) else 0
