"""The pin answer checks say exactly what the day-by-day checks they replace said, for every answer, however malformed:
the same pins refused, with the same words, and the same days, metric types and notes for the pins that can be read.
The day-by-day checks are kept below as the oracle."""

from __future__ import annotations

import copy
import datetime as dt
import functools
import random
from collections.abc import Collection, Mapping

import pytest

from pipelines import api_enums
from pipelines.organic.extract import PinAnswerCheck, PinRef, check_bulk_answer, check_pin_answer
from pipelines.organic.pin_answers import pin_answer_problem, pin_problems, split_unreadable_pins, split_unrequested_pins
from pipelines.pinterest.errors import shown_value
from pipelines.planning import DateRange

# ------------------------------------------------------------------ the oracle: the day-by-day checks, as they were
UNSPLIT_KEY = "all"


def old_pin_answer_problem(buckets: object) -> str | None:
    if not isinstance(buckets, Mapping):
        return f"its answer is {old_json_kind(buckets)}, not an object"
    block = buckets.get(UNSPLIT_KEY)
    if not isinstance(block, Mapping):
        return f"its answer has no {UNSPLIT_KEY!r} object (keys: {shown_value(sorted(map(str, buckets))[:5])})"
    daily = block.get("daily_metrics")
    if not isinstance(daily, list) or not all(isinstance(day, Mapping) for day in daily):
        return f"its {UNSPLIT_KEY!r} object has no 'daily_metrics' list of objects"
    return next(filter(None, map(old_day_problem, daily)), None)


def old_day_problem(day: Mapping) -> str | None:
    date = day.get("date")
    if not old_is_iso_date(date):
        return f"has a day dated {shown_value(date)}, not YYYY-MM-DD"
    if not isinstance(day.get("data_status"), str):
        return f"has no data_status string for {date}"
    if not isinstance(day.get("metrics"), (Mapping, type(None))):
        return f"has 'metrics' of {date} that are {old_json_kind(day['metrics'])}, not an object"
    return None


def old_is_iso_date(value: object) -> bool:
    return isinstance(value, str) and old_is_iso_date_text(value)


@functools.lru_cache(maxsize=4096)
def old_is_iso_date_text(value: str) -> bool:
    try:
        return dt.date.fromisoformat(value).isoformat() == value
    except ValueError:
        return False


def old_json_kind(value: object) -> str:
    return {list: "a list", str: "a string", type(None): "null", bool: "a boolean"}.get(type(value), "a number")


def old_split_unreadable_pins(body: object, pin_id: str | None) -> tuple[dict, dict[str, str]]:
    if pin_id is not None:
        problem = old_pin_answer_problem(body)
        return ({pin_id: body}, {}) if problem is None else ({}, {f"pin {shown_value(pin_id)}": problem})
    if not isinstance(body, Mapping):
        return {}, {"the answer": f"{old_json_kind(body)}, not an object keyed by pin id"}
    problems = {str(pid): old_pin_answer_problem(buckets) for pid, buckets in body.items()}
    return ({pid: buckets for pid, buckets in body.items() if problems[str(pid)] is None},
            {f"pin {shown_value(pid)}": problem for pid, problem in problems.items() if problem is not None})


def old_split_unrequested_pins(body: object, requested: Collection[str] | None) -> tuple[object, dict[str, int]]:
    if requested is None or not isinstance(body, Mapping):
        return body, {}
    wanted = set(map(str, requested))
    unrequested = [pid for pid in body if str(pid) not in wanted]
    if not unrequested:
        return body, {}
    return ({pid: buckets for pid, buckets in body.items() if str(pid) in wanted},
            {str(pid): old_days(body[pid]) for pid in unrequested})


def old_days(buckets: object) -> int:
    block = buckets.get(UNSPLIT_KEY) if isinstance(buckets, Mapping) else None
    daily = block.get("daily_metrics") if isinstance(block, Mapping) else None
    return len(daily) if isinstance(daily, list) else 0


_STANDARD_ONLY = frozenset(api_enums.PIN_STANDARD_METRIC_TYPES) - frozenset(api_enums.PIN_VIDEO_METRIC_TYPES)
_VIDEO_ONLY = frozenset(api_enums.PIN_VIDEO_METRIC_TYPES) - frozenset(api_enums.PIN_STANDARD_METRIC_TYPES)


def old_check_pin_answer(buckets: object, pin: PinRef, window: DateRange) -> PinAnswerCheck:
    problem = old_pin_answer_problem(buckets)
    if problem is not None:
        return PinAnswerCheck(problem)
    daily = buckets[UNSPLIT_KEY]["daily_metrics"]
    wanted = {day.isoformat() for day in window.dates()}
    answered = {day["date"] for day in daily}
    days = len(wanted & answered)
    if not days:
        return PinAnswerCheck(f"answered none of the {len(wanted)} days of {window}", requested=len(wanted))
    metrics = {name for day in daily if isinstance(day.get("metrics"), dict) for name in day["metrics"]}
    own_only, other_only = (_VIDEO_ONLY, _STANDARD_ONLY) if pin.is_video else (_STANDARD_ONLY, _VIDEO_ONLY)
    other_type = bool(metrics) and not metrics & own_only and (pin.is_video or bool(metrics & other_only))
    return PinAnswerCheck(None, days, len(wanted), other_type, pin.is_video, tuple(sorted(answered - wanted)))


# ------------------------------------------------------------------ answers, readable and not
WINDOW = DateRange(dt.date(2026, 11, 1), dt.date(2026, 11, 5))
STANDARD = {"IMPRESSION": 3, "SAVE": 1, "OUTBOUND_CLICK": 0}
VIDEO = {"IMPRESSION": 3, "VIDEO_START": 2, "VIDEO_MRC_VIEW": 1}
COMMON = {"IMPRESSION": 3}


def day(date: str, status: object = "READY", metrics: object = STANDARD) -> dict:
    return {"date": date, "data_status": status, "metrics": metrics}


def pin(days: list) -> dict:
    return {"all": {"daily_metrics": days, "lifetime_metrics": {"TOTAL_COMMENTS": 0}}}


def window_days(metrics: object = STANDARD, status: object = "READY") -> list[dict]:
    return [day(d.isoformat(), status, metrics) for d in WINDOW.dates()]


READABLE = {
    "every day": pin(window_days()),
    "video metrics": pin(window_days(VIDEO)),
    "metrics common to both types": pin(window_days(COMMON)),
    "no metrics": pin(window_days({})),
    "metrics null": pin(window_days(None)),
    "metrics missing": pin([{"date": d.isoformat(), "data_status": "READY"} for d in WINDOW.dates()]),
    "some days": pin(window_days()[:2]),
    "days outside the window": pin([*window_days(), day("2026-10-31"), day("2026-11-09")]),
    "only days outside the window": pin([day("2026-10-01"), day("2026-12-01")]),
    "no day": pin([]),
    "an unknown status": pin(window_days(status="NOT_A_STATUS")),
    "an empty status": pin(window_days(status="")),
    "extra keys everywhere": {"all": {"daily_metrics": [{**d, "extra": [1]} for d in window_days()], "more": None},
                              "OTHER": 1},
    "a repeated day": pin([*window_days(), day("2026-11-01")]),
}


def with_day(value_of_day: object) -> dict:
    """A pin answer whose third day is `value_of_day`."""
    days = window_days()
    days[2] = value_of_day
    return pin(days)


def with_field(name: str, value: object) -> dict:
    """A pin answer whose fourth day has `name` set to `value`."""
    days = window_days()
    days[3] = {**days[3], name: value}
    return pin(days)


def without_field(name: str) -> dict:
    days = window_days()
    del days[1][name]
    return pin(days)


UNREADABLE = {
    "a list": [], "a string": "x", "null": None, "a number": 3, "a float": 1.5, "true": True, "false": False,
    "empty object": {}, "upper-case ALL": {"ALL": pin([])["all"]}, "all null": {"all": None}, "all a list": {"all": []},
    "all a string": {"all": "x"}, "many keys": {k: 1 for k in "fedcba"}, "no daily_metrics": {"all": {}},
    "daily_metrics null": {"all": {"daily_metrics": None}}, "daily_metrics an object": {"all": {"daily_metrics": {}}},
    "daily_metrics a string": {"all": {"daily_metrics": "x"}}, "a day a number": pin([1]), "a day a list": with_day([]),
    "a day null": with_day(None), "a day a string": with_day("2026-11-03"), "a day true": with_day(True),
    "no date": without_field("date"), "date null": with_field("date", None), "date a number": with_field("date", 20261104),
    "date true": with_field("date", True), "date a list": with_field("date", ["2026-11-04"]),
    "date an object": with_field("date", {"d": "2026-11-04"}), "date not padded": with_field("date", "2026-1-1"),
    "date with a time": with_field("date", "2026-11-04T00:00:00"), "date with a zone": with_field("date", "2026-11-04Z"),
    "date basic format": with_field("date", "20261104"), "date impossible": with_field("date", "2026-02-30"),
    "date with spaces": with_field("date", " 2026-11-04"), "date empty": with_field("date", ""),
    "date in a week format": with_field("date", "2026-W45-3"), "no data_status": without_field("data_status"),
    "data_status null": with_field("data_status", None), "data_status a number": with_field("data_status", 1),
    "data_status false": with_field("data_status", False), "data_status a list": with_field("data_status", ["READY"]),
    "data_status an object": with_field("data_status", {}), "metrics a list": with_field("metrics", []),
    "metrics a string": with_field("metrics", "x"), "metrics a number": with_field("metrics", 0),
    "metrics false": with_field("metrics", False), "metrics true": with_field("metrics", True),
    "metrics a float": with_field("metrics", 1.5),
    "two problems, the first day's named": pin([day("2026-11-01", None), day("2026-11-0", "READY")]),
}

CASES = {**READABLE, **UNREADABLE}
PINS = (PinRef("1", False), PinRef("1", True))


@pytest.mark.parametrize("answer", CASES.values(), ids=CASES.keys())
def test_one_pins_answer_has_the_problem_the_day_by_day_check_finds(answer):
    assert pin_answer_problem(answer) == old_pin_answer_problem(answer)
    assert split_unreadable_pins(answer, "1") == old_split_unreadable_pins(answer, "1")
    for ref in PINS:
        assert check_pin_answer(answer, ref, WINDOW) == old_check_pin_answer(answer, ref, WINDOW)


def test_every_unreadable_answer_is_refused_and_every_readable_one_passes():
    assert [name for name, answer in READABLE.items() if pin_answer_problem(answer) is not None] == []
    assert [name for name, answer in UNREADABLE.items() if pin_answer_problem(answer) is None] == []


def test_a_problem_is_said_in_the_words_of_the_day_by_day_check():
    assert pin_answer_problem(with_field("date", "2026-1-1")) == "has a day dated 2026-1-1, not YYYY-MM-DD"
    assert pin_answer_problem(with_field("metrics", True)) == "has 'metrics' of 2026-11-04 that are a boolean, not an object"
    assert pin_answer_problem({k: 1 for k in "fedcba"}) == \
        'its answer has no \'all\' object (keys: ["a", "b", "c", "d", "e"])'


def bulk_answers(count: int) -> list[dict]:
    """Bulk answers of 0 to 12 pins, each pin's answer drawn from CASES (mostly readable ones), deterministic."""
    rng = random.Random(14)
    readable, unreadable = list(READABLE.values()), list(UNREADABLE.values())
    answers = [{}]
    for _ in range(count):
        size = rng.randint(1, 12)
        answers.append({str(1000 + i): copy.deepcopy(rng.choice(unreadable if rng.random() < 0.1 else readable))
                        for i in range(size)})
    return answers


@pytest.mark.parametrize("answer", bulk_answers(300))
def test_a_bulk_answer_has_the_pins_and_problems_the_day_by_day_check_finds(answer):
    kept, problems = old_split_unreadable_pins(answer, None)
    assert split_unreadable_pins(answer, None) == (kept, problems)
    assert pin_problems(answer) == {key.removeprefix("pin "): problem for key, problem in problems.items()}
    refs = [PinRef(pid, int(pid) % 3 == 0) for pid in [*answer, "999"]]  # 999: left out of the answer
    assert check_bulk_answer(answer, refs, WINDOW) == {ref.pin_id: old_check_pin_answer(answer[ref.pin_id], ref, WINDOW)
                                                       for ref in refs if ref.pin_id in answer}
    requested = list(answer)[::2]
    assert split_unrequested_pins(answer, requested) == old_split_unrequested_pins(answer, requested)


@pytest.mark.parametrize("body", [[], "x", None, 3, True, {1: pin([]), "1": []}, {1: [], "1": pin([])}],
                         ids=["a list", "a string", "null", "a number", "true", "ids colliding as text, the last bad",
                              "ids colliding as text, the first bad"])
def test_a_bulk_answer_that_is_no_object_keyed_by_pin_id_is_refused_as_the_day_by_day_check_refuses_it(body):
    assert split_unreadable_pins(body, None) == old_split_unreadable_pins(body, None)
    assert split_unrequested_pins(body, ["1"]) == old_split_unrequested_pins(body, ["1"])
