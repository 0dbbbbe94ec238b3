"""Values of API answers, validated in bulk: metrics are finite JSON numbers (never booleans or numeric strings),
data_status one of the official enum.

The official description types daily organic metrics as `number`, pin `lifetime_metrics` as `integer`, and ads
analytics columns not at all (`additionalProperties: true`), so a daily metric must be a finite number, and a
lifetime total also integer-valued. Anything else means the answer is malformed: normalization refuses it with
an `AnswerValueError` naming the value, the entity, the date and (once known) the raw file.
"""

from __future__ import annotations

import json
import math
from itertools import chain
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from pipelines.pinterest.errors import ResponseShapeError, shown_value

# The Python types a JSON number (or an absent value) parses to; bool is its own type, so `true` is not one.
_NUMBER_TYPES = frozenset({int, float, type(None)})
FINITE_NUMBER = "a finite number"
INTEGER = "a finite integer"
_ADVICE = ("the answer is malformed; move the raw file aside and re-run its dates to fetch them again, or report it "
           "if the API keeps sending it")


class AnswerValueError(ResponseShapeError):
    """A value of an answer that is not what the API sends; the message describes it and (once known) names the
    raw file it was read from."""

    def __init__(self, description: str, raw_file: Path | None = None):
        self.description, self.raw_file = description, raw_file
        super().__init__(description + (f" (raw file {raw_file})" if raw_file else "") + f": {_ADVICE}")

    def in_raw_file(self, path: Path) -> AnswerValueError:
        """The same error, naming the raw file the answer was read from."""
        located = type(self).__new__(type(self))
        located.__dict__.update(self.__dict__)
        AnswerValueError.__init__(located, self.description, path)
        return located


class MetricValueError(AnswerValueError):
    """A metric value that is not what the API sends (a finite JSON number; integer where it says integer)."""

    def __init__(self, endpoint: str, metric: str, entity_type: str, entity_id: str, date: object, value: object,
                 expected: str = FINITE_NUMBER):
        self.endpoint, self.metric, self.entity_type, self.entity_id = endpoint, metric, entity_type, entity_id
        self.date, self.value, self.expected = date, value, expected
        super().__init__(f"{shown_value(endpoint)}: metric {shown_value(metric)} of {entity_type} "
                         f"{shown_value(entity_id)} on {shown_value(date)} is {as_json(value)}, not {expected}")


class DataStatusError(AnswerValueError):
    """A data_status outside the official enum (`DataStatus`): nothing says whether the day is final."""

    def __init__(self, endpoint: str, status: object, entity_type: str, entity_id: str, date: object):
        self.endpoint, self.status, self.entity_type, self.entity_id, self.date = endpoint, status, entity_type, entity_id, date
        super().__init__(f"{shown_value(endpoint)}: data_status of {entity_type} {shown_value(entity_id)} on "
                         f"{shown_value(date)} is {as_json(status)}, not one of the API's DataStatus values")


class DuplicateKeyError(AnswerValueError):
    """One answer holding an entity's day (split bucket or attribution) twice: nothing says which is the value."""

    def __init__(self, endpoint: str, entity_type: str, entity_id: str, date: object, split: str):
        self.endpoint, self.entity_type, self.entity_id, self.date, self.split = endpoint, entity_type, entity_id, date, split
        super().__init__(f"{shown_value(endpoint)}: the answer holds {entity_type} {shown_value(entity_id)} on "
                         f"{shown_value(date)} ({shown_value(split)}) more than once")


def as_json(value: object) -> str:
    """A value as the JSON text it was parsed from (`Infinity`, `NaN`, `true`, `"12"`), as `shown_value` shows it."""
    try:
        return shown_value(json.dumps(value))
    except (TypeError, ValueError):
        return shown_value(repr(value))


def as_float64(values: list, expected: str = FINITE_NUMBER) -> tuple[pa.Array | None, int | None]:
    """The values as float64 (null where absent), or (None, the position of the first value that is neither null
    nor `expected`). Cheap when all are fine: one pass over the types in C, then Arrow checks finiteness (and
    integrality) of the whole array."""
    if not set(map(type, values)) <= _NUMBER_TYPES:
        return None, next(i for i, v in enumerate(values) if type(v) not in _NUMBER_TYPES)
    try:
        array = pa.array(values, type=pa.float64())
    except (pa.ArrowInvalid, OverflowError):  # an integer beyond 64 bits: Arrow takes it only as a float
        floats = list(map(_as_float, values))
        if float("inf") in floats:
            return None, floats.index(float("inf"))
        array = pa.array(floats, type=pa.float64())
    bad = _not_expected(array, expected)
    return (array, None) if bad is None else (None, bad)


def fields_as_float64(objects: list[dict], names: list[str]) -> dict[str, pa.Array] | None:
    """The named fields of JSON objects as float64 columns (null where an object lacks one), in one conversion in C,
    when every value of every object is a finite JSON number or null; None otherwise, and for an integer beyond a
    double's exact range: then `as_float64`, field by field, gives the same columns or names the first bad value."""
    if not set(map(type, chain.from_iterable(map(dict.values, objects)))) <= _NUMBER_TYPES:
        return None
    try:
        struct = pa.array(objects, type=pa.struct([(name, pa.float64()) for name in names]))
    except (pa.ArrowInvalid, OverflowError):
        return None
    columns = dict(zip(names, struct.flatten()))
    return None if any(_not_expected(column, FINITE_NUMBER) is not None for column in columns.values()) else columns


def _not_expected(array: pa.Array, expected: str) -> int | None:
    fine = pc.is_finite(array)
    if expected == INTEGER:
        fine = pc.and_(fine, pc.equal(pc.floor(array), array))
    if pc.all(fine).as_py() is not False:  # nulls are absent values, not invalid ones
        return None
    return pc.index(pc.fill_null(fine, True), False).as_py()


def _as_float(value: int | float | None) -> float | None:
    """A JSON number as a float; infinity for an integer beyond a float's range (1e308)."""
    if value is None:
        return None
    try:
        return float(value)
    except OverflowError:
        return math.inf
